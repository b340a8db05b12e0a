package gateway

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/verify"
)

// FuzzParseConfig: any YAML must parse or fail cleanly, and whatever
// parses must map to a verify.Config or fail with an error, never panic.
// A retired issuer form is refused with a suggestion that itself parses.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"",
		"upstream: http://127.0.0.1:1\nokta: {org_domain: e.okta.com, audience: [a]}\n",
		"authentication: [{validate_type: JWT, jwt_issuer: https://i, jwt_rsa_public_key: k, jwt_accepted_audience_list: a}]",
		"authentication: [{validate_type: idp, client_id: c, client_secret: s, introspect_url: https://i/x, jwt_accepted_audience_list: 'a,b'}]",
		"routes: [{prefix: /a, methods: [GET], roles: [read], scopes: [x], public: true}]",
		"issuers: [{type: oidc, issuer: https://i, audiences: [a]}]",
		"providers: [okta, auth0]\nauth0: {domain: t.auth0.com, audience: [x]}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig([]byte(s))
		if err != nil {
			if _, suggestion, ok := strings.Cut(err.Error(), "with:\n\n"); ok {
				suggestion, _, _ = strings.Cut(suggestion, "\n\nand put")
				if _, err := ParseConfig([]byte(suggestion)); err != nil {
					t.Fatalf("suggestion %q does not parse: %v", suggestion, err)
				}
			}
			return
		}
		vc, err := c.VerifyConfig()
		if err != nil {
			return
		}
		if len(vc.Providers) == 0 {
			t.Fatal("VerifyConfig returned no providers and no error")
		}
		_, _ = c.compileRoutes(func(string, time.Duration) (*upstream, error) { return &upstream{}, nil })
	})
}

// FuzzApplyEnv: any environment values map to a configuration or an error.
func FuzzApplyEnv(f *testing.F) {
	f.Add("okta,auth0", "example.okta.com", "api://a, api://b", "true", "t.auth0.com", "admins,ops")
	f.Add("", "", "", "", "", "")
	f.Add("okta", "https://x.okta.com/", ",,,", "0", "", " ")
	f.Fuzz(func(t *testing.T, providers, domain, aud, allowOrg, auth0, groups string) {
		env := map[string]string{
			"AUTH_PROVIDERS": providers, "OKTA_ORG_DOMAIN": domain, "OKTA_AUDIENCE": aud, "OKTA_ALLOW_ORG_SERVER": allowOrg,
			"AUTH0_DOMAIN": auth0, "AUTH0_AUDIENCE": aud, "ADMIN_GROUPS": groups,
		}
		var c Config
		if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
			return
		}
		for _, pc := range c.Issuers {
			for _, a := range pc.Audiences {
				if a == "" || strings.Contains(a, ",") || a != strings.TrimSpace(a) {
					t.Fatalf("audience item %q", a)
				}
			}
		}
		vc, err := c.VerifyConfig()
		if err != nil {
			return
		}
		_, _ = verify.New(vc)
	})
}

// FuzzIdentityHeaders: whatever headers a client sends, none with the
// identity prefix survive, and the headers the gateway sets are exactly
// the verified ones and valid HTTP field values.
func FuzzIdentityHeaders(f *testing.F) {
	f.Add("X-Auth-User", "root", "alice", "g1,g2")
	f.Add("x-auth-role", "admin", "bob\r\nX-Auth-Role: admin", "")
	f.Add("X-AUTH-", "", "", "\x00")
	f.Add("X-Auth-Groups", "x", "\talice@example.com", "analysts,platform-admins")
	f.Add("X-Auth-Groups", "x", "alice%20", " platform-admins")
	f.Fuzz(func(t *testing.T, name, value, sub, group string) {
		h := http.Header{}
		h[name] = []string{value}
		h[http.CanonicalHeaderKey(name)] = []string{value}
		stripSpoofable(h, []string{"x-auth-"})
		for k := range h {
			if len(k) >= 7 && strings.EqualFold(strings.ReplaceAll(k[:7], "_", "-"), "X-Auth-") {
				t.Fatalf("header %q survived", k)
			}
		}
		g := &Gateway{prefix: "X-Auth-", folded: "x-auth-"}
		g.setPrefixNames()
		p := &verify.Principal{Subject: sub, User: sub, Groups: []string{group}, Role: "read"}
		g.setIdentity(h, p)
		for k, vs := range h {
			if !strings.HasPrefix(k, "X-Auth-") {
				continue
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("%s carries a control character: %q", k, v)
				}
			}
		}
		// Every value decodes back to exactly what was verified, and no
		// value has white space a server would trim.
		if got := h.Get("X-Auth-Subject"); sub != "" {
			if d, err := url.PathUnescape(got); err != nil || d != sub {
				t.Fatalf("subject %q decodes to %q (%v), want %q", got, d, err, sub)
			}
		}
		if got := h.Get("X-Auth-Groups"); group != "" {
			parts := strings.Split(got, ",")
			if len(parts) != 1 {
				t.Fatalf("one group %q became %d on the wire: %q", group, len(parts), got)
			}
			if d, err := url.PathUnescape(parts[0]); err != nil || d != group {
				t.Fatalf("group %q decodes to %q (%v), want %q", got, d, err, group)
			}
		}
		for k, vs := range h {
			for _, v := range vs {
				if strings.HasPrefix(k, "X-Auth-") && v != strings.TrimSpace(v) {
					t.Fatalf("%s = %q has white space a server would trim", k, v)
				}
			}
		}
	})
}

