package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/creack/pty"

	"github.com/oktafed/oktafed/federation/browser"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	keyUser    = "key-user@example.com"
	keyPass    = "Sandbox-Key-1"
	keyAppPath = "/home/amazon_aws/0oa1demoawsapp0000001/272"
)

// setupKeyCLI is setupCLI for a user whose only factor is a security key
// (user verification required), on a sandbox reached as localhost, with
// no password or TOTP seed in the environment: the person types the
// password in the browser. It registers the key and returns a copy.
func setupKeyCLI(t *testing.T) (*cliEnv, *cdpwebauthn.Credential) {
	t.Helper()
	e := setupKeyEnv(t)
	return e, testenv.RegisterSecurityKey(t, e.srv.URL+keyAppPath, keyUser, keyPass)
}

// setupKeyEnv is setupKeyCLI without registering the key.
func setupKeyEnv(t *testing.T) *cliEnv {
	t.Helper()
	testenv.Chromium(t)
	cfg := sandbox.DefaultConfig()
	cfg.Host = "localhost"
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{
		Login: keyUser, Password: keyPass, Groups: []string{"aws-admins", "developers"},
		Factors: []sandbox.OrgFactorConfig{{Type: "webauthn", UserVerification: "required"}},
	})
	srv := sandbox.Start(t, cfg)
	home := t.TempDir()
	e := &cliEnv{srv: srv, home: home, creds: filepath.Join(home, ".aws", "credentials"), cfg: filepath.Join(home, ".aws", "config")}
	for k, v := range map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config"), "XDG_DATA_HOME": filepath.Join(home, ".local", "share"), "XDG_STATE_HOME": filepath.Join(home, ".local", "state"),
		"AWS_SHARED_CREDENTIALS_FILE": e.creds, "AWS_CONFIG_FILE": e.cfg, "AWS_ENDPOINT_URL_STS": srv.URL,
		"OKTAFED_KEYRING_BACKEND": "file", "OKTAFED_KEYRING_PASSWORD": "test-keyring-passphrase",
		"OKTA_PASSWORD": "", "OKTAFED_TOTP_SECRET": "", browser.Env: "",
		"AWS_PROFILE": "", "OKTAFED_PROFILE": "", "OKTAFED_CONFIG": "", "AWS_ENDPOINT_URL": "", "OKTAFED_KEYRING_DIR": "",
	} {
		t.Setenv(k, v)
	}
	mustRun(t, "init", "--non-interactive", "--browser", "--org-url", srv.URL, "--app-url", keyAppPath, "--username", keyUser, "--region", "us-east-1")
	return e
}

// useBrowser makes every browser sign-in of the test run headless Chromium
// where prepare acts as the person.
func useBrowser(t *testing.T, prepare func(ctx context.Context) error) {
	t.Helper()
	bin := testenv.Chromium(t)
	browserTestHook = func(b *browser.SignIn) {
		if b.Program == "" {
			b.Program = bin
		}
		b.Headless = true
		b.Prepare = prepare
	}
	t.Cleanup(func() { browserTestHook = nil })
}

// withKey is a person with a copy of cred (user verification as uv) who
// types the password.
func withKey(t *testing.T, cred *cdpwebauthn.Credential, uv bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if _, err := testenv.AddVirtualKey(ctx, uv, cred); err != nil {
			return err
		}
		go func() {
			if err := testenv.FillSignIn(ctx, keyUser, keyPass); err != nil && ctx.Err() == nil {
				t.Logf("fill the sign-in form: %v", err)
			}
		}()
		return nil
	}
}

func TestLoginBrowserWithSecurityKeyThenSilentCredentialProcess(t *testing.T) {
	e, cred := setupKeyCLI(t)
	cfgData, err := os.ReadFile(filepath.Join(e.home, ".config", "oktafed", "config.yaml"))
	if err != nil || !strings.Contains(string(cfgData), "sign_in: browser") {
		t.Fatalf("init --browser did not record the sign-in method: %v\n%s", err, cfgData)
	}
	useBrowser(t, withKey(t, cred, true))
	code, out, errOut := run(t, "login", "--role", "all", "--non-interactive")
	if code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "Finish signing in in the browser window: "+e.srv.URL+keyAppPath) {
		t.Fatalf("login did not say where to sign in:\n%s", errOut)
	}
	creds, err := os.ReadFile(e.creds)
	if err != nil || !strings.Contains(string(creds), "[okta-123456789012-Admin]") || !strings.Contains(string(creds), "[okta-123456789012-ReadOnly]") {
		t.Fatalf("profiles: %v\n%s", err, creds)
	}
	for _, secret := range []string{keyPass, "sid"} {
		if strings.Contains(string(creds), secret) {
			t.Fatalf("the credentials file holds %q", secret)
		}
	}
	first := mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin")

	// Later refreshes go through the Okta session the browser captured:
	// no browser, no password.
	useBrowser(t, func(context.Context) error {
		t.Error("a refresh opened the browser")
		return nil
	})
	expireCached(t, e.creds)
	second := mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin")
	if first == second || !strings.Contains(second, `"Version":1`) {
		t.Fatalf("no silent refresh: %s vs %s", first, second)
	}
	// So does a later login.
	if code, _, errOut := run(t, "login", "--role", "all", "--non-interactive", "--verbose"); code != 0 || !strings.Contains(errOut, "reusing the Okta session") {
		t.Fatalf("second login: exit %d\n%s", code, errOut)
	}
}

