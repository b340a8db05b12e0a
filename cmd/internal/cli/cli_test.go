package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// env is a sandbox plus an isolated home for the CLI: its own oktafed
// config, AWS files and encrypted-file keyring.
type cliEnv struct {
	srv        *sandbox.Server
	home       string
	creds, cfg string
	env        *testEnv
}

func setupCLI(t *testing.T) *cliEnv {
	t.Helper()
	return setupCLIOn(t, sandbox.DefaultConfig(), nil)
}

// setupCLIOn is setupCLI with a sandbox of cfg whose time, and the
// commands', is clk (the wall clock when nil): a fake clock shared by both
// lets a login that waits for the next TOTP window move it instead of
// waiting in real time.
func setupCLIOn(t *testing.T, cfg sandbox.Config, clk clock.Clock) *cliEnv {
	t.Helper()
	return setupCLIWith(t, sandbox.StartWithOptions(t, cfg, sandbox.Options{Clock: clk}), clk)
}

// setupCLIWith is setupCLI around a sandbox the test started, whose clock
// is clk.
func setupCLIWith(t *testing.T, srv *sandbox.Server, clk clock.Clock) *cliEnv {
	t.Helper()
	home := t.TempDir()
	e := &cliEnv{srv: srv, home: home, creds: filepath.Join(home, ".aws", "credentials"), cfg: filepath.Join(home, ".aws", "config")}
	e.env = newTestEnv(t, map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config"), "XDG_DATA_HOME": filepath.Join(home, ".local", "share"), "XDG_STATE_HOME": filepath.Join(home, ".local", "state"),
		"AWS_SHARED_CREDENTIALS_FILE": e.creds, "AWS_CONFIG_FILE": e.cfg, "AWS_ENDPOINT_URL_STS": srv.URL,
		"OKTAFED_KEYRING_BACKEND": "file", "OKTAFED_KEYRING_PASSWORD": "test-keyring-passphrase",
		"OKTA_PASSWORD": "Sandbox-Demo-1", "OKTAFED_TOTP_SECRET": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
		"AWS_PROFILE": "", "OKTAFED_PROFILE": "", "OKTAFED_CONFIG": "", "AWS_ENDPOINT_URL": "", "OKTAFED_KEYRING_DIR": "",
	})
	e.env.clock = clk
	return e
}

