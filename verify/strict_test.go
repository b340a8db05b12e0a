package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

func TestCritRefusalNamesCrit(t *testing.T) {
	k := keys(t)
	v, _ := staticVerifier(t, nil)
	tok := mintRaw(t, RS256, k.rsa, `{"alg":"RS256","kid":"rsa1","crit":["x-custom"],"x-custom":true}`, mustJSON(baseClaims()))
	_, err := v.Verify(context.Background(), tok)
	if !errors.Is(err, ErrUnsupportedToken) || !strings.Contains(err.Error(), "crit") {
		t.Fatalf("err = %v; want a refusal that names crit", err)
	}
	if _, www := Challenge(err, ""); !strings.Contains(www, "crit") {
		t.Fatalf("challenge %q does not name crit", www)
	}
}

func TestTypePerProvider(t *testing.T) {
	k := keys(t)
	other := testIssuer + "/other"
	v, _ := staticVerifier(t, func(c *Config) {
		c.Providers[0].Types = []string{TypeAccessToken}
		c.Providers = append(c.Providers, ProviderConfig{Type: ProviderStatic, Name: "other", Issuer: other,
			Keys: jwksOf(jwk(&k.rsa.PublicKey, "rsa1", RS256))})
	})
	tok := func(iss, typ string) string {
		h := `{"alg":"RS256","kid":"rsa1"}`
		if typ != "" {
			h = `{"alg":"RS256","kid":"rsa1","typ":"` + typ + `"}`
		}
		return mintRaw(t, RS256, k.rsa, h, mustJSON(with(baseClaims(), "iss", iss)))
	}
	ctx := context.Background()
	// RFC 9068 section 4: at+jwt, with or without "application/", in any
	// case (media types are case-insensitive).
	for _, typ := range []string{"at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"} {
		if _, err := v.Verify(ctx, tok(testIssuer, typ)); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	for _, typ := range []string{"", "JWT", "jwt", "id_token+jwt", "application/jwt", "at+jwt ", "application/at+jwt;x=y", "text/at+jwt", "applicationat+jwt"} {
		_, err := v.Verify(ctx, tok(testIssuer, typ))
		if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "at+jwt") {
			t.Errorf("typ %q: err = %v, want ErrType naming at+jwt", typ, err)
		}
	}
	// The other issuer sets no types and the policy none: any typ passes.
	for _, typ := range []string{"", "JWT"} {
		if _, err := v.Verify(ctx, tok(other, typ)); err != nil {
			t.Errorf("other issuer, typ %q: %v", typ, err)
		}
	}
	// The policy's types apply to providers without their own.
	v2, _ := staticVerifier(t, func(c *Config) { c.Policy.Types = []string{TypeAccessToken} })
	if _, err := v2.Verify(ctx, tok(testIssuer, "JWT")); !errors.Is(err, ErrType) {
		t.Errorf("policy types: err = %v", err)
	}
}

