package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/oktafed/oktafed/internal/config"
)

// fixture copies testdata/import/name to dst with ORG replaced by the
// sandbox's URL.
func fixture(t *testing.T, e *cliEnv, name, dst string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "import", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, bytes.ReplaceAll(data, []byte("ORG"), []byte(e.srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func loadProfiles(t *testing.T) *config.File {
	t.Helper()
	path, err := config.Path(getenvOf(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Each tool's settings become an oktafed profile that logs in; secrets
// the tool kept in plain text go to the keyring; what has no place in
// oktafed is named.
func TestInitFromOtherTools(t *testing.T) {
	t.Parallel()
	t.Run("saml2aws", func(t *testing.T) {
		e := setupCLI(t)
		fixture(t, e, "saml2aws.ini", filepath.Join(e.home, ".saml2aws"))
		// A first init without flags names the import (and what it lacks).
		code, _, errOut := run(t, "init", "--non-interactive")
		if !strings.Contains(errOut, "oktafed init --from saml2aws") {
			t.Fatalf("a first init does not name the import: exit %d\n%s", code, errOut)
		}
		code, _, errOut = run(t, "init", "--from", "saml2aws", "--non-interactive")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		for _, w := range []string{"as oktafed profile default", "aws_profile = saml", "saml2aws's keychain", "provider ADFS is not Okta"} {
			if !strings.Contains(errOut, w) {
				t.Errorf("report lacks %q:\n%s", w, errOut)
			}
		}
		p := loadProfiles(t).Profiles["default"]
		if p == nil || p.OrgURL != e.srv.URL || p.Username != "demo@example.com" || p.MFA != "totp" || p.Region != "eu-west-1" || p.Role != "arn:aws:iam::123456789012:role/Admin" || time.Duration(p.Duration) != 2*time.Hour {
			t.Fatalf("profile: %+v", p)
		}
		if _, ok := loadProfiles(t).Profiles["adfs-work"]; ok {
			t.Fatal("a non-Okta account was imported")
		}
		if out := mustRun(t, "login", "--non-interactive"); !strings.Contains(out, "okta-123456789012-Admin") {
			t.Fatalf("login after the import: %s", out)
		}
	})
	t.Run("gimme-aws-creds", func(t *testing.T) {
		e := setupCLI(t)
		fixture(t, e, "gimme-aws-creds.ini", filepath.Join(e.home, ".okta_aws_login_config"))
		code, _, errOut := run(t, "init", "--from", "gimme-aws-creds", "--non-interactive")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		f := loadProfiles(t)
		p := f.Profiles["dev"]
		if p == nil || p.Username != "demo@example.com" || p.Role != "all" || p.MFA != "totp" || time.Duration(p.Duration) != time.Hour {
			t.Fatalf("profile dev: %+v", p)
		}
		if d := f.Profiles["default"]; d == nil || d.AppURL != "" {
			t.Fatalf("the DEFAULT section: %+v", d)
		}
		if !strings.Contains(errOut, "device_token") || !strings.Contains(errOut, "no app_url") || strings.Contains(errOut, "not-a-real-device-token") {
			t.Fatalf("report:\n%s", errOut)
		}
		if out := mustRun(t, "login", "--profile", "dev", "--non-interactive"); strings.Count(out, "✓") != 3 {
			t.Fatalf("login after the import: %s", out)
		}
	})
	t.Run("okta-aws-cli", func(t *testing.T) {
		e := setupOrg(t, "idx")
		setenv(t, "OKTA_AWSCLI_ORG_DOMAIN", strings.TrimPrefix(e.srv.URL, "http://"))
		setenv(t, "OKTA_AWSCLI_OIDC_CLIENT_ID", deviceClientID)
		setenv(t, "OKTA_AWSCLI_AWS_ACCOUNT_FEDERATION_APP_ID", "0oa1demoawsapp0000001")
		setenv(t, "OKTA_AWSCLI_IAM_ROLE", "arn:aws:iam::123456789012:role/Admin")
		setenv(t, "OKTA_AWSCLI_PROFILE", "okta")
		code, _, errOut := run(t, "init", "--from", "okta-aws-cli", "--non-interactive")
		if code != 0 || !strings.Contains(errOut, "OKTA_AWSCLI_PROFILE = okta") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		p := loadProfiles(t).Profiles["default"]
		// okta-aws-cli names a host; the sandbox is plain http on loopback.
		if p == nil || p.OIDCClientID != deviceClientID || p.SignIn != "device" || !strings.HasSuffix(p.AppURL, "/home/amazon_aws/0oa1demoawsapp0000001/272") {
			t.Fatalf("profile: %+v", p)
		}
	})
	t.Run("okta-aws-cred-helper", func(t *testing.T) {
		e := setupCLI(t)
		settings := filepath.Join(e.home, ".aws", "okta-aws", "settings.json")
		fixture(t, e, "okta-aws-cred-helper.json", settings)
		setenv(t, "OKTA_PASSWORD", "")
		setenv(t, "OKTAFED_TOTP_SECRET", "")
		code, out, errOut := run(t, "init", "--from", "okta-aws-cred-helper", "--non-interactive", "--output", "json")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		var doc struct {
			Imported []struct {
				Profile string   `json:"profile"`
				Secrets []string `json:"secretsMoved"`
			} `json:"imported"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Imported) != 1 || len(doc.Imported[0].Secrets) != 2 {
			t.Fatalf("json %q: %v", out, err)
		}
		if strings.Contains(out+errOut, "Sandbox-Demo-1") || strings.Contains(out+errOut, "JBSWY3DP") {
			t.Fatal("a secret was printed")
		}
		p := loadProfiles(t).Profiles["default"]
		if p == nil || p.Region != "ap-southeast-2" || p.Username != "demo@example.com" || p.MFA != "totp" {
			t.Fatalf("profile: %+v", p)
		}
		if cfgText := mustRead(t, filepath.Join(e.home, ".config", "oktafed", "config.yaml")); bytes.Contains(cfgText, []byte("Sandbox-Demo-1")) {
			t.Fatal("the password went into the config file")
		}
		// refresh, as its users type it: the password and seed come from
		// the keyring.
		if out := mustRun(t, "refresh", "--role", "all", "--non-interactive"); strings.Count(out, "✓") != 3 {
			t.Fatalf("refresh: %s", out)
		}
	})
	t.Run("nothing to import", func(t *testing.T) {
		setupCLI(t)
		for _, tool := range []string{"saml2aws", "okta-aws-cli", "nope"} {
			if code, _, errOut := run(t, "init", "--from", tool, "--non-interactive"); code == 0 || errOut == "" {
				t.Errorf("--from %s with nothing there: exit %d", tool, code)
			}
		}
	})
}

// A first init on a terminal offers the settings it finds.
func TestFirstInitOffersTheImport(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	fixture(t, e, "okta-aws-cred-helper.json", filepath.Join(e.home, ".aws", "okta-aws", "settings.json"))
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	ios := &IOStreams{In: tty, Out: tty, ErrOut: tty, InTTY: true, ErrTTY: true, Getenv: getenvOf(t)}
	code := make(chan int, 1)
	go func() { code <- Main(context.Background(), ios, []string{"init"}) }()
	c := newConsole(t, ptmx)
	screen := c.expect("Choose a number:")
	if !strings.Contains(screen, "okta-aws-cred-helper") || !strings.Contains(screen, "by hand") {
		t.Fatalf("offer:\n%s", screen)
	}
	c.send("1")
	c.expect("Imported okta-aws-cred-helper")
	if got := <-code; got != 0 {
		t.Fatalf("exit %d", got)
	}
	if p := loadProfiles(t).Profiles["default"]; p == nil || p.Username != "demo@example.com" {
		t.Fatalf("profile: %+v", p)
	}
}