// run runs the CLI in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errOut := Test()
	ios.Getenv, ios.Clock = getenvOf(t), clockOf(t)
	code := Main(context.Background(), ios, args)
	return code, out.String(), errOut.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, args...)
	if code != 0 {
		t.Fatalf("oktafed %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// oktafedBinary builds the command once per test run, for tests where
// another program (the AWS CLI) runs oktafed.
func oktafedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "oktafed-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "oktafed")
		// The credential_process companion, beside oktafed as the
		// release archives install it.
		// Tests move HOME; the build must keep using the real caches.
		cmd := testenv.GoBuild(origEnv, "-o", dir+string(filepath.Separator), "github.com/oktafed/oktafed/cmd/oktafed", "github.com/oktafed/oktafed/cmd/oktafed-credential-process")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// companionBinary is oktafed-credential-process, built beside
// oktafedBinary.
func companionBinary(t *testing.T) string {
	t.Helper()
	return filepath.Join(filepath.Dir(oktafedBinary(t)), "oktafed-credential-process")
}

// origEnv is the environment before tests change HOME and friends, with
// the Go caches pinned so a build inside a test reuses them.
var origEnv []string

// origGetenv reads the process environment, for tests without their own.
var origGetenv = os.Getenv

func TestMain(m *testing.M) {
	origEnv = os.Environ()
	for _, k := range []string{"GOMODCACHE", "GOCACHE", "GOPATH"} {
		if out, err := exec.Command("go", "env", k).Output(); err == nil {
			origEnv = append(origEnv, k+"="+strings.TrimSpace(string(out)))
		}
	}
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func (e *cliEnv) initProfile(t *testing.T) {
	t.Helper()
	mustRun(t, "init", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272",
		"--username", "demo@example.com", "--mfa", "totp", "--region", "us-east-1")
}

func (e *cliEnv) aws(t *testing.T, args ...string) (string, error) {
	t.Helper()
	awsCLI := testenv.AWSCLI(t)
	cmd := exec.Command(awsCLI, append([]string{"--endpoint-url", e.srv.URL, "--output", "json"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + e.home, "AWS_SHARED_CREDENTIALS_FILE=" + e.creds, "AWS_CONFIG_FILE=" + e.cfg,
		"XDG_CONFIG_HOME=" + filepath.Join(e.home, ".config"), "XDG_DATA_HOME=" + filepath.Join(e.home, ".local", "share"),
		"OKTAFED_KEYRING_BACKEND=file", "OKTAFED_KEYRING_PASSWORD=test-keyring-passphrase", "AWS_ENDPOINT_URL_STS=" + e.srv.URL}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestLoginWritesProfilesTheAWSCLIUses(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	out := mustRun(t, "login", "--role", "all", "--output", "json", "--non-interactive")
	var doc loginJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("login json %q: %v", out, err)
	}
	if len(doc.Written) != 3 || doc.Duration != 3600 {
		t.Fatalf("login wrote %+v", doc)
	}
	fi, err := os.Stat(e.creds)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v err %v", fi.Mode().Perm(), err)
	}

	res, err := e.aws(t, "sts", "get-caller-identity", "--profile", "okta-123456789012-Admin")
	if err != nil || !strings.Contains(res, "assumed-role/Admin/demo@example.com") {
		t.Fatalf("aws with the written profile: %v\n%s", err, res)
	}

	// A credential_process profile, run by the AWS CLI.
	bin := oktafedBinary(t)
	f, err := os.OpenFile(e.cfg, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[profile proc]\nregion = us-east-1\ncredential_process = %s credential-process --profile okta-123456789012-Admin\n", bin)
	f.Close()
	res, err = e.aws(t, "sts", "get-caller-identity", "--profile", "proc")
	if err != nil || !strings.Contains(res, "assumed-role/Admin/") {
		t.Fatalf("aws with the credential_process profile: %v\n%s", err, res)
	}
	res, err = e.aws(t, "configure", "export-credentials", "--profile", "proc")
	if err != nil || !strings.Contains(res, `"Version": 1`) {
		t.Fatalf("aws configure export-credentials: %v\n%s", err, res)
	}
	// The same through the companion, which answers fresh credentials
	// itself and hands the rest to the oktafed beside it.
	f, err = os.OpenFile(e.cfg, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[profile companion]\nregion = us-east-1\ncredential_process = %s --profile okta-123456789012-Admin\n", companionBinary(t))
	fmt.Fprintf(f, "\n[profile companion-nope]\nregion = us-east-1\ncredential_process = %s --profile okta-nope\n", companionBinary(t))
	f.Close()
	res, err = e.aws(t, "sts", "get-caller-identity", "--profile", "companion")
	if err != nil || !strings.Contains(res, "assumed-role/Admin/") {
		t.Fatalf("aws with the companion's credential_process profile: %v\n%s", err, res)
	}
	res, err = e.aws(t, "sts", "get-caller-identity", "--profile", "companion-nope")
	if err == nil || !strings.Contains(res, `"okta-nope" is neither`) {
		t.Fatalf("aws with a companion profile for a missing profile: %v\n%s", err, res)
	}

	// env and exec hand the same credentials to other programs.
	envOut := mustRun(t, "env", "--profile", "okta-123456789012-Admin", "--output", "json")
	var vars map[string]string
	if err := json.Unmarshal([]byte(envOut), &vars); err != nil || !strings.HasPrefix(vars["AWS_ACCESS_KEY_ID"], "ASIA") || vars["AWS_REGION"] != "us-east-1" {
		t.Fatalf("env json: %v %v", err, vars)
	}
	execOut := mustRun(t, "exec", "--profile", "okta-123456789012-Admin", "--", "sh", "-c", "echo $AWS_ACCESS_KEY_ID:${AWS_PROFILE:-unset}:${OKTA_PASSWORD:-hidden}")
	if strings.TrimSpace(execOut) != vars["AWS_ACCESS_KEY_ID"]+":unset:hidden" {
		t.Fatalf("exec child saw %q", execOut)
	}
	// With --server the child gets no keys, only a local endpoint; the AWS
	// CLI inside it fetches credentials from there and makes a signed call.
	awsCLI := testenv.AWSCLI(t)
	serverOut := mustRun(t, "exec", "--server", "--profile", "okta-123456789012-Admin", "--", "sh", "-c",
		"test -z \"$AWS_ACCESS_KEY_ID\" && "+awsCLI+" --endpoint-url "+e.srv.URL+" --region us-east-1 --output text --query Arn sts get-caller-identity")
	if !strings.Contains(serverOut, "assumed-role/Admin/demo@example.com") {
		t.Fatalf("exec --server child printed %q", serverOut)
	}
	code, _, _ := run(t, "exec", "--profile", "okta-123456789012-Admin", "--", "sh", "-c", "exit 7")
	if code != 7 {
		t.Fatalf("exec exit code %d, want the child's 7", code)
	}

	// The console hand-off: a sign-in URL from the federation endpoint that
	// opens a session for the profile's role, once.
	setenv(t, "OKTAFED_SIGNIN_ENDPOINT", e.srv.URL)
	u := strings.TrimSpace(mustRun(t, "console", "--profile", "okta-123456789012-Admin", "--print"))
	if !strings.HasPrefix(u, e.srv.URL+"/federation?") || !strings.Contains(u, "Action=login") {
		t.Fatalf("console URL %q", u)
	}
	for i, want := range []int{200, 403} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && !strings.Contains(string(page), "assumed-role/Admin/demo@example.com")) {
			t.Fatalf("sign-in URL use %d: HTTP %d %s", i+1, resp.StatusCode, page)
		}
	}

	// Logout removes exactly what login added.
	mustRun(t, "logout")
	data, _ := os.ReadFile(e.creds)
	if strings.Contains(string(data), "okta-") {
		t.Fatalf("profiles left after logout:\n%s", data)
	}
	code, _, errOut := run(t, "credential-process", "--profile", "okta-123456789012-Admin")
	if code == 0 || !strings.Contains(errOut, "oktafed login") {
		t.Fatalf("credential-process after logout: exit %d, %s", code, errOut)
	}
}

func TestCredentialProcessRefreshesOrAsksForLogin(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	first := mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin")

	// Age the cached credentials: the next call refreshes through the
	// Okta session, with no password available.
	expireCached(t, e.creds)
	setenv(t, "OKTA_PASSWORD", "")
	setenv(t, "OKTAFED_TOTP_SECRET", "")
	second := mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin")
	if first == second || !strings.Contains(second, `"Version":1`) {
		t.Fatalf("no refresh: %s vs %s", first, second)
	}

	// After logout a new login needs the password, and without one at hand
	// the command says which variable to set.
	mustRun(t, "logout")
	mustRun(t, "init", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com")
	code, _, errOut := run(t, "login", "--non-interactive", "--role", "all")
	if code == 0 || !strings.Contains(errOut, "OKTA_PASSWORD") {
		t.Fatalf("login without a password: exit %d: %s", code, errOut)
	}
}

// expireCached rewrites every oktafed expiration to the past.
func expireCached(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(line, "oktafed_expiration") {
			line = "oktafed_expiration = 2000-01-01T00:00:00Z\n"
		}
		b.WriteString(line)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	for _, args := range [][]string{
		{"login", "--role", "Admin"},
		{"login", "--duration", "forever"},
		{"login", "--mfa", "pigeon"},
		{"login", "--output", "yaml"},
		{"init", "--non-interactive", "--org-url", "not a url", "--app-url", "x", "--username", "u"},
		{"env", "--shell", "tcsh"},
	} {
		code, _, errOut := run(t, args...)
		if code == 0 || errOut == "" {
			t.Errorf("oktafed %v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if _, err := os.Stat(e.creds); !os.IsNotExist(err) {
		t.Fatal("bad input created the credentials file")
	}
	code, _, errOut := run(t, "login", "--profile", "nope")
	if code == 0 || !strings.Contains(errOut, "oktafed init --profile nope") {
		t.Fatalf("unknown profile: %d %s", code, errOut)
	}
}

func TestLoginNamesProfilesByAlias(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	setenv(t, "AWS_ENDPOINT_URL_IAM", e.srv.URL)
	out := mustRun(t, "login", "--role", "all", "--non-interactive")
	for _, want := range []string{"okta-demo-prod-Admin", "okta-demo-dev-Developer"} {
		if !strings.Contains(out, want) {
			t.Fatalf("login output lacks %s:\n%s", want, out)
		}
	}
	cfgData, err := os.ReadFile(filepath.Join(e.home, ".config", "oktafed", "config.yaml"))
	if err != nil || !strings.Contains(string(cfgData), "demo-prod") {
		t.Fatalf("aliases not remembered in the config (%v):\n%s", err, cfgData)
	}
	// Without the lookup the remembered names stay.
	setenv(t, "AWS_ENDPOINT_URL_IAM", "")
	out = mustRun(t, "login", "--role", "all", "--non-interactive", "--lookup-aliases=false")
	if !strings.Contains(out, "okta-demo-prod-Admin") {
		t.Fatalf("remembered alias not used:\n%s", out)
	}
}

func TestDoctor(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	code, out, _ := run(t, "doctor")
	if code == 0 || !strings.Contains(out, "oktafed init --profile default") {
		t.Fatalf("doctor without a profile: exit %d\n%s", code, out)
	}
	e.initProfile(t)
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	out = mustRun(t, "doctor", "--output", "json")
	var checks []check
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("doctor json %q: %v", out, err)
	}
	got := map[string]string{}
	for _, c := range checks {
		if got[c.Name] == "" || c.Status == "fail" {
			got[c.Name] = c.Status
		}
	}
	for name, want := range map[string]string{"config": "ok", "keyring": "ok", "okta session": "ok", "okta": "ok", "clock": "ok", "sts": "ok", "aws files": "ok", "aws profile": "ok"} {
		if got[name] != want {
			t.Errorf("check %q = %q, want %q (all: %v)", name, got[name], want, checks)
		}
	}
}
