package secrets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sandbox/sandboxtest"
	"github.com/oktafed/oktafed/secrets"
)

const demoPassword = "demo-orders-password-not-secret"

// loggedIn starts a sandbox, logs the demo user in as Admin with oktafed,
// and returns an aws.Config for that profile from awsauth.
func loggedIn(t *testing.T) (aws.Config, *sandboxtest.Env) {
	t.Helper()
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	env, err := sandboxtest.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	for k, v := range env.Environ() {
		t.Setenv(k, v)
	}
	if _, err := env.Login(context.Background(), "/Admin$/"); err != nil {
		t.Fatal(err)
	}
	cfg, err := awsauth.LoadConfig(context.Background(), awsauth.WithProfile("okta-prod-Admin"), awsauth.WithSessions(env.Sessions))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, env
}

// counting counts GetSecretValue calls that reach AWS.
type counting struct {
	secrets.API
	n atomic.Int32
}

func (c *counting) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.n.Add(1)
	return c.API.GetSecretValue(ctx, in, opts...)
}

func TestReaderAgainstTheSandbox(t *testing.T) {
	cfg, _ := loggedIn(t)
	r := secrets.New(cfg)
	ctx := context.Background()
	tests := []struct {
		name, secret, field string
		want                string
		wantErr             error
	}{
		{"field", "demo/orders-db", "password", demoPassword, nil},
		{"number field", "demo/orders-db", "port", "5432", nil},
		{"missing field", "demo/orders-db", "pasword", "", secrets.ErrNoField},
		{"missing secret", "demo/nope", "x", "", secrets.ErrNotFound},
		{"not a reader", "demo/automation-api-key", "x", "", secrets.ErrAccessDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Field(ctx, tc.secret, tc.field)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("Field = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), demoPassword) {
				t.Fatalf("error reveals the value: %v", err)
			}
		})
	}
	var login struct {
		Username string `json:"username"`
		Port     int    `json:"port"`
	}
	if err := r.Decode(ctx, "demo/orders-db", &login); err != nil || login.Username != "orders_app" || login.Port != 5432 {
		t.Fatalf("Decode = %+v, %v", login, err)
	}
}

func TestCacheTTLAndSingleflight(t *testing.T) {
	cfg, _ := loggedIn(t)
	api := &counting{API: secretsmanager.NewFromConfig(cfg)}
	clk := clock.NewFake(time.Now())
	r := secrets.NewWithAPI(api, secrets.WithTTL(time.Minute), secrets.WithClock(clk))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Get(ctx, "demo/orders-db")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name  string
		do    func()
		calls int32
	}{
		{"20 concurrent callers share one read", func() {}, 1},
		{"within the TTL", func() { clk.Advance(59 * time.Second) }, 1},
		{"after the TTL", func() { clk.Advance(2 * time.Second) }, 2},
		{"after Invalidate", func() { r.Invalidate("demo/orders-db") }, 3},
	}
	for _, s := range steps {
		s.do()
		if _, err := r.Get(ctx, "demo/orders-db"); err != nil {
			t.Fatal(err)
		}
		if n := api.n.Load(); n != s.calls {
			t.Fatalf("%s: %d calls, want %d", s.name, n, s.calls)
		}
	}
}

func TestValuesNeverPrint(t *testing.T) {
	cfg, _ := loggedIn(t)
	s, err := secrets.New(cfg).Get(context.Background(), "demo/orders-db")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Reveal(), demoPassword) {
		t.Fatal("Reveal lost the value")
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("read", "secret", s)
	j, _ := json.Marshal(s)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%+v": fmt.Sprintf("%+v", s), "%#v": fmt.Sprintf("%#v", s),
		"%q": fmt.Sprintf("%q", s), "slog": logged.String(), "json": string(j), "in a struct": fmt.Sprintf("%+v", struct{ S secrets.Secret }{s}),
	}
	for how, out := range outputs {
		if strings.Contains(out, demoPassword) || strings.Contains(out, "orders_app") {
			t.Errorf("%s shows the value: %s", how, out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("%s does not say it hid the value: %s", how, out)
		}
	}
}

func TestPackageLevelReaderUsesAWSProfile(t *testing.T) {
	_, env := loggedIn(t)
	_ = env
	t.Setenv("AWS_PROFILE", "okta-prod-Admin")
	got, err := secrets.Field(context.Background(), "demo/orders-db", "username")
	if err != nil || got != "orders_app" {
		t.Fatalf("Field = %q, %v", got, err)
	}
}

// TestPackageLevelReaderFollowsProfileResolution: the package-level
// functions take awsauth's options, resolve the profile as
// awsauth.LoadConfig does (OKTAFED_PROFILE included), and after a logout
// say that a login is required instead of asking instance metadata.
func TestPackageLevelReaderFollowsProfileResolution(t *testing.T) {
	_, env := loggedIn(t)
	var imds atomic.Int32
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		imds.Add(1)
		http.NotFound(w, r)
	}))
	defer meta.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", meta.URL)
	ctx := context.Background()
	sessions := awsauth.WithSessions(env.Sessions)

	// WithProfile wins over an AWS_PROFILE that names nothing.
	t.Setenv("AWS_PROFILE", "no-such-profile")
	got, err := secrets.Field(ctx, "demo/orders-db", "username", awsauth.WithProfile("okta-prod-Admin"), sessions)
	if err != nil || got != "orders_app" {
		t.Fatalf("WithProfile: %q, %v", got, err)
	}

	// After logout, OKTAFED_PROFILE alone: a login is required.
	if _, err := federation.RemoveProfiles(env.Files, sandboxtest.Profile); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("OKTAFED_PROFILE", sandboxtest.Profile)
	_, err = secrets.Get(ctx, "demo/orders-db", sessions)
	if !errors.Is(err, awsauth.ErrLoginRequired) || !strings.Contains(err.Error(), "profile "+sandboxtest.Profile+": an Okta login is needed") {
		t.Fatalf("after logout: %v, want ErrLoginRequired naming the login", err)
	}
	if n := imds.Load(); n != 0 {
		t.Fatalf("instance metadata asked %d times", n)
	}
}
