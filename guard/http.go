package guard

import (
	"errors"
	"net/http"

	"github.com/oktafed/oktafed/verify"
)

// Require returns middleware that lets a request reach next only when its
// bearer token verifies and satisfies rule. The principal is in the
// request's context (PrincipalFrom).
func (g *Guard) Require(rule Rule) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rule.Public {
				next.ServeHTTP(w, r)
				return
			}
			authz, err := AuthorizationHeader(r.Header)
			var p *verify.Principal
			if err == nil {
				p, err = g.CheckHTTP(WithDPoPRequest(r.Context(), r), authz, r.Method, rule)
			}
			if err != nil {
				WriteError(w, err, g.opts.Realm)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// Policy picks the rule for a request; ok false answers 404, so that a
// path no rule covers is never served by accident.
type Policy func(r *http.Request) (rule Rule, ok bool)

// Middleware is Require with a rule chosen per request.
func (g *Guard) Middleware(policy Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rule, ok := policy(r)
			if !ok {
				http.NotFound(w, r)
				return
			}
			if rule.Public {
				next.ServeHTTP(w, r)
				return
			}
			authz, err := AuthorizationHeader(r.Header)
			var p *verify.Principal
			if err == nil {
				p, err = g.CheckHTTP(WithDPoPRequest(r.Context(), r), authz, r.Method, rule)
			}
			if err != nil {
				WriteError(w, err, g.opts.Realm)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// WriteError answers an authentication or authorization failure as RFC
// 6750 section 3 prescribes: the status from verify.Challenge, the
// WWW-Authenticate header, and a short plain-text body that never holds
// the token.
func WriteError(w http.ResponseWriter, err error, realm string) {
	status, challenge := verify.Challenge(err, realm)
	h := w.Header()
	h.Set("WWW-Authenticate", challenge)
	var e *verify.Error
	if errors.As(err, &e) && e.Nonce != "" {
		h.Set("DPoP-Nonce", e.Nonce)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(Message(err) + "\n"))
}

// Message is the client-facing text for a failure: what went wrong and
// what to do about it, never the token.
func Message(err error) string {
	switch Reason(err) {
	case "missing_token":
		return "authentication required: send an Okta access token as 'Authorization: Bearer <token>'"
	case "invalid_request":
		return "malformed Authorization header: use 'Authorization: Bearer <token>' with exactly one token"
	case "expired":
		return "the access token has expired: request a new one from the authorization server"
	case "revoked":
		return "the access token has been revoked: request a new one"
	case "insufficient_scope":
		return "the access token lacks a required scope: request a token with the scopes this resource needs"
	case "forbidden":
		return "your groups grant no role allowed here: ask an administrator for access"
	case "keys_unavailable":
		return "the token issuer's keys are unavailable: retry shortly"
	case "dpop_required":
		return "the access token is bound to a key: send it as 'Authorization: DPoP <token>' with a DPoP proof header"
	case "dpop_proof":
		return "the DPoP proof is not accepted: sign a fresh proof for this method and URL with the token's key"
	case "dpop_nonce":
		return "the DPoP proof must carry the nonce in this answer's DPoP-Nonce header: sign a new proof with it"
	}
	return "the access token is not accepted here: request a token for this API from a trusted issuer"
}

// AuthorizationHeader returns a request's Authorization value. A request
// with more than one is refused (invalid_request, 400): a proxy that
// checks the first while the application reads the last would let an
// unchecked token through. Require and Middleware apply it, and so does
// the gateway on every door (proxy, forward-auth, ext_authz).
func AuthorizationHeader(h http.Header) (string, error) {
	v := h["Authorization"]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", ErrTwoAuthorizations
}

// ErrTwoAuthorizations is AuthorizationHeader's answer to a request with
// more than one Authorization header.
var ErrTwoAuthorizations = &verify.Error{Code: verify.CodeInvalidRequest, Reason: verify.ErrInvalidRequest, Description: "more than one Authorization header"}
