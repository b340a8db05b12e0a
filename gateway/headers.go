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

// setIdentity adds the verified identity headers, each value encoded by
// encodeIdentity so that what the upstream reads is exactly what was
// verified. It runs on every proxied request with a token, so the values
// share one backing array.
func (g *Gateway) setIdentity(h http.Header, p *verify.Principal) {
	v := [...]string{
		encodeIdentity(p.Subject, 0), encodeIdentity(p.User, 0), encodeIdentity(p.Issuer, 0),
		encodeIdentity(p.Provider, 0), encodeIdentity(p.ClientID, 0),
		joinIdentity(p.Scopes, ' '), joinIdentity(p.Groups, ','), encodeIdentity(p.Role, 0), joinRoles(p.Roles),
	}
	vals := make([]string, 0, len(v))
	for i, s := range v {
		if s != "" {
			vals = append(vals, s)
			h[g.idNames[i]] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
}

// Identity values on the wire. A header value cannot carry every string
// faithfully: control bytes are refused or stripped by servers, leading
// and trailing white space is trimmed (RFC 9110 section 5.5), bytes past
// ASCII are read as Latin-1 by some and UTF-8 by others, and a list joined
// with ',' cannot tell the group "analysts,platform-admins" from two
// groups. So each value, and each element of a list, is percent-encoded
// where it would be ambiguous: '%' itself, control bytes, bytes above
// 0x7e, white space at the start or end, and the list's separator (','
// for groups, ' ' for scopes). Everything else, including spaces inside
// a group name such as "Platform Admins", is sent as it is, so ordinary
// values are unchanged; an upstream that decodes with any
// percent-decoder gets the verified value back exactly, and one that
// does not sees a value that matches no real group or user.

// encodeIdentity percent-encodes s for an identity header; sep is the
// list separator to encode (0 for none).
func encodeIdentity(s string, sep byte) string {
	last := len(s) - 1
	needs := func(i int) bool {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' || (sep != 0 && c == sep) {
			return true
		}
		return (c == ' ' || c == '\t') && (i == 0 || i == last)
	}
	i := 0
	for i < len(s) && !needs(i) {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+8)
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if needs(i) {
			b = append(b, '%', hex[s[i]>>4], hex[s[i]&15])
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// joinIdentity encodes each element of a list and joins them with sep.
func joinIdentity(list []string, sep byte) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		return encodeIdentity(list[0], sep)
	}
	var b strings.Builder
	for i, e := range list {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(encodeIdentity(e, sep))
	}
	return b.String()
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
