package verify

import (
	"errors"
	"net/http"
	"strings"
)

// ErrorCode is an RFC 6750 section 3.1 error code.
type ErrorCode string

// The RFC 6750 error codes. CodeNone marks a failure that carries no error
// code in the challenge (no token at all, or the verifier could not reach
// a key source).
const (
	CodeNone              ErrorCode = ""
	CodeInvalidRequest    ErrorCode = "invalid_request"
	CodeInvalidToken      ErrorCode = "invalid_token"
	CodeInsufficientScope ErrorCode = "insufficient_scope"
)

// Sentinel reasons. Every error returned by Verify is an *Error whose
// Reason is one of these, so callers can use errors.Is.
var (
	ErrMissingToken      = errors.New("no bearer token")
	ErrInvalidRequest    = errors.New("malformed authorization request")
	ErrTokenTooLarge     = errors.New("token exceeds the size limit")
	ErrMalformed         = errors.New("token is malformed")
	ErrUnsupportedToken  = errors.New("token type is not accepted")
	ErrAlgorithm         = errors.New("signing algorithm is not accepted")
	ErrUnknownIssuer     = errors.New("issuer is not trusted")
	ErrUnknownKey        = errors.New("signing key is not known for the issuer")
	ErrSignature         = errors.New("signature is invalid")
	ErrExpired           = errors.New("token is expired")
	ErrNotYetValid       = errors.New("token is not yet valid")
	ErrIssuedInFuture    = errors.New("token was issued in the future")
	ErrTooOld            = errors.New("token is older than the maximum age")
	ErrAudience          = errors.New("audience is not accepted")
	ErrClientID          = errors.New("client is not accepted")
	ErrType              = errors.New("token type header is not accepted")
	ErrClaims            = errors.New("required claim is missing or invalid")
	ErrInactive          = errors.New("token is not active")
	ErrInsufficientScope = errors.New("token lacks a required scope")
	ErrForbidden         = errors.New("principal has no role")
	ErrKeysUnavailable   = errors.New("verification keys are unavailable")
	// ErrIntrospectionRefused means the introspection endpoint refused
	// the verifier's own client credentials (HTTP 401 or 403): the
	// token was not judged, and the fix is in the verifier's
	// configuration, not the client's token.
	ErrIntrospectionRefused = errors.New("the introspection endpoint refused the verifier's client credentials")
)

// Error is a verification failure. Description is safe to show to the
// client: it never contains the token.
type Error struct {
	Code        ErrorCode
	Reason      error
	Description string
	// Scopes lists the scopes the resource needs when Code is
	// CodeInsufficientScope.
	Scopes []string
	// Cause is an underlying error for logs (network errors, parse detail).
	// It is not part of the client-facing description.
	Cause error
	// Scheme is the authentication scheme of the challenge: "DPoP" for
	// failures of DPoP requests and for key-bound tokens sent as bearer
	// tokens, "" for Bearer.
	Scheme string
	// Nonce, with CodeUseDPoPNonce, is the nonce the client must put in
	// its next proof; the HTTP answer carries it as DPoP-Nonce.
	Nonce string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Reason.Error())
	if e.Description != "" && e.Description != e.Reason.Error() {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap exposes the reason and cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Reason, e.Cause}
	}
	return []error{e.Reason}
}

func codeFor(reason error) ErrorCode {
	switch reason {
	case ErrMissingToken, ErrKeysUnavailable, ErrIntrospectionRefused:
		return CodeNone
	case ErrInvalidRequest:
		return CodeInvalidRequest
	case ErrInsufficientScope, ErrForbidden:
		return CodeInsufficientScope
	case ErrDPoPProof:
		return CodeInvalidDPoPProof
	case ErrDPoPNonce:
		return CodeUseDPoPNonce
	}
	return CodeInvalidToken
}

func newError(reason error, desc string) *Error {
	return &Error{Code: codeFor(reason), Reason: reason, Description: desc}
}

func wrapError(reason error, desc string, cause error) *Error {
	e := newError(reason, desc)
	e.Cause = cause
	return e
}

// Challenge maps a verification error to the HTTP status and the
// WWW-Authenticate header value that RFC 6750 prescribes. realm may be
// empty. Errors that are not *Error are treated as invalid_token.
func Challenge(err error, realm string) (status int, wwwAuthenticate string) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInvalidToken, Reason: ErrMalformed, Description: "the access token is invalid"}
	}
	var params []string
	if realm != "" {
		params = append(params, `realm="`+quoteParam(realm)+`"`)
	}
	switch {
	case e.Reason == ErrKeysUnavailable, e.Reason == ErrIntrospectionRefused:
		status = http.StatusServiceUnavailable
	case e.Code == CodeInvalidRequest:
		status = http.StatusBadRequest
	case e.Code == CodeInsufficientScope:
		status = http.StatusForbidden
	default:
		status = http.StatusUnauthorized
	}
	if e.Code != CodeNone {
		params = append(params, `error="`+string(e.Code)+`"`)
		desc := e.Description
		if desc == "" {
			desc = e.Reason.Error()
		}
		params = append(params, `error_description="`+quoteParam(desc)+`"`)
	}
	if e.Code == CodeInsufficientScope && len(e.Scopes) > 0 {
		params = append(params, `scope="`+quoteParam(strings.Join(e.Scopes, " "))+`"`)
	}
	scheme := "Bearer"
	if e.Scheme == "DPoP" {
		scheme = "DPoP"
	}
	if len(params) == 0 {
		return status, scheme
	}
	return status, scheme + " " + strings.Join(params, ", ")
}

// quoteParam keeps a value inside an RFC 6750 quoted string: the RFC limits
// error_description and scope to printable ASCII without '"' and '\'.
func quoteParam(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// BearerToken extracts the token from an Authorization header value. It
// returns ErrMissingToken for an empty header and an invalid_request error
// for any other scheme or a malformed value, as RFC 6750 section 2.1 asks.
func BearerToken(authorization string) (string, error) {
	if authorization == "" {
		return "", newError(ErrMissingToken, "")
	}
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", newError(ErrInvalidRequest, "the Authorization header must use the Bearer scheme")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t,") {
		return "", newError(ErrInvalidRequest, "the Authorization header must hold exactly one token")
	}
	return tok, nil
}
