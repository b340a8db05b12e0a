package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

const deviceClientID = "0oa1demodevice000001"

// setupOrg is setupCLI with an org of the given pipeline ("v1" Classic,
// "idx" Identity Engine) on a clock that moves whenever a command waits,
// so device-flow polls take no real time.
func setupOrg(t *testing.T, pipeline string) *cliEnv {
	t.Helper()
	e := setupCLI(t)
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	cfg := sandbox.DefaultConfig()
	cfg.Org.Pipeline = pipeline
	e.srv = sandbox.StartWithOptions(t, cfg, sandbox.Options{Clock: clk})
	e.env.clock = clk
	setenv(t, "AWS_ENDPOINT_URL_STS", e.srv.URL)
	setenv(t, "OKTA_CLIENT_ID", "")
	return e
}

func (e *cliEnv) init(t *testing.T, extra ...string) {
	t.Helper()
	mustRun(t, append([]string{"init", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272",
		"--username", "demo@example.com", "--region", "us-east-1"}, extra...)...)
}

// Every sign_in value does what it says on both kinds of org, and a way
// that cannot work here is refused before any secret is asked for, with
// the ways that can (the browser first when it needs no setup).
func TestLoginHonoursSignIn(t *testing.T) {
	t.Parallel()
	t.Run("password on Identity Engine", func(t *testing.T) {
		e := setupOrg(t, "idx")
		e.init(t, "--sign-in", "password", "--mfa", "totp")
		code, out, errOut := run(t, "login", "--role", "all", "--non-interactive")
		if code != 0 || strings.Count(out, "✓") != 3 || strings.Contains(errOut, "device") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})
	t.Run("device on Classic", func(t *testing.T) {
		e := setupOrg(t, "v1")
		e.init(t, "--sign-in", "device", "--oidc-client-id", deviceClientID)
		setenv(t, "OKTA_PASSWORD", "") // the device flow must not ask for it
		out, errOut := runActivating(t, e, "login", "--role", "all", "--non-interactive")
		if strings.Count(out, "✓") != 3 || !strings.Contains(errOut, "confirm the code") {
			t.Fatalf("stdout: %s\nstderr: %s", out, errOut)
		}
	})
	t.Run("Identity Engine without a client id names the browser first", func(t *testing.T) {
		e := setupOrg(t, "idx")
		e.init(t)
		setenv(t, "OKTAFED_BROWSER", "/bin/true") // a browser program exists
		setenv(t, "DISPLAY", ":0")
		setenv(t, "OKTA_PASSWORD", "")
		code, _, errOut := run(t, "login", "--role", "all", "--non-interactive")
		b, p := strings.Index(errOut, "oktafed login --browser"), strings.Index(errOut, "--sign-in password")
		if code == 0 || !strings.Contains(errOut, "oidc_client_id") || b < 0 || p < b || strings.Contains(errOut, "Okta password") {
			t.Fatalf("exit %d, want the browser, then the password, named before any secret:\n%s", code, errOut)
		}
		if _, err := os.Stat(e.creds); !os.IsNotExist(err) {
			t.Fatalf("credentials written by a refused login: %v", err)
		}
		// doctor makes the same choice and names the same ways.
		code, out, _ := run(t, "doctor")
		if code == 0 || !strings.Contains(out, "sign-in") || !strings.Contains(out, "needs oidc_client_id") || !strings.Contains(out, "oktafed login --browser") {
			t.Fatalf("doctor: exit %d\n%s", code, out)
		}
	})
	t.Run("browser over ssh without a display", func(t *testing.T) {
		e := setupOrg(t, "idx")
		e.init(t, "--oidc-client-id", deviceClientID)
		setenv(t, "OKTAFED_BROWSER", "/bin/true")
		setenv(t, "DISPLAY", "")
		setenv(t, "WAYLAND_DISPLAY", "")
		setenv(t, "SSH_CONNECTION", "192.0.2.1 50000 192.0.2.2 22")
		// A saved Okta session serves the login whatever the way to sign
		// in: the display matters only when a sign-in is needed.
		mustRun(t, "login", "--sign-in", "password", "--mfa", "totp", "--role", "all", "--non-interactive")
		mustRun(t, "login", "--browser", "--role", "all", "--non-interactive")
		mustRun(t, "logout")
		code, _, errOut := run(t, "login", "--browser", "--role", "all", "--non-interactive")
		for _, w := range []string{"no display", "ssh session", "oktafed login --device", "oktafed login --sign-in password"} {
			if code == 0 || !strings.Contains(errOut, w) {
				t.Errorf("exit %d, stderr lacks %q:\n%s", code, w, errOut)
			}
		}
		if strings.Contains(errOut, "--browser`") {
			t.Errorf("the browser offered where it cannot work:\n%s", errOut)
		}
		e.init(t, "--sign-in", "browser")
		_, out, _ := run(t, "doctor", "--output", "json")
		var checks []check
		if err := json.Unmarshal([]byte(out), &checks); err != nil {
			t.Fatalf("doctor json %q: %v", out, err)
		}
		found := false
		for _, c := range checks {
			if c.Name == "browser" {
				found = c.Status == "fail" && strings.Contains(c.Detail, "no display") && strings.Contains(c.Detail, "--device")
			}
		}
		if !found {
			t.Errorf("doctor does not report the missing display: %s", out)
		}
	})
	t.Run("flags that contradict", func(t *testing.T) {
		e := setupOrg(t, "v1")
		e.init(t)
		for _, args := range [][]string{{"--sign-in", "device", "--browser"}, {"--sign-in", "sms"}} {
			code, _, errOut := run(t, append([]string{"login", "--non-interactive"}, args...)...)
			if code == 0 || !(strings.Contains(errOut, "choose one") || strings.Contains(errOut, "choose one of")) {
				t.Errorf("login %v: exit %d, %s", args, code, errOut)
			}
		}
	})
}

