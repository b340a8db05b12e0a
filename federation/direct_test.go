package federation_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

const directClient = "0oa1demodirect000001"

// directRig is a login of profile p through Okta Direct Authentication
// against the demo sandbox (Identity Engine), with a rejecting-push user.
// directLogin is a login whose sign-in is Okta Direct Authentication,
// behind the saved Okta session.
type directLogin struct {
	login   *federation.Login
	session *federation.Session
	direct  *federation.Direct
}

func directRig(t *testing.T, user, pass string, mfa *okta.MFA) (*directLogin, *federation.MemorySessions, federation.Files) {
	t.Helper()
	cfg := sandbox.DefaultConfig()
	cfg.Org.Pipeline = "idx"
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{
		Login: "no@example.com", Password: "Sandbox-No-1", Groups: []string{"aws-admins"},
		Factors: []sandbox.OrgFactorConfig{{Type: "push", Push: sandbox.OrgPushConfig{Result: "reject", Delay: time.Second}}},
	})
	// The sandbox and the client share a clock that moves forward
	// whenever the client waits (the 5 s poll interval, the phone's
	// delay), so a push costs no wall-clock time.
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	srv := sandbox.StartWithOptions(t, cfg, sandbox.Options{Clock: clk})
	dir := t.TempDir()
	files := federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")}
	hc := &http.Client{Timeout: 30 * time.Second}
	sessions := federation.NewMemorySessions()
	p := &config.Profile{Name: "default", OrgURL: srv.URL, AppURL: srv.URL + appPath, Username: user, Region: "us-east-1", OIDCClientID: directClient, SignIn: "direct"}
	app := &federation.App{Profile: p, Okta: &okta.Client{BaseURL: srv.URL, HTTPClient: hc, Clock: clk}, Sessions: sessions, Clock: clk}
	direct := &federation.Direct{App: app, Password: func(context.Context) (string, error) { return pass, nil }, MFA: mfa}
	session := &federation.Session{App: app, SignIn: direct}
	l := &federation.Login{Profile: p, Source: session, STS: federation.NewSTSClient("us-east-1", srv.URL, hc), Files: files}
	return &directLogin{login: l, session: session, direct: direct}, sessions, files
}

func TestDirectLoginWithPushThenSilentRefresh(t *testing.T) {
	t.Parallel()
	number := 0
	waited := false
	mfa := &okta.MFA{Preferred: "push", PushNumber: func(n int) { number = n }, Waiting: func(okta.Factor) { waited = true }}
	dl, sessions, _ := directRig(t, demoUser, demoPass, mfa)
	ctx := context.Background()
	out, err := dl.login.Run(ctx, "all", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Written) != 3 {
		t.Fatalf("written %+v", out.Written)
	}
	if !waited || number < 10 || number > 99 {
		t.Fatalf("push: waited %v, number challenge %d", waited, number)
	}
	sid, _, _ := sessions.LoadSession(ctx, "default")
	if sid == "" {
		t.Fatal("no Okta session saved")
	}
	// A refresh needs neither the password nor the phone.
	dl.direct.Password, dl.direct.MFA = nil, nil
	if _, err := dl.session.Assertion(ctx); err != nil {
		t.Fatalf("silent refresh: %v", err)
	}
}

func TestDirectLoginWithOTP(t *testing.T) {
	t.Parallel()
	dl, _, _ := directRig(t, demoUser, demoPass, &okta.MFA{Preferred: "totp", TOTPSeed: secret.New(demoSeed)})
	out, err := dl.login.Run(context.Background(), "/Admin$/", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Written) != 1 {
		t.Fatalf("written %+v", out.Written)
	}
}

func TestDirectLoginFailuresChangeNothing(t *testing.T) {
	t.Parallel()
	attempts := 0
	wrongCode := &okta.MFA{Preferred: "totp", Code: func(context.Context, okta.CodePrompt) (string, error) { attempts++; return "000000", nil }}
	for _, tc := range []struct {
		name, user, pass string
		mfa              *okta.MFA
		want             error
	}{
		{"wrong password", demoUser, "nope", &okta.MFA{Preferred: "push"}, okta.ErrInvalidCredentials},
		{"rejected push", "no@example.com", "Sandbox-No-1", &okta.MFA{Preferred: "push"}, okta.ErrPushRejected},
		{"wrong code", demoUser, demoPass, wrongCode, okta.ErrInvalidCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl, sessions, files := directRig(t, tc.user, tc.pass, tc.mfa)
			_, err := dl.login.Run(context.Background(), "all", nil, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if sid, _, _ := sessions.LoadSession(context.Background(), "default"); sid != "" {
				t.Error("a session was saved")
			}
			if _, err := os.Stat(files.Credentials); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("credentials written (%v)", err)
			}
		})
	}
	if attempts != 3 {
		t.Fatalf("a typed code was asked %d times, want 3", attempts)
	}
}

func TestDirectLoginClientWithoutGrants(t *testing.T) {
	t.Parallel()
	dl, _, _ := directRig(t, demoUser, demoPass, &okta.MFA{Preferred: "push"})
	dl.login.Profile.OIDCClientID = "0oa1demodevice000001" // device flow only
	_, err := dl.login.Run(context.Background(), "all", nil, 0)
	if err == nil || !strings.Contains(err.Error(), "Direct Authentication") {
		t.Fatalf("err = %v, want a hint to enable Direct Authentication", err)
	}
}
