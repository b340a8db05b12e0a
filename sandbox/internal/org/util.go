package org

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns an Okta-shaped id: a three-character type prefix and 17
// random letters and digits, 20 characters in all.
func newID(prefix string) string {
	return prefix + randomString(17)
}

func randomString(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alnum)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("org: crypto/rand failed: " + err.Error())
		}
		b[i] = alnum[v.Int64()]
	}
	return string(b)
}

// newToken returns an unguessable bearer token with an Okta-like prefix.
func newToken(prefix string, bytes int) string {
	b := make([]byte, bytes)
	if _, err := rand.Read(b); err != nil {
		panic("org: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// randomDigits returns n decimal digits, for SMS and email codes.
func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic("org: crypto/rand failed: " + err.Error())
		}
		b[i] = byte('0' + v.Int64())
	}
	return string(b)
}

func randomInt(lo, hi int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo+1)))
	if err != nil {
		panic("org: crypto/rand failed: " + err.Error())
	}
	return lo + int(v.Int64())
}

// secretEqual compares secrets without leaking their length or the position
// of the first difference through timing.
func secretEqual(a, b string) bool {
	ha := sha256.Sum256([]byte(a))
	hb := sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// oktaTime formats t the way Okta's APIs do: UTC with milliseconds.
func oktaTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

const maxBody = 64 << 10

var errEmptyBody = errors.New("empty body")

// decodeJSON reads a small JSON object body. Unknown fields are ignored, as
// Okta ignores them.
func decodeJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return errEmptyBody
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(data) > maxBody {
		return errors.New("body too large")
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return errEmptyBody
	}
	return json.Unmarshal(data, v)
}

// clientIP is the rate-limit key for requests that name no user.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// link is a HAL link with Okta's method hints.
func link(href string, methods ...string) map[string]any {
	l := map[string]any{"href": href}
	if len(methods) > 0 {
		l["hints"] = map[string]any{"allow": methods}
	}
	return l
}

func namedLink(name, href string, methods ...string) map[string]any {
	l := link(href, methods...)
	l["name"] = name
	return l
}
