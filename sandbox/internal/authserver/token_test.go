package authserver

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const tokenPath = "/oauth2/default/v1/token"

func TestClientAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	cc := func(extra url.Values) url.Values {
		v := url.Values{"grant_type": {GrantClientCredentials}, "scope": {"read"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	assertion := func(key any, alg jose.SignatureAlgorithm, kid string) url.Values {
		return url.Values{
			"client_assertion_type": {ClientAssertionType},
			"client_assertion":      {signAssertion(t, key, alg, kid, e.assertionClaims("svc-jwt", tokenPath))},
		}
	}
	tests := []struct {
		name   string
		form   url.Values
		mod    func(*http.Request)
		status int
		code   string
		cid    string
	}{
		{"basic", cc(nil), basicAuth("svc-basic", "basic-secret"), 200, "", "svc-basic"},
		{"basic form-urlencoded", cc(nil), func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("svc%2Dbasic:basic%2Dsecret")))
		}, 200, "", "svc-basic"},
		{"basic wrong secret", cc(nil), basicAuth("svc-basic", "nope"), 401, "invalid_client", ""},
		{"basic unknown client", cc(nil), basicAuth("ghost", "basic-secret"), 401, "invalid_client", ""},
		{"basic malformed", cc(nil), func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }, 401, "invalid_client", ""},
		{"basic client_id mismatch", cc(url.Values{"client_id": {"svc-post"}}), basicAuth("svc-basic", "basic-secret"), 401, "invalid_client", ""},
		{"post", cc(url.Values{"client_id": {"svc-post"}, "client_secret": {"post-secret"}}), nil, 200, "", "svc-post"},
		{"post wrong secret", cc(url.Values{"client_id": {"svc-post"}, "client_secret": {"x"}}), nil, 401, "invalid_client", ""},
		{"post without client_id", cc(url.Values{"client_secret": {"post-secret"}}), nil, 401, "invalid_client", ""},
		{"post for a basic client", cc(url.Values{"client_id": {"svc-basic"}, "client_secret": {"basic-secret"}}), nil, 401, "invalid_client", ""},
		{"basic for a post client", cc(nil), basicAuth("svc-post", "post-secret"), 401, "invalid_client", ""},
		{"two methods at once", cc(url.Values{"client_id": {"svc-basic"}, "client_secret": {"basic-secret"}}), basicAuth("svc-basic", "basic-secret"), 400, "invalid_request", ""},
		{"private_key_jwt RS256", cc(assertion(clientRSA, jose.RS256, "rsa-1")), nil, 200, "", "svc-jwt"},
		{"private_key_jwt ES256", cc(assertion(clientEC, jose.ES256, "ec-1")), nil, 200, "", "svc-jwt"},
		{"private_key_jwt without kid", cc(assertion(clientEC, jose.ES256, "")), nil, 200, "", "svc-jwt"},
		{"no credentials", cc(nil), nil, 401, "invalid_client", ""},
		{"public client has no client_credentials", cc(url.Values{"client_id": {"native"}}), nil, 400, "unauthorized_client", ""},
		{"public client sending a secret", cc(url.Values{"client_id": {"native"}, "client_secret": {"x"}}), nil, 401, "invalid_client", ""},
		{"bearer header is not client auth", cc(nil), func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, 401, "invalid_client", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tokenPath, tc.form, tc.mod)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			b := r.json(t)
			if tc.code != "" {
				if b["error"] != tc.code || b["error_description"] == "" {
					t.Fatalf("body = %v, want error %s", b, tc.code)
				}
				if len(b) != 2 {
					t.Errorf("error body has extra fields: %v", b)
				}
				if tc.status == 401 && tc.mod != nil && strings.HasPrefix(tc.name, "basic") && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("401 after Basic without a Basic challenge")
				}
				return
			}
			at, _ := b["access_token"].(string)
			if got := unverifiedClaims(t, at)["cid"]; got != tc.cid {
				t.Errorf("cid = %v, want %s", got, tc.cid)
			}
		})
	}
}

