package authserver

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t, nil)
	custom := e.url + "/oauth2/default"
	org := e.url
	tests := []struct {
		name     string
		path     string
		issuer   string
		prefix   string // of the /v1 endpoints
		userinfo bool
		scopes   []string
		noScopes []string
		grants   []string
	}{
		{"custom openid", "/oauth2/default/.well-known/openid-configuration", custom, custom + "/v1", true,
			[]string{"openid", "offline_access", "read"}, []string{"write", "admin", "groups"},
			[]string{GrantClientCredentials, GrantPassword, GrantRefreshToken}},
		{"custom oauth", "/oauth2/default/.well-known/oauth-authorization-server", custom, custom + "/v1", false,
			[]string{"openid", "read"}, []string{"write"}, []string{GrantClientCredentials, GrantPassword, GrantRefreshToken}},
		{"custom oauth rfc8414 path", "/.well-known/oauth-authorization-server/oauth2/default", custom, custom + "/v1", false,
			[]string{"openid", "read"}, nil, nil},
		{"org openid", "/.well-known/openid-configuration", org, org + "/oauth2/v1", true,
			[]string{"openid", "profile", "email", "groups", "offline_access"}, []string{"read"},
			append([]string{GrantPassword, GrantRefreshToken, GrantDeviceCode, GrantTokenExchange}, directGrants...)},
	}
	// Okta documents OAuth 2.0 metadata for custom authorization servers
	// only: the org server does not serve it.
	if r := e.do(http.MethodGet, "/.well-known/oauth-authorization-server", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("org server serves oauth-authorization-server metadata: %d", r.status)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tc.path, nil, nil)
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("status %d, content type %q", r.status, r.header.Get("Content-Type"))
			}
			d := r.json(t)
			want := map[string]string{
				"issuer":                 tc.issuer,
				"token_endpoint":         tc.prefix + "/token",
				"jwks_uri":               tc.prefix + "/keys",
				"introspection_endpoint": tc.prefix + "/introspect",
				"revocation_endpoint":    tc.prefix + "/revoke",
			}
			for k, v := range want {
				if d[k] != v {
					t.Errorf("%s = %v, want %q", k, d[k], v)
				}
			}
			// Only endpoints that answer are listed: the sandbox serves
			// no authorize, logout or client registration endpoint.
			for _, k := range []string{"authorization_endpoint", "end_session_endpoint", "registration_endpoint"} {
				if v, ok := d[k]; ok {
					t.Errorf("%s = %v listed, but the sandbox does not serve it", k, v)
				}
			}
			if dev, ok := d["device_authorization_endpoint"]; ok != slices.Contains(tc.grants, GrantDeviceCode) || (ok && dev != tc.prefix+"/device/authorize") {
				t.Errorf("device_authorization_endpoint = %v (present %v; grants %v)", dev, ok, tc.grants)
			}
			// Every endpoint the document lists answers (not 404).
			for k, v := range d {
				u, ok := v.(string)
				if !ok || !strings.HasSuffix(k, "_endpoint") && k != "jwks_uri" {
					continue
				}
				method := http.MethodPost
				if k == "jwks_uri" || k == "userinfo_endpoint" {
					method = http.MethodGet
				}
				if r := e.do(method, strings.TrimPrefix(u, e.url), nil, nil); r.status == http.StatusNotFound {
					t.Errorf("%s %s answers 404", k, u)
				}
			}
			if ui, ok := d["userinfo_endpoint"]; ok != tc.userinfo || (ok && ui != tc.prefix+"/userinfo") {
				t.Errorf("userinfo_endpoint = %v (present %v, want present %v)", ui, ok, tc.userinfo)
			}
			if _, ok := d["id_token_signing_alg_values_supported"]; ok != tc.userinfo {
				t.Errorf("id_token_signing_alg_values_supported present = %v", ok)
			}
			for _, k := range []string{
				"response_types_supported", "response_modes_supported", "grant_types_supported", "subject_types_supported",
				"scopes_supported", "token_endpoint_auth_methods_supported", "claims_supported", "code_challenge_methods_supported",
				"introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported",
				"request_object_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported",
			} {
				if _, ok := d[k].([]any); !ok {
					t.Errorf("%s missing or not a list: %v", k, d[k])
				}
			}
			scopes := stringList(d["scopes_supported"])
			for _, s := range tc.scopes {
				if !slices.Contains(scopes, s) {
					t.Errorf("scopes_supported %v lacks %q", scopes, s)
				}
			}
			for _, s := range tc.noScopes {
				if slices.Contains(scopes, s) {
					t.Errorf("scopes_supported %v has %q", scopes, s)
				}
			}
			if tc.grants != nil && !slices.Equal(stringList(d["grant_types_supported"]), tc.grants) {
				t.Errorf("grant_types_supported = %v, want %v", d["grant_types_supported"], tc.grants)
			}
			methods := stringList(d["token_endpoint_auth_methods_supported"])
			for _, m := range []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone} {
				if !slices.Contains(methods, m) {
					t.Errorf("token_endpoint_auth_methods_supported lacks %s", m)
				}
			}
			if !slices.Equal(stringList(d["code_challenge_methods_supported"]), []string{"S256"}) {
				t.Errorf("code_challenge_methods_supported = %v", d["code_challenge_methods_supported"])
			}
			if r.header.Get("X-Rate-Limit-Limit") == "" {
				t.Error("no X-Rate-Limit-Limit header")
			}
		})
	}
}