// FuzzCanonicalPath: whatever path a client sends, the gateway either
// refuses it or forwards a path that is its own canonical form (so the
// upstream reads what the route matched), with no dot segments, no
// parameters, no backslashes and no control characters.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/a/b", "/admin;x", "/admin.", "/admin%20", "/admin%00", "/public\\..\\admin", "/public/..;/admin", "/%2e%2e/", "/caf%C3%A9", "/a%252e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := canonicalPath(raw)
		if err != nil {
			return
		}
		again, err := canonicalPath((&url.URL{Path: p}).EscapedPath())
		if err != nil || again != p {
			t.Fatalf("%q -> %q is not stable: %q %v", raw, p, again, err)
		}
		if strings.ContainsAny(p, "\\;\x00") || strings.Contains(p, "/../") || strings.Contains(p, "/./") || strings.HasSuffix(p, "/..") || strings.HasSuffix(p, ".") {
			t.Fatalf("%q -> %q", raw, p)
		}
		for _, c := range []byte(p) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("%q -> %q holds a control byte", raw, p)
			}
		}
	})
}

// FuzzStripAccessToken: no access_token parameter survives, in any
// spelling a form parser decodes.
func FuzzStripAccessToken(f *testing.F) {
	for _, s := range []string{"a=1&access_token=x", "access%5Ftoken=x", "x;access_token=y", "ACCESS_TOKEN=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, _ := stripAccessToken(raw)
		for pair := range strings.SplitSeq(out, "&") {
			for part := range strings.SplitSeq(pair, ";") {
				k, _, _ := strings.Cut(part, "=")
				if d, err := url.QueryUnescape(k); err == nil && strings.EqualFold(d, "access_token") {
					t.Fatalf("%q -> %q keeps %q", raw, out, k)
				}
			}
		}
	})
}

// FuzzForwardAuthOriginal: whatever request description an ingress (or a
// client behind a careless one) sends, original either refuses it or
// returns exactly one of the values sent, never a mix that no header
// stated.
func FuzzForwardAuthOriginal(f *testing.F) {
	f.Add("/x", "GET", "", "", false)
	f.Add("/x", "GET", "/admin", "DELETE", true)
	f.Add("", "", "/x?y", "POST", false)
	f.Add("/a", "", "", "GET", true)
	f.Fuzz(func(t *testing.T, oURI, oMethod, fURI, fMethod string, dup bool) {
		h := http.Header{}
		for k, v := range map[string]string{hdrOriginalURI: oURI, hdrOriginalMethod: oMethod, hdrForwardedURI: fURI, hdrForwardedMethod: fMethod} {
			if v != "" {
				h[k] = []string{v}
			}
		}
		if dup && oURI != "" {
			h[hdrOriginalURI] = append(h[hdrOriginalURI], oURI)
		}
		method, uri, problem := original(h)
		if problem != "" {
			if method != "" || uri != "" {
				t.Fatalf("refused but returned %q %q", method, uri)
			}
			return
		}
		if dup && oURI != "" {
			t.Fatal("two X-Original-URI values accepted")
		}
		if uri != oURI && uri != fURI || uri == "" || method == "" {
			t.Fatalf("uri %q from %q/%q", uri, oURI, fURI)
		}
		if method != oMethod && method != fMethod {
			t.Fatalf("method %q from %q/%q", method, oMethod, fMethod)
		}
		if oURI != "" && fURI != "" && oURI != fURI || oMethod != "" && fMethod != "" && oMethod != fMethod {
			t.Fatal("disagreeing descriptions accepted")
		}
	})
}