func TestPrivateKeyJWTFailures(t *testing.T) {
	e := newEnv(t, nil)
	send := func(assertion string, extra url.Values) response {
		form := url.Values{
			"grant_type": {GrantClientCredentials}, "scope": {"read"},
			"client_assertion_type": {ClientAssertionType}, "client_assertion": {assertion},
		}
		for k, v := range extra {
			form[k] = v
		}
		return e.do(http.MethodPost, tokenPath, form, nil)
	}
	signed := func(mod func(map[string]any)) string {
		c := e.assertionClaims("svc-jwt", tokenPath)
		mod(c)
		return signAssertion(t, clientRSA, jose.RS256, "rsa-1", c)
	}
	now := e.clk.Now()
	tests := []struct {
		name      string
		assertion string
		extra     url.Values
		want      string // part of error_description
	}{
		{"aud is another endpoint", signed(func(c map[string]any) { c["aud"] = e.url + "/oauth2/default/v1/introspect" }), nil, "aud"},
		{"aud is the issuer", signed(func(c map[string]any) { c["aud"] = e.url + "/oauth2/default" }), nil, "aud"},
		{"aud is another server", signed(func(c map[string]any) { c["aud"] = e.url + "/oauth2/v1/token" }), nil, "aud"},
		{"no exp", signed(func(c map[string]any) { delete(c, "exp") }), nil, "exp"},
		{"exp over an hour ahead", signed(func(c map[string]any) { c["exp"] = now.Add(time.Hour + time.Second).Unix() }), nil, "one hour"},
		{"expired", signed(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }), nil, "expired"},
		{"nbf in future", signed(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }), nil, "nbf"},
		{"no jti", signed(func(c map[string]any) { delete(c, "jti") }), nil, "jti"},
		{"iss differs from sub", signed(func(c map[string]any) { c["iss"] = "someone" }), nil, "iss"},
		{"unknown client", signed(func(c map[string]any) { c["iss"], c["sub"] = "ghost", "ghost" }), nil, "authentication failed"},
		{"client_id differs", signed(func(map[string]any) {}), url.Values{"client_id": {"svc-basic"}}, "client_id"},
		{"secret client uses a JWT", signed(func(c map[string]any) { c["iss"], c["sub"] = "svc-basic", "svc-basic" }), nil, "authentication failed"},
		{"signed by a stranger", signAssertion(t, strangerEC, jose.ES256, "ec-1", e.assertionClaims("svc-jwt", tokenPath)), nil, "signature"},
		{"HS256 with the secret", signAssertion(t, []byte("a-shared-secret-of-enough-length!"), jose.HS256, "", e.assertionClaims("svc-jwt", tokenPath)), nil, "not a JWT signed"},
		{"garbage", "not.a.jwt", nil, "invalid"},
		{"empty", "", nil, "required"},
		{"wrong assertion type", signed(func(map[string]any) {}), url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}}, "client_assertion_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := send(tc.assertion, tc.extra)
			b := r.json(t)
			if r.status != http.StatusUnauthorized || b["error"] != "invalid_client" {
				t.Fatalf("status %d body %v, want 401 invalid_client", r.status, b)
			}
			if d, _ := b["error_description"].(string); !strings.Contains(d, tc.want) {
				t.Errorf("error_description %q does not mention %q", d, tc.want)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		a := signed(func(map[string]any) {})
		if r := send(a, nil); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		r := send(a, nil)
		if d, _ := r.json(t)["error_description"].(string); r.status != 401 || !strings.Contains(d, "already been used") {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		// A replay stays refused until the assertion expires, by which
		// time it is refused as expired.
		e.clk.Advance(6 * time.Minute)
		if r := send(a, nil); r.status != 401 || !strings.Contains(string(r.body), "expired") {
			t.Fatalf("replay after expiry: %d %s", r.status, r.body)
		}
	})

	t.Run("exactly one hour ahead is allowed", func(t *testing.T) {
		a := signed(func(c map[string]any) { c["exp"] = e.clk.Now().Add(time.Hour).Unix() })
		if r := send(a, nil); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	t.Run("assertion for introspection", func(t *testing.T) {
		tok := e.ccToken("read")
		c := e.assertionClaims("svc-jwt", "/oauth2/default/v1/introspect")
		form := url.Values{"token": {tok}, "client_assertion_type": {ClientAssertionType}, "client_assertion": {signAssertion(t, clientEC, jose.ES256, "ec-1", c)}}
		r := e.do(http.MethodPost, "/oauth2/default/v1/introspect", form, nil)
		if r.status != 200 || r.json(t)["active"] != true {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestScopes(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		path   string
		form   url.Values
		mod    func(*http.Request)
		want   []string
		status int
		code   string
	}{
		{"requested", tokenPath, url.Values{"scope": {"read write"}}, basicAuth("svc-basic", "basic-secret"), []string{"read", "write"}, 200, ""},
		{"duplicates collapse", tokenPath, url.Values{"scope": {"write  read write"}}, basicAuth("svc-basic", "basic-secret"), []string{"write", "read"}, 200, ""},
		{"defaults when none requested", tokenPath, url.Values{}, basicAuth("svc-basic", "basic-secret"), []string{"read"}, 200, ""},
		{"undefined on server", tokenPath, url.Values{"scope": {"read delete"}}, basicAuth("svc-basic", "basic-secret"), nil, 400, "invalid_scope"},
		{"not allowed for client", tokenPath, url.Values{"scope": {"admin"}}, basicAuth("svc-basic", "basic-secret"), nil, 400, "invalid_scope"},
		{"client without a scope list gets any", tokenPath, url.Values{"scope": {"admin"}, "client_id": {"svc-post"}, "client_secret": {"post-secret"}}, nil, []string{"admin"}, 200, ""},
		{"openid with client credentials", tokenPath, url.Values{"scope": {"openid read"}}, basicAuth("svc-basic", "basic-secret"), nil, 400, "invalid_scope"},
		{"no defaults on server", "/oauth2/second/v1/token", url.Values{}, basicAuth("svc-basic", "basic-secret"), nil, 400, "invalid_scope"},
		{"other server's scope", "/oauth2/second/v1/token", url.Values{"scope": {"write"}}, basicAuth("svc-basic", "basic-secret"), nil, 400, "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("grant_type", GrantClientCredentials)
			r := e.do(http.MethodPost, tc.path, tc.form, tc.mod)
			b := r.json(t)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %v", r.status, tc.status, b)
			}
			if tc.code != "" {
				if b["error"] != tc.code {
					t.Fatalf("error = %v, want %s", b["error"], tc.code)
				}
				return
			}
			if b["scope"] != strings.Join(tc.want, " ") {
				t.Errorf("scope = %v, want %v", b["scope"], tc.want)
			}
			if got := stringList(unverifiedClaims(t, b["access_token"].(string))["scp"]); !slices.Equal(got, tc.want) {
				t.Errorf("scp = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClientCredentialsTokenClaims(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(http.MethodPost, tokenPath, url.Values{"grant_type": {GrantClientCredentials}, "scope": {"read write"}}, basicAuth("svc-basic", "basic-secret"))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("token response cache headers: %q %q", r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
	for _, h := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} {
		if r.header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	b := r.json(t)
	if b["token_type"] != "Bearer" || b["expires_in"] != float64(3600) || b["scope"] != "read write" {
		t.Errorf("response = %v", b)
	}
	for _, absent := range []string{"refresh_token", "id_token"} {
		if _, ok := b[absent]; ok {
			t.Errorf("client credentials response has %s", absent)
		}
	}
	h, c := e.verifyWithJWKS("/oauth2/default/v1/keys", b["access_token"].(string))
	if h.Algorithm != "RS256" || h.KeyID == "" {
		t.Errorf("header alg %q kid %q", h.Algorithm, h.KeyID)
	}
	now := testStart.Unix()
	want := map[string]any{
		"ver": float64(1), "iss": e.url + "/oauth2/default", "aud": "api://default",
		"iat": float64(now), "exp": float64(now + 3600), "cid": "svc-basic", "sub": "svc-basic",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if jti, _ := c["jti"].(string); !strings.HasPrefix(jti, "AT.") || len(jti) < 40 {
		t.Errorf("jti = %v", c["jti"])
	}
	if !slices.Equal(stringList(c["scp"]), []string{"read", "write"}) {
		t.Errorf("scp = %v", c["scp"])
	}
	for _, absent := range []string{"uid", "groups", "mail", "auth_time"} {
		if _, ok := c[absent]; ok {
			t.Errorf("client credentials token has %s", absent)
		}
	}
	// The org server's JWKS does not verify a custom server's token.
	org := e.fetchJWKS("/oauth2/v1/keys")
	if len(org.Key(h.KeyID)) != 0 {
		t.Error("org JWKS holds the custom server's key")
	}
}

func TestPasswordGrant(t *testing.T) {
	e := newEnv(t, nil)
	b := e.passwordTokens("openid profile email offline_access read")
	if b["scope"] != "openid profile email offline_access read" {
		t.Errorf("scope = %v", b["scope"])
	}
	at, idt := b["access_token"].(string), b["id_token"].(string)
	if rt, _ := b["refresh_token"].(string); len(rt) < 40 {
		t.Errorf("refresh_token = %q", rt)
	}
	_, c := e.verifyWithJWKS("/oauth2/default/v1/keys", at)
	wantAT := map[string]any{"sub": "ada@example.com", "uid": "00u1ada", "cid": "web", "mail": "ada@example.com", "auth_time": float64(testStart.Unix())}
	for k, v := range wantAT {
		if c[k] != v {
			t.Errorf("access token %s = %v, want %v", k, c[k], v)
		}
	}
	if g := stringList(c["groups"]); !slices.Equal(g, []string{"Everyone", "Engineering"}) {
		t.Errorf("groups = %v (filter Eng.*|Everyone)", g)
	}

	_, ic := e.verifyWithJWKS("/oauth2/default/v1/keys", idt)
	sum := sha256.Sum256([]byte(at))
	wantID := map[string]any{
		"sub": "00u1ada", "aud": "web", "iss": e.url + "/oauth2/default", "ver": float64(1),
		"name": "Ada Lovelace", "preferred_username": "ada@example.com", "email": "ada@example.com", "email_verified": true,
		"at_hash": base64.RawURLEncoding.EncodeToString(sum[:16]), "exp": float64(testStart.Add(time.Hour).Unix()),
	}
	for k, v := range wantID {
		if ic[k] != v {
			t.Errorf("id token %s = %v, want %v", k, ic[k], v)
		}
	}
	if jti, _ := ic["jti"].(string); !strings.HasPrefix(jti, "ID.") {
		t.Errorf("id token jti = %v", ic["jti"])
	}
	if !slices.Equal(stringList(ic["amr"]), []string{"pwd"}) || !strings.HasPrefix(ic["idp"].(string), "00o") {
		t.Errorf("amr %v idp %v", ic["amr"], ic["idp"])
	}
	if _, ok := ic["mail"]; ok {
		t.Error("access-token-only claim in the ID token")
	}
	if g := stringList(ic["groups"]); len(g) != 2 {
		t.Errorf("id token groups = %v", g)
	}

	t.Run("without openid no id_token", func(t *testing.T) {
		b := e.passwordTokens("read")
		if _, ok := b["id_token"]; ok {
			t.Error("id_token without openid")
		}
		if _, ok := b["refresh_token"]; ok {
			t.Error("refresh_token without offline_access")
		}
	})
	t.Run("openid without profile or email", func(t *testing.T) {
		ic := unverifiedClaims(t, e.passwordTokens("openid")["id_token"].(string))
		for _, k := range []string{"name", "email", "preferred_username"} {
			if _, ok := ic[k]; ok {
				t.Errorf("id token has %s without its scope", k)
			}
		}
	})

	errs := []struct {
		name   string
		form   url.Values
		mod    func(*http.Request)
		path   string
		status int
		code   string
	}{
		{"wrong password", url.Values{"username": {"ada@example.com"}, "password": {"wrong"}, "scope": {"openid"}}, basicAuth("web", "web-secret"), tokenPath, 400, "invalid_grant"},
		{"unknown user", url.Values{"username": {"bob@example.com"}, "password": {"x"}, "scope": {"openid"}}, basicAuth("web", "web-secret"), tokenPath, 400, "invalid_grant"},
		{"missing password", url.Values{"username": {"ada@example.com"}, "scope": {"openid"}}, basicAuth("web", "web-secret"), tokenPath, 400, "invalid_request"},
		{"grant not allowed for client", url.Values{"username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {"read"}}, basicAuth("svc-basic", "basic-secret"), tokenPath, 400, "unauthorized_client"},
		{"public client", url.Values{"client_id": {"native"}, "username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {"openid"}}, nil, tokenPath, 200, ""},
		{"org server", url.Values{"username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {"openid groups"}}, basicAuth("org-web", "org-secret"), "/oauth2/v1/token", 200, ""},
		{"org server custom scope", url.Values{"username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {"read"}}, basicAuth("org-web", "org-secret"), "/oauth2/v1/token", 400, "invalid_scope"},
		{"org server client credentials", url.Values{"scope": {"openid"}}, basicAuth("org-web", "org-secret"), "/oauth2/v1/token", 400, "unsupported_grant_type"},
		{"default client unknown at org", url.Values{"username": {"ada@example.com"}, "password": {"correct horse"}}, basicAuth("web", "web-secret"), "/oauth2/v1/token", 401, "invalid_client"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("grant_type", GrantPassword)
			if tc.code == "unsupported_grant_type" {
				tc.form.Set("grant_type", GrantClientCredentials)
			}
			r := e.do(http.MethodPost, tc.path, tc.form, tc.mod)
			b := r.json(t)
			if r.status != tc.status || (tc.code != "" && b["error"] != tc.code) {
				t.Fatalf("status %d body %v, want %d %s", r.status, b, tc.status, tc.code)
			}
			if tc.name == "org server" {
				c := unverifiedClaims(t, b["access_token"].(string))
				if c["iss"] != e.url || c["aud"] != e.url || c["sub"] != "ada@example.com" {
					t.Errorf("org access token iss %v aud %v sub %v", c["iss"], c["aud"], c["sub"])
				}
				_, ic := e.verifyWithJWKS("/oauth2/v1/keys", b["id_token"].(string))
				if g := stringList(ic["groups"]); len(g) != 3 {
					t.Errorf("org id token groups = %v", g)
				}
			}
		})
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	e := newEnv(t, nil)
	first := e.passwordTokens("openid offline_access read write")
	rt := first["refresh_token"].(string)
	refresh := func(client, secret string, extra url.Values) response {
		form := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}
		for k, v := range extra {
			form[k] = v
		}
		return e.do(http.MethodPost, tokenPath, form, basicAuth(client, secret))
	}

	e.clk.Advance(10 * time.Minute)
	r := refresh("web", "web-secret", nil)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	b := r.json(t)
	if b["refresh_token"] != rt || b["scope"] != "openid offline_access read write" || b["id_token"] == nil {
		t.Errorf("refresh response = %v", b)
	}
	c := unverifiedClaims(t, b["access_token"].(string))
	if c["iat"] != float64(testStart.Add(10*time.Minute).Unix()) || c["auth_time"] != float64(testStart.Unix()) || c["uid"] != "00u1ada" {
		t.Errorf("refreshed claims iat %v auth_time %v uid %v", c["iat"], c["auth_time"], c["uid"])
	}

	t.Run("narrower scope", func(t *testing.T) {
		r := refresh("web", "web-secret", url.Values{"scope": {"read"}})
		if r.status != 200 || r.json(t)["scope"] != "read" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if _, ok := r.json(t)["id_token"]; ok {
			t.Error("id_token without openid")
		}
	})
	t.Run("wider scope", func(t *testing.T) {
		r := refresh("web", "web-secret", url.Values{"scope": {"read admin"}})
		if r.status != 400 || r.json(t)["error"] != "invalid_scope" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("another client", func(t *testing.T) {
		r := refresh("web-noref", "web-secret", nil)
		if r.status != 400 || r.json(t)["error"] != "unauthorized_client" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("missing token", func(t *testing.T) {
		r := e.do(http.MethodPost, tokenPath, url.Values{"grant_type": {GrantRefreshToken}}, basicAuth("web", "web-secret"))
		if r.status != 400 || r.json(t)["error"] != "invalid_request" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		r := e.do(http.MethodPost, tokenPath, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {"nope"}}, basicAuth("web", "web-secret"))
		if r.status != 400 || r.json(t)["error"] != "invalid_grant" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("client without refresh grant gets none", func(t *testing.T) {
		b := e.tokenFor(tokenPath, url.Values{"grant_type": {GrantPassword}, "username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {"openid offline_access"}}, basicAuth("web-noref", "web-secret"))
		if _, ok := b["refresh_token"]; ok {
			t.Error("refresh token for a client without the refresh_token grant")
		}
	})
	t.Run("idle expiry", func(t *testing.T) {
		rt2 := e.passwordTokens("offline_access read")["refresh_token"].(string)
		use := func() int {
			return e.do(http.MethodPost, tokenPath, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt2}}, basicAuth("web", "web-secret")).status
		}
		e.clk.Advance(6 * 24 * time.Hour)
		if s := use(); s != 200 {
			t.Fatalf("after 6 idle days: %d", s)
		}
		e.clk.Advance(6 * 24 * time.Hour)
		if s := use(); s != 200 {
			t.Fatalf("6 days after last use: %d", s)
		}
		e.clk.Advance(7 * 24 * time.Hour)
		if s := use(); s != 400 {
			t.Fatalf("7 idle days: %d, want 400", s)
		}
	})
}

func TestRefreshTokenLifetime(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Servers[0].RefreshTokenLifetime = 2 * time.Hour })
	rt := e.passwordTokens("offline_access read")["refresh_token"].(string)
	use := func() int {
		return e.do(http.MethodPost, tokenPath, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}, basicAuth("web", "web-secret")).status
	}
	e.clk.Advance(time.Hour)
	if s := use(); s != 200 {
		t.Fatalf("within lifetime: %d", s)
	}
	e.clk.Advance(time.Hour)
	if s := use(); s != 400 {
		t.Fatalf("past lifetime: %d", s)
	}
}

func TestTokenRequestErrors(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		body   string
		ctype  string
		mod    func(*http.Request)
		status int
		code   string
	}{
		{"json body", `{"grant_type":"client_credentials"}`, "application/json", basicAuth("svc-basic", "basic-secret"), 400, "invalid_request"},
		{"no content type", "grant_type=client_credentials", "", basicAuth("svc-basic", "basic-secret"), 400, "invalid_request"},
		{"missing grant_type", "scope=read", "application/x-www-form-urlencoded", basicAuth("svc-basic", "basic-secret"), 400, "invalid_request"},
		{"repeated parameter", "grant_type=client_credentials&scope=read&scope=write", "application/x-www-form-urlencoded", basicAuth("svc-basic", "basic-secret"), 400, "invalid_request"},
		{"bad escape", "grant_type=%zz", "application/x-www-form-urlencoded", basicAuth("svc-basic", "basic-secret"), 400, "invalid_request"},
		{"unsupported grant", "grant_type=authorization_code&code=x", "application/x-www-form-urlencoded", basicAuth("svc-basic", "basic-secret"), 400, "unsupported_grant_type"},
		{"unsupported grant, bad client", "grant_type=urn:ietf:params:oauth:grant-type:device_code", "application/x-www-form-urlencoded", basicAuth("svc-basic", "x"), 401, "invalid_client"},
		{"charset parameter is fine", "grant_type=client_credentials&scope=read", "application/x-www-form-urlencoded; charset=UTF-8", basicAuth("svc-basic", "basic-secret"), 200, ""},
		{"too large", "grant_type=client_credentials&pad=" + strings.Repeat("a", maxFormBytes), "application/x-www-form-urlencoded", basicAuth("svc-basic", "basic-secret"), 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tokenPath, nil, func(r *http.Request) {
				r.Body = nopCloser{strings.NewReader(tc.body)}
				r.ContentLength = int64(len(tc.body))
				if tc.ctype != "" {
					r.Header.Set("Content-Type", tc.ctype)
				}
				tc.mod(r)
			})
			b := r.json(t)
			if r.status != tc.status || (tc.code != "" && b["error"] != tc.code) {
				t.Fatalf("status %d body %v, want %d %s", r.status, b, tc.status, tc.code)
			}
			if tc.code != "" && r.header.Get("Cache-Control") != "no-store" {
				t.Error("error response is cacheable")
			}
		})
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateLimitPerMinute = 3 })
	e.clk.Set(testStart.Truncate(time.Minute).Add(10 * time.Second))
	reset := testStart.Truncate(time.Minute).Add(time.Minute).Unix()
	for i := 1; i <= 4; i++ {
		r := e.do(http.MethodGet, "/oauth2/default/v1/keys", nil, nil)
		wantStatus, wantRemaining := 200, 3-i
		if i == 4 {
			wantStatus, wantRemaining = 429, 0
		}
		if r.status != wantStatus {
			t.Fatalf("request %d: status %d", i, r.status)
		}
		if r.header.Get("X-Rate-Limit-Limit") != "3" || r.header.Get("X-Rate-Limit-Remaining") != strconv.Itoa(wantRemaining) || r.header.Get("X-Rate-Limit-Reset") != strconv.FormatInt(reset, 10) {
			t.Errorf("request %d headers: %v", i, r.header)
		}
		if i == 4 && r.json(t)["errorCode"] != "E0000047" {
			t.Errorf("429 body %s", r.body)
		}
	}
	// Each endpoint and each server counts separately.
	if r := e.do(http.MethodGet, "/oauth2/v1/keys", nil, nil); r.status != 200 {
		t.Errorf("org keys limited by the custom server's count: %d", r.status)
	}
	e.clk.Advance(time.Minute)
	if r := e.do(http.MethodGet, "/oauth2/default/v1/keys", nil, nil); r.status != 200 || r.header.Get("X-Rate-Limit-Remaining") != "2" {
		t.Errorf("next window: %d %v", r.status, r.header)
	}
}
