package verify

import (
	"context"
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

// oktaIntrospection is a test endpoint at Okta's path that answers from a
// table, counts calls, records the hints it was sent and can hold calls
// until released.
type oktaIntrospection struct {
	*httptest.Server
	answers         map[string]string
	calls, inFlight atomic.Int64
	maxInFlight     atomic.Int64
	hold            chan struct{} // when set, each call waits on it
	status          int
	retryAfter      string
	mu              sync.Mutex
	hints           []string
}

func newOktaIntrospection(t *testing.T, answers map[string]string) *oktaIntrospection {
	s := &oktaIntrospection{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/default/v1/introspect" {
			http.NotFound(w, r)
			return
		}
		s.calls.Add(1)
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxInFlight.Load()
			if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if s.hold != nil {
			<-s.hold
		}
		_ = r.ParseForm()
		s.mu.Lock()
		s.hints = append(s.hints, r.PostForm.Get("token_type_hint"))
		st, ra := s.status, s.retryAfter
		s.mu.Unlock()
		if st != 0 {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			http.Error(w, `{"errorCode":"E0000047"}`, st)
			return
		}
		a, ok := s.answers[r.PostForm.Get("token")]
		if !ok {
			a = `{"active":false}`
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *oktaIntrospection) issuer() string { return s.URL + "/oauth2/default" }

func (s *oktaIntrospection) verifier(t *testing.T, fc *clock.Fake, mutate func(*ProviderConfig, *Policy)) *Verifier {
	t.Helper()
	pc := Introspection(s.issuer()+"/v1/introspect", "0oaresource", "s3cret")
	pc.Issuer = s.issuer()
	pc.AcceptOpaque = true
	pol := Policy{Audiences: []string{testAud}}
	if mutate != nil {
		mutate(&pc, &pol)
	}
	v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: pol, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOktaIntrospectionShapes replays the answers of Okta's /introspect
// reference (access token, refresh token, ID token; token_type is always
// Bearer) through Verify: only the access token's shape is accepted,
// whatever audience policy is in force.
func TestOktaIntrospectionShapes(t *testing.T) {
	now := testNow.Unix()
	s := newOktaIntrospection(t, nil)
	iss := s.issuer()
	s.answers = map[string]string{
		// Okta's access token example: iss, aud, jti, iat and uid.
		"accesstoken0123456789": fmt.Sprintf(`{"active":true,"token_type":"Bearer","scope":"openid profile","client_id":"a9VpZDRCeFh3Nkk2VdYa",`+
			`"username":"john.doe@example.com","exp":%d,"iat":%d,"sub":"john.doe@example.com","aud":%q,"iss":%q,`+
			`"jti":"AT.7P4KlczBYVcWLkxduEuKeZfeiNYkZIC9uGJ28Cc-YaI","uid":"00uid4BxXw6I6TV4m0g3"}`, now+3600, now-60, testAud, iss),
		// Okta's refresh token example: no aud, iss, jti, iat or uid.
		"refreshtoken012345678": fmt.Sprintf(`{"active":true,"token_type":"Bearer","scope":"openid profile email","client_id":"a9VpZDRCeFh3Nkk2VdYa",`+
			`"username":"john.doe@example.com","exp":%d,"sub":"john.doe@example.com","device_id":"q4SZgrA9sOeHkfst5uaa"}`, now+3600),
		// The same with the aud a careless server (our old sandbox) added.
		"refreshtokenwithaud01": fmt.Sprintf(`{"active":true,"token_type":"Bearer","scope":"openid","client_id":"a9VpZDRCeFh3Nkk2VdYa",`+
			`"username":"john.doe@example.com","exp":%d,"sub":"john.doe@example.com","aud":%q}`, now+3600, testAud),
		// A server that names the kind.
		"refreshtokennamed0123": fmt.Sprintf(`{"active":true,"token_type":"refresh_token","scope":"openid","client_id":"c",`+
			`"exp":%d,"iat":%d,"sub":"john","aud":%q,"iss":%q,"jti":"RT.1"}`, now+3600, now, testAud, iss),
		// An ID token, introspected as active with its own claims: the
		// client is its audience, its jti starts with ID.
		"idtoken01234567890123": fmt.Sprintf(`{"active":true,"token_type":"Bearer","client_id":"a9VpZDRCeFh3Nkk2VdYa","username":"john.doe@example.com",`+
			`"exp":%d,"iat":%d,"sub":"00uid4BxXw6I6TV4m0g3","aud":"a9VpZDRCeFh3Nkk2VdYa","iss":%q,"jti":"ID.4eAWJOCMB3SX8XewDfVR",`+
			`"amr":["pwd"],"idp":"00oid","auth_time":%d}`, now+3600, now-60, iss, now-60),
		// An ID token whose audience a careless policy also lists.
		"idtokenwithhash012345": fmt.Sprintf(`{"active":true,"token_type":"Bearer","client_id":"web","exp":%d,"iat":%d,"sub":"u",`+
			`"aud":%q,"iss":%q,"jti":"x1","at_hash":"fPlsvVszI29LU2UhDyJ9vg"}`, now+3600, now, testAud, iss),
	}
	cases := []struct {
		token string
		want  error // nil: accepted
	}{
		{"accesstoken0123456789", nil},
		{"refreshtoken012345678", ErrUnsupportedToken},
		{"refreshtokenwithaud01", ErrUnsupportedToken},
		{"refreshtokennamed0123", ErrUnsupportedToken},
		{"idtoken01234567890123", ErrUnsupportedToken},
		{"idtokenwithhash012345", ErrUnsupportedToken},
	}
	for _, anyAud := range []bool{false, true} {
		v := s.verifier(t, clock.NewFake(testNow), func(pc *ProviderConfig, pol *Policy) {
			if anyAud {
				pol.Audiences, pol.AllowAnyAudience = nil, true
			}
		})
		for _, tc := range cases {
			name := fmt.Sprintf("%s/anyAudience=%v", tc.token, anyAud)
			p, err := v.Verify(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil || p.Subject != "john.doe@example.com" || p.TokenID == "" || !p.Introspected {
					t.Errorf("%s: kept? %+v %v", name, p, err)
				}
				continue
			}
			if !errors.Is(err, tc.want) || p != nil {
				t.Errorf("%s: err = %v, want %v (refused)", name, err, tc.want)
			}
			// Refused answers are remembered: a replay costs no call.
			before := s.calls.Load()
			if _, err := v.Verify(context.Background(), tc.token); err == nil || s.calls.Load() != before {
				t.Errorf("%s: replay: err %v, calls %d → %d", name, err, before, s.calls.Load())
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hints {
		if h != "access_token" {
			t.Fatalf("token_type_hint = %q, want access_token on every call", h)
		}
	}
}

// TestIntrospectionConcurrencyBound: a burst of distinct tokens never
// has more calls in flight than the limit; the rest are refused at once
// as keys unavailable (retry), not queued.
func TestIntrospectionConcurrencyBound(t *testing.T) {
	s := newOktaIntrospection(t, nil)
	s.hold = make(chan struct{})
	v := s.verifier(t, clock.NewFake(testNow), func(pc *ProviderConfig, _ *Policy) {
		pc.IntrospectConcurrency, pc.IntrospectPerSecond = 4, 1e6
	})
	const n = 200
	var wg sync.WaitGroup
	var busy, inactive atomic.Int64
	ctx := context.Background()
	for i := range n {
		wg.Go(func() {
			_, err := v.Verify(ctx, fmt.Sprintf("randomopaquetoken%08d", i))
			switch {
			case errors.Is(err, ErrKeysUnavailable):
				busy.Add(1)
			case errors.Is(err, ErrInactive):
				inactive.Add(1)
			default:
				t.Errorf("err = %v", err)
			}
		})
	}
	// Wait until the four calls are in flight and every other request
	// has been turned away, then let the four answer.
	for busy.Load() < n-4 && !t.Failed() {
		time.Sleep(time.Millisecond)
	}
	close(s.hold)
	wg.Wait()
	if got := s.maxInFlight.Load(); got > 4 {
		t.Fatalf("%d calls in flight at once, limit 4", got)
	}
	if s.calls.Load() != 4 || inactive.Load() != 4 || busy.Load() != n-4 {
		t.Fatalf("calls %d, inactive %d, refused busy %d; want 4, 4, %d", s.calls.Load(), inactive.Load(), busy.Load(), n-4)
	}
}

// TestIntrospectionRateBound: calls per second are bounded on the
// injected clock; time moving on refills the bucket.
func TestIntrospectionRateBound(t *testing.T) {
	s := newOktaIntrospection(t, nil)
	fc := clock.NewFake(testNow)
	v := s.verifier(t, fc, func(pc *ProviderConfig, _ *Policy) { pc.IntrospectPerSecond = 10 })
	ctx := context.Background()
	tok := func(i int) string { return fmt.Sprintf("randomopaquetoken%08d", i) }
	for i := range 30 {
		_, _ = v.Verify(ctx, tok(i))
	}
	if got := s.calls.Load(); got != 10 {
		t.Fatalf("%d calls for 30 tokens in one instant, want 10 (the burst)", got)
	}
	if _, err := v.Verify(ctx, tok(100)); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("over the rate: %v", err)
	}
	fc.Advance(500 * time.Millisecond)
	for i := 200; i < 210; i++ {
		_, _ = v.Verify(ctx, tok(i))
	}
	if got := s.calls.Load(); got != 15 {
		t.Fatalf("after half a second: %d calls, want 15", got)
	}
}

// TestIntrospectionRetryAfter: a 429 with Retry-After stops every call
// (other tokens too) until that time has passed.
func TestIntrospectionRetryAfter(t *testing.T) {
	s := newOktaIntrospection(t, nil)
	fc := clock.NewFake(testNow)
	v := s.verifier(t, fc, nil)
	ctx := context.Background()
	s.status, s.retryAfter = http.StatusTooManyRequests, "60"
	if _, err := v.Verify(ctx, "randomopaquetoken00000001"); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("429: %v", err)
	}
	s.mu.Lock()
	s.status = 0
	s.mu.Unlock()
	for i := range 20 {
		_, err := v.Verify(ctx, fmt.Sprintf("randomopaquetoken1%07d", i))
		if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "retry in") {
			t.Fatalf("during Retry-After: %v", err)
		}
	}
	if got := s.calls.Load(); got != 1 {
		t.Fatalf("%d calls within Retry-After, want 1", got)
	}
	fc.Advance(59 * time.Second)
	_, _ = v.Verify(ctx, "randomopaquetoken00000002")
	if got := s.calls.Load(); got != 1 {
		t.Fatalf("call at 59s of a 60s Retry-After")
	}
	fc.Advance(2 * time.Second)
	if _, err := v.Verify(ctx, "randomopaquetoken00000002"); !errors.Is(err, ErrInactive) || s.calls.Load() != 2 {
		t.Fatalf("after Retry-After: %v, %d calls", err, s.calls.Load())
	}
}

// TestIntrospectionJunkCostsNothing: JWTs naming the introspection issuer
// whose own claims or signature size cannot pass, and strings that are
// not bearer tokens, are refused without a call.
func TestIntrospectionJunkCostsNothing(t *testing.T) {
	s := newOktaIntrospection(t, nil)
	v := s.verifier(t, clock.NewFake(testNow), nil)
	ctx := context.Background()
	k := keys(t)
	good := baseClaims()
	good["iss"] = s.issuer()
	junk := []string{"has space", "semi;colon", "ünïcode"}
	for i := range 200 {
		c := map[string]any{"iss": s.issuer(), "sub": fmt.Sprint("x", i)}
		switch i % 4 {
		case 0: // no exp
		case 1:
			c["exp"], c["aud"] = testNow.Unix()-7200, testAud // expired
		case 2:
			c["exp"], c["aud"] = testNow.Unix()+600, "api://other" // not our audience
		case 3:
			c["exp"], c["aud"] = testNow.Unix()+600, testAud // good claims, junk signature
		}
		tok := mint(t, RS256, k.rsa, "rsa1", c)
		if i%4 == 3 {
			tok = tok[:strings.LastIndexByte(tok, '.')+1] + enc.EncodeToString([]byte(fmt.Sprint("junk", i)))
		}
		junk = append(junk, tok)
	}
	// An ID token of the issuer, signed or not, is not worth a call.
	id := baseClaims()
	id["iss"], id["nonce"] = s.issuer(), "n"
	delete(id, "cid")
	junk = append(junk, mint(t, RS256, k.rsa, "rsa1", id))
	for _, tok := range junk {
		if _, err := v.Verify(ctx, tok); err == nil {
			t.Fatalf("junk accepted: %.40s", tok)
		}
	}
	if got := s.calls.Load(); got != 0 {
		t.Fatalf("%d introspection calls for %d junk tokens, want 0", got, len(junk))
	}
	// A JWT whose claims pass still goes to the endpoint, which decides.
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "rsa1", good)); !errors.Is(err, ErrInactive) || s.calls.Load() != 1 {
		t.Fatalf("plausible JWT: %v, %d calls", err, s.calls.Load())
	}
}

// TestIntrospectionWithoutExp: RFC 7662 requires only active; an answer
// without exp is valid, and cached no longer than IntrospectTTL.
func TestIntrospectionWithoutExp(t *testing.T) {
	now := testNow.Unix()
	s := newOktaIntrospection(t, nil)
	s.answers = map[string]string{"noexpopaquetoken0001": fmt.Sprintf(`{"active":true,"token_type":"Bearer","client_id":"svc","sub":"svc","aud":%q,"iss":%q,"jti":"AT.1","iat":%d}`, testAud, s.issuer(), now)}
	fc := clock.NewFake(testNow)
	v := s.verifier(t, fc, func(pc *ProviderConfig, _ *Policy) { pc.IntrospectTTL = time.Minute })
	ctx := context.Background()
	p, err := v.Verify(ctx, "noexpopaquetoken0001")
	if err != nil {
		t.Fatalf("exp-less answer refused: %v", err)
	}
	if want := testNow.Add(time.Minute); !p.Expiry.Equal(want) {
		t.Fatalf("Expiry = %v, want the cache horizon %v", p.Expiry, want)
	}
	fc.Advance(59 * time.Second)
	if _, err := v.Verify(ctx, "noexpopaquetoken0001"); err != nil || s.calls.Load() != 1 {
		t.Fatalf("within the TTL: %v, %d calls", err, s.calls.Load())
	}
	fc.Advance(2 * time.Second)
	if _, err := v.Verify(ctx, "noexpopaquetoken0001"); err != nil || s.calls.Load() != 2 {
		t.Fatalf("after the TTL the endpoint is asked again: %v, %d calls", err, s.calls.Load())
	}
}

// TestOktaOpaqueNotIntrospected: Okta's access tokens are JWTs, so an
// introspection provider at Okta takes opaque tokens only when told to.
func TestOktaOpaqueNotIntrospected(t *testing.T) {
	for _, u := range []string{"https://example.okta.com/oauth2/default/v1/introspect", "http://127.0.0.1:1/oauth2/v1/introspect"} {
		pc := Introspection(u, "c", "s")
		if _, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{"a"}}}); err == nil || !strings.Contains(err.Error(), "accept_opaque") {
			t.Errorf("%s: err = %v", u, err)
		}
		pc.AcceptOpaque = true
		if _, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{"a"}}}); err != nil {
			t.Errorf("%s with accept_opaque: %v", u, err)
		}
	}
	// Another server's endpoint takes them as before.
	if _, err := New(Config{Providers: []ProviderConfig{Introspection("https://auth.example/introspect", "c", "s")}, Policy: Policy{Audiences: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
}
