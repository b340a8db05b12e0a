// Package guard protects HTTP handlers and gRPC services with bearer
// tokens checked by a verify.Verifier: it authenticates each request, puts
// the verified Principal in the request's context, applies a per-route
// Rule (required scopes, roles) and answers failures as RFC 6750 asks
// (401 with WWW-Authenticate, 403 insufficient_scope). The gRPC
// interceptors, which answer codes.Unauthenticated and
// codes.PermissionDenied, live in guard/grpcguard so that HTTP users do
// not link grpc.
package guard

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/oktafed/oktafed/verify"
)

// Verifier is the part of *verify.Verifier a Guard uses; tests and the
// gateway's shared introspection cache substitute their own.
type Verifier interface {
	Verify(ctx context.Context, token string) (*verify.Principal, error)
}

// DPoPVerifier is a Verifier that also checks DPoP-bound tokens with
// their proofs (RFC 9449); *verify.Verifier is one. A Guard over one
// accepts the DPoP scheme on requests that carry their DPoPRequest in the
// context (WithDPoPRequest; Require and Middleware put it there).
type DPoPVerifier interface {
	VerifyDPoP(ctx context.Context, token string, r verify.DPoPRequest) (*verify.Principal, error)
}

// Revocations reports whether a token id (jti) has been revoked. The
// gateway backs it with memory or Redis; a nil Revocations revokes nothing.
type Revocations interface {
	Revoked(ctx context.Context, jti string) bool
}

// ErrRevoked is the reason of the *verify.Error returned for a token whose
// jti is on the revocation list.
var ErrRevoked = errors.New("token has been revoked")

// Rule is what a request must satisfy once its token verifies.
type Rule struct {
	// Public lets requests through without a token; the handler sees no
	// Principal.
	Public bool `json:"public,omitempty" yaml:"public,omitempty"`
	// Scopes must all be present in the token.
	Scopes []string `json:"scopes,omitempty" yaml:"scopes,omitempty"`
	// Roles lists acceptable roles (verify.RoleAdmin, RoleWrite, RoleRead);
	// the principal needs one of them. Roles are cumulative, so "read" is
	// met by a writer or an admin. On HTTP (Require, Middleware, CheckHTTP)
	// the read role is read-only wherever a rule lists roles: a principal
	// whose most privileged role is read may use only GET, HEAD and
	// OPTIONS, so a catch-all "roles: [read]" never lets a reader write.
	// gRPC calls are all POSTs; there roles apply per method (Methods).
	Roles []string `json:"roles,omitempty" yaml:"roles,omitempty"`
	// AllowNoRole, with Roles set, admits principals whose groups map to
	// no role as readers (read-only methods on HTTP) instead of refusing
	// them with 403.
	AllowNoRole bool `json:"allow_no_role,omitempty" yaml:"allow_no_role,omitempty"`
}

// ReadOnlyMethod reports whether method is one the read role may use:
// GET, HEAD or OPTIONS, compared exactly (methods are case-sensitive).
func ReadOnlyMethod(method string) bool {
	return method == "GET" || method == "HEAD" || method == "OPTIONS"
}

// Check applies the rule to a verified principal. Failures are
// *verify.Error values with the insufficient_scope code, which Challenge
// maps to 403.
func (r Rule) Check(p *verify.Principal) error { return r.CheckMethod(p, "") }

// CheckMethod is Check for an HTTP request with the given method: on top
// of Check, a principal that is only a reader (or has no role, under
// AllowNoRole) may use only read-only methods where the rule lists roles.
// An empty method skips that part (gRPC).
func (r Rule) CheckMethod(p *verify.Principal, method string) error {
	if r.Public {
		return nil
	}
	var missing []string
	for _, s := range r.Scopes {
		if !p.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return &verify.Error{
			Code: verify.CodeInsufficientScope, Reason: verify.ErrInsufficientScope,
			Description: "the token lacks a scope this resource requires", Scopes: slices.Clone(r.Scopes),
		}
	}
	if len(r.Roles) == 0 {
		return nil
	}
	asReader := r.AllowNoRole && len(p.Roles) == 0
	if !asReader && !slices.ContainsFunc(r.Roles, p.HasRole) {
		return &verify.Error{
			Code: verify.CodeInsufficientScope, Reason: verify.ErrForbidden,
			Description: "the principal's groups grant no role this resource requires",
		}
	}
	if asReader && !slices.Contains(r.Roles, verify.RoleRead) {
		return &verify.Error{
			Code: verify.CodeInsufficientScope, Reason: verify.ErrForbidden,
			Description: "the principal's groups grant no role this resource requires",
		}
	}
	if method != "" && !ReadOnlyMethod(method) && !p.HasRole(verify.RoleWrite) {
		return &verify.Error{
			Code: verify.CodeInsufficientScope, Reason: verify.ErrForbidden,
			Description: "the read role allows only GET, HEAD and OPTIONS",
		}
	}
	return nil
}

