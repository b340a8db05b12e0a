package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	v, _ := staticVerifier(t, nil)
	k := keys(t)
	signers := map[string]crypto.Signer{"rsa1": k.rsa, "ec1": k.ec, "ed1": k.ed, "ps1": k.rsa2}
	cases := []struct{ name, alg, kid string }{
		{"RS256", RS256, "rsa1"},
		{"ES256", ES256, "ec1"},
		{"EdDSA", EdDSA, "ed1"},
		{"PS256", PS256, "ps1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := baseClaims()
			c["scope"] = "api.write profile"
			tok := mint(t, tc.alg, signers[tc.kid], tc.kid, c)
			p, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Subject != "alice@example.com" || p.Issuer != testIssuer || p.Provider != "test" || p.ClientID != "client-1" {
				t.Fatalf("principal = %+v", p)
			}
			for _, s := range []string{"openid", "api.read", "api.write", "profile"} {
				if !p.HasScope(s) {
					t.Errorf("missing scope %s in %v", s, p.Scopes)
				}
			}
			if p.Role != RoleWrite || !p.HasRole(RoleRead) || p.HasRole(RoleAdmin) {
				t.Errorf("roles = %v (role %q)", p.Roles, p.Role)
			}
			if p.Expiry.Unix() != testNow.Unix()+3600 {
				t.Errorf("expiry = %v", p.Expiry)
			}
			m, err := p.Claims()
			if err != nil || m["uid"] != "00u1" {
				t.Errorf("Claims() = %v, %v", m, err)
			}
		})
	}
}

func TestUserClaimAndRoles(t *testing.T) {
	k := keys(t)
	cases := []struct {
		name      string
		userClaim string
		groups    []string
		wantUser  string
		wantRole  string
	}{
		{"default sub", "", []string{"Admins"}, "alice@example.com", RoleAdmin},
		{"uid claim", "uid", []string{"Writers"}, "00u1", RoleWrite},
		{"read only", "", []string{"Everyone"}, "alice@example.com", RoleRead},
		{"no role", "", []string{"Other"}, "alice@example.com", ""},
		{"missing claim falls back to sub", "email", nil, "alice@example.com", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := staticVerifier(t, func(c *Config) { c.Policy.UserClaim = tc.userClaim })
			c := baseClaims()
			c["groups"] = tc.groups
			p, err := v.Verify(context.Background(), mint(t, RS256, k.rsa, "rsa1", c))
			if err != nil {
				t.Fatal(err)
			}
			if p.User != tc.wantUser || p.Role != tc.wantRole {
				t.Fatalf("user %q role %q, want %q %q", p.User, p.Role, tc.wantUser, tc.wantRole)
			}
		})
	}
}