func TestClientClaimsFixedOrder(t *testing.T) {
	k := keys(t)
	v, _ := staticVerifier(t, func(c *Config) { c.Policy.ClientIDs = []string{"good"} })
	ctx := context.Background()
	// claims renders members in the given order, so each case is tried
	// in both JSON orders.
	render := func(members ...string) string {
		base := baseClaims()
		delete(base, "cid")
		b, _ := json.Marshal(base)
		s := strings.TrimSuffix(string(b), "}")
		for _, m := range members {
			s += "," + m
		}
		return s + "}"
	}
	type tc struct {
		members []string
		ok      bool
		client  string
	}
	cases := []tc{
		{[]string{`"cid":"good"`}, true, "good"},
		{[]string{`"client_id":"good"`}, true, "good"},
		{[]string{`"azp":"good"`}, true, "good"},
		{[]string{`"appid":"good"`}, true, "good"},
		{[]string{`"cid":"good"`, `"client_id":"good"`, `"azp":"good"`, `"appid":"good"`}, true, "good"},
		{[]string{`"cid":"good"`, `"azp":"evil"`}, false, ""},
		{[]string{`"client_id":"evil"`, `"cid":"good"`}, false, ""},
		{[]string{`"appid":"good"`, `"azp":"evil"`}, false, ""},
		{[]string{`"cid":"good"`, `"client_id":""`}, false, ""},
		{[]string{`"azp":"evil"`}, false, ""},
	}
	for _, c := range cases {
		for _, order := range [][]string{c.members, reversed(c.members)} {
			body := render(order...)
			p, err := v.Verify(ctx, mintRaw(t, RS256, k.rsa, `{"alg":"RS256","kid":"rsa1"}`, body))
			switch {
			case c.ok && err != nil:
				t.Errorf("%s: %v", body, err)
			case c.ok && p.ClientID != c.client:
				t.Errorf("%s: client %q, want %q", body, p.ClientID, c.client)
			case !c.ok && !errors.Is(err, ErrClientID):
				t.Errorf("%s: err = %v, want ErrClientID", body, err)
			}
		}
	}
	// Disagreeing claims are refused even without an allow-list: the
	// gateway and other callers act on Principal.ClientID.
	open, _ := staticVerifier(t, nil)
	_, err := open.Verify(ctx, mintRaw(t, RS256, k.rsa, `{"alg":"RS256","kid":"rsa1"}`, render(`"client_id":"a"`, `"azp":"b"`)))
	if !errors.Is(err, ErrClientID) || !strings.Contains(err.Error(), "different clients") {
		t.Fatalf("no allow-list: err = %v", err)
	}
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// countingIntrospection answers RFC 7662 requests: tokens in active get
// that answer, everything else is inactive. status, when set, replaces
// every answer with that HTTP status.
type countingIntrospection struct {
	*httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	active map[string]string
	status int
}

func newCountingIntrospection(t *testing.T, active map[string]string) *countingIntrospection {
	s := &countingIntrospection{active: active}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		s.mu.Lock()
		st := s.status
		s.mu.Unlock()
		if st != 0 {
			http.Error(w, "no", st)
			return
		}
		_ = r.ParseForm()
		a, ok := s.active[r.PostForm.Get("token")]
		if !ok {
			a = `{"active":false}`
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(s.Close)
	return s
}

func introVerifier(t *testing.T, srv *countingIntrospection, fc *clock.Fake, pol Policy) *Verifier {
	t.Helper()
	pc := Introspection(srv.URL+"/introspect", "client", "s3cret")
	pc.AcceptOpaque = true
	// These tests count calls per distinct token; the call bounds have
	// tests of their own (introbound_test.go).
	pc.IntrospectConcurrency, pc.IntrospectPerSecond = 1<<10, 1<<30
	pol.Audiences = []string{testAud}
	v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: pol, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntrospectionActiveWithoutSub(t *testing.T) {
	exp := testNow.Unix() + 3600
	// A client-credentials token: RFC 7662 section 2.2 requires only
	// "active"; this answer has no sub and no username.
	srv := newCountingIntrospection(t, map[string]string{
		"svc-token": fmt.Sprintf(`{"active":true,"client_id":"svc-1","scope":"api.read","aud":%q,"exp":%d,"token_type":"Bearer"}`, testAud, exp),
		"bare":      `{"active":true}`,
	})
	fc := clock.NewFake(testNow)
	v := introVerifier(t, srv, fc, Policy{})
	p, err := v.Verify(context.Background(), "svc-token")
	if err != nil {
		t.Fatalf("active answer without sub: %v", err)
	}
	if p.Subject != "" || p.User != "svc-1" || p.ClientID != "svc-1" || !p.HasScope("api.read") || !p.Introspected {
		t.Fatalf("principal = %+v", p)
	}
	// The policy still applies: an answer with no aud and no exp is
	// refused for its audience, not for a missing sub.
	if _, err := v.Verify(context.Background(), "bare"); !errors.Is(err, ErrClaims) && !errors.Is(err, ErrAudience) {
		t.Fatalf("bare answer: %v", err)
	}
	// A client allow-list still binds it.
	strict := introVerifier(t, srv, fc, Policy{ClientIDs: []string{"other"}})
	if _, err := strict.Verify(context.Background(), "svc-token"); !errors.Is(err, ErrClientID) {
		t.Fatalf("allow-list: %v", err)
	}
}

func TestIntrospectionRefusedCredentials(t *testing.T) {
	for _, st := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		srv := newCountingIntrospection(t, nil)
		srv.status = st
		v := introVerifier(t, srv, clock.NewFake(testNow), Policy{})
		_, err := v.Verify(context.Background(), "some-token")
		if !errors.Is(err, ErrIntrospectionRefused) || errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), fmt.Sprint(st)) {
			t.Errorf("HTTP %d: err = %v", st, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("HTTP %d: error leaks the client secret", st)
		}
	}
	// Other failures stay "unavailable".
	srv := newCountingIntrospection(t, nil)
	srv.status = http.StatusBadGateway
	v := introVerifier(t, srv, clock.NewFake(testNow), Policy{})
	if _, err := v.Verify(context.Background(), "some-token"); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("HTTP 502: err = %v", err)
	}
}

