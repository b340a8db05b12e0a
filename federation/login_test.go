package federation_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	demoUser = "demo@example.com"
	demoPass = "Sandbox-Demo-1"
	demoSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	appPath  = "/home/amazon_aws/0oa1demoawsapp0000001/272"
)

// countingTransport counts password sign-ins.
type countingTransport struct{ authn atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/api/v1/authn" {
		c.authn.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

type rig struct {
	srv      *sandbox.Server
	app      *federation.App
	password *federation.Password
	session  *federation.Session
	login    *federation.Login
	sessions *federation.MemorySessions
	counter  *countingTransport
	files    federation.Files
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	dir := t.TempDir()
	files := federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")}
	ct := &countingTransport{}
	hc := &http.Client{Transport: ct, Timeout: 30 * time.Second}
	sessions := federation.NewMemorySessions()
	p := &config.Profile{Name: "default", OrgURL: srv.URL, AppURL: srv.URL + appPath, Username: demoUser, Region: "us-east-1",
		AccountAliases: map[string]string{"123456789012": "prod"}}
	app := &federation.App{Profile: p, Okta: &okta.Client{BaseURL: srv.URL, HTTPClient: hc}, Sessions: sessions}
	pw := &federation.Password{App: app, Password: func(context.Context) (string, error) { return demoPass, nil }, MFA: &okta.MFA{Preferred: "totp", TOTPSeed: secret.New(demoSeed)}}
	session := &federation.Session{App: app, SignIn: pw}
	l := &federation.Login{Profile: p, Source: session, STS: federation.NewSTSClient("us-east-1", srv.URL, hc), Files: files}
	return &rig{srv: srv, app: app, password: pw, session: session, login: l, sessions: sessions, counter: ct, files: files}
}

// refresher is the refresh path for the rig's profiles: stored
// credentials while fresh (within window), else the Okta session alone,
// never a password.
func (r *rig) refresher(window time.Duration) *federation.Cache {
	l := &federation.Login{Profile: r.login.Profile, Source: &federation.Session{App: r.app}, STS: r.login.STS, Files: r.files}
	return &federation.Cache{Files: r.files, Refresh: l.Reassume, Window: window}
}

func TestLoginAllRolesThenAWSCLI(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	out, err := r.login.Run(ctx, "all", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Written) != 3 || len(out.Failed()) != 0 {
		t.Fatalf("written %+v failed %+v", out.Written, out.Failed())
	}
	names := map[string]bool{}
	for _, w := range out.Written {
		names[w.AWSProfile] = true
	}
	for _, want := range []string{"okta-prod-Admin", "okta-prod-ReadOnly", "okta-210987654321-Developer"} {
		if !names[want] {
			t.Errorf("missing profile %s in %v", want, names)
		}
	}
	if out.Duration != time.Hour {
		t.Errorf("duration %v, want the app's SessionDuration 1h", out.Duration)
	}

	awsCLI := testenv.AWSCLI(t)
	cmd := exec.Command(awsCLI, "--endpoint-url", r.srv.URL, "--output", "text", "--query", "Arn", "sts", "get-caller-identity", "--profile", "okta-prod-Admin")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=" + r.files.Config, "AWS_SHARED_CREDENTIALS_FILE=" + r.files.Credentials}
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws: %v\n%s", err, res)
	}
	if !strings.HasPrefix(string(res), "arn:aws:sts::123456789012:assumed-role/Admin/") {
		t.Fatalf("aws printed %s", res)
	}
}

func TestRefreshUsesSessionWithoutPassword(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.login.Run(ctx, "/Admin$/", nil, 0); err != nil {
		t.Fatal(err)
	}
	if n := r.counter.authn.Load(); n != 1 {
		t.Fatalf("%d sign-ins for a login", n)
	}
	cached, err := r.refresher(0).Credentials(ctx, "okta-prod-Admin")
	if err != nil {
		t.Fatal(err)
	}

	// Treat every cached credential as stale: the next call refreshes
	// through the Okta session, with no password at hand.
	stale := r.refresher(24 * time.Hour)
	var wg sync.WaitGroup
	keys := make([]string, 20)
	errs := make([]error, 20)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := stale.Credentials(ctx, "okta-prod-Admin")
			keys[i], errs[i] = c.AccessKeyID, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if keys[i] == cached.AccessKeyID {
			t.Fatalf("caller %d got the stale key", i)
		}
	}
	if n := r.counter.authn.Load(); n != 1 {
		t.Fatalf("refresh signed in again (%d sign-ins)", n)
	}
	data, _ := os.ReadFile(r.files.Credentials)
	if !strings.Contains(string(data), keys[0]) {
		t.Fatal("refreshed credentials not stored back")
	}
}

func TestLoginRequiredWhenSessionEnds(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.login.Run(ctx, "/Admin$/", nil, 0); err != nil {
		t.Fatal(err)
	}
	sid, _, _ := r.sessions.LoadSession(ctx, "default")
	if err := r.app.Okta.CloseSession(ctx, sid); err != nil {
		t.Fatal(err)
	}
	_, err := r.refresher(24*time.Hour).Credentials(ctx, "okta-prod-Admin")
	if !errors.Is(err, federation.ErrLoginRequired) || !strings.Contains(err.Error(), "profile default: an Okta login is needed") {
		t.Fatalf("err = %v", err)
	}
	if sid, _, _ := r.sessions.LoadSession(ctx, "default"); sid != "" {
		t.Fatal("dead session kept")
	}
}

