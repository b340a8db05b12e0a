package gateway

import (
	"net/http"
	"net/url"
	"strings"
)

// The decision table: which client headers may reach an upstream. A header
// an upstream could read as a statement made by the gateway or by a proxy
// in front of it (the client's address, the original URL or method, who
// the user is) carries trust, and a client's copy never passes, in any
// letter case or with '_' for '-' (WSGI, CGI, PHP and Rack servers read
// "X_Real_IP" as X-Real-IP). Everything else passes. The same table
// serves the proxy (the headers are removed), Envoy ext_authz (they are
// listed in headers_to_remove) and nginx forward-auth (the ingress clears
// them: see the README's nginx snippet and
// TestTrustTableNginxClearsEveryName).

// trustNames are header names that carry trust, compared folded
// (lower-case, '_' read as '-').
var trustNames = []string{
	// The client's address, as set by proxies and CDNs.
	"forwarded", "x-real-ip", "x-client-ip", "client-ip", "true-client-ip",
	"x-cluster-client-ip", "cf-connecting-ip", "fastly-client-ip", "x-proxyuser-ip",
	"x-remote-addr", "x-remote-ip", "x-host",
	// The original URL or path, read by IIS, Symfony, Zend and Laravel.
	"x-rewrite-url", "x-url-scheme",
	// Method overrides, read by Rails, Express, Laravel, Spring and ASP.NET.
	"x-http-method-override", "x-http-method", "x-method-override",
	// Identity set by other authenticating proxies.
	"x-remote-user", "remote-user", "x-webauth-user", "x-user", "x-email",
	"x-authenticated-user", "x-authenticated-userid", "x-consumer-id",
	"x-consumer-username", "authorization-user",
	// Protocol switches (see upgrade.go).
	"http2-settings",
}

// trustPrefixes are header families that carry trust; the gateway's own
// identity prefix (X-Auth- by default) is added per gateway.
var trustPrefixes = []string{
	"x-forwarded-", "x-original-", "x-auth-request-", "x-amzn-oidc-",
	"x-ms-client-principal", "x-goog-authenticated-user-", "x-pomerium-",
	"cf-access-", "x-envoy-",
}

// trustBearing reports whether a client header name is in the table.
// identityPrefixes are the identity prefixes to remove, lower-case with
// '-' (see Gateway.idPrefixes).
func trustBearing(name string, identityPrefixes []string) bool {
	if name == "" {
		return false
	}
	switch name[0] | 0x20 {
	case 'x', 'f', 'c', 't', 'r', 'a', 'h':
	default:
		return false
	}
	for _, p := range identityPrefixes {
		if foldedHasPrefix(name, p) {
			return true
		}
	}
	for _, p := range trustPrefixes {
		if foldedHasPrefix(name, p) {
			return true
		}
	}
	for _, n := range trustNames {
		if foldedEqual(name, n) {
			return true
		}
	}
	return false
}

// stripSpoofable removes every client header the decision table marks as
// carrying trust. The proxy calls it before setting its own forwarding
// and identity headers.
func stripSpoofable(h http.Header, identityPrefixes []string) {
	for k := range h {
		if trustBearing(k, identityPrefixes) {
			delete(h, k)
		}
	}
}

// isAccessTokenKey reports whether a raw form or query key would be read
// as access_token by a common framework: percent-decoded (once, and
// again for double encoding), '+' as space, any letter case, cut at a NUL
// (C strings), leading white space and '+' dropped, '.', ' ', '-' and '['
// read as '_' (PHP turns "access.token" and "access token" into
// access_token), and a trailing "[...]" (array syntax) ignored.
func isAccessTokenKey(raw string) bool {
	if len(raw) < len("access") {
		return false
	}
	k := raw
	for range 2 {
		if !strings.ContainsAny(k, "%+") {
			break
		}
		d, err := url.QueryUnescape(k)
		if err != nil {
			d = lenientUnescape(k)
		}
		k = d
	}
	if i := strings.IndexByte(k, 0); i >= 0 {
		k = k[:i]
	}
	k = strings.TrimLeft(k, " \t\r\n\f\v+")
	k = strings.TrimRight(k, " \t\r\n\f\v")
	if i := strings.IndexByte(k, '['); i > 0 && strings.HasSuffix(k, "]") {
		k = k[:i]
	}
	k = strings.Map(func(r rune) rune {
		switch r {
		case '.', ' ', '-', '[':
			return '_'
		}
		return r
	}, k)
	return strings.EqualFold(k, "access_token")
}

// lenientUnescape decodes the valid %XX escapes of s and keeps invalid
// ones as they are, as PHP and many lenient parsers do.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		if c == '+' {
			c = ' '
		}
		b.WriteByte(c)
	}
	return b.String()
}

// accessTokenKeys returns the raw and decoded names of the query's
// parameters that isAccessTokenKey matches, for Envoy's
// query_parameters_to_remove.
func accessTokenKeys(rawQuery string) []string {
	var out []string
	for pair := range strings.SplitSeq(rawQuery, "&") {
		for part := range strings.SplitSeq(pair, ";") {
			key, _, _ := strings.Cut(part, "=")
			if !isAccessTokenKey(key) {
				continue
			}
			out = append(out, key)
			if d, err := url.QueryUnescape(key); err == nil && d != key {
				out = append(out, d)
			}
		}
	}
	return out
}