// TestAttacks is the battery of classic JWT attacks. Each must fail with
// the given reason.
func TestAttacks(t *testing.T) {
	k := keys(t)
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	attackerEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubPEM := pemOf(t, &k.rsa.PublicKey)
	var fetched atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte(jwksOf(jwk(&attacker.PublicKey, "rsa1", RS256))))
	}))
	defer evil.Close()

	claims := func(mut func(map[string]any)) string {
		c := baseClaims()
		if mut != nil {
			mut(c)
		}
		b, _ := json.Marshal(c)
		return string(b)
	}
	good := mint(t, RS256, k.rsa, "rsa1", baseClaims())
	parts := strings.Split(good, ".")
	withHeader := func(h string) string { return mintRaw(t, RS256, k.rsa, h, claims(nil)) }
	withClaims := func(c string) string { return mintRaw(t, RS256, k.rsa, `{"alg":"RS256","kid":"rsa1"}`, c) }
	hmac := func(secret []byte, header string) string {
		input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims(nil)))
		return input + "." + enc.EncodeToString(hmacSHA256(secret, input))
	}

	cases := []struct {
		name string
		tok  string
		cfg  func(*Config)
		want error
	}{
		{"alg none, empty signature", enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", nil, ErrMalformed},
		{"alg none with signature", enc.EncodeToString([]byte(`{"alg":"none","kid":"rsa1"}`)) + "." + parts[1] + "." + parts[2], nil, ErrAlgorithm},
		{"alg NONE", enc.EncodeToString([]byte(`{"alg":"NONE"}`)) + "." + parts[1] + "." + parts[2], nil, ErrAlgorithm},
		{"alg missing", withHeader(`{"kid":"rsa1"}`), nil, ErrMalformed},
		{"alg not a string", withHeader(`{"alg":["RS256"],"kid":"rsa1"}`), nil, ErrMalformed},
		{"HS256 with RSA public key PEM as secret", hmac([]byte(pubPEM), `{"alg":"HS256","kid":"rsa1"}`), nil, ErrAlgorithm},
		{"HS256 with modulus as secret", hmac(k.rsa.N.Bytes(), `{"alg":"HS256"}`), nil, ErrAlgorithm},
		{"RS384 not allowed", mintRaw(t, RS256, k.rsa, `{"alg":"RS384","kid":"rsa1"}`, claims(nil)), nil, ErrAlgorithm},
		{"PS256 not enabled", mint(t, PS256, k.rsa2, "ps1", baseClaims()), func(c *Config) { c.Algorithms = nil }, ErrAlgorithm},
		{"kid path traversal", mint(t, RS256, attacker, "../../../../dev/null", baseClaims()), nil, ErrUnknownKey},
		{"kid SQL injection", mint(t, RS256, attacker, "x' UNION SELECT 'secret", baseClaims()), nil, ErrUnknownKey},
		{"kid with NUL", mint(t, RS256, attacker, "rsa1\x00", baseClaims()), nil, ErrUnknownKey},
		{"kid too long", mint(t, RS256, k.rsa, strings.Repeat("k", 300), baseClaims()), nil, ErrMalformed},
		{"embedded jwk is ignored", mintRaw(t, RS256, attacker, `{"alg":"RS256","kid":"rsa1","jwk":`+mustJSON(jwk(&attacker.PublicKey, "rsa1", RS256))+`}`, claims(nil)), nil, ErrSignature},
		{"jku is ignored", mintRaw(t, RS256, attacker, `{"alg":"RS256","kid":"rsa1","jku":"`+evil.URL+`"}`, claims(nil)), nil, ErrSignature},
		{"x5u is ignored", mintRaw(t, RS256, attacker, `{"alg":"RS256","kid":"rsa1","x5u":"`+evil.URL+`"}`, claims(nil)), nil, ErrSignature},
		{"x5c is ignored", mintRaw(t, RS256, attacker, `{"alg":"RS256","kid":"rsa1","x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}`, claims(nil)), nil, ErrSignature},
		{"signature stripped", parts[0] + "." + parts[1] + ".", nil, ErrMalformed},
		{"signature and dot stripped", parts[0] + "." + parts[1], nil, ErrMalformed},
		{"signature from another token", parts[0] + "." + enc.EncodeToString([]byte(claims(func(c map[string]any) { c["sub"] = "admin" }))) + "." + parts[2], nil, ErrSignature},
		{"signature truncated", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-2], nil, ErrSignature},
		{"crit exp", withHeader(`{"alg":"RS256","kid":"rsa1","crit":["exp"],"exp":1}`), nil, ErrUnsupportedToken},
		{"crit unknown", withHeader(`{"alg":"RS256","kid":"rsa1","crit":["x-custom"],"x-custom":true}`), nil, ErrUnsupportedToken},
		{"b64 false", withHeader(`{"alg":"RS256","kid":"rsa1","b64":false}`), nil, ErrUnsupportedToken},
		{"zip in JWS", withHeader(`{"alg":"RS256","kid":"rsa1","zip":"DEF"}`), nil, ErrUnsupportedToken},
		{"duplicate header alg", withHeader(`{"alg":"HS256","alg":"RS256","kid":"rsa1"}`), nil, ErrMalformed},
		{"duplicate claim sub", withClaims(strings.Replace(claims(nil), `"sub":"alice@example.com"`, `"sub":"alice@example.com","sub":"admin"`, 1)), nil, ErrMalformed},
		{"duplicate claim via escape", withClaims(strings.Replace(claims(nil), `"sub":"alice@example.com"`, `"sub":"alice@example.com","\u0073ub":"admin"`, 1)), nil, ErrMalformed},
		{"duplicate iss", withClaims(strings.Replace(claims(nil), `"iss":`, `"iss":"https://evil.example","iss":`, 1)), nil, ErrMalformed},
		{"duplicate key in nested object", withClaims(strings.Replace(claims(nil), `"uid":"00u1"`, `"uid":"00u1","x":{"a":1,"a":2}`, 1)), nil, ErrMalformed},
		{"invalid UTF-8 in claim", withClaims(strings.Replace(claims(nil), `alice`, "ali\xffce", 1)), nil, ErrMalformed},
		{"lone surrogate", withClaims(strings.Replace(claims(nil), `alice`, `ali\ud800ce`, 1)), nil, ErrMalformed},
		{"trailing data after claims", withClaims(claims(nil) + `{}`), nil, ErrMalformed},
		{"claims not an object", withClaims(`"just a string"`), nil, ErrMalformed},
		{"deeply nested claims", withClaims(strings.Replace(claims(nil), `"uid":"00u1"`, `"uid":`+strings.Repeat("[", 100)+strings.Repeat("]", 100), 1)), nil, ErrMalformed},
		{"iss confusion: other provider's key, our iss", mint(t, RS256, attacker, "other1", baseClaims()), twoProviders(t, attacker), ErrUnknownKey},
		{"iss case differs", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "iss", strings.ToUpper(testIssuer))), nil, ErrUnknownIssuer},
		{"iss trailing slash", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "iss", testIssuer+"/")), nil, ErrUnknownIssuer},
		{"iss missing", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "iss", nil)), nil, ErrUnknownIssuer},
		{"aud other", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "aud", "api://other")), nil, ErrAudience},
		{"aud array without ours", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "aud", []string{"a", "b"})), nil, ErrAudience},
		{"aud empty array", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "aud", []string{})), nil, ErrAudience},
		{"aud missing", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "aud", nil)), nil, ErrAudience},
		{"aud number", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "aud", 7)), nil, ErrMalformed},
		{"aud array with number", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "aud", []any{testAud, 7})), nil, ErrMalformed},
		{"exp as string", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "exp", "9999999999")), nil, ErrMalformed},
		{"exp huge", withClaims(strings.Replace(claims(nil), `"exp":`, `"exp":1e300,"x":`, 1)), nil, ErrMalformed},
		{"exp beyond year 9999", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "exp", int64(1)<<40)), nil, ErrMalformed},
		{"exp negative", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "exp", -1)), nil, ErrMalformed},
		{"exp null", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "exp", json.RawMessage("null"))), nil, ErrMalformed},
		{"exp missing", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "exp", nil)), nil, ErrClaims},
		{"expired beyond leeway", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "exp", testNow.Unix()-31)), nil, ErrExpired},
		{"expired float", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "exp", float64(testNow.Unix()-40)+0.5)), nil, ErrExpired},
		{"nbf in future", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "nbf", testNow.Unix()+120)), nil, ErrNotYetValid},
		{"iat in future", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "iat", testNow.Unix()+120)), nil, ErrIssuedInFuture},
		{"too old", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "iat", testNow.Unix()-7200)), func(c *Config) { c.Policy.MaxTokenAge = 3600e9 }, ErrTooOld},
		{"max age without iat", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "iat", nil)), func(c *Config) { c.Policy.MaxTokenAge = 3600e9 }, ErrClaims},
		{"sub missing", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "sub", nil)), nil, ErrClaims},
		{"cid not allowed", good, func(c *Config) { c.Policy.ClientIDs = []string{"client-2"} }, ErrClientID},
		{"cid not allowed by the provider", good, func(c *Config) { c.Providers[0].ClientIDs = []string{"client-2"} }, ErrClientID},
		{"provider's cid list replaces the policy's", good, func(c *Config) {
			c.Policy.ClientIDs = []string{"client-1"}
			c.Providers[0].ClientIDs = []string{"client-2"}
		}, ErrClientID},
		{"no scope the provider accepts", good, func(c *Config) { c.Providers[0].AcceptedScopes = []string{"x", "y"} }, ErrInsufficientScope},
		{"missing required scope", good, func(c *Config) { c.Policy.RequiredScopes = []string{"api.admin"} }, ErrInsufficientScope},
		{"no accepted scope", good, func(c *Config) { c.Policy.AcceptedScopes = []string{"x", "y"} }, ErrInsufficientScope},
		{"role required", mint(t, RS256, k.rsa, "rsa1", with(baseClaims(), "groups", []string{"Nobody"})), func(c *Config) { c.Policy.RequireRole = true }, ErrForbidden},
		{"typ required", good, func(c *Config) { c.Policy.Types = []string{"at+jwt"} }, ErrType},
		{"nested JWT via cty", withHeader(`{"alg":"RS256","kid":"rsa1","cty":"JWT"}`), nil, ErrUnsupportedToken},
		{"nested JWS as payload", withClaims(`"` + good + `"`), nil, ErrMalformed},
		{"JWE", parts[0] + ".AAAA.AAAA.AAAA.AAAA", nil, ErrUnsupportedToken},
		{"JWE header", withHeader(`{"alg":"RS256","kid":"rsa1","enc":"A128GCM"}`), nil, ErrUnsupportedToken},
		{"JSON serialization", `{"payload":"` + parts[1] + `","signatures":[]}`, nil, ErrMalformed},
		{"oversize", parts[0] + "." + strings.Repeat("A", 20000) + "." + parts[2], nil, ErrTokenTooLarge},
		{"empty", "", nil, ErrMissingToken},
		{"padding in signature", good + "==", nil, ErrMalformed},
		{"padding in payload", parts[0] + "." + parts[1] + "=." + parts[2], nil, ErrMalformed},
		{"standard base64 alphabet", parts[0] + "." + strings.ReplaceAll(strings.ReplaceAll(parts[1], "-", "+"), "_", "/") + "+/." + parts[2], nil, ErrMalformed},
		{"newline inside segment", parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2], nil, ErrMalformed},
		{"space inside token", " " + good, nil, ErrMalformed},
		{"non-canonical last base64 char", parts[0] + "." + parts[1] + "." + tweakLastChar(parts[2]), nil, ErrMalformed},
		{"ES256 header on RSA key", mintRaw(t, ES256, attackerEC, `{"alg":"ES256","kid":"rsa1"}`, claims(nil)), nil, ErrUnknownKey},
		{"RS256 header on EC key", mintRaw(t, RS256, attacker, `{"alg":"RS256","kid":"ec1"}`, claims(nil)), nil, ErrUnknownKey},
		{"PS256 on key declared RS256", mint(t, PS256, k.rsa, "rsa1", baseClaims()), nil, ErrUnknownKey},
		{"ES256 DER signature", derSigned(t, k.ec, `{"alg":"ES256","kid":"ec1"}`, claims(nil)), nil, ErrSignature},
		{"ES256 attacker key", mint(t, ES256, attackerEC, "ec1", baseClaims()), nil, ErrSignature},
		{"no kid, several keys", mintRaw(t, RS256, k.rsa, `{"alg":"RS256"}`, claims(nil)), nil, ErrUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := staticVerifier(t, tc.cfg)
			_, err := v.Verify(context.Background(), tc.tok)
			if err == nil {
				t.Fatalf("token accepted")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if strings.Contains(err.Error(), tc.tok) && tc.tok != "" {
				t.Fatalf("error text contains the token")
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("attacker URLs were fetched %d times", n)
	}
}

func TestLeewayAndFloatDates(t *testing.T) {
	k := keys(t)
	v, _ := staticVerifier(t, nil)
	ok := []map[string]any{
		with(baseClaims(), "exp", testNow.Unix()-10),            // within 30s leeway
		with(baseClaims(), "nbf", testNow.Unix()+10),            // within leeway
		with(baseClaims(), "exp", float64(testNow.Unix())+99.5), // fractional NumericDate
		with(baseClaims(), "aud", []string{"x", testAud}),       // any-of
	}
	for i, c := range ok {
		if _, err := v.Verify(context.Background(), mint(t, RS256, k.rsa, "rsa1", c)); err != nil {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestTypeHeader(t *testing.T) {
	k := keys(t)
	v, _ := staticVerifier(t, func(c *Config) { c.Policy.Types = []string{"at+jwt"} })
	for _, typ := range []string{"at+jwt", "application/at+JWT"} {
		b, _ := json.Marshal(baseClaims())
		tok := mintRaw(t, RS256, k.rsa, `{"alg":"RS256","kid":"rsa1","typ":"`+typ+`"}`, string(b))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
}

func TestChallenge(t *testing.T) {
	cases := []struct {
		err        error
		wantStatus int
		wantHeader string
	}{
		{newError(ErrMissingToken, ""), 401, `Bearer realm="api"`},
		{newError(ErrExpired, ""), 401, `Bearer realm="api", error="invalid_token", error_description="token is expired"`},
		{newError(ErrInvalidRequest, "two tokens"), 400, `Bearer realm="api", error="invalid_request", error_description="two tokens"`},
		{&Error{Code: CodeInsufficientScope, Reason: ErrInsufficientScope, Scopes: []string{"a", "b"}}, 403, `Bearer realm="api", error="insufficient_scope", error_description="token lacks a required scope", scope="a b"`},
		{newError(ErrKeysUnavailable, ""), 503, `Bearer realm="api"`},
		{errors.New("other"), 401, `Bearer realm="api", error="invalid_token", error_description="the access token is invalid"`},
		{newError(ErrMalformed, `bad "quote"`), 401, `Bearer realm="api", error="invalid_token", error_description="bad ?quote?"`},
	}
	for _, tc := range cases {
		st, h := Challenge(tc.err, "api")
		if st != tc.wantStatus || h != tc.wantHeader {
			t.Errorf("Challenge(%v) = %d %q, want %d %q", tc.err, st, h, tc.wantStatus, tc.wantHeader)
		}
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		in, tok string
		want    error
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", nil},
		{"bearer abc", "abc", nil},
		{"", "", ErrMissingToken},
		{"Basic dXNlcg==", "", ErrInvalidRequest},
		{"Bearer", "", ErrInvalidRequest},
		{"Bearer a b", "", ErrInvalidRequest},
		{"Bearer a,b", "", ErrInvalidRequest},
	}
	for _, tc := range cases {
		tok, err := BearerToken(tc.in)
		if tok != tc.tok || !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Errorf("BearerToken(%q) = %q, %v", tc.in, tok, err)
		}
	}
}

func TestDecodeWithoutTrust(t *testing.T) {
	k := keys(t)
	tok := mint(t, RS256, k.rsa, "rsa1", baseClaims())
	d, err := Decode(tok)
	if err != nil {
		t.Fatal(err)
	}
	if d.Alg != RS256 || d.KeyID != "rsa1" || d.Claims["sub"] != "alice@example.com" || len(d.Signature) != 256 {
		t.Fatalf("Decode = %+v", d)
	}
	// Decode also works on tokens the verifier would refuse.
	hs := mintRaw(t, RS256, k.rsa, `{"alg":"HS512"}`, `{"a":1}`)
	if d, err := Decode(hs); err != nil || d.Alg != "HS512" {
		t.Fatalf("Decode(HS512) = %v, %v", d, err)
	}
	if _, err := Decode(mintRaw(t, RS256, k.rsa, `{"alg":"RS256"}`, `{"a":1,"a":2}`)); err == nil {
		t.Fatal("Decode accepted duplicate keys")
	}
}

func TestJWKSToPEMRoundTrip(t *testing.T) {
	k := keys(t)
	set := jwksOf(jwk(&k.rsa.PublicKey, "rsa1", RS256), jwk(&k.ec.PublicKey, "ec1", ""), jwk(k.ed.Public(), "ed1", EdDSA))
	out, err := JWKSToPEM([]byte(set))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parsePEMKeys(out, keyLimits{})
	if err != nil || len(keys) != 3 {
		t.Fatalf("parsePEMKeys = %d keys, %v", len(keys), err)
	}
	wantKids := []string{"rsa1", "ec1", "ed1"}
	for i, kk := range keys {
		if kk.kid != wantKids[i] {
			t.Errorf("key %d kid = %q", i, kk.kid)
		}
	}
	if _, err := JWKSToPEM([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`)); err == nil {
		t.Error("symmetric key converted")
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no providers", Config{}},
		{"okta org server not allowed", Config{Providers: []ProviderConfig{Okta("x.okta.com", "")}, Policy: Policy{Audiences: []string{"a"}}}},
		{"no audience", Config{Providers: []ProviderConfig{Okta("x.okta.com", "default")}}},
		{"azure common", Config{Providers: []ProviderConfig{AzureAD("common")}, Policy: Policy{Audiences: []string{"a"}}}},
		{"http to non-loopback", Config{Providers: []ProviderConfig{OIDC("http://issuer.example")}, Policy: Policy{Audiences: []string{"a"}}}},
		{"bad algorithm", Config{Providers: []ProviderConfig{Okta("x.okta.com", "default")}, Policy: Policy{Audiences: []string{"a"}}, Algorithms: []string{"HS256"}}},
		{"duplicate issuer", Config{Providers: []ProviderConfig{Okta("x.okta.com", "default"), Okta("x.okta.com", "default")}, Policy: Policy{Audiences: []string{"a"}}}},
		{"introspection without secret", Config{Providers: []ProviderConfig{{Type: ProviderIntrospection, IntrospectURL: "https://x/introspect", ClientID: "c"}}, Policy: Policy{Audiences: []string{"a"}}}},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	ok := Config{Providers: []ProviderConfig{Okta("x.okta.com", "default"), {Type: ProviderOkta, Domain: "y.okta.com", AllowOrgServer: true, ClientID: "0oaweb"}, Auth0("t.auth0.com"), AzureAD("tid")}, Policy: Policy{Audiences: []string{"a"}}}
	v, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://x.okta.com/oauth2/default", "https://y.okta.com", "https://t.auth0.com/", "https://login.microsoftonline.com/tid/v2.0"}
	if got := v.Issuers(); !slices.Equal(got, want) {
		t.Fatalf("Issuers() = %v, want %v", got, want)
	}
}

// helpers for the attack table

func with(c map[string]any, k string, v any) map[string]any {
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// tweakLastChar changes the unused low bits of the last base64 character,
// which a lenient decoder would ignore.
func tweakLastChar(s string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alpha, s[len(s)-1])
	return s[:len(s)-1] + string(alpha[last^1])
}

func derSigned(tb testing.TB, key *ecdsa.PrivateKey, header, claims string) string {
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	h := sha256Sum(input)
	der, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + enc.EncodeToString(der)
}

// twoProviders adds a second static provider whose key is other.
func twoProviders(tb testing.TB, other *rsa.PrivateKey) func(*Config) {
	return func(c *Config) {
		c.Providers = append(c.Providers, ProviderConfig{Type: ProviderStatic, Name: "other", Issuer: "https://other.example",
			Keys: jwksOf(jwk(&other.PublicKey, "other1", RS256))})
	}
}

func hmacSHA256(key []byte, input string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return m.Sum(nil)
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"OKTA_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://default, api://other",
		"ADMIN_GROUPS": "Admins", "WRITE_GROUPS": "Writers,Editors", "READ_ONLY_GROUPS": "Everyone",
		"OKTA_AUTH_SERVER_ID": "org", "OKTA_ALLOW_ORG_SERVER": "true", "OKTA_CLIENT_IDS": "0oaweb",
		"OKTA_CLIENT_ID": "0oam2m", // another program's own id: not read when OKTA_CLIENT_IDS is set
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Issuers(); len(got) != 1 || got[0] != "https://example.okta.com" {
		t.Fatalf("issuers = %v", got)
	}
	pc := cfg.Providers[0]
	if !slices.Equal(cfg.Policy.WriteGroups, []string{"Writers", "Editors"}) || len(pc.Audiences) != 2 ||
		!slices.Equal(pc.ClientIDs, []string{"0oaweb"}) || pc.ClientID != "0oaweb" || pc.Name != "okta" {
		t.Fatalf("config = %+v", cfg)
	}
	env["OKTA_ALLOW_ORG_SERVER"] = "false"
	cfg, _ = ConfigFromEnv(func(k string) string { return env[k] })
	if _, err := New(cfg); err == nil {
		t.Fatal("org server accepted without OKTA_ALLOW_ORG_SERVER")
	}
}

// TestApplyEnvRefuses: the careless settings the table refuses, each
// with the error naming what to set instead.
func TestApplyEnvRefuses(t *testing.T) {
	base := map[string]string{"OKTA_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://default"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		// OKTA_CLIENT_ID once named the org server's client here; it is
		// m2m's own client id, so it is refused rather than misread.
		{"old client id name", map[string]string{"OKTA_AUTH_SERVER_ID": "org", "OKTA_ALLOW_ORG_SERVER": "true", "OKTA_CLIENT_ID": "0oaweb"}, "OKTA_CLIENT_IDS"},
		{"domain with a scheme", map[string]string{"OKTA_DOMAIN": "http://example.okta.com"}, "OKTA_BASE_URL"},
		{"org domain with a path", map[string]string{"OKTA_ORG_DOMAIN": "example.okta.com/oauth2"}, "host name only"},
		{"client ids without an issuer", map[string]string{"OKTA_DOMAIN": "", "OKTA_AUDIENCE": "", "AUTH0_CLIENT_IDS": "abc"}, "set AUTH0_DOMAIN"},
		{"audience without an issuer", map[string]string{"OKTA_DOMAIN": ""}, "set OKTA_DOMAIN"},
		{"no audience", map[string]string{"OKTA_AUDIENCE": ""}, "OKTA_AUDIENCE is not set"},
		{"no issuer", map[string]string{"OKTA_DOMAIN": "", "OKTA_AUDIENCE": ""}, "OKTA_DOMAIN is not set"},
		{"bad leeway", map[string]string{"OKTA_LEEWAY": "30"}, "Go duration"},
		{"bad bool", map[string]string{"OKTA_ALLOW_ORG_SERVER": "yes please"}, "true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tc.env)
			cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, config %+v; want an error containing %q", err, cfg, tc.want)
			}
		})
	}
}

// TestApplyEnvOverlays: variables update the issuer of the same name that
// a file gave, per field, and add Auth0 beside it; an issuer of another
// name is left as it was.
func TestApplyEnvOverlays(t *testing.T) {
	cfg := Config{Providers: []ProviderConfig{
		{Name: "okta", Type: ProviderOkta, Domain: "file.okta.com", AuthServerID: "aus1", Audiences: []string{"api://file"}},
		{Name: "corp", Type: ProviderOIDC, Issuer: "https://corp.example.com"},
	}}
	file := slices.Clone(cfg.Providers)
	orig := cfg.Providers
	env := map[string]string{"OKTA_CLIENT_IDS": "0oaA, 0oaB", "AUTH0_DOMAIN": "t.eu.auth0.com", "AUTH0_AUDIENCE": "https://data", "AUTH0_CLIENT_IDS": "c1", "GROUPS_CLAIM": "roles"}
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := []ProviderConfig{
		{Name: "okta", Type: ProviderOkta, Domain: "file.okta.com", AuthServerID: "aus1", Audiences: []string{"api://file"}, ClientIDs: []string{"0oaA", "0oaB"}},
		file[1],
		{Name: "auth0", Type: ProviderAuth0, Domain: "t.eu.auth0.com", Audiences: []string{"https://data"}, ClientIDs: []string{"c1"}},
	}
	if !reflect.DeepEqual(cfg.Providers, want) || cfg.Policy.GroupsClaim != "roles" {
		t.Fatalf("got %+v\nwant %+v", cfg.Providers, want)
	}
	if orig[0].ClientIDs != nil {
		t.Fatal("ApplyEnv changed the caller's slice of providers")
	}
}
