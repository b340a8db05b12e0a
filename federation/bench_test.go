package federation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// manyRolesConfig is the demo org with a user who has no second factor and
// n roles in the demo account, so a benchmark measures what grows with the
// number of roles rather than the MFA wait.
func manyRolesConfig(n int) sandbox.Config {
	cfg := sandbox.DefaultConfig()
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{Login: "bench@example.com", Password: "Sandbox-Bench-1", Groups: []string{"developers"}})
	app := &cfg.Org.Apps[0]
	app.Roles = nil
	for i := range n {
		arn := fmt.Sprintf("arn:aws:iam::123456789012:role/Bench%02d", i)
		app.Roles = append(app.Roles, sandbox.OrgRoleConfig{RoleARN: arn, ProviderARN: "arn:aws:iam::123456789012:saml-provider/okta", Users: []string{"bench@example.com"}})
		cfg.AWS.Roles = append(cfg.AWS.Roles, sandbox.AWSRoleConfig{ARN: arn, Trust: sandbox.AWSTrustConfig{SAMLProviders: []string{"arn:aws:iam::123456789012:saml-provider/okta"}}})
	}
	return cfg
}

func benchLogin(b *testing.B, n int, reuseSession bool) {
	benchLoginWith(b, manyRolesConfig(n), n, reuseSession)
}

// newBenchLogin is a password login of bench@example.com to srv.
func newBenchLogin(tb testing.TB, srv *sandbox.Server) (*federation.Login, *federation.MemorySessions) {
	dir := tb.TempDir()
	hc := federation.NewHTTPClient(30 * time.Second)
	sessions := federation.NewMemorySessions()
	app := &federation.App{
		Profile:  &config.Profile{Name: "bench", OrgURL: srv.URL, AppURL: srv.URL + appPath, Username: "bench@example.com", Region: "us-east-1"},
		Okta:     &okta.Client{BaseURL: srv.URL, HTTPClient: hc},
		Sessions: sessions,
	}
	return &federation.Login{
		Profile: app.Profile,
		Source:  &federation.Session{App: app, SignIn: &federation.Password{App: app, Password: func(context.Context) (string, error) { return "Sandbox-Bench-1", nil }}},
		STS:     federation.NewSTSClient("us-east-1", srv.URL, hc),
		Files:   federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")},
	}, sessions
}

func benchLoginWith(b *testing.B, cfg sandbox.Config, n int, reuseSession bool) {
	srv := sandbox.Start(b, cfg)
	l, sessions := newBenchLogin(b, srv)
	ctx := context.Background()
	if _, err := l.Run(ctx, "all", nil, 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if !reuseSession {
			_ = sessions.DeleteSession(ctx, "bench")
		}
		out, err := l.Run(ctx, "all", nil, 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Written) != n {
			b.Fatalf("wrote %d profiles, want %d", len(out.Written), n)
		}
	}
}

// BenchmarkLogin compares a login for 1 role with one for 20 roles; the
// goal is at most 1.5× (roles are assumed in parallel and written in one
// locked edit).
func BenchmarkLogin(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("password/roles=%d", n), func(b *testing.B) { benchLogin(b, n, false) })
		b.Run(fmt.Sprintf("session/roles=%d", n), func(b *testing.B) { benchLogin(b, n, true) })
	}
}

// withLatency is manyRolesConfig with the sandbox simulating a network of
// the given latency to Okta and to AWS.
func withLatency(cfg sandbox.Config, d time.Duration) sandbox.Config {
	cfg.Latency = sandbox.LatencyConfig{Okta: d, AWS: d}
	return cfg
}

// BenchmarkLoginLatency is BenchmarkLogin over a simulated 50 ms network
// to Okta and to STS, where the round trips rather than the CPU decide:
// the goal is a login for 20 roles within 1.3× one for 1 role, as the
// roles are assumed in parallel; the roles=20vs1 sub-benchmark reports it as
// x-of-one. Run with -benchtime 10x: each login takes a few hundred
// milliseconds of waiting. (TestLoginAssumesTwentyRolesAtOnce checks, on
// any machine, the overlap that makes the goal reachable.)
func BenchmarkLoginLatency(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("password/roles=%d", n), func(b *testing.B) {
			benchLoginWith(b, withLatency(manyRolesConfig(n), 50*time.Millisecond), n, false)
		})
	}
	b.Run("password/roles=20vs1", func(b *testing.B) {
		ctx := context.Background()
		login := func(n int) func() time.Duration {
			l, sessions := newBenchLogin(b, sandbox.Start(b, withLatency(manyRolesConfig(n), 50*time.Millisecond)))
			return func() time.Duration {
				_ = sessions.DeleteSession(ctx, "bench")
				start := time.Now()
				if out, err := l.Run(ctx, "all", nil, 0); err != nil || len(out.Written) != n {
					b.Fatalf("login for %d roles: %v", n, err)
				}
				return time.Since(start)
			}
		}
		one, twenty := login(1), login(20)
		one()
		twenty()
		var sumOne, sumTwenty time.Duration
		b.ResetTimer()
		for b.Loop() {
			sumOne += one()
			sumTwenty += twenty()
		}
		b.ReportMetric(float64(sumTwenty)/float64(sumOne), "x-of-one")
	})
}

// TestLoginAssumesTwentyRolesAtOnce holds what makes BenchmarkLoginLatency's
// goal reachable, independently of the machine's speed or load: a login
// for 20 roles has all 20 AssumeRoleWithSAML calls in flight at once. The
// STS endpoint holds each call until all 20 have arrived; a login that
// assumed the roles one after another (or fewer at a time) would leave
// them waiting until the test gives up.
func TestLoginAssumesTwentyRolesAtOnce(t *testing.T) {
	t.Parallel()
	const n = 20
	srv := sandbox.Start(t, manyRolesConfig(n))
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		inFlight int
		most     int
		calls    int
		all      = make(chan struct{})
		release  sync.Once
	)
	giveUp := time.AfterFunc(time.Minute, func() { release.Do(func() { close(all) }) })
	defer giveUp.Stop()
	proxy := httputil.NewSingleHostReverseProxy(target)
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		inFlight++
		most = max(most, inFlight)
		if inFlight == n {
			release.Do(func() { close(all) })
		}
		mu.Unlock()
		<-all
		proxy.ServeHTTP(w, r)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer sts.Close()

	l, _ := newBenchLogin(t, srv)
	l.STS = federation.NewSTSClient("us-east-1", sts.URL, federation.NewHTTPClient(30*time.Second))
	out, err := l.Run(t.Context(), "all", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Written) != n {
		t.Fatalf("wrote %d profiles, want %d", len(out.Written), n)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != n || calls != n {
		t.Errorf("%d STS calls, at most %d in flight at once; want all %d at once", calls, most, n)
	}
}
