package authserver

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// oauthError is an RFC 6749 error response.
type oauthError struct {
	status      int
	code        string
	description string
	// basicChallenge adds WWW-Authenticate: Basic to a 401, as RFC 6749
	// 5.2 asks when the client tried HTTP Basic.
	basicChallenge bool
	// mfaToken is sent with mfa_required (direct authentication).
	mfaToken string
	// dpopNonce is sent as DPoP-Nonce (use_dpop_nonce).
	dpopNonce string
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func errInvalidRequest(format string, a ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: fmt.Sprintf(format, a...)}
}

func errInvalidClient(format string, a ...any) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: fmt.Sprintf(format, a...)}
}

func errInvalidGrant(format string, a ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: fmt.Sprintf(format, a...)}
}

func errInvalidScope(format string, a ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_scope", description: fmt.Sprintf(format, a...)}
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized && e.basicChallenge {
		w.Header().Set("WWW-Authenticate", `Basic realm="oktafed sandbox"`)
	}
	noStore(w)
	if e.dpopNonce != "" {
		w.Header().Set("DPoP-Nonce", e.dpopNonce)
	}
	body := map[string]string{"error": e.code, "error_description": e.description}
	if e.mfaToken != "" {
		body["mfa_token"] = e.mfaToken
	}
	writeJSON(w, e.status, body)
}

// writeOktaError writes an error in the Okta management API shape, which
// Okta uses outside the OAuth protocol errors (unknown server, bad method,
// rate limit).
func writeOktaError(w http.ResponseWriter, status int, code, summary string) {
	id, _ := randomID("oae")
	writeJSON(w, status, map[string]any{
		"errorCode":    code,
		"errorSummary": summary,
		"errorLink":    code,
		"errorId":      id[:25],
		"errorCauses":  []any{},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// noStore marks a response that carries or concerns tokens uncacheable,
// as RFC 6749 5.1 requires.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// maxFormBytes bounds request bodies; a token request is a few kilobytes.
const maxFormBytes = 64 << 10

// readForm reads an application/x-www-form-urlencoded POST body.
func readForm(r *http.Request) (map[string]string, *oauthError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return nil, errInvalidRequest("The request body could not be read.")
	}
	if len(body) > maxFormBytes {
		return nil, errInvalidRequest("The request body is too large.")
	}
	return parseFormBody(r.Header.Get("Content-Type"), body)
}

// parseFormBody parses a form body. Parameters may appear once each (RFC
// 6749 3.2), and only the body counts: credentials in a query string would
// end up in logs.
func parseFormBody(contentType string, body []byte) (map[string]string, *oauthError) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errInvalidRequest("The request must have Content-Type application/x-www-form-urlencoded.")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errInvalidRequest("The request body is not a valid form.")
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if len(v) != 1 {
			return nil, errInvalidRequest("The '%s' parameter was given more than once.", k)
		}
		out[k] = v[0]
	}
	return out, nil
}

// rateLimiter counts requests per endpoint in fixed one-minute windows, the
// way Okta reports its limits in X-Rate-Limit-* headers.
type rateLimiter struct {
	limit int // negative: unlimited
	mu    sync.Mutex
	win   map[string]*rateWindow
}

type rateWindow struct {
	start time.Time
	count int
}

func newRateLimiter(limit int) *rateLimiter {
	return &rateLimiter{limit: limit, win: map[string]*rateWindow{}}
}

// allow counts a request to bucket at now, sets the rate-limit headers and
// reports whether the request is within the limit.
func (rl *rateLimiter) allow(w http.ResponseWriter, bucket string, now time.Time) bool {
	start := now.Truncate(time.Minute)
	rl.mu.Lock()
	win := rl.win[bucket]
	if win == nil || !win.start.Equal(start) {
		win = &rateWindow{start: start}
		rl.win[bucket] = win
	}
	win.count++
	count := win.count
	rl.mu.Unlock()

	limit := rl.limit
	if limit < 0 {
		// Unlimited still reports headers, with a limit nothing reaches.
		limit = 1 << 30
	}
	remaining := max(limit-count, 0)
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(start.Add(time.Minute).Unix(), 10))
	return count <= limit
}
