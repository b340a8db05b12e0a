package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// keyServer is a JWKS endpoint that can be healthy, failing (503) or
// hanging (holding every request until released or closed).
type keyServer struct {
	*httptest.Server
	mu    sync.Mutex
	body  string
	mode  string // "ok", "fail", "hang"
	gate  chan struct{}
	hits  atomic.Int64
	stuck atomic.Int64 // requests held right now
}

func newKeyServer(t *testing.T, body string) *keyServer {
	s := &keyServer{body: body, mode: "ok", gate: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		mode, body, gate := s.mode, s.body, s.gate
		s.mu.Unlock()
		switch mode {
		case "fail":
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		case "hang":
			s.stuck.Add(1)
			select {
			case <-gate:
			case <-r.Context().Done():
			}
			s.stuck.Add(-1)
			// Released: answer as the server is now.
			s.mu.Lock()
			mode, body = s.mode, s.body
			s.mu.Unlock()
			if mode != "ok" || r.Context().Err() != nil {
				http.Error(w, "released", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(func() {
		s.set("ok", "")
		s.Close()
	})
	return s
}

// set changes the mode (and the body, unless empty). Leaving "hang"
// releases the held requests.
func (s *keyServer) set(mode, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode == "hang" && mode != "hang" {
		close(s.gate)
		s.gate = make(chan struct{})
	}
	s.mode = mode
	if body != "" {
		s.body = body
	}
}

func keyVerifier(t *testing.T, srv *keyServer, fc clock.Clock, kc KeyCache) *Verifier {
	t.Helper()
	pc := Okta("ignored.okta.com", "default")
	pc.BaseURL = srv.URL
	v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{testAud}},
		Clock: fc, KeyCache: kc, TokenCache: TokenCache{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKeyWaitDefaults(t *testing.T) {
	kc := KeyCache{}.withDefaults()
	if kc.UnknownKeyWait != 2*time.Second || kc.ColdFetchTimeout != DefaultFetchTimeout {
		t.Fatalf("defaults: unknown-kid wait %v, cold fetch timeout %v", kc.UnknownKeyWait, kc.ColdFetchTimeout)
	}
	if kc := (KeyCache{FetchTimeout: 3 * time.Second}).withDefaults(); kc.ColdFetchTimeout != 3*time.Second {
		t.Fatalf("cold fetch timeout follows FetchTimeout: %v", kc.ColdFetchTimeout)
	}
}

// TestUnknownKidWaitIsBounded hangs the key server during a refetch: a
// token with an unknown kid is answered after UnknownKeyWait, not after
// the fetch timeout, and tokens whose key is held never wait.
func TestUnknownKidWaitIsBounded(t *testing.T) {
	k := keys(t)
	srv := newKeyServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	fc := clock.NewFake(testNow)
	const wait = 150 * time.Millisecond
	v := keyVerifier(t, srv, fc, KeyCache{UnknownKeyWait: wait, FetchTimeout: time.Minute, RefetchFloor: time.Minute})
	ctx := context.Background()
	if err := v.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	srv.set("hang", "")
	fc.Advance(2 * time.Minute) // past the floor, before the refresh
	claims := oktaClaims(srv.URL)
	claims["exp"] = fc.Now().Unix() + 3600

	start := time.Now()
	_, err := v.Verify(ctx, mint(t, RS256, k.rsa2, "k-new", claims))
	took := time.Since(start)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid during a hanging fetch: err = %v", err)
	}
	if took < wait || took > wait+2*time.Second {
		t.Fatalf("unknown kid waited %v, want about %v", took, wait)
	}
	if srv.stuck.Load() != 1 {
		t.Fatalf("%d fetches held, want the one refetch", srv.stuck.Load())
	}
	// The fetch still hangs; held keys serve at once, and more unknown
	// kids wait no longer than the bound and start no second fetch.
	// The fastest of 20 is compared: one call may be descheduled on a
	// loaded machine, not all of them, while a wait would slow every one.
	fastest := time.Duration(1 << 62)
	for range 20 {
		start := time.Now()
		if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "k1", claims)); err != nil {
			t.Fatalf("held key during a hanging fetch: %v", err)
		}
		fastest = min(fastest, time.Since(start))
	}
	if fastest >= wait {
		t.Fatalf("every token with a held key waited, the fastest %v", fastest)
	}
	start = time.Now()
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa2, "k-other", claims)); !errors.Is(err, ErrUnknownKey) || time.Since(start) > wait+2*time.Second {
		t.Fatalf("second unknown kid: %v after %v", err, time.Since(start))
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (warm-up and one refetch)", n)
	}
	if err := v.KeysReady(); err != nil {
		t.Fatalf("held keys are ready: %v", err)
	}
}