// snapshot reads every file under the AWS and keyring directories.
func snapshot(t *testing.T, e *cliEnv) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range []string{filepath.Join(e.home, ".aws"), filepath.Join(e.home, ".local", "share")} {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				out[p] = string(b)
			}
			return nil
		})
	}
	return out
}

func TestLoginBrowserFailuresChangeNothing(t *testing.T) {
	e, cred := setupKeyCLI(t)
	useBrowser(t, withKey(t, cred, true))
	mustRun(t, "login", "--role", "all", "--non-interactive")
	before := snapshot(t, e)
	if len(before) < 2 {
		t.Fatalf("snapshot %v: want the credentials file and the keyring", before)
	}
	forged, err := testenv.ForgedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	closeWindow := func(ctx context.Context) error {
		go func() {
			_ = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("username")))
			_ = chromedp.Cancel(ctx)
		}()
		return nil
	}
	for _, tc := range []struct {
		name    string
		prepare func(context.Context) error
		args    []string
		want    string
	}{
		{"rejected key", withKey(t, forged, true), []string{"--browser-timeout", "8s"}, "security key was not accepted"},
		{"key without user verification", withKey(t, cred, false), []string{"--browser-timeout", "8s"}, "security key"},
		{"closed window", closeWindow, nil, "browser window was closed"},
		{"timeout", nil, []string{"--browser-timeout", "2s"}, "did not finish in time: nothing came back within 2s"},
		{"no such browser", nil, []string{"--browser-path", "/nonexistent/chrome"}, "--browser-path or OKTAFED_BROWSER"},
		{"bad timeout", nil, []string{"--browser-timeout", "-1s"}, "--browser-timeout"},
		{"browser and device", nil, []string{"--browser", "--device"}, "choose one"},
		{"browser and direct", nil, []string{"--browser", "--direct"}, "choose one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			useBrowser(t, tc.prepare)
			code, _, errOut := run(t, append([]string{"login", "--force", "--role", "all", "--non-interactive"}, tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want an error saying %q:\n%s", code, tc.want, errOut)
			}
			after := snapshot(t, e)
			if len(after) != len(before) {
				t.Fatalf("files changed: %d before, %d after", len(before), len(after))
			}
			for p, v := range before {
				if after[p] != v {
					t.Fatalf("%s changed", p)
				}
			}
		})
	}
	// The saved session still works.
	expireCached(t, e.creds)
	mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin")
}

func TestDoctorChecksTheBrowser(t *testing.T) {
	setupKeyEnv(t)
	t.Setenv("DISPLAY", ":0") // a desktop session
	t.Setenv("SSH_CONNECTION", "")
	t.Setenv("SSH_TTY", "")
	out := mustRun(t, "doctor", "--output", "json")
	if !strings.Contains(out, `"name": "browser",`+"\n"+`    "status": "ok"`) {
		t.Fatalf("doctor with a browser:\n%s", out)
	}
	t.Setenv(browser.Env, "/nonexistent/chrome")
	code, out, _ := run(t, "doctor", "--output", "json")
	if code == 0 || !strings.Contains(out, "OKTAFED_BROWSER=/nonexistent/chrome") {
		t.Fatalf("doctor with a missing browser: exit %d\n%s", code, out)
	}
}

func TestLoginOffersBrowserWhenFactorsNeedOne(t *testing.T) {
	e := setupKeyEnv(t)
	// A profile without sign_in: browser takes the password path, where
	// Okta has nothing the command line can verify.
	mustRun(t, "init", "--non-interactive", "--sign-in", "password", "--org-url", e.srv.URL, "--app-url", keyAppPath, "--username", keyUser)
	t.Setenv("OKTA_PASSWORD", keyPass)
	code, _, errOut := run(t, "login", "--role", "all", "--non-interactive")
	if code == 0 || !strings.Contains(errOut, "oktafed login --browser") {
		t.Fatalf("exit %d, want a hint to use --browser:\n%s", code, errOut)
	}
	if _, err := os.Stat(e.creds); err == nil {
		t.Fatal("the credentials file was written")
	}
}

// TestInteractiveLoginOffersBrowser drives a password login on a terminal
// for a user whose only factor is a security key: oktafed offers the
// browser; "No" ends with Okta's explanation, "Yes" goes to the browser
// (here a missing one, named by OKTAFED_BROWSER).
func TestInteractiveLoginOffersBrowser(t *testing.T) {
	e := setupKeyEnv(t)
	mustRun(t, "init", "--non-interactive", "--sign-in", "password", "--org-url", e.srv.URL, "--app-url", keyAppPath, "--username", keyUser)
	bin := oktafedBinary(t)
	for _, tc := range []struct{ answer, want string }{
		{"2", "from the command line"},
		{"1", "/nonexistent/chrome"},
	} {
		cmd := exec.Command(bin, "login", "--role", "all")
		cmd.Env = append(os.Environ(), "OKTA_PASSWORD="+keyPass, "OKTAFED_TOTP_SECRET=", "TERM=xterm", browser.Env+"=/nonexistent/chrome")
		f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
		if err != nil {
			t.Fatal(err)
		}
		c := newConsole(t, f)
		c.expect("Sign in in your browser now?")
		c.expect("Choose a number:")
		c.send(tc.answer)
		out := c.expect(tc.want)
		if err := cmd.Wait(); err == nil {
			t.Fatalf("answer %s: login succeeded:\n%s", tc.answer, out)
		}
		f.Close()
		if _, err := os.Stat(e.creds); err == nil {
			t.Fatalf("answer %s: the credentials file was written", tc.answer)
		}
	}
}
