package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sso"
)

// activator is a standard error that confirms the first device code the
// command prints on the sandbox's activation page, as the person at the
// terminal would in a browser.
type activator struct {
	t    *testing.T
	srv  *sandbox.Server
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
}

var userCodeRE = regexp.MustCompile(`user_code=([A-Z-]+)`)

func (a *activator) Write(p []byte) (int, error) {
	a.mu.Lock()
	a.buf.Write(p)
	m := userCodeRE.FindStringSubmatch(a.buf.String())
	a.mu.Unlock()
	if m != nil {
		// Confirmed before the command goes on to poll, so a poll on an
		// auto-advancing clock finds it done.
		a.once.Do(func() {
			if err := a.srv.ActivateDevice(context.Background(), "demo@example.com", "Sandbox-Demo-1", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", m[1], true); err != nil {
				a.t.Errorf("activate: %v", err)
			}
		})
	}
	return len(p), nil
}

func (a *activator) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.String()
}

func runActivating(t *testing.T, e *cliEnv, args ...string) (string, string) {
	t.Helper()
	ios, _, out, _ := Test()
	act := &activator{t: t, srv: e.srv}
	ios.ErrOut = act
	ios.Getenv, ios.Clock = getenvOf(t), clockOf(t)
	if code := Main(context.Background(), ios, args); code != 0 {
		t.Fatalf("oktafed %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, act)
	}
	return out.String(), act.String()
}

func TestSSOLoginWritesWhatAWSToolsRead(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	e.srv = sandbox.StartWithOptions(t, sandbox.DefaultConfig(), sandbox.Options{Clock: clk})
	e.env.clock = clk
	setenv(t, "AWS_ENDPOINT_URL_STS", e.srv.URL)
	setenv(t, "AWS_ENDPOINT_URL_SSO", e.srv.URL)
	setenv(t, "AWS_ENDPOINT_URL_SSO_OIDC", e.srv.URL)
	_, errOut := runActivating(t, e, "sso", "login", "--sso-session", "demo", "--start-url", e.srv.SSOStartURL(), "--region", "us-east-1",
		"--profile", "sso-admin", "--account-id", "123456789012", "--role-name", "AdministratorAccess")
	if !strings.Contains(errOut, "/activate?user_code=") || !strings.Contains(errOut, "Profile sso-admin uses AdministratorAccess") {
		t.Fatalf("stderr:\n%s", errOut)
	}
	cache := filepath.Join(e.home, ".aws", "sso", "cache")
	tok, err := sso.ReadToken(cache, sso.CacheKey("demo"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(errOut, tok.AccessToken.Reveal()) || strings.Contains(errOut, tok.RefreshToken.Reveal()) {
		t.Fatal("a token was printed")
	}
	cfgText, _ := os.ReadFile(e.cfg)
	for _, want := range []string{"[sso-session demo]", "sso_start_url = " + e.srv.SSOStartURL(), "[profile sso-admin]", "sso_session = demo", "sso_account_id = 123456789012", "sso_role_name = AdministratorAccess"} {
		if !strings.Contains(string(cfgText), want) {
			t.Errorf("config lacks %q:\n%s", want, cfgText)
		}
	}

	// The AWS CLI reads the cache oktafed wrote. Version 2.9 does not honour
	// AWS_ENDPOINT_URL_SSO (service endpoints came in 2.13), so it cannot
	// reach the sandbox portal; a CLI that does must get the role.
	awsCLI := testenv.AWSCLI(t)
	cmd := exec.Command(awsCLI, "--endpoint-url", e.srv.URL, "--output", "text", "--query", "Arn", "sts", "get-caller-identity", "--profile", "sso-admin")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + e.home, "AWS_CONFIG_FILE=" + e.cfg, "AWS_SHARED_CREDENTIALS_FILE=" + e.creds,
		"AWS_ENDPOINT_URL_SSO=" + e.srv.URL, "AWS_ENDPOINT_URL_SSO_OIDC=" + e.srv.URL}
	res, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		if !strings.Contains(string(res), "AWSReservedSSO_AdministratorAccess_") {
			t.Errorf("aws printed %s", res)
		}
	case strings.Contains(string(res), "portal.sso.us-east-1.amazonaws.com") || strings.Contains(string(res), "Could not connect"):
		t.Logf("this AWS CLI ignores AWS_ENDPOINT_URL_SSO and calls the real portal: %s", strings.TrimSpace(string(res)))
	default:
		t.Errorf("aws: %v\n%s", err, res)
	}

	mustRun(t, "sso", "logout", "--profile", "sso-admin")
	if _, err := sso.ReadToken(cache, sso.CacheKey("demo")); !os.IsNotExist(err) {
		t.Errorf("token still cached after logout: %v", err)
	}
}

func TestLoginDeviceFlow(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	// The sandbox and the command share a clock that moves whenever the
	// command waits between polls: the sign-in takes no real time.
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	e.srv = sandbox.StartWithOptions(t, sandbox.DefaultConfig(), sandbox.Options{Clock: clk})
	e.env.clock = clk
	setenv(t, "AWS_ENDPOINT_URL_STS", e.srv.URL)
	mustRun(t, "init", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com")
	path, err := config.Path(getenvOf(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.Profile("default")
	p.OIDCClientID = ""
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "login", "--device", "--role", "all"); code == 0 || !strings.Contains(errOut, "oidc_client_id") {
		t.Fatalf("without a client id: exit %d, %s", code, errOut)
	}
	p.OIDCClientID = "0oa1demodevice000001"
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	setenv(t, "OKTA_PASSWORD", "") // the device flow must not need it
	out, errOut := runActivating(t, e, "login", "--device", "--role", "all")
	if strings.Count(out, "✓") != 3 || !strings.Contains(errOut, "confirm the code") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	// The Okta session from /login/token/sso serves credential refreshes
	// without a browser or password.
	mustRun(t, "login", "--role", "all", "--device")

	// Logout forgets the session and the OIDC refresh token, so the next
	// device login needs the browser again.
	secrets, err := openSecrets(&IOStreams{Getenv: getenvOf(t)})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := secrets.Get(context.Background(), "default", secretTokens); v == "" {
		t.Fatal("no refresh token saved by the device login")
	}
	mustRun(t, "logout")
	if v, _ := secrets.Get(context.Background(), "default", secretTokens); v != "" {
		t.Fatal("logout left the OIDC refresh token in the keyring")
	}
}

func TestRenderQR(t *testing.T) {
	qr, err := renderQR("http://127.0.0.1:1/activate?user_code=BCDF-GHJK")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(qr, "\n"), "\n")
	width := len([]rune(lines[0]))
	// Two module rows per line: the code is about twice as wide as tall.
	if width < 25 || len(lines) < width/2 || len(lines) > width/2+1 {
		t.Fatalf("%d lines of %d columns", len(lines), width)
	}
	for _, l := range lines {
		if len([]rune(l)) != width || strings.Trim(l, " █▀▄") != "" {
			t.Fatalf("odd line %q", l)
		}
	}
}