// TestColdFetchTimeout: with no keys held and the key server hanging, a
// request waits ColdFetchTimeout, and the fetch it started fills the
// cache for later requests once the server answers.
func TestColdFetchTimeout(t *testing.T) {
	k := keys(t)
	srv := newKeyServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	srv.set("hang", "")
	fc := clock.NewFake(testNow)
	const cold = 150 * time.Millisecond
	v := keyVerifier(t, srv, fc, KeyCache{ColdFetchTimeout: cold, FetchTimeout: time.Minute})
	tok := mint(t, RS256, k.rsa, "k1", oktaClaims(srv.URL))
	start := time.Now()
	_, err := v.Verify(context.Background(), tok)
	if took := time.Since(start); took < cold || took > cold+2*time.Second {
		t.Fatalf("cold request waited %v, want about %v", took, cold)
	}
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("err = %v", err)
	}
	if st, _ := Challenge(err, ""); st != http.StatusServiceUnavailable {
		t.Fatalf("status %d", st)
	}
	if v.KeysReady() == nil {
		t.Fatal("ready with no keys")
	}
	// The server comes back and answers the held request: that fetch
	// fills the cache, and the next request needs no fetch of its own.
	srv.set("ok", "")
	waitIdle(t, remoteOf(v))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the server came back: %v", err)
	}
	if err := v.KeysReady(); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want the one the cold request started", n)
	}
}

// TestOutageKeepsHeldKeysAndRecoversWithinFloor takes the key server
// down (failing, then hanging) for half an hour of fake time: tokens
// whose keys are held keep passing, fetches stay at one per floor, and
// once the server is back (with a rotated set) the keys are replaced
// within one floor.
func TestOutageKeepsHeldKeysAndRecoversWithinFloor(t *testing.T) {
	for _, mode := range []string{"fail", "hang"} {
		t.Run(mode, func(t *testing.T) {
			k := keys(t)
			srv := newKeyServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
			fc := clock.NewFake(testNow)
			const floor = time.Minute
			v := keyVerifier(t, srv, fc, KeyCache{RefetchFloor: floor, MinRefresh: 5 * time.Minute, DefaultRefresh: 5 * time.Minute,
				MaxStale: 24 * time.Hour, FetchTimeout: time.Minute, UnknownKeyWait: 50 * time.Millisecond})
			ctx := context.Background()
			if err := v.Warm(ctx); err != nil {
				t.Fatal(err)
			}
			tokAt := func(kid string) string {
				c := oktaClaims(srv.URL)
				c["iat"], c["exp"] = fc.Now().Unix(), fc.Now().Unix()+3600
				key := k.rsa
				if kid == "k2" {
					key = k.rsa2
				}
				return mint(t, RS256, key, kid, c)
			}
			srv.set(mode, "")
			const step = 20 * time.Second
			for i := range 90 { // 30 minutes, past several refresh times
				fc.Advance(step)
				start := time.Now()
				if _, err := v.Verify(ctx, tokAt("k1")); err != nil {
					t.Fatalf("minute %v of the outage: held key refused: %v", time.Duration(i+1)*step, err)
				}
				// Waiting on the hanging fetch would take its minute.
				if d := time.Since(start); d > 30*time.Second {
					t.Fatalf("a token with a held key waited %v", d)
				}
				if err := v.KeysReady(); err != nil {
					t.Fatalf("not ready during the outage although keys are held: %v", err)
				}
				if mode == "fail" {
					waitIdle(t, remoteOf(v))
				}
			}
			// At most one fetch per floor: 30 minutes, 30 floors.
			if n := srv.hits.Load(); n > 1+30+1 {
				t.Fatalf("%d fetches during a 30-minute outage with a 1-minute floor", n)
			}
			// The server comes back with a rotated set.
			// (A hanging fetch is answered now, as a slow server would.)
			old := remoteOf(v).cur.Load()
			back := fc.Now()
			srv.set("ok", jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256), jwk(&k.rsa2.PublicKey, "k2", RS256)))
			waitIdle(t, remoteOf(v))
			recovered := time.Duration(-1)
			for fc.Now().Sub(back) <= floor+step {
				if s := remoteOf(v).cur.Load(); s != old {
					recovered = s.fetchedAt.Sub(back)
					break
				}
				fc.Advance(step)
				if _, err := v.Verify(ctx, tokAt("k1")); err != nil {
					t.Fatal(err)
				}
				waitIdle(t, remoteOf(v))
			}
			if recovered < 0 || recovered > floor+step {
				t.Fatalf("keys not refreshed within the floor after the server came back (recovered after %v)", recovered)
			}
			if _, err := v.Verify(ctx, tokAt("k2")); err != nil {
				t.Fatalf("rotated key after recovery: %v", err)
			}
		})
	}
}

