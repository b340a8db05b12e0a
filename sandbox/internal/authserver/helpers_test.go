package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oktafed/oktafed/internal/clock"
)

// testKeys hands out RSA keys from a small pool generated once: real
// 2048-bit keys, without paying for a fresh one on every server start.
// The pool is larger than any test's number of live keys per server, so
// kids within one server never collide.
var testKeys struct {
	mu   sync.Mutex
	pool []*rsa.PrivateKey
	next int
}

const testKeyPool = 12

func TestMain(m *testing.M) {
	newRSAKey = func() (*rsa.PrivateKey, error) {
		testKeys.mu.Lock()
		defer testKeys.mu.Unlock()
		if len(testKeys.pool) < testKeyPool {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, err
			}
			testKeys.pool = append(testKeys.pool, k)
			return k, nil
		}
		k := testKeys.pool[testKeys.next%testKeyPool]
		testKeys.next++
		return k, nil
	}
	os.Exit(m.Run())
}

var testStart = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fakeDirectory is a Directory of fixed users.
type fakeDirectory map[string]struct {
	password string
	id       Identity
}

func (d fakeDirectory) CheckPassword(_ context.Context, login, password string) (*Identity, error) {
	u, ok := d[login]
	if !ok || u.password != password {
		return nil, errors.New("authentication failed")
	}
	id := u.id
	return &id, nil
}

var testUsers = fakeDirectory{
	"ada@example.com": {password: "correct horse", id: Identity{
		ID: "00u1ada", Login: "ada@example.com", Email: "ada@example.com", Name: "Ada Lovelace",
		Groups: []string{"Everyone", "Engineering", "Finance"},
	}},
}

// Client keys for private_key_jwt, made once per test binary.
var (
	clientRSA, _   = rsa.GenerateKey(rand.Reader, 2048)
	clientEC, _    = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	strangerEC, _  = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientJWKS     = &KeySet{jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &clientRSA.PublicKey, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"}, {Key: &clientEC.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"}}}}
	defaultPolicy  = []ScopeConfig{{Name: "read", Default: true, Discoverable: true}, {Name: "write"}, {Name: "admin"}}
	defaultClaims  = []ClaimConfig{{Name: "groups", Groups: &GroupsClaimConfig{Filter: "Eng.*|Everyone"}, IncludeIn: "both"}, {Name: "mail", Value: "user.email"}}
	defaultClients = []ClientConfig{
		{ClientID: "svc-basic", ClientSecret: "basic-secret", GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"read", "write"}},
		{ClientID: "svc-post", ClientSecret: "post-secret", TokenEndpointAuthMethod: AuthClientSecretPost, GrantTypes: []string{GrantClientCredentials}},
		{ClientID: "svc-jwt", JWKS: clientJWKS, GrantTypes: []string{GrantClientCredentials}},
		{ClientID: "native", TokenEndpointAuthMethod: AuthNone},
		{ClientID: "web", ClientSecret: "web-secret", GrantTypes: []string{GrantPassword, GrantRefreshToken}},
		{ClientID: "web-noref", ClientSecret: "web-secret", GrantTypes: []string{GrantPassword}},
	}
)

func testConfig() Config {
	return Config{
		OrgServer: OrgServerConfig{Clients: []ClientConfig{
			{ClientID: "org-web", ClientSecret: "org-secret"},
		}},
		Servers: []ServerConfig{
			{ID: "default", Name: "default", Audiences: []string{"api://default"}, Scopes: defaultPolicy, Claims: defaultClaims, Clients: defaultClients},
			{ID: "second", Clients: []ClientConfig{{ClientID: "svc-basic", ClientSecret: "basic-secret"}}, Scopes: []ScopeConfig{{Name: "read"}}},
		},
	}
}

// env is a running set of servers on a loopback listener, so issuer and
// endpoint URLs are real.
type env struct {
	t   *testing.T
	clk *clock.Fake
	s   *Servers
	url string
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	clk := clock.NewFake(testStart)
	s, err := New(cfg, Options{Clock: clk, BaseURL: base, Directory: testUsers})
	if err != nil {
		ts.Close()
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{t: t, clk: clk, s: s, url: base}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (e *env) do(method, path string, form url.Values, mod func(*http.Request)) response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func basicAuth(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(id, secret) }
}

// tokenFor runs a token request that must succeed and returns its body.
func (e *env) tokenFor(path string, form url.Values, mod func(*http.Request)) map[string]any {
	e.t.Helper()
	r := e.do(http.MethodPost, path, form, mod)
	if r.status != http.StatusOK {
		e.t.Fatalf("token request: status %d body %s", r.status, r.body)
	}
	return r.json(e.t)
}

// ccToken gets a client-credentials access token from the default server.
func (e *env) ccToken(scope string) string {
	e.t.Helper()
	body := e.tokenFor("/oauth2/default/v1/token", url.Values{"grant_type": {GrantClientCredentials}, "scope": {scope}}, basicAuth("svc-basic", "basic-secret"))
	return body["access_token"].(string)
}

// passwordTokens runs a password grant for ada as the web client.
func (e *env) passwordTokens(scope string) map[string]any {
	e.t.Helper()
	return e.tokenFor("/oauth2/default/v1/token", url.Values{
		"grant_type": {GrantPassword}, "username": {"ada@example.com"}, "password": {"correct horse"}, "scope": {scope},
	}, basicAuth("web", "web-secret"))
}

// assertionClaims builds the claims of a valid client assertion for the
// endpoint URL.
func (e *env) assertionClaims(clientID, endpoint string) map[string]any {
	now := e.clk.Now()
	jti, _ := randomID("")
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": e.url + endpoint,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": jti,
	}
}

func signAssertion(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	var sk jose.SigningKey
	if b, ok := key.([]byte); ok {
		sk = jose.SigningKey{Algorithm: alg, Key: b}
	} else {
		sk = jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}
	}
	signer, err := jose.NewSigner(sk, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fetchJWKS reads a served JWKS.
func (e *env) fetchJWKS(path string) jose.JSONWebKeySet {
	e.t.Helper()
	r := e.do(http.MethodGet, path, nil, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		e.t.Fatal(err)
	}
	return set
}

// verifyWithJWKS checks token's signature against the served JWKS the way
// a resource server would, and returns its header and claims.
func (e *env) verifyWithJWKS(jwksPath, token string) (jose.Header, map[string]any) {
	e.t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		e.t.Fatalf("parse token: %v", err)
	}
	h := jws.Signatures[0].Header
	set := e.fetchJWKS(jwksPath)
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		e.t.Fatalf("kid %q: %d keys in JWKS", h.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		e.t.Fatalf("verify with JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		e.t.Fatal(err)
	}
	return h, claims
}

// unverifiedClaims decodes a JWT's payload without checking it.
func unverifiedClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
