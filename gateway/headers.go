package gateway

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/oktafed/oktafed/verify"
)

// Identity headers are set in the proxy's Rewrite hook, which runs after
// httputil.ReverseProxy has removed the hop-by-hop headers, so a client
// naming them in Connection cannot remove them; and every client header
// that an upstream could read as one of them is removed first. WSGI and
// CGI servers turn both "X-Auth-User" and "X_Auth_User" into
// HTTP_X_AUTH_USER and join the two values, so names are compared after
// folding case and '_' to '-'.

// foldedHasPrefix reports whether name, with ASCII case folded and '_'
// read as '-', starts with prefix (given lower-case, with '-').
func foldedHasPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func foldedEqual(name, want string) bool {
	return len(name) == len(want) && foldedHasPrefix(name, want)
}

// setIdentity adds the verified identity headers. Values that could not
// travel in a header (control characters) are dropped rather than
// mangled, so upstreams never see a half-true identity. It runs on every
// proxied request with a token, so the values share one backing array.
func (g *Gateway) setIdentity(h http.Header, p *verify.Principal) {
	v := [...]string{
		p.Subject, p.User, p.Issuer, p.Provider, p.ClientID,
		strings.Join(p.Scopes, " "), strings.Join(p.Groups, ","), p.Role, joinRoles(p.Roles),
	}
	vals := make([]string, 0, len(v))
	for i, s := range v {
		if s != "" && headerSafe(s) {
			vals = append(vals, s)
			h[g.idNames[i]] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
}

// identityNames are the identity headers after the prefix, in the order
// setIdentity fills them.
var identityNames = [...]string{"Subject", "User", "Issuer", "Provider", "Client-Id", "Scopes", "Groups", "Role", "Roles"}

// joinRoles is strings.Join(roles, ",") without allocating for the role
// lists verify grants.
func joinRoles(roles []string) string {
	switch {
	case len(roles) == 3 && roles[0] == verify.RoleAdmin && roles[1] == verify.RoleWrite && roles[2] == verify.RoleRead:
		return "admin,write,read"
	case len(roles) == 2 && roles[0] == verify.RoleWrite && roles[1] == verify.RoleRead:
		return "write,read"
	case len(roles) == 1:
		return roles[0]
	}
	return strings.Join(roles, ",")
}

func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// The gateway never authenticates with an access_token parameter (RFC 6750
// section 2.2/2.3), but upstreams log query strings and forms, so the
// parameter is removed before forwarding.

// stripAccessToken removes access_token pairs from a raw query or form
// body, keeping every other byte as it was. Pairs are split on '&'; a pair
// that hides the parameter behind ';' (which some parsers also split on)
// is removed whole.
func stripAccessToken(raw string) (string, bool) {
	if !strings.Contains(strings.ToLower(raw), "access") && !strings.Contains(raw, "%") {
		return raw, false
	}
	var out []string
	removed := false
	for pair := range strings.SplitSeq(raw, "&") {
		drop := false
		for part := range strings.SplitSeq(pair, ";") {
			key, _, _ := strings.Cut(part, "=")
			if isAccessTokenKey(key) {
				drop = true
				break
			}
		}
		if drop {
			removed = true
			continue
		}
		out = append(out, pair)
	}
	if !removed {
		return raw, false
	}
	return strings.Join(out, "&"), true
}

// maxFormBytes bounds a form body the gateway reads to remove
// access_token; larger forms are refused with 413.
const maxFormBytes = 1 << 20

// isForm reports whether the request carries an URL-encoded form body.
func isForm(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	return isFormType(r)
}

// isFormType reports whether the Content-Type names an URL-encoded form.
func isFormType(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// stripFormBody reads an URL-encoded form body (at most maxFormBytes) and
// replaces it with one without access_token. It reports false when the
// body is too large.
func stripFormBody(r *http.Request) (ok bool, err error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil {
		return false, err
	}
	if len(data) > maxFormBytes {
		return false, nil
	}
	if s, changed := stripAccessToken(string(data)); changed {
		data = []byte(s)
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.ContentLength = int64(len(data))
	r.TransferEncoding = nil
	r.Header.Del("Content-Length")
	return true, nil
}
