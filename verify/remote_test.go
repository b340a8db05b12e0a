package verify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// jwksServer is a counting JWKS endpoint whose content and health tests
// change at will.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	body         string
	cacheControl string
	fail         bool
	hits         atomic.Int64
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch r.URL.Path {
		case "/oauth2/default/v1/keys":
			s.hits.Add(1)
			if s.fail {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			if s.cacheControl != "" {
				w.Header().Set("Cache-Control", s.cacheControl)
			}
			_, _ = w.Write([]byte(s.body))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body string, fail bool) {
	s.mu.Lock()
	s.body, s.fail = body, fail
	s.mu.Unlock()
}

// oktaVerifier points an Okta provider at the local server.
func oktaVerifier(t *testing.T, srv *jwksServer, fc *clock.Fake, mut func(*Config)) *Verifier {
	t.Helper()
	pc := Okta("ignored.okta.com", "default")
	pc.BaseURL = srv.URL
	cfg := Config{
		Providers: []ProviderConfig{pc},
		Policy:    Policy{Audiences: []string{testAud}},
		Clock:     fc,
		KeyCache:  KeyCache{RefetchFloor: time.Minute, MinRefresh: 5 * time.Minute, MaxStale: time.Hour, DefaultRefresh: 10 * time.Minute},
	}
	if mut != nil {
		mut(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func oktaClaims(base string) map[string]any {
	c := baseClaims()
	c["iss"] = base + "/oauth2/default"
	return c
}

func remoteOf(v *Verifier) *remoteKeys { return v.providers[0].keys.(*remoteKeys) }

// waitIdle waits for a background fetch to finish.
func waitIdle(t *testing.T, rk *remoteKeys) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		rk.mu.Lock()
		busy := rk.inflight != nil
		rk.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("fetch did not finish in 30s")
}

func TestOktaRemoteKeysAndRotation(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	fc := clock.NewFake(testNow)
	v := oktaVerifier(t, srv, fc, func(c *Config) { c.TokenCache.Disabled = true })
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "k1", oktaClaims(srv.URL))); err != nil {
		t.Fatal(err)
	}
	// Rotation: the issuer adds k2 and signs with it. The unknown kid
	// triggers one refetch (the floor has passed).
	srv.set(jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256), jwk(&k.rsa2.PublicKey, "k2", RS256)), false)
	fc.Advance(2 * time.Minute)
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa2, "k2", oktaClaims(srv.URL))); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2", got)
	}
	// k1 removed: once refreshed, tokens signed with k1 fail.
	srv.set(jwksOf(jwk(&k.rsa2.PublicKey, "k2", RS256)), false)
	fc.Advance(11 * time.Minute) // past the refresh time
	_, _ = v.Verify(ctx, mint(t, RS256, k.rsa2, "k2", oktaClaims(srv.URL)))
	waitIdle(t, remoteOf(v))
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "k1", oktaClaims(srv.URL))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removed key: err = %v", err)
	}
}