func TestLogoutRemovesProfilesAndSession(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	if err := os.WriteFile(r.files.Credentials, []byte("[mine]\naws_access_key_id = AKIAMINE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.login.Run(ctx, "all", nil, 0); err != nil {
		t.Fatal(err)
	}
	removed, err := federation.Logout(ctx, r.app, nil, r.files)
	if err != nil || len(removed) != 3 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	data, _ := os.ReadFile(r.files.Credentials)
	if string(data) != "[mine]\naws_access_key_id = AKIAMINE\n" {
		t.Fatalf("credentials after logout: %q", data)
	}
	if sid, _, _ := r.sessions.LoadSession(ctx, "default"); sid != "" {
		t.Fatal("session kept after logout")
	}
}

func TestSelectRoles(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	a, err := r.session.Assertion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := federation.SelectRoles(context.Background(), a.Roles, "", nil); err == nil || !strings.Contains(err.Error(), "by /regex/ or all") {
		t.Fatalf("no selector, no chooser: %v", err)
	}
	if _, err := federation.SelectRoles(context.Background(), a.Roles, "/Nope/", nil); err == nil || !strings.Contains(err.Error(), "role/Admin") {
		t.Fatalf("no match: %v", err)
	}
	got, err := federation.SelectRoles(context.Background(), a.Roles, "", func(_ context.Context, roles []federation.Role) ([]federation.Role, error) {
		return roles[:1], nil
	})
	if err != nil || len(got) != 1 {
		t.Fatalf("chooser: %v %v", got, err)
	}
}

func TestSAMLProviderReusesSession(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ct := &countingTransport{}
	sessions := federation.NewMemorySessions()
	p, err := federation.NewSAMLProvider(federation.SAMLConfig{
		Sessions: sessions,
		OrgURL:   srv.URL, AppID: "0oa1demoawsapp0000001", Username: demoUser,
		Password: func(context.Context) (string, error) { return demoPass, nil },
		MFA:      &okta.MFA{Preferred: "totp", TOTPSeed: secret.New(demoSeed)},
		RoleARN:  "arn:aws:iam::123456789012:role/ReadOnly", Region: "us-east-1", STSEndpoint: srv.URL,
		HTTPClient: &http.Client{Transport: ct},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKeyID == b.AccessKeyID || !b.CanExpire {
		t.Fatalf("second retrieve gave %+v", b)
	}
	if n := ct.authn.Load(); n != 1 {
		t.Fatalf("%d Okta sign-ins for two retrieves, want 1", n)
	}
	if _, err := federation.NewSAMLProvider(federation.SAMLConfig{OrgURL: srv.URL}); err == nil {
		t.Fatal("incomplete config accepted")
	}
	// Another provider sharing the session cache signs in no more.
	bad, _ := federation.NewSAMLProvider(federation.SAMLConfig{Sessions: sessions, OrgURL: srv.URL, AppID: "0oa1demoawsapp0000001", Username: demoUser,
		Password: func(context.Context) (string, error) { return demoPass, nil }, MFA: &okta.MFA{Preferred: "totp", TOTPSeed: secret.New(demoSeed)},
		RoleARN: "arn:aws:iam::123456789012:role/Automation", STSEndpoint: srv.URL})
	if _, err := bad.Retrieve(ctx); err == nil || !strings.Contains(err.Error(), "does not grant") {
		t.Fatalf("ungranted role: %v", err)
	}
}

func TestLoginNamesProfilesByAccountAlias(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.login.Profile.AccountAliases = nil
	r.login.Aliases = federation.NewAliasLookup(http.DefaultClient, r.srv.URL)
	out, err := r.login.Run(context.Background(), "all", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, w := range out.Written {
		names[w.AWSProfile] = true
	}
	for _, want := range []string{"okta-demo-prod-Admin", "okta-demo-prod-ReadOnly", "okta-demo-dev-Developer"} {
		if !names[want] {
			t.Errorf("no profile %s in %v", want, names)
		}
	}
	if out.Changes.AccountAliases["123456789012"] != "demo-prod" {
		t.Fatalf("aliases not returned: %v", out.Changes)
	}
	if r.login.Profile.AccountAliases != nil {
		t.Fatalf("the login edited the profile: %v", r.login.Profile.AccountAliases)
	}

	// A lookup that fails (no permission, no network) leaves the id.
	r2 := newRig(t)
	r2.login.Profile.AccountAliases = nil
	r2.login.Aliases = func(context.Context, string, aws.Credentials, string) (string, error) {
		return "", errors.New("AccessDenied")
	}
	out, err = r2.login.Run(context.Background(), "/Admin$/", nil, 0)
	if err != nil || len(out.Written) != 1 || out.Written[0].AWSProfile != "okta-123456789012-Admin" {
		t.Fatalf("written %+v, %v", out.Written, err)
	}
}
