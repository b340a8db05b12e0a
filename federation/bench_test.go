package federation_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/oktafed/oktafed/config"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sandbox/iam"
	"github.com/oktafed/oktafed/sandbox/org"
)

// manyRolesConfig is the demo org with a user who has no second factor and
// n roles in the demo account, so a benchmark measures what grows with the
// number of roles rather than the MFA wait.
func manyRolesConfig(n int) sandbox.Config {
	cfg := sandbox.DefaultConfig()
	cfg.Org.Users = append(cfg.Org.Users, org.UserConfig{Login: "bench@example.com", Password: "Sandbox-Bench-1", Groups: []string{"developers"}})
	app := &cfg.Org.Apps[0]
	app.Roles = nil
	for i := range n {
		arn := fmt.Sprintf("arn:aws:iam::123456789012:role/Bench%02d", i)
		app.Roles = append(app.Roles, org.RoleConfig{RoleARN: arn, ProviderARN: "arn:aws:iam::123456789012:saml-provider/okta", Users: []string{"bench@example.com"}})
		cfg.AWS.Roles = append(cfg.AWS.Roles, iam.RoleConfig{ARN: arn, Trust: iam.TrustConfig{SAMLProviders: []string{"arn:aws:iam::123456789012:saml-provider/okta"}}})
	}
	return cfg
}

func benchLogin(b *testing.B, n int, reuseSession bool) {
	srv := sandbox.Start(b, manyRolesConfig(n))
	dir := b.TempDir()
	hc := federation.NewHTTPClient(30 * time.Second)
	sessions := federation.NewMemorySessions()
	l := &federation.Login{
		Profile:  &config.Profile{Name: "bench", OrgURL: srv.URL, AppURL: srv.URL + appPath, Username: "bench@example.com", Region: "us-east-1"},
		Okta:     &okta.Client{BaseURL: srv.URL, HTTPClient: hc},
		Sessions: sessions,
		Password: func(context.Context) (string, error) { return "Sandbox-Bench-1", nil },
		STS:      federation.NewSTSClient("us-east-1", srv.URL, hc),
		Files:    federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")},
	}
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
