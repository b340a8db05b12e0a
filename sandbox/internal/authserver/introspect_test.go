package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	introspectPath = "/oauth2/default/v1/introspect"
	revokePath     = "/oauth2/default/v1/revoke"
)

func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	// A resource server other than the token's client asks.
	r := e.do(http.MethodPost, introspectPath, url.Values{"token": {token}, "client_id": {"svc-post"}, "client_secret": {"post-secret"}}, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("introspection response is cacheable")
	}
	return r.json(e.t)
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t, nil)
	pw := e.passwordTokens("openid offline_access read")
	userAT, rt := pw["access_token"].(string), pw["refresh_token"].(string)
	ccAT := e.ccToken("read write")
	secondAT := e.tokenFor("/oauth2/second/v1/token", url.Values{"grant_type": {GrantClientCredentials}, "scope": {"read"}}, basicAuth("svc-basic", "basic-secret"))["access_token"].(string)
	orgAT := e.tokenFor("/oauth2/v1/token", url.Values{"grant_type": {GrantPassword}, "username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {"openid"}}, basicAuth("org-web", "org-secret"))["access_token"].(string)
	// The same claims signed by a key the server does not hold.
	forged := userAT[:strings.LastIndex(userAT, ".")] + "." + strings.Repeat("A", 342)

	now := testStart.Unix()
	t.Run("user access token", func(t *testing.T) {
		got := e.introspect(userAT)
		want := map[string]any{
			"active": true, "token_type": "Bearer", "scope": "openid offline_access read", "client_id": "web",
			"username": "ada@example.com", "sub": "ada@example.com", "uid": "00u1ada", "aud": "api://default",
			"iss": e.url + "/oauth2/default", "iat": float64(now), "nbf": float64(now), "exp": float64(now + 3600),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		if jti, _ := got["jti"].(string); !strings.HasPrefix(jti, "AT.") {
			t.Errorf("jti = %v", got["jti"])
		}
		// Custom claims come along, as Okta returns them.
		claims := unverifiedClaims(t, userAT)
		if claims["groups"] == nil || fmt.Sprint(got["groups"]) != fmt.Sprint(claims["groups"]) || got["mail"] != claims["mail"] {
			t.Errorf("custom claims: introspection %v %v, token %v %v", got["groups"], got["mail"], claims["groups"], claims["mail"])
		}
		if _, ok := got["scp"]; ok {
			t.Error("scp reported besides scope")
		}
	})
	t.Run("client credentials token", func(t *testing.T) {
		got := e.introspect(ccAT)
		if got["active"] != true || got["sub"] != "svc-basic" || got["client_id"] != "svc-basic" || got["scope"] != "read write" {
			t.Errorf("introspection = %v", got)
		}
		for _, k := range []string{"uid", "username"} {
			if _, ok := got[k]; ok {
				t.Errorf("client credentials introspection has %s", k)
			}
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		got := e.introspect(rt)
		// Okta's reference: token_type is always Bearer, and a refresh
		// token's answer has none of the access token's iss, aud, jti,
		// iat, uid.
		if got["active"] != true || got["token_type"] != "Bearer" || got["client_id"] != "web" || got["username"] != "ada@example.com" || got["sub"] != "ada@example.com" || got["scope"] != "openid offline_access read" {
			t.Errorf("introspection = %v", got)
		}
		for _, k := range []string{"iss", "aud", "jti", "iat", "uid", "nbf"} {
			if _, ok := got[k]; ok {
				t.Errorf("refresh token introspection has %s: %v", k, got)
			}
		}
		if got["exp"] != float64(testStart.Add(7*24*time.Hour).Unix()) {
			t.Errorf("refresh exp = %v", got["exp"])
		}
	})
	inactive := []struct{ name, token string }{
		{"garbage", "garbage"},
		{"empty-looking JWT", "a.b.c"},
		{"another custom server's token", secondAT},
		{"org server's token", orgAT},
		{"forged signature", forged},
		{"huge", strings.Repeat("x.", 20000)},
	}
	for _, tc := range inactive {
		t.Run(tc.name, func(t *testing.T) {
			got := e.introspect(tc.token)
			if len(got) != 1 || got["active"] != false {
				t.Errorf("introspection = %v, want only active:false", got)
			}
		})
	}
	t.Run("id token", func(t *testing.T) {
		// Okta introspects ID tokens as active, with their own claims:
		// aud is the client, jti starts with ID.
		got := e.introspect(pw["id_token"].(string))
		if got["active"] != true || got["token_type"] != "Bearer" || got["aud"] != "web" || got["client_id"] != "web" || got["iss"] != e.url+"/oauth2/default" || got["sub"] != "00u1ada" {
			t.Errorf("introspection = %v", got)
		}
		if jti, _ := got["jti"].(string); !strings.HasPrefix(jti, "ID.") {
			t.Errorf("jti = %v", got["jti"])
		}
		if _, ok := got["scope"]; ok {
			t.Errorf("id token introspection has scope: %v", got)
		}
	})
	t.Run("org server introspects its own", func(t *testing.T) {
		r := e.do(http.MethodPost, "/oauth2/v1/introspect", url.Values{"token": {orgAT}}, basicAuth("org-web", "org-secret"))
		if r.status != 200 || r.json(t)["active"] != true || r.json(t)["iss"] != e.url {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("client authentication required", func(t *testing.T) {
		r := e.do(http.MethodPost, introspectPath, url.Values{"token": {userAT}}, nil)
		if r.status != 401 || r.json(t)["error"] != "invalid_client" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		r = e.do(http.MethodPost, introspectPath, url.Values{"token": {userAT}}, basicAuth("svc-basic", "wrong"))
		if r.status != 401 {
			t.Fatalf("wrong secret: %d", r.status)
		}
	})
	t.Run("public client may introspect", func(t *testing.T) {
		r := e.do(http.MethodPost, introspectPath, url.Values{"token": {userAT}, "client_id": {"native"}}, nil)
		if r.status != 200 || r.json(t)["active"] != true {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("token required", func(t *testing.T) {
		r := e.do(http.MethodPost, introspectPath, url.Values{"token_type_hint": {"access_token"}}, basicAuth("svc-basic", "basic-secret"))
		if r.status != 400 || r.json(t)["error"] != "invalid_request" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e.clk.Advance(time.Hour)
		if got := e.introspect(ccAT); got["active"] != false {
			t.Errorf("expired token introspects as %v", got)
		}
		if got := e.introspect(rt); got["active"] != true {
			t.Errorf("refresh token expired with its access token: %v", got)
		}
	})
}

func TestRevocation(t *testing.T) {
	e := newEnv(t, nil)
	revoke := func(token string, mod func(*http.Request)) response {
		return e.do(http.MethodPost, revokePath, url.Values{"token": {token}, "token_type_hint": {"access_token"}}, mod)
	}
	t.Run("access token by its client", func(t *testing.T) {
		at := e.ccToken("read")
		r := revoke(at, basicAuth("svc-basic", "basic-secret"))
		if r.status != 200 || len(r.body) != 0 {
			t.Fatalf("%d %q", r.status, r.body)
		}
		if got := e.introspect(at); got["active"] != false {
			t.Errorf("revoked token is %v", got)
		}
		// Revoking again is fine.
		if r := revoke(at, basicAuth("svc-basic", "basic-secret")); r.status != 200 {
			t.Errorf("second revoke: %d", r.status)
		}
	})
	t.Run("by another client", func(t *testing.T) {
		at := e.ccToken("read")
		r := e.do(http.MethodPost, revokePath, url.Values{"token": {at}, "client_id": {"svc-post"}, "client_secret": {"post-secret"}}, nil)
		if r.status != 400 || r.json(t)["error"] != "invalid_request" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if e.introspect(at)["active"] != true {
			t.Error("another client revoked the token")
		}
	})
	t.Run("refresh token takes its access tokens along", func(t *testing.T) {
		pw := e.passwordTokens("offline_access read")
		rt := pw["refresh_token"].(string)
		refreshed := e.tokenFor(tokenPath, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}, basicAuth("web", "web-secret"))
		other := e.passwordTokens("read")["access_token"].(string)
		r := e.do(http.MethodPost, revokePath, url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}, basicAuth("web", "web-secret"))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		for name, tok := range map[string]string{"refresh": rt, "first access": pw["access_token"].(string), "refreshed access": refreshed["access_token"].(string)} {
			if e.introspect(tok)["active"] != false {
				t.Errorf("%s token still active", name)
			}
		}
		if e.introspect(other)["active"] != true {
			t.Error("an unrelated access token was revoked")
		}
		rr := e.do(http.MethodPost, tokenPath, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}, basicAuth("web", "web-secret"))
		if rr.status != 400 || rr.json(t)["error"] != "invalid_grant" {
			t.Errorf("revoked refresh token: %d %s", rr.status, rr.body)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		if r := revoke("nonsense", basicAuth("svc-basic", "basic-secret")); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if r := revoke("x", nil); r.status != 401 || r.json(t)["error"] != "invalid_client" {
			t.Errorf("no client auth: %d %s", r.status, r.body)
		}
		r := e.do(http.MethodPost, revokePath, url.Values{}, basicAuth("svc-basic", "basic-secret"))
		if r.status != 400 || r.json(t)["error"] != "invalid_request" {
			t.Errorf("no token: %d %s", r.status, r.body)
		}
	})
	t.Run("Go API and admin endpoint", func(t *testing.T) {
		at := e.ccToken("read")
		ok, err := e.s.Revoke("default", at)
		if err != nil || !ok || e.introspect(at)["active"] != false {
			t.Fatalf("Revoke = %v, %v", ok, err)
		}
		if ok, _ := e.s.Revoke("default", "nope"); ok {
			t.Error("Revoke reported an unknown token as revoked")
		}
		if _, err := e.s.Revoke("ghost", at); !errors.Is(err, ErrUnknownServer) {
			t.Errorf("Revoke on unknown server: %v", err)
		}
		at2 := e.ccToken("read")
		r := e.do(http.MethodPost, "/sandbox/admin/oauth/default/revoke", url.Values{"token": {at2}}, nil)
		if r.status != 200 || r.json(t)["revoked"] != true || e.introspect(at2)["active"] != false {
			t.Fatalf("admin revoke: %d %s", r.status, r.body)
		}
	})
}

func TestUserinfo(t *testing.T) {
	e := newEnv(t, nil)
	full := e.passwordTokens("openid profile email read")["access_token"].(string)
	noOpenID := e.passwordTokens("read")["access_token"].(string)
	orgAT := e.tokenFor("/oauth2/v1/token", url.Values{"grant_type": {GrantPassword}, "username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {"openid groups"}}, basicAuth("org-web", "org-secret"))["access_token"].(string)
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	t.Run("claims", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := e.do(method, "/oauth2/default/v1/userinfo", nil, bearer(full))
			if r.status != 200 {
				t.Fatalf("%s: %d %s", method, r.status, r.body)
			}
			b := r.json(t)
			want := map[string]any{"sub": "00u1ada", "name": "Ada Lovelace", "preferred_username": "ada@example.com", "email": "ada@example.com", "email_verified": true}
			for k, v := range want {
				if b[k] != v {
					t.Errorf("%s %s = %v, want %v", method, k, b[k], v)
				}
			}
			if len(stringList(b["groups"])) != 2 {
				t.Errorf("groups claim (id_token side) = %v", b["groups"])
			}
		}
	})
	t.Run("token in form body", func(t *testing.T) {
		r := e.do(http.MethodPost, "/oauth2/default/v1/userinfo", url.Values{"access_token": {full}}, nil)
		if r.status != 200 {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("org groups scope", func(t *testing.T) {
		r := e.do(http.MethodGet, "/oauth2/v1/userinfo", nil, bearer(orgAT))
		if r.status != 200 || len(stringList(r.json(t)["groups"])) != 3 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	failures := []struct {
		name   string
		path   string
		mod    func(*http.Request)
		status int
		errstr string
	}{
		{"no token", "/oauth2/default/v1/userinfo", nil, 401, "invalid_token"},
		{"garbage", "/oauth2/default/v1/userinfo", bearer("garbage"), 401, "invalid_token"},
		{"client credentials token", "/oauth2/default/v1/userinfo", bearer(e.ccToken("read")), 401, "invalid_token"},
		{"without openid", "/oauth2/default/v1/userinfo", bearer(noOpenID), 403, "insufficient_scope"},
		{"other server's token", "/oauth2/v1/userinfo", bearer(full), 401, "invalid_token"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tc.path, nil, tc.mod)
			if r.status != tc.status || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="`+tc.errstr+`"`) {
				t.Fatalf("%d WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.clk.Advance(time.Hour + time.Second)
		if r := e.do(http.MethodGet, "/oauth2/default/v1/userinfo", nil, bearer(full)); r.status != 401 {
			t.Fatalf("%d", r.status)
		}
	})
}

func TestMintAccessToken(t *testing.T) {
	e := newEnv(t, nil)
	tok, err := e.s.MintAccessToken("default", map[string]any{
		"cid": "svc-basic", "sub": "robot", "scp": []string{"read", "weird"}, "tenant": "acme", "aud": []string{"api://default", "api://other"},
	}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, c := e.verifyWithJWKS("/oauth2/default/v1/keys", tok)
	if c["iss"] != e.url+"/oauth2/default" || c["tenant"] != "acme" || c["exp"] != float64(testStart.Add(10*time.Minute).Unix()) || c["ver"] != float64(1) {
		t.Errorf("minted claims = %v", c)
	}
	got := e.introspect(tok)
	if got["active"] != true || got["scope"] != "read weird" || got["client_id"] != "svc-basic" {
		t.Errorf("introspection = %v", got)
	}
	// A minted token is revocable by its cid's client.
	r := e.do(http.MethodPost, revokePath, url.Values{"token": {tok}}, basicAuth("svc-basic", "basic-secret"))
	if r.status != 200 || e.introspect(tok)["active"] != false {
		t.Errorf("revoke minted: %d, active %v", r.status, e.introspect(tok)["active"])
	}

	expired, _ := e.s.MintAccessToken("default", nil, -time.Minute)
	if e.introspect(expired)["active"] != false {
		t.Error("negative ttl token is active")
	}
	wrongIss, _ := e.s.MintAccessToken("default", map[string]any{"iss": "https://evil.example"}, 0)
	if c := unverifiedClaims(t, wrongIss); c["iss"] != "https://evil.example" || c["exp"] != float64(testStart.Add(time.Hour).Unix()) {
		t.Errorf("override iss / default ttl: %v", c)
	}
	if e.introspect(wrongIss)["active"] != false {
		t.Error("token with a foreign iss is active")
	}
	orgTok, err := e.s.MintAccessToken("", map[string]any{"sub": "x"}, 0)
	if err != nil || unverifiedClaims(t, orgTok)["iss"] != e.url {
		t.Errorf("org mint: %v", err)
	}
	userTok, _ := e.s.MintAccessToken("default", map[string]any{"uid": "00u9", "sub": "grace@example.com", "scp": []string{"openid", "profile"}}, 0)
	r = e.do(http.MethodGet, "/oauth2/default/v1/userinfo", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+userTok) })
	if r.status != 200 || r.json(t)["sub"] != "00u9" || r.json(t)["preferred_username"] != "grace@example.com" {
		t.Errorf("userinfo for minted token: %d %s", r.status, r.body)
	}
	if _, err := e.s.MintAccessToken("ghost", nil, 0); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("unknown server: %v", err)
	}
	if _, err := e.s.MintAccessToken("default", map[string]any{"bad": func() {}}, 0); err == nil {
		t.Error("unmarshalable claim accepted")
	}
}