func TestJWKSOutageServesStaleThenFails(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	fc := clock.NewFake(testNow)
	v := oktaVerifier(t, srv, fc, func(c *Config) { c.TokenCache.Disabled = true })
	ctx := context.Background()
	tokAt := func() string {
		c := oktaClaims(srv.URL)
		c["iat"], c["exp"] = fc.Now().Unix(), fc.Now().Unix()+7200
		return mint(t, RS256, k.rsa, "k1", c)
	}
	if _, err := v.Verify(ctx, tokAt()); err != nil {
		t.Fatal(err)
	}
	srv.set("", true)
	// Past refresh: the background refresh fails, the old keys still work.
	fc.Advance(30 * time.Minute)
	if _, err := v.Verify(ctx, tokAt()); err != nil {
		t.Fatalf("stale keys not served: %v", err)
	}
	waitIdle(t, remoteOf(v))
	if _, err := v.Verify(ctx, tokAt()); err != nil {
		t.Fatalf("stale keys not served after failed refresh: %v", err)
	}
	// Past MaxStale (1h since the last success): keys are dropped.
	fc.Advance(31 * time.Minute)
	_, err := v.Verify(ctx, tokAt())
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("err = %v, want ErrKeysUnavailable", err)
	}
	if st, _ := Challenge(err, ""); st != http.StatusServiceUnavailable {
		t.Fatalf("status = %d", st)
	}
	// Recovery.
	srv.set(jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)), false)
	fc.Advance(2 * time.Minute)
	if _, err := v.Verify(ctx, tokAt()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// TestUnknownKidStorm sends 10,000 tokens with random kids, from many
// goroutines, and checks the issuer sees at most one fetch per floor.
func TestUnknownKidStorm(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	fc := clock.NewFake(testNow)
	v := oktaVerifier(t, srv, fc, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "k1", oktaClaims(srv.URL))); err != nil {
		t.Fatal(err)
	}
	// Tokens are built without signing: the kid lookup fails before any
	// signature work, which is the point of the storm.
	good := mint(t, RS256, k.rsa, "k1", oktaClaims(srv.URL))
	body := strings.Split(good, ".")[1]
	sig := strings.Split(good, ".")[2]
	const total, workers = 10000, 16
	var failures atomic.Int64
	periods := 3
	for p := 0; p < periods; p++ {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < total/periods; i += workers {
					var rnd [8]byte
					_, _ = rand.Read(rnd[:])
					h := enc.EncodeToString([]byte(fmt.Sprintf(`{"alg":"RS256","kid":"%x"}`, rnd)))
					if _, err := v.Verify(ctx, h+"."+body+"."+sig); errors.Is(err, ErrUnknownKey) {
						failures.Add(1)
					}
				}
			}(w)
		}
		wg.Wait()
		waitIdle(t, remoteOf(v))
		if got, max := srv.hits.Load(), int64(2+p); got > max {
			t.Fatalf("period %d: %d fetches, want at most %d (initial + one per floor)", p, got, max)
		}
		fc.Advance(61 * time.Second)
	}
	if failures.Load() != int64(total/periods*periods) {
		t.Fatalf("%d of %d random-kid tokens failed with ErrUnknownKey", failures.Load(), total)
	}
	t.Logf("%d verifications with random kids over %d floors: %d fetches", total, periods, srv.hits.Load())
}