// TestIntrospectionNegativeCache floods the verifier with 2,000 random
// opaque tokens, each presented five times by concurrent clients, and
// counts the calls that reach the endpoint.
func TestIntrospectionNegativeCache(t *testing.T) {
	srv := newCountingIntrospection(t, nil)
	fc := clock.NewFake(testNow)
	v := introVerifier(t, srv, fc, Policy{})
	const distinct, repeats, workers = 2000, 5, 16
	tokens := make([]string, distinct)
	for i := range tokens {
		var b [24]byte
		_, _ = rand.Read(b[:])
		tokens[i] = hex.EncodeToString(b[:])
	}
	flood := func() {
		var wg sync.WaitGroup
		var wrong atomic.Int64
		for w := range workers {
			wg.Go(func() {
				for i := w; i < distinct*repeats; i += workers {
					if _, err := v.Verify(context.Background(), tokens[i%distinct]); !errors.Is(err, ErrInactive) {
						wrong.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := wrong.Load(); n != 0 {
			t.Fatalf("%d answers were not ErrInactive", n)
		}
	}
	flood()
	if got := srv.calls.Load(); got != distinct {
		t.Fatalf("%d requests with %d distinct tokens made %d introspection calls, want %d", distinct*repeats, distinct, got, distinct)
	}
	// Within the negative TTL the same tokens cost nothing.
	fc.Advance(DefaultIntrospectNegativeTTL - time.Second)
	flood()
	if got := srv.calls.Load(); got != distinct {
		t.Fatalf("second flood within the TTL: %d calls in all, want %d", got, distinct)
	}
	// Briefly: once the TTL has passed, the endpoint is asked again.
	fc.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tokens[0]); !errors.Is(err, ErrInactive) {
		t.Fatal(err)
	}
	if got := srv.calls.Load(); got != distinct+1 {
		t.Fatalf("after the TTL: %d calls, want %d", got, distinct+1)
	}
	// The cache is bounded: it never holds more than its size.
	if n := v.opaque.intro.neg.len(); n > defaultIntrospectCacheSize+cacheShards {
		t.Fatalf("negative cache holds %d entries", n)
	}
}

func TestIntrospectionRefusesNonTokens(t *testing.T) {
	srv := newCountingIntrospection(t, nil)
	v := introVerifier(t, srv, clock.NewFake(testNow), Policy{})
	for _, tok := range []string{"has space", "quote\"", "nul\x00", "ünïcode", "====", "a,b", "semi;colon", "new\nline"} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err = %v", tok, err)
		}
	}
	if n := srv.calls.Load(); n != 0 {
		t.Fatalf("%d introspection calls for strings that are not tokens", n)
	}
	// Every b64token character is let through to the endpoint.
	if _, err := v.Verify(context.Background(), "aZ09-._~+/=="); !errors.Is(err, ErrInactive) {
		t.Fatalf("b64token: %v", err)
	}
}

func TestDomainWithSchemeRefused(t *testing.T) {
	pol := Policy{Audiences: []string{testAud}}
	for _, d := range []string{"http://example.okta.com", "HTTP://127.0.0.1:8080", "ftp://x", "example.okta.com/oauth2", "user@example.okta.com", " "} {
		for _, pc := range []ProviderConfig{Okta(d, "default"), Auth0(d)} {
			_, err := New(Config{Providers: []ProviderConfig{pc}, Policy: pol})
			if err == nil || !strings.Contains(err.Error(), "domain") {
				t.Errorf("%s domain %q: err = %v", pc.Type, d, err)
			}
			if strings.Contains(d, "://") && !strings.Contains(err.Error(), "OKTA_BASE_URL") {
				t.Errorf("%s domain %q: the error does not point at base_url: %v", pc.Type, d, err)
			}
		}
	}
	for _, d := range []string{"example.okta.com", "https://example.okta.com/", "HTTPS://example.okta.com"} {
		v, err := New(Config{Providers: []ProviderConfig{Okta(d, "default")}, Policy: pol})
		if err != nil {
			t.Fatalf("%q: %v", d, err)
		}
		if got := v.Issuers()[0]; got != "https://example.okta.com/oauth2/default" {
			t.Errorf("%q: issuer %q", d, got)
		}
	}
}