// Result is one authentication outcome, handed to Options.Observe.
type Result struct {
	Principal *verify.Principal // nil on failure
	Err       error
	Duration  time.Duration
}

// Options configure a Guard. The zero value is usable.
type Options struct {
	// Realm goes into WWW-Authenticate challenges.
	Realm string
	// Revocations, when set, refuses tokens whose jti it lists.
	Revocations Revocations
	// Extra, when set, runs after verification and revocation; the gateway
	// uses it for per-provider client and scope lists. A non-nil error
	// refuses the request.
	Extra func(*verify.Principal) error
	// Observe, when set, is called once per authentication (metrics).
	Observe func(Result)
}

// Guard authenticates bearer tokens and authorizes principals. It is safe
// for concurrent use.
type Guard struct {
	v    Verifier
	opts Options
}

// New returns a Guard over v.
func New(v Verifier, opts Options) *Guard { return &Guard{v: v, opts: opts} }

// Realm returns the realm used in challenges.
func (g *Guard) Realm() string { return g.opts.Realm }

// Authenticate verifies the token in an Authorization header value and
// checks it against the revocation list. Every failure is a *verify.Error.
func (g *Guard) Authenticate(ctx context.Context, authorization string) (*verify.Principal, error) {
	start := time.Now()
	p, err := g.authenticate(ctx, authorization)
	if g.opts.Observe != nil {
		g.opts.Observe(Result{Principal: p, Err: err, Duration: time.Since(start)})
	}
	return p, err
}

func (g *Guard) authenticate(ctx context.Context, authorization string) (*verify.Principal, error) {
	if hasScheme(authorization, "dpop") {
		return g.authenticateDPoP(ctx, authorization)
	}
	if authorization != "" && !bearerScheme(authorization) {
		// RFC 6750 section 3.1: a request in another scheme (Basic, ...)
		// lacks authentication for this resource, so it gets the bare
		// challenge and 401, not 400.
		return nil, &verify.Error{Reason: verify.ErrMissingToken, Description: "only Bearer tokens are accepted"}
	}
	tok, err := verify.BearerToken(authorization)
	if err != nil {
		return nil, err
	}
	p, err := g.v.Verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	return g.admit(ctx, p)
}

// authenticateDPoP checks a request in the DPoP scheme: the verifier must
// check proofs and the request's proof must be in the context.
func (g *Guard) authenticateDPoP(ctx context.Context, authorization string) (*verify.Principal, error) {
	dv, ok := g.v.(DPoPVerifier)
	req, hasReq := ctx.Value(dpopRequestKey{}).(verify.DPoPRequest)
	if !ok || !hasReq {
		return nil, &verify.Error{Reason: verify.ErrMissingToken, Description: "DPoP is not accepted here: send a Bearer token"}
	}
	tok, err := verify.DPoPToken(authorization)
	if err != nil {
		return nil, err
	}
	p, err := dv.VerifyDPoP(ctx, tok, req)
	if err != nil {
		return nil, err
	}
	return g.admit(ctx, p)
}