func TestCacheControlBounds(t *testing.T) {
	cases := []struct {
		header string
		want   time.Duration
	}{
		{"", 10 * time.Minute},          // default
		{"max-age=60", 5 * time.Minute}, // raised to the minimum
		{"public, max-age=1800", time.Minute * 30},
		{"max-age=999999999", 24 * time.Hour}, // capped
		{"no-store", 5 * time.Minute},
	}
	k := keys(t)
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			srv := newJWKSServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
			srv.cacheControl = tc.header
			fc := clock.NewFake(testNow)
			v := oktaVerifier(t, srv, fc, nil)
			if err := v.Warm(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := remoteOf(v).cur.Load()
			if got := s.refreshAt.Sub(s.fetchedAt); got != tc.want {
				t.Fatalf("lifetime = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestJWKSLimits(t *testing.T) {
	k := keys(t)
	var many []map[string]any
	for i := range 100 {
		many = append(many, jwk(&k.ec.PublicKey, fmt.Sprint(i), ES256))
	}
	big4096, _ := rsa.GenerateKey(rand.Reader, 1024)
	cases := []struct {
		name string
		body string
		cfg  func(*Config)
	}{
		{"too many keys", jwksOf(many...), nil},
		{"body too large", jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)), func(c *Config) { c.Limits.MaxKeySetBytes = 100 }},
		{"RSA too small", jwksOf(jwk(&big4096.PublicKey, "k1", RS256)), nil},
		{"not JSON", "<html>", nil},
		{"duplicate keys member", `{"keys":[],"keys":[]}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, tc.body)
			v := oktaVerifier(t, srv, clock.NewFake(testNow), tc.cfg)
			_, err := v.Verify(context.Background(), mint(t, RS256, k.rsa, "k1", oktaClaims(srv.URL)))
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestTokenCache(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	fc := clock.NewFake(testNow)
	v := oktaVerifier(t, srv, fc, nil)
	ctx := context.Background()
	tok := mint(t, RS256, k.rsa, "k1", oktaClaims(srv.URL))
	p1, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if v.cache.len() != 1 {
		t.Fatalf("cache holds %d entries", v.cache.len())
	}
	p2, err := v.Verify(ctx, tok)
	if err != nil || p2 == p1 || p2.Subject != p1.Subject {
		t.Fatalf("cached verify = %v, %v (same pointer %v)", p2, err, p2 == p1)
	}
	// Expiry is re-checked on hits.
	fc.Advance(2 * time.Hour)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired cached token: %v", err)
	}
	// A key-set change drops cached verifications.
	c2 := oktaClaims(srv.URL)
	c2["iat"], c2["exp"] = fc.Now().Unix(), fc.Now().Unix()+3600
	tok2 := mint(t, RS256, k.rsa, "k1", c2)
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	srv.set(jwksOf(jwk(&k.rsa2.PublicKey, "k2", RS256)), false)
	fc.Advance(2 * time.Minute)
	_, _ = v.Verify(ctx, mint(t, RS256, k.rsa2, "zz", c2)) // unknown kid: refetch
	waitIdle(t, remoteOf(v))
	if _, err := v.Verify(ctx, tok2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("cached token survived key removal: %v", err)
	}
	// Keys don't leak: the cache holds hashes, never tokens.
	for i := range v.cache.shards {
		for key := range v.cache.shards[i].m {
			if strings.Contains(string(key[:]), "eyJ") {
				t.Fatal("token text in cache key")
			}
		}
	}
}

func TestTokenCacheBounded(t *testing.T) {
	c := newTTLCache[int](64)
	for i := range 10000 {
		c.put(keyOf(fmt.Sprint(i)), i, 100, 1)
	}
	if n := c.len(); n > 64+cacheShards {
		t.Fatalf("cache grew to %d", n)
	}
}

func TestOIDCDiscovery(t *testing.T) {
	k := keys(t)
	var srv *httptest.Server
	issuerOverride := ""
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			iss := srv.URL
			if issuerOverride != "" {
				iss = issuerOverride
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": srv.URL + "/keys"})
		case "/keys":
			_, _ = w.Write([]byte(jwksOf(jwk(&k.ec.PublicKey, "e1", ES256))))
		}
	}))
	defer srv.Close()
	mk := func() *Verifier {
		v, err := New(Config{Providers: []ProviderConfig{OIDC(srv.URL)}, Policy: Policy{Audiences: []string{testAud}}, Clock: clock.NewFake(testNow)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := with(baseClaims(), "iss", srv.URL)
	if _, err := mk().Verify(context.Background(), mint(t, ES256, k.ec, "e1", c)); err != nil {
		t.Fatal(err)
	}
	issuerOverride = "https://evil.example"
	if _, err := mk().Verify(context.Background(), mint(t, ES256, k.ec, "e1", c)); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("issuer mismatch in discovery: %v", err)
	}
}

func TestStaticFileHotReload(t *testing.T) {
	k := keys(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.pem")
	if err := os.WriteFile(path, []byte(pemOf(t, &k.rsa.PublicKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	fc := clock.NewFake(testNow)
	v, err := New(Config{Providers: []ProviderConfig{StaticKeys(testIssuer, path)}, Policy: Policy{Audiences: []string{testAud}}, Clock: fc, TokenCache: TokenCache{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A PEM key has no kid: tokens with or without one use it.
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "", baseClaims())); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(pemOf(t, &k.rsa2.PublicKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	fk := v.providers[0].keys.(*fileKeys)
	fc.Advance(10 * time.Second)
	_, _ = v.Verify(ctx, mint(t, RS256, k.rsa, "", baseClaims())) // triggers the reload
	for deadline := time.Now().Add(30 * time.Second); fk.reloading.Load() && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa2, "x", baseClaims())); err != nil {
		t.Fatalf("new key after reload: %v", err)
	}
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "", baseClaims())); !errors.Is(err, ErrSignature) {
		t.Fatalf("old key after reload: %v", err)
	}
	// A broken file keeps the previous keys.
	if err := os.WriteFile(path, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fk.reload(); err == nil {
		t.Fatal("broken file accepted")
	}
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa2, "", baseClaims())); err != nil {
		t.Fatalf("keys lost after a bad reload: %v", err)
	}
}

// introspectionServer answers RFC 7662 requests from a token table.
func introspectionServer(t *testing.T, answers map[string]string, wantAuth func(*http.Request) bool) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": testIssuer, "introspection_endpoint": "http://" + r.Host + "/introspect"})
			return
		case "/introspect":
		default:
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		if r.Method != http.MethodPost || !wantAuth(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_ = r.ParseForm()
		a, ok := answers[r.PostForm.Get("token")]
		if !ok {
			a = `{"active":false}`
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestIntrospection(t *testing.T) {
	exp := testNow.Unix() + 3600
	answers := map[string]string{
		"opaque-good":  fmt.Sprintf(`{"active":true,"sub":"bob","username":"bob@example.com","aud":%q,"iss":%q,"exp":%d,"scope":"api.read api.write","client_id":"c1"}`, testAud, testIssuer, exp),
		"opaque-noaud": fmt.Sprintf(`{"active":true,"sub":"bob","iss":%q,"exp":%d}`, testIssuer, exp),
		"opaque-dup":   `{"active":true,"active":false}`,
	}
	basic := func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "client" && p == "s3cret"
	}
	srv, hits := introspectionServer(t, answers, basic)
	fc := clock.NewFake(testNow)
	mk := func(pc ProviderConfig, pol Policy) *Verifier {
		pol.Audiences = []string{testAud}
		v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: pol, Clock: fc})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	pc := Introspection(srv.URL+"/introspect", "client", "s3cret")
	pc.AcceptOpaque = true
	v := mk(pc, Policy{})
	ctx := context.Background()
	p, err := v.Verify(ctx, "opaque-good")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Introspected || p.Subject != "bob" || !p.HasScope("api.write") || p.ClientID != "c1" {
		t.Fatalf("principal = %+v", p)
	}
	// Positive cache: no second call, but the policy still applies.
	if _, err := v.Verify(ctx, "opaque-good"); err != nil || hits.Load() != 1 {
		t.Fatalf("cached: %v, hits %d", err, hits.Load())
	}
	strict := mk(pc, Policy{RequiredScopes: []string{"api.admin"}})
	_, _ = strict.Verify(ctx, "opaque-good")
	if _, err := strict.Verify(ctx, "opaque-good"); !errors.Is(err, ErrInsufficientScope) {
		t.Fatalf("cached answer skipped the policy: %v", err)
	}
	// Negative cache.
	before := hits.Load()
	for range 5 {
		if _, err := v.Verify(ctx, "opaque-unknown"); !errors.Is(err, ErrInactive) {
			t.Fatalf("inactive: %v", err)
		}
	}
	if hits.Load()-before != 1 {
		t.Fatalf("negative cache: %d calls", hits.Load()-before)
	}
	if _, err := v.Verify(ctx, "opaque-noaud"); !errors.Is(err, ErrAudience) {
		t.Fatalf("no aud: %v", err)
	}
	if _, err := v.Verify(ctx, "opaque-dup"); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("duplicate active: %v", err)
	}
	// Expiry is enforced on cached positives.
	fc.Advance(2 * time.Hour)
	if _, err := v.Verify(ctx, "opaque-good"); err == nil {
		t.Fatal("expired introspected token accepted")
	}
	fc.Set(testNow)
	// Wrong secret: the endpoint refuses, so the verifier fails closed
	// (503, no error code for the client) and says why.
	bad := mk(Introspection(srv.URL+"/introspect", "client", "wrong"), Policy{})
	_, err = bad.Verify(ctx, "opaque-good")
	if !errors.Is(err, ErrIntrospectionRefused) || errors.Is(err, ErrKeysUnavailable) ||
		!strings.Contains(err.Error(), "refused the verifier's client credentials") || !strings.Contains(err.Error(), "client_secret") {
		t.Fatalf("bad secret: %v", err)
	}
	if st, www := Challenge(err, ""); st != http.StatusServiceUnavailable || www != "Bearer" {
		t.Fatalf("bad secret: %d %q", st, www)
	}
	// discovery_url wins over introspect_url.
	d := Introspection("http://127.0.0.1:1/nowhere", "client", "s3cret")
	d.DiscoveryURL = srv.URL + "/.well-known/oauth-authorization-server"
	d.Issuer = testIssuer
	d.AcceptOpaque = true
	if _, err := mk(d, Policy{}).Verify(ctx, "opaque-good"); err != nil {
		t.Fatalf("discovery: %v", err)
	}
}

func TestIntrospectionPrivateKeyJWT(t *testing.T) {
	k := keys(t)
	exp := testNow.Unix() + 3600
	var srvURL string
	check := func(r *http.Request) bool {
		_ = r.ParseForm()
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return false
		}
		// The server verifies the assertion with the client's public key.
		ks, _ := parseJWKSet(jwksOf(jwk(&k.ec.PublicKey, "", "")), keyLimits{}, 0)
		var j jws
		if err := parseJWS(r.PostForm.Get("client_assertion"), defaultAlgs, &j); err != nil {
			return false
		}
		key := ks.find(j.kid, j.alg)
		if key == nil || !verifySignature(j.alg, key, j.signingInput, j.sig) {
			return false
		}
		c, err := parseClaims(j.payload, claimNames{})
		return err == nil && c.iss == "client" && c.sub == "client" && slicesEqual(c.aud, []string{srvURL + "/introspect"})
	}
	srv, _ := introspectionServer(t, map[string]string{"tok": fmt.Sprintf(`{"active":true,"sub":"svc","aud":%q,"exp":%d}`, testAud, exp)}, check)
	srvURL = srv.URL
	der, _ := x509MarshalPKCS8(k.ec)
	pc := ProviderConfig{Type: ProviderIntrospection, IntrospectURL: srv.URL + "/introspect", ClientID: "client", PrivateKeyPEM: der, AcceptOpaque: true}
	v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{testAud}}, Clock: clock.NewFake(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func TestBaseURLMustBeLoopbackForHTTP(t *testing.T) {
	pc := Okta("x", "default")
	pc.BaseURL = "http://example.com"
	if _, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{"a"}}}); err == nil {
		t.Fatal("plain http to a public host accepted")
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		if err := checkURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := url.Parse("http://127.0.0.1"); err != nil {
		t.Fatal(err)
	}
}

// TestStaticKeyRemovalEvictsCachedTokens: a token verified (and cached)
// with a key that later leaves its key file is refused once the change is
// read, though the token cache would keep it for TokenCache.TTL; only
// cached requests arrive after the change, so nothing but the cache's own
// hits and the background reload can notice it. Tokens of the keys that
// stay remain cached.
func TestStaticKeyRemovalEvictsCachedTokens(t *testing.T) {
	k := keys(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(jwksOf(jwk(&k.rsa.PublicKey, "gone", RS256), jwk(&k.ec.PublicKey, "stays", ES256)))
	fc := clock.NewFake(testNow)
	v, err := New(Config{Providers: []ProviderConfig{StaticKeys(testIssuer, path)}, Policy: Policy{Audiences: []string{testAud}}, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	removed := mint(t, RS256, k.rsa, "gone", baseClaims())
	kept := mint(t, ES256, k.ec, "stays", baseClaims())
	for _, tok := range []string{removed, kept, removed, kept} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if h := v.hits.Load(); h != 2 {
		t.Fatalf("cache hits = %d, want 2", h)
	}
	fk := v.providers[0].keys.(*fileKeys)
	reloaded := func() {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); fk.reloading.Load(); {
			if time.Now().After(deadline) {
				t.Fatal("key file reload did not finish")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	// A change that keeps both keys (a third one added) keeps both cached.
	write(jwksOf(jwk(&k.rsa.PublicKey, "gone", RS256), jwk(&k.ec.PublicKey, "stays", ES256), jwk(k.ed.Public(), "new", EdDSA)))
	fc.Advance(DefaultReloadInterval)
	if _, err := v.Verify(ctx, kept); err != nil { // a hit; starts the check
		t.Fatal(err)
	}
	reloaded()
	if g := fk.cur.Load().gen; g != 2 {
		t.Fatalf("key set generation = %d after the change, want 2", g)
	}
	hits := v.hits.Load()
	for _, tok := range []string{removed, kept} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("token of a key still in the file: %v", err)
		}
	}
	if v.hits.Load() != hits+2 {
		t.Fatal("a key-file change evicted the tokens of keys it kept")
	}

	// The key is removed: from the reload on, its token is refused.
	write(jwksOf(jwk(&k.ec.PublicKey, "stays", ES256)))
	fc.Advance(DefaultReloadInterval)
	_, _ = v.Verify(ctx, kept) // a hit; starts the check
	reloaded()
	if _, err := v.Verify(ctx, removed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("cached token of a removed key: %v, want %v", err, ErrUnknownKey)
	}
	if _, err := v.Verify(ctx, kept); err != nil {
		t.Fatalf("token of the key that stays: %v", err)
	}

	// RefreshInBackground reads the file without any request: the key
	// comes back, then leaves again, and its token follows.
	write(jwksOf(jwk(&k.rsa.PublicKey, "gone", RS256), jwk(&k.ec.PublicKey, "stays", ES256)))
	fc.Advance(DefaultReloadInterval)
	if _, err := v.Verify(ctx, removed); err != nil && !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	reloaded()
	if _, err := v.Verify(ctx, removed); err != nil {
		t.Fatalf("key back in the file: %v", err)
	}
	bg, stop := context.WithCancel(ctx)
	done := v.RefreshInBackground(bg)
	defer func() { stop(); <-done }()
	write(jwksOf(jwk(&k.ec.PublicKey, "stays", ES256)))
	gen := fk.cur.Load().gen
	for deadline := time.Now().Add(30 * time.Second); fk.cur.Load().gen == gen; {
		if time.Now().After(deadline) {
			t.Fatal("RefreshInBackground did not reload the key file")
		}
		fc.Advance(DefaultReloadInterval)
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := v.Verify(ctx, removed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("cached token after a background reload removed its key: %v", err)
	}
}