// TestBackgroundRefreshRetriesEveryFloor runs RefreshInBackground on the
// real clock with a short floor: during an outage with no keys the loop
// retries once per floor, never faster, with no growing backoff, and
// readiness returns soon after the server comes back. It waits for
// conditions, so a loaded machine slows it down but does not fail it:
// twelve retries take half a second at one per floor and minutes with a
// doubling backoff, and a slow machine only spaces them further apart.
func TestBackgroundRefreshRetriesEveryFloor(t *testing.T) {
	k := keys(t)
	srv := newKeyServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	srv.set("fail", "")
	const floor = 40 * time.Millisecond
	v := keyVerifier(t, srv, nil, KeyCache{RefetchFloor: floor, FetchTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	done := v.RefreshInBackground(ctx)
	defer func() {
		cancel()
		<-done
	}()
	for srv.hits.Load() < 12 {
		if time.Since(start) > time.Minute {
			t.Fatalf("%d fetches in a minute with a %v floor; want one per floor", srv.hits.Load(), floor)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Timers never fire early: at most one fetch per floor, plus the first.
	if n, most := srv.hits.Load(), int64(time.Since(start)/floor)+1; n > most {
		t.Fatalf("%d fetches in %v with a %v floor; want at most %d", n, time.Since(start), floor, most)
	}
	if v.KeysReady() == nil {
		t.Fatal("ready without keys")
	}
	srv.set("ok", "")
	back := time.Now()
	for v.KeysReady() != nil {
		if time.Since(back) > 30*time.Second {
			t.Fatalf("keys not loaded %v after the server came back", time.Since(back))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("ready %v after the server came back (floor %v)", time.Since(back), floor)
}

// TestUnknownKidAfterOutage: the issuer fails, then comes back with a
// rotated key. A token signed with the new key is fetched for a tenth of
// the floor after the last failed attempt, not a whole floor after it;
// before that, tokens with unknown kids cost the issuer nothing.
func TestUnknownKidAfterOutage(t *testing.T) {
	k := keys(t)
	srv := newKeyServer(t, jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256)))
	fc := clock.NewFake(testNow)
	const floor = time.Minute
	v := keyVerifier(t, srv, fc, KeyCache{RefetchFloor: floor, MinRefresh: 5 * time.Minute, DefaultRefresh: 5 * time.Minute,
		FetchTimeout: time.Minute, UnknownKeyWait: time.Minute})
	ctx := context.Background()
	if err := v.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	tok := func(kid string) string {
		c := oktaClaims(srv.URL)
		c["iat"], c["exp"] = fc.Now().Unix(), fc.Now().Unix()+3600
		key := k.rsa
		if kid == "k2" {
			key = k.rsa2
		}
		return mint(t, RS256, key, kid, c)
	}
	// The outage: the refresh due after 5 minutes fails.
	srv.set("fail", "")
	fc.Advance(6 * time.Minute)
	if _, err := v.Verify(ctx, tok("k1")); err != nil {
		t.Fatalf("held key during the outage: %v", err)
	}
	waitIdle(t, remoteOf(v))
	hits := srv.hits.Load()
	// The issuer is back, with a rotated set.
	srv.set("ok", jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256), jwk(&k.rsa2.PublicKey, "k2", RS256)))
	fc.Advance(floor/10 - time.Second)
	for range 20 {
		if _, err := v.Verify(ctx, tok("k2")); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("before a tenth of the floor: %v", err)
		}
	}
	if n := srv.hits.Load(); n != hits {
		t.Fatalf("%d fetches for unknown kids within a tenth of the floor after a failure, want 0", n-hits)
	}
	fc.Advance(2 * time.Second)
	if _, err := v.Verify(ctx, tok("k2")); err != nil {
		t.Fatalf("new key %v after the last failed attempt (floor %v): %v", floor/10+time.Second, floor, err)
	}
	// Once a fetch has succeeded, the whole floor applies again.
	hits = srv.hits.Load()
	fc.Advance(floor / 2)
	if _, err := v.Verify(ctx, tok("k3")); !errors.Is(err, ErrUnknownKey) || srv.hits.Load() != hits {
		t.Fatalf("unknown kid within the floor after a success: %v, %d fetches", err, srv.hits.Load()-hits)
	}
}