// refreshToken is the OIDC refresh token the keyring holds for the
// default profile.
func refreshToken(t *testing.T) string {
	t.Helper()
	secrets, err := openSecrets(&IOStreams{Getenv: getenvOf(t)})
	if err != nil {
		t.Fatal(err)
	}
	rt, _, err := storeTokens{secrets}.LoadTokens(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// Logout revokes the refresh token at Okta: a copy of the keyring taken
// before cannot sign in afterwards. login --force signs in anew instead of
// reusing the refresh token, and the token it replaces is revoked too.
func TestLogoutRevokesTheRefreshToken(t *testing.T) {
	t.Parallel()
	e := setupOrg(t, "idx")
	e.init(t, "--oidc-client-id", deviceClientID)
	setenv(t, "OKTA_PASSWORD", "")
	runActivating(t, e, "login", "--role", "all", "--non-interactive")
	first := refreshToken(t)
	if first == "" {
		t.Fatal("no refresh token saved by the device login")
	}
	oc := &okta.Client{BaseURL: e.srv.URL, Clock: e.env.clock}
	ctx := context.Background()

	_, errOut := runActivating(t, e, "login", "--force", "--role", "all", "--non-interactive")
	if !strings.Contains(errOut, "confirm the code") {
		t.Fatalf("login --force did not sign in anew:\n%s", errOut)
	}
	second := refreshToken(t)
	if second == "" || second == first {
		t.Fatal("login --force kept the old refresh token")
	}
	if _, err := oc.RefreshTokens(ctx, deviceClientID, first); !errors.Is(err, okta.ErrSessionExpired) {
		t.Fatalf("the token login --force replaced still works: %v", err)
	}

	saved := second // a copy of the keyring, taken before logout
	mustRun(t, "logout")
	if rt := refreshToken(t); rt != "" {
		t.Fatal("logout left the refresh token in the keyring")
	}
	if _, err := oc.RefreshTokens(ctx, deviceClientID, saved); !errors.Is(err, okta.ErrSessionExpired) {
		t.Fatalf("a copy of the refresh token still works after logout: %v", err)
	}
	// Nothing lets the next login skip the device flow.
	setenv(t, "OKTAFED_NO_QR", "1")
	if code, _, errOut := run(t, "login", "--role", "all", "--non-interactive"); code == 0 || !strings.Contains(errOut, "confirm the code") {
		t.Fatalf("login after logout: exit %d without a new device sign-in:\n%s", code, errOut)
	}
}

// A mistyped passphrase of the file keyring is refused as such: the login
// stops before the password, nothing is saved under it, and doctor reads
// every item before it calls the keyring readable.
func TestFileKeyringWrongPassphrase(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	setenv(t, "OKTAFED_KEYRING_PASSWORD", "pp1")
	e.initProfile(t)
	mustRun(t, "init", "--save-password", "--non-interactive")
	dir := filepath.Join(e.home, ".local", "share", "oktafed", "keyring")
	before, _ := os.ReadDir(dir)

	setenv(t, "OKTAFED_KEYRING_PASSWORD", "pp2")
	setenv(t, "OKTA_PASSWORD", "")
	code, _, errOut := run(t, "login", "--role", "/Admin$/", "--non-interactive")
	if code == 0 || !strings.Contains(errOut, "wrong passphrase") || !strings.Contains(errOut, "OKTAFED_KEYRING_PASSWORD") {
		t.Fatalf("login under another passphrase: exit %d\n%s", code, errOut)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Fatalf("the keyring changed under a wrong passphrase: %d files, had %d", len(after), len(before))
	}
	if _, err := os.Stat(e.creds); !os.IsNotExist(err) {
		t.Fatalf("credentials written: %v", err)
	}
	if code, out, _ := run(t, "doctor"); code == 0 || !strings.Contains(out, "wrong passphrase") {
		t.Fatalf("doctor under the wrong passphrase: exit %d\n%s", code, out)
	}

	setenv(t, "OKTAFED_KEYRING_PASSWORD", "pp1")
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	if _, out, _ := run(t, "doctor"); !strings.Contains(out, "file keyring: all 2 item(s) readable") {
		t.Fatalf("doctor under the right passphrase:\n%s", out)
	}

	// credential_process has no terminal to ask on: it names the variable.
	expireCached(t, e.creds)
	setenv(t, "OKTAFED_KEYRING_PASSWORD", "")
	code, _, errOut = run(t, "credential-process", "--profile", "okta-123456789012-Admin")
	if code == 0 || !strings.Contains(errOut, "OKTAFED_KEYRING_PASSWORD") {
		t.Fatalf("credential-process without a passphrase: exit %d\n%s", code, errOut)
	}
}

// After logout, credential_process for a profile the AWS config still
// names exits 3 with the login command, as for an ended session.
func TestCredentialProcessAfterLogoutAsksForLogin(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	mustRun(t, "init", "--profile", "work", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com")
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	if err := os.WriteFile(e.cfg, []byte("[profile admin]\ncredential_process = oktafed credential-process --profile okta-123456789012-Admin\n\n[profile okta-123456789012-Admin]\ncredential_process = oktafed credential-process --profile okta-123456789012-Admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "logout")
	code, _, errOut := run(t, "credential-process", "--profile", "okta-123456789012-Admin")
	if code != exitCodeLoginRequired || !strings.Contains(errOut, "oktafed login --profile default") || strings.Contains(errOut, "oktafed init") {
		t.Fatalf("credential-process after logout: exit %d, want %d and the login command:\n%s", code, exitCodeLoginRequired, errOut)
	}
	// A name nothing knows is still a configuration to make.
	if code, _, errOut := run(t, "credential-process", "--profile", "nope"); code == exitCodeLoginRequired || !strings.Contains(errOut, "oktafed init --profile nope") {
		t.Fatalf("credential-process for an unknown profile: exit %d\n%s", code, errOut)
	}
}

// Profile names AWS tools cannot read are refused at init, with the rule
// and a name that works, before anything is asked or written.
func TestInitRefusesProfileNamesAWSToolsCannotRead(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	for _, name := range []string{"my work", "prod[1]", "a#b", `it's`} {
		code, _, errOut := run(t, "init", "--profile", name, "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com")
		if code == 0 || !strings.Contains(errOut, "no spaces, tabs, quotes, brackets") {
			t.Errorf("init --profile %q: exit %d\n%s", name, code, errOut)
		}
	}
	if code, _, errOut := run(t, "init", "--profile", "my work", "--non-interactive"); !strings.Contains(errOut, "e.g. my-work") || code == 0 {
		t.Errorf("no working name suggested: %s", errOut)
	}
	code, _, errOut := run(t, "init", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com", "--profile-template", "[{{.Role}}]")
	if code == 0 || !strings.Contains(errOut, "profile_template") {
		t.Errorf("a template making bracketed names: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(e.home, ".config", "oktafed", "config.yaml")); !os.IsNotExist(err) {
		t.Fatalf("a refused init wrote the config: %v", err)
	}
	mustRun(t, "init", "--profile", "my-work", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com")
}

// What can be checked without Okta is checked before the password is
// asked for: with no password anywhere, each of these fails on its own
// cause, not on the missing password.
func TestLoginChecksBeforeSecrets(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	setenv(t, "OKTA_PASSWORD", "")
	setenv(t, "OKTAFED_TOTP_SECRET", "")
	cfgPath := filepath.Join(e.home, ".config", "oktafed", "config.yaml")
	cfg := mustRead(t, cfgPath)
	cases := []struct {
		name  string
		setup func(t *testing.T)
		want  string
	}{
		{"read-only credentials file", func(t *testing.T) {
			if err := os.MkdirAll(filepath.Dir(e.creds), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.creds, []byte("[mine]\naws_access_key_id = AKIAEXAMPLE\n"), 0o400); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(e.creds) })
		}, "read-only"},
		{"duplicate section in the config file", func(t *testing.T) {
			if err := os.WriteFile(e.cfg, []byte("[profile a]\nregion = x\n[profile a]\nregion = y\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(e.cfg) })
		}, "appears again"},
		{"bracketed profile names", func(t *testing.T) {
			f, err := config.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			f.Profiles["default"].ProfileTemplate = "[{{.Role}}]"
			if err := f.Save(cfgPath); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(cfgPath, cfg, 0o600) })
		}, "profile_template"},
		{"app link on another host", func(t *testing.T) {
			if err := os.WriteFile(cfgPath, bytes.Replace(cfg, []byte("app_url: "+e.srv.URL), []byte("app_url: https://elsewhere.example.com"), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(cfgPath, cfg, 0o600) })
		}, "not on the org"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.setup(t)
			code, _, errOut := run(t, "login", "--role", "all", "--non-interactive")
			if code == 0 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "OKTA_PASSWORD") {
				t.Fatalf("exit %d, want %q before any secret:\n%s", code, c.want, errOut)
			}
		})
	}
}

// When the AWS app refuses (403: no role assigned), the Okta session the
// sign-in opened is kept, so the next try after the admin's fix needs no
// password and MFA again.
func TestSessionKeptWhenTheAppRefuses(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	cfg := sandbox.DefaultConfig()
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{Login: "norole@example.com", Password: "Sandbox-NoRole-1"})
	e.srv = sandbox.Start(t, cfg)
	setenv(t, "AWS_ENDPOINT_URL_STS", e.srv.URL)
	setenv(t, "OKTA_PASSWORD", "Sandbox-NoRole-1")
	mustRun(t, "init", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "norole@example.com")
	code, _, errOut := run(t, "login", "--role", "all", "--non-interactive")
	if code == 0 || !strings.Contains(errOut, "no AWS role is assigned") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if savedSession(t) == "" {
		t.Fatal("the Okta session was not kept after the app refused")
	}
	setenv(t, "OKTA_PASSWORD", "")
	code, _, errOut = run(t, "login", "--role", "all", "--non-interactive")
	if code == 0 || !strings.Contains(errOut, "no AWS role is assigned") || strings.Contains(errOut, "OKTA_PASSWORD") {
		t.Fatalf("the retry asked for the password again: exit %d\n%s", code, errOut)
	}
}