func TestUnknownServerAndMethod(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unknown server discovery", http.MethodGet, "/oauth2/nope/.well-known/openid-configuration", 404, "E0000007"},
		{"unknown server token", http.MethodPost, "/oauth2/nope/v1/token", 404, "E0000007"},
		{"unknown server keys", http.MethodGet, "/oauth2/nope/v1/keys", 404, "E0000007"},
		{"GET token", http.MethodGet, "/oauth2/default/v1/token", 405, "E0000022"},
		{"GET org introspect", http.MethodGet, "/oauth2/v1/introspect", 405, "E0000022"},
		{"POST keys", http.MethodPost, "/oauth2/default/v1/keys", 405, "E0000022"},
		{"DELETE userinfo", http.MethodDelete, "/oauth2/v1/userinfo", 405, "E0000022"},
		{"admin unknown server", http.MethodPost, "/sandbox/admin/oauth/nope/rotate", 404, "E0000007"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, nil, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			b := r.json(t)
			if b["errorCode"] != tc.code || b["errorSummary"] == "" || b["errorId"] == "" {
				t.Errorf("body = %v", b)
			}
			if _, ok := b["errorCauses"].([]any); !ok {
				t.Errorf("errorCauses missing: %v", b)
			}
		})
	}
}

func TestOrgServerDisabledServesNothing(t *testing.T) {
	off := false
	e := newEnv(t, func(c *Config) { c.OrgServer.Enabled = &off })
	// With the org paths unregistered, the mux has no route for them.
	if r := e.do(http.MethodGet, "/.well-known/openid-configuration", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("org discovery with org server disabled: %d", r.status)
	}
	if r := e.do(http.MethodGet, "/oauth2/default/v1/keys", nil, nil); r.status != http.StatusOK {
		t.Fatalf("custom keys: %d", r.status)
	}
}

func TestJWKS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Servers[0].KeyRotation.Interval = 10 * 3600 * 1e9 })
	for _, path := range []string{"/oauth2/default/v1/keys", "/oauth2/v1/keys"} {
		t.Run(path, func(t *testing.T) {
			r := e.do(http.MethodGet, path, nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			cc := r.header.Get("Cache-Control")
			age, ok := strings.CutPrefix(cc, "max-age=")
			if !ok || !strings.HasSuffix(age, ", must-revalidate") {
				t.Fatalf("Cache-Control = %q", cc)
			}
			secs, err := strconv.Atoi(strings.TrimSuffix(age, ", must-revalidate"))
			if err != nil || secs <= 0 || secs > 86400 {
				t.Fatalf("max-age %q", age)
			}
			if path == "/oauth2/default/v1/keys" && secs != 36000 {
				t.Errorf("max-age = %d, want the 10h until the scheduled rotation", secs)
			}
			if r.header.Get("Expires") == "" {
				t.Error("no Expires header")
			}
			keys, _ := r.json(t)["keys"].([]any)
			if len(keys) != 1 {
				t.Fatalf("keys = %v", keys)
			}
			k := keys[0].(map[string]any)
			for field, want := range map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "e": "AQAB"} {
				if k[field] != want {
					t.Errorf("%s = %v, want %s", field, k[field], want)
				}
			}
			if kid, _ := k["kid"].(string); len(kid) != 43 {
				t.Errorf("kid = %v", k["kid"])
			}
			if n, _ := k["n"].(string); len(n) < 300 {
				t.Errorf("n = %v", k["n"])
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS leaks private field %q", private)
				}
			}
		})
	}
	// The org server and a custom server sign with different keys.
	a, b := e.fetchJWKS("/oauth2/v1/keys"), e.fetchJWKS("/oauth2/default/v1/keys")
	if a.Keys[0].KeyID == b.Keys[0].KeyID {
		t.Error("org and custom servers share a key")
	}
}