// admit applies the revocation list and the extra check to a verified
// principal.
func (g *Guard) admit(ctx context.Context, p *verify.Principal) (*verify.Principal, error) {
	if g.opts.Revocations != nil && p.TokenID != "" && g.opts.Revocations.Revoked(ctx, p.TokenID) {
		return nil, &verify.Error{Code: verify.CodeInvalidToken, Reason: ErrRevoked, Description: "the token has been revoked"}
	}
	if g.opts.Extra != nil {
		if err := g.opts.Extra(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// bearerScheme reports whether an Authorization value starts with the
// Bearer scheme name (case-insensitive, RFC 9110 section 11.1).
func bearerScheme(authorization string) bool { return hasScheme(authorization, "bearer") }

// hasScheme reports whether an Authorization value starts with the scheme
// name b (lower case), compared without case.
func hasScheme(authorization, b string) bool {
	if len(authorization) < len(b) {
		return false
	}
	if !strings.EqualFold(authorization[:len(b)], b) {
		return false
	}
	return len(authorization) == len(b) || authorization[len(b)] == ' '
}

type dpopRequestKey struct{}

// WithDPoPRequest returns a context carrying what a DPoP proof of r must
// match: r's DPoP headers, method and URL (http or https as r arrived,
// r.Host, the path; query ignored). A Guard reads it for requests in the
// DPoP scheme. Behind a proxy that changes the scheme or host, use
// WithDPoPProof with the URL clients address.
func WithDPoPRequest(ctx context.Context, r *http.Request) context.Context {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return WithDPoPProof(ctx, verify.DPoPRequest{Proofs: r.Header.Values("DPoP"), Method: r.Method, URL: scheme + "://" + r.Host + r.URL.EscapedPath()})
}

// WithDPoPProof returns a context carrying req for the Guard's DPoP checks.
func WithDPoPProof(ctx context.Context, req verify.DPoPRequest) context.Context {
	return context.WithValue(ctx, dpopRequestKey{}, req)
}

// Check authenticates and then applies rule; a public rule skips both and
// returns a nil principal. Options.Observe sees the combined outcome. It
// applies no method rule; HTTP callers use CheckHTTP.
func (g *Guard) Check(ctx context.Context, authorization string, rule Rule) (*verify.Principal, error) {
	return g.CheckHTTP(ctx, authorization, "", rule)
}

// CheckHTTP is Check for an HTTP request: the rule is applied with
// Rule.CheckMethod, so readers are held to read-only methods.
func (g *Guard) CheckHTTP(ctx context.Context, authorization, method string, rule Rule) (*verify.Principal, error) {
	if rule.Public {
		return nil, nil
	}
	start := time.Now()
	p, err := g.authenticate(ctx, authorization)
	if err == nil {
		if err = rule.CheckMethod(p, method); err != nil {
			p = nil
		}
	}
	if g.opts.Observe != nil {
		g.opts.Observe(Result{Principal: p, Err: err, Duration: time.Since(start)})
	}
	return p, err
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *verify.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal a Guard put in ctx.
func PrincipalFrom(ctx context.Context) (*verify.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*verify.Principal)
	return p, ok && p != nil
}

// Reason returns a short, stable label for an authentication outcome, for
// metrics and logs: "ok", "missing_token", "revoked", "expired", ...
func Reason(err error) string {
	if err == nil {
		return "ok"
	}
	var e *verify.Error
	if !errors.As(err, &e) {
		return "error"
	}
	switch e.Reason {
	case verify.ErrMissingToken:
		return "missing_token"
	case verify.ErrInvalidRequest:
		return "invalid_request"
	case verify.ErrExpired:
		return "expired"
	case verify.ErrSignature:
		return "bad_signature"
	case verify.ErrUnknownIssuer:
		return "unknown_issuer"
	case verify.ErrUnknownKey:
		return "unknown_key"
	case verify.ErrAudience:
		return "audience"
	case verify.ErrInactive:
		return "inactive"
	case verify.ErrInsufficientScope:
		return "insufficient_scope"
	case verify.ErrForbidden:
		return "forbidden"
	case verify.ErrKeysUnavailable:
		return "keys_unavailable"
	case ErrRevoked:
		return "revoked"
	case verify.ErrDPoPRequired:
		return "dpop_required"
	case verify.ErrDPoPProof:
		return "dpop_proof"
	case verify.ErrDPoPNonce:
		return "dpop_nonce"
	}
	return "invalid_token"
}
