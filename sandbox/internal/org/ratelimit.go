package org

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rateLimiter counts requests per key in fixed one-minute windows, as
// Okta's per-minute limits do, and reports what the X-Rate-Limit headers
// need.
type rateLimiter struct {
	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	start time.Time
	count int
}

func newRateLimiter() *rateLimiter { return &rateLimiter{windows: map[string]*window{}} }

// take counts one request against key and reports the remaining budget,
// when the window resets, and whether the request is allowed.
func (l *rateLimiter) take(key string, limit int, now time.Time) (remaining int, reset time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := now.UTC().Truncate(time.Minute)
	w := l.windows[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		l.windows[key] = w
	}
	reset = start.Add(time.Minute)
	if w.count >= limit {
		return 0, reset, false
	}
	w.count++
	return limit - w.count, reset, true
}

func (l *rateLimiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := now.UTC().Truncate(time.Minute)
	for k, w := range l.windows {
		if w.start.Before(start) {
			delete(l.windows, k)
		}
	}
}

// allow applies the limit for key, sets the X-Rate-Limit-* headers and, when
// the budget is spent, answers 429 E0000047 and returns false.
func (o *Org) allow(w http.ResponseWriter, key string, limit int) bool {
	remaining, reset, ok := o.limiter.take(key, limit, o.clk.Now())
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	if !ok {
		o.log.Info("rate limit exceeded", "bucket", strings.SplitN(key, ":", 2)[0])
		errRateLimit.write(w)
	}
	return ok
}

// authnKey is the per-user /api/v1/authn bucket. Unknown logins get their
// own buckets too, so guessing users is limited the same way.
func authnKey(login string) string { return "authn:" + strings.ToLower(strings.TrimSpace(login)) }

// anonKey is the bucket of authn requests that name no user (bad bodies,
// unknown state tokens), per client address.
func anonKey(r *http.Request) string { return "authn-ip:" + clientIP(r) }

// api wraps the non-authn /api/v1 endpoints in an org-wide bucket per
// endpoint family.
func (o *Org) api(bucket string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !o.allow(w, "api:"+bucket, o.pol.apiRateLimit) {
			return
		}
		h(w, r)
	}
}

// adminToken guards the Sessions API paths that Okta reserves for API
// tokens: an "Authorization: SSWS <token>" header naming a configured token.
func (o *Org) adminToken(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, tok, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "SSWS") || tok == "" {
			errInvalidToken.write(w)
			return
		}
		for _, t := range o.tokens {
			if secretEqual(t, tok) {
				h(w, r)
				return
			}
		}
		errInvalidToken.write(w)
	}
}
