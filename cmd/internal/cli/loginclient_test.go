package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/keystore"
	"github.com/oktafed/oktafed/ledger"
	"github.com/oktafed/oktafed/sandbox"
)

// savedSession is the Okta session the keyring holds for the default
// profile ("" when none).
func savedSession(t *testing.T) string {
	t.Helper()
	kr, err := keystore.Open(keystore.Options{Getenv: getenvOf(t)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := kr.Get(keystore.Key{Profile: "default", Kind: keystore.KindOktaSession})
	if err != nil {
		return ""
	}
	return v.Reveal()
}

// A forced login that fails, for any reason, leaves the Okta session and
// the credentials it had: credential_process keeps working.
func TestForcedLoginKeepsSessionAndCredentialsUntilItSucceeds(t *testing.T) {
	t.Parallel()
	// The last forced login waits for the next TOTP window: on a clock
	// shared with the sandbox that moves when the command waits, not in
	// real time.
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	e := setupCLIOn(t, sandbox.DefaultConfig(), clk)
	state := filepath.Join(e.home, ".local", "state")
	setenv(t, "XDG_STATE_HOME", state)
	e.initProfile(t)
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	sid := savedSession(t)
	creds := mustRead(t, e.creds)
	cfgPath := filepath.Join(e.home, ".config", "oktafed", "config.yaml")
	cfg := mustRead(t, cfgPath)
	if sid == "" {
		t.Fatal("no session saved by the first login")
	}

	cases := []struct {
		name  string
		setup func(t *testing.T)
		// waits: the login waits for a TOTP window that the clock does
		// not reach; it is stopped once it waits.
		waits bool
		want  string
	}{
		{"mistyped password", func(t *testing.T) { setenv(t, "OKTA_PASSWORD", "Sandbox-Demo-2") }, false, "invalid username or password"},
		{"unreachable Okta", func(t *testing.T) {
			if err := os.WriteFile(cfgPath, bytes.ReplaceAll(cfg, []byte(e.srv.URL), []byte("http://127.0.0.1:1")), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(cfgPath, cfg, 0o600) })
		}, false, "cannot reach Okta at 127.0.0.1:1"},
		{"wrong TOTP seed", func(t *testing.T) {
			// A ledger of its own, so this window is not spent already.
			setenv(t, "XDG_STATE_HOME", t.TempDir())
			setenv(t, "OKTAFED_TOTP_SECRET", "KRUGS4ZANFZSA3TPOQQGC4TPOVXGIIDC")
		}, false, "TOTP seed"},
		{"used TOTP codes", func(t *testing.T) {
			setenv(t, "XDG_STATE_HOME", t.TempDir())
			// Other logins spent this window's code and the next two:
			// this one waits, says so, and gives up when stopped.
			dir, _ := ledger.DefaultDir(getenvOf(t))
			lg, err := ledger.Open(dir, e.srv.URL, "demo@example.com")
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := lg.Reserve(context.Background(), clk.Now(), 30*time.Second, false); err != nil {
					t.Fatal(err)
				}
			}
		}, true, "Waiting"},
		{"missing keyring passphrase", func(t *testing.T) { setenv(t, "OKTAFED_KEYRING_PASSWORD", "") }, false, "OKTAFED_KEYRING_PASSWORD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.setup(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if c.waits {
				// The clock stays put, so the wait lasts until the
				// login is stopped, which happens once it waits.
				clk.AutoAdvance(false)
				defer clk.AutoAdvance(true)
				stopped := make(chan struct{})
				defer func() { cancel(); <-stopped }()
				go func() {
					defer close(stopped)
					for clk.Waiters() == 0 && ctx.Err() == nil {
						time.Sleep(time.Millisecond)
					}
					cancel()
				}()
			}
			ios, _, out, errOut := Test()
			ios.Getenv, ios.Clock = getenvOf(t), clockOf(t)
			code := Main(ctx, ios, []string{"login", "--force", "--role", "/Admin$/", "--non-interactive"})
			if code == 0 || !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("login --force: exit %d, want a failure saying %q\nstdout: %s\nstderr: %s", code, c.want, out, errOut)
			}
			if got := mustRead(t, e.creds); !bytes.Equal(got, creds) {
				t.Fatalf("credentials changed by a failed login:\n%s", got)
			}
		})
		if got := savedSession(t); got != sid {
			t.Fatalf("%s: the saved Okta session was replaced or removed (%d bytes left)", c.name, len(got))
		}
	}

	// The session still works: a refresh through it needs no password.
	expireCached(t, e.creds)
	setenv(t, "OKTA_PASSWORD", "")
	setenv(t, "OKTAFED_TOTP_SECRET", "")
	if out := mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin"); !strings.Contains(out, `"Version":1`) {
		t.Fatalf("credential-process after the failed logins: %s", out)
	}
	// And a forced login that succeeds replaces the session.
	setenv(t, "OKTA_PASSWORD", "Sandbox-Demo-1")
	setenv(t, "OKTAFED_TOTP_SECRET", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	mustRun(t, "login", "--force", "--role", "/Admin$/", "--non-interactive")
	if got := savedSession(t); got == sid || got == "" {
		t.Fatal("a successful login --force kept the old session")
	}
}

// exec gives the child the profile's region, as env does: a child that
// fell back to [default]'s region would sign for the wrong one.
func TestExecSetsTheProfilesRegion(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	if err := os.WriteFile(e.cfg, append(mustRead(t, e.cfg), "\n[default]\nregion = eu-west-3\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	setenv(t, "AWS_REGION", "ap-south-1")
	setenv(t, "AWS_DEFAULT_REGION", "ap-south-1")
	for _, args := range [][]string{
		{"exec", "--profile", "okta-123456789012-Admin", "--", "sh", "-c", "echo $AWS_REGION/$AWS_DEFAULT_REGION"},
		{"exec", "--server", "--profile", "okta-123456789012-Admin", "--", "sh", "-c", "echo $AWS_REGION/$AWS_DEFAULT_REGION"},
	} {
		out := mustRun(t, args...)
		if strings.TrimSpace(out) != "us-east-1/us-east-1" {
			t.Errorf("oktafed %v: child saw region %q, want the profile's us-east-1", args, out)
		}
	}
	env := mustRun(t, "env", "--profile", "okta-123456789012-Admin")
	if !strings.Contains(env, "AWS_REGION='us-east-1'") && !strings.Contains(env, "AWS_REGION=us-east-1") {
		t.Errorf("env printed %q", env)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Eight processes of the built binary running `login --force` with TOTP at
// once all succeed, with one Okta sign-in per TOTP window: the others wait
// for it and reuse the session it saved.
func TestConcurrentForcedLoginsShareOneSignIn(t *testing.T) {
	t.Parallel()
	// The first login answers a push, so this TOTP window's code is
	// unspent and the forced logins need not wait for the next one. The
	// phone approves at once, without a number to pick; the client's poll
	// interval passes on a fake clock.
	cfg := sandbox.DefaultConfig()
	push := &cfg.Org.Users[0].Factors[1]
	if push.Type != "push" {
		t.Fatalf("the demo user's second factor is %s, not push", push.Type)
	}
	push.Push.Delay, push.Push.NumberChallenge = 0, false

	// Okta is reached through a gate that, once armed, holds the first
	// primary authentication until every other process waits for the
	// sign-in lock: all of them then load the old session before a new
	// one is saved, however slowly they start. A second sign-in while the
	// first is held (no lock taken) or a process that ends opens it too.
	// The sandbox serves behind it under the gate's address, so its links
	// lead back through it.
	const n = 8
	var (
		armed           atomic.Bool
		mu              sync.Mutex
		waiting, authns int
		open            = make(chan struct{})
		opened          sync.Once
	)
	// seen counts a process waiting for the lock (lock), one that ended
	// (end) or a primary authentication (authn).
	seen := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		switch what {
		case "lock":
			waiting++
		case "authn":
			authns++
		}
		if what == "end" || waiting >= n-1 || authns > 1 {
			opened.Do(func() { close(open) })
		}
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := httptest.NewUnstartedServer(nil)
	srv, err := sandbox.NewWithListener(cfg, addrListener{inner, gate.Listener.Addr()}, sandbox.Options{})
	if err != nil {
		inner.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: inner.Addr().String()})
	gate.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() && r.Method == http.MethodPost && r.URL.Path == "/api/v1/authn" {
			seen("authn")
			select {
			case <-open:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})
	gate.Start()
	t.Cleanup(gate.Close)
	if srv.URL != gate.URL {
		t.Fatalf("the sandbox calls itself %s, not the gate's %s", srv.URL, gate.URL)
	}
	e := setupCLIWith(t, srv, nil)
	setenv(t, "XDG_STATE_HOME", filepath.Join(e.home, ".local", "state"))
	e.initProfile(t)
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	e.env.clock = clk
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive", "--mfa", "push")
	e.env.clock = nil
	before := map[string]bool{}
	for _, s := range e.srv.Sessions() {
		before[s.ID] = true
	}

	bin := oktafedBinary(t)
	armed.Store(true)
	started := time.Now()
	type result struct {
		err    error
		stderr string
	}
	results := make(chan result, n)
	for range n {
		go func() {
			cmd := exec.Command(bin, "login", "--force", "--role", "/Admin$/", "--non-interactive")
			cmd.Env = e.env.environ()
			stderr := &watchWriter{want: "waiting to reuse its Okta session", seen: func() { seen("lock") }}
			cmd.Stderr = stderr
			err := cmd.Run()
			seen("end")
			results <- result{err, stderr.String()}
		}()
	}
	deadline := time.After(3 * time.Minute)
	for range n {
		select {
		case r := <-results:
			if r.err != nil {
				t.Errorf("login --force: %v\n%s", r.err, r.stderr)
			}
		case <-deadline:
			t.Fatal("concurrent logins did not finish in 3 minutes")
		}
	}
	perWindow := map[int64]int{}
	signIns := 0
	for _, s := range e.srv.Sessions() {
		if before[s.ID] {
			continue
		}
		signIns++
		perWindow[ledger.Step(s.CreatedAt, 30*time.Second)]++
	}
	if signIns == 0 {
		t.Fatal("no new Okta session: --force did not sign in")
	}
	for w, c := range perWindow {
		if c > 1 {
			t.Errorf("%d sign-ins in TOTP window %d", c, w)
		}
	}
	t.Logf("%d processes, %d sign-in(s) in %s", n, signIns, time.Since(started).Round(time.Millisecond))
	// The saved session is the last one made, and it works.
	expireCached(t, e.creds)
	setenv(t, "OKTA_PASSWORD", "")
	mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin")
}

// watchWriter keeps what a process writes and calls seen once the text
// holds want.
type watchWriter struct {
	want string
	seen func()

	mu   sync.Mutex
	buf  bytes.Buffer
	told bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	n, _ := w.buf.Write(p)
	tell := !w.told && strings.Contains(w.buf.String(), w.want)
	w.told = w.told || tell
	w.mu.Unlock()
	if tell {
		w.seen()
	}
	return n, nil
}

// addrListener is a listener that gives another address as its own.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A read-only credentials file is refused by login, and credential-process
// still prints fresh credentials when it cannot cache them.
func TestReadOnlyCredentialsFile(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	expireCached(t, e.creds)
	// A killed write left a temporary copy with live keys.
	stale := filepath.Join(filepath.Dir(e.creds), ".credentials.tmp-4242")
	if err := os.WriteFile(stale, []byte("[x]\naws_secret_access_key = LIVE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e.creds, 0o444); err != nil {
		t.Fatal(err)
	}
	before := mustRead(t, e.creds)

	code, _, errOut := run(t, "login", "--role", "/Admin$/", "--non-interactive")
	if code == 0 || !strings.Contains(errOut, "read-only") || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("login into a read-only file: exit %d, %s", code, errOut)
	}
	code, out, errOut := run(t, "credential-process", "--profile", "okta-123456789012-Admin")
	if code != 0 || !strings.Contains(out, `"Version":1`) || !strings.Contains(out, "ASIA") || !strings.Contains(errOut, "could not cache") {
		t.Fatalf("credential-process with a read-only file: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if strings.Contains(out, "2000-01-01") {
		t.Fatalf("credential-process printed the stale credentials: %s", out)
	}
	if got := mustRead(t, e.creds); !bytes.Equal(got, before) {
		t.Fatal("the read-only file changed")
	}
	if fi, _ := os.Stat(e.creds); fi.Mode().Perm() != 0o444 {
		t.Fatalf("mode changed to %v", fi.Mode().Perm())
	}
	// Writable again: the next write also removes the stale temporary file.
	if err := os.Chmod(e.creds, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file still there: %v", err)
	}
}

// Failures to reach Okta or STS name the cause and the setting to check;
// other mistakes name the command that fixes them.
func TestErrorsSayWhatToCheck(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	for _, tt := range []struct {
		name, org string
		want      []string
	}{
		{"refused", "http://127.0.0.1:1", []string{"cannot reach Okta at 127.0.0.1:1", "connection refused", "org URL", "VPN"}},
		{"dns", "https://oktafed-test.invalid", []string{"cannot reach Okta at oktafed-test.invalid", "does not resolve", "org URL"}},
		{"tls", tlsSrv.URL, []string{"cannot reach Okta", "not trusted", "SSL_CERT_FILE"}},
	} {
		mustRun(t, "init", "--profile", tt.name, "--non-interactive", "--org-url", tt.org, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com")
		code, _, errOut := run(t, "login", "--profile", tt.name, "--role", "all", "--non-interactive")
		for _, w := range tt.want {
			if code == 0 || !strings.Contains(errOut, w) {
				t.Errorf("login with org %s: exit %d, stderr lacks %q:\n%s", tt.org, code, w, errOut)
			}
		}
	}

	setenv(t, "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1")
	code, _, errOut := run(t, "login", "--role", "/Admin$/", "--non-interactive")
	for _, w := range []string{"cannot reach STS at 127.0.0.1:1", "connection refused", "AWS_ENDPOINT_URL_STS", "--sts-endpoint"} {
		if code == 0 || !strings.Contains(errOut, w) {
			t.Errorf("login with STS down: exit %d, stderr lacks %q:\n%s", code, w, errOut)
		}
	}

	code, _, errOut = run(t, "credential-process", "--profile", "nope")
	if code == 0 || !strings.Contains(errOut, "oktafed init --profile nope") {
		t.Errorf("credential-process for an unconfigured profile: exit %d: %s", code, errOut)
	}
}

// shellWords splits a line the way sandboxSignIn quotes it: words
// separated by spaces, single-quoted where needed.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// `oktafed sandbox` prints, under its banner, the demo user's secrets, the
// app's embed link and an init line; that line, run as printed, sets up a
// profile that logs in.
func TestSandboxPrintsAWorkingInitLine(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ios, _, _, errOut := Test()
	ios.Getenv = getenvOf(t)
	if code := Main(ctx, ios, []string{"sandbox", "--addr", "127.0.0.1:0"}); code != 0 {
		t.Fatalf("sandbox: exit %d: %s", code, errOut)
	}
	text := errOut.String()
	banner := strings.Index(text, "oktafed sandbox:")
	for _, want := range []string{"demo@example.com", "Sandbox-Demo-1", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "/home/amazon_aws/0oa1demoawsapp0000001/272", "oktafed init"} {
		if i := strings.Index(text, want); i < 0 || i < banner || banner < 0 {
			t.Errorf("sandbox output lacks %q under the banner:\n%s", want, text)
		}
	}

	// The line for this test's sandbox, run as printed.
	var initLine string
	for _, l := range strings.Split(sandboxSignIn(e.srv.URL, sandboxDefault()), "\n") {
		if strings.Contains(l, "oktafed init") {
			initLine = strings.TrimSpace(l)
		}
	}
	words := shellWords(t, initLine)
	setenv(t, "OKTA_PASSWORD", "")
	setenv(t, "OKTAFED_TOTP_SECRET", "")
	setenv(t, "AWS_ENDPOINT_URL_STS", "")
	for len(words) > 0 && strings.Contains(words[0], "=") {
		k, v, _ := strings.Cut(words[0], "=")
		setenv(t, k, v)
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "oktafed" {
		t.Fatalf("init line %q", initLine)
	}
	mustRun(t, words[1:]...)
	setenv(t, "OKTA_PASSWORD", "")
	setenv(t, "OKTAFED_TOTP_SECRET", "")
	out := mustRun(t, "login", "--profile", "sandbox", "--role", "all", "--non-interactive")
	if strings.Count(out, "✓") != 3 {
		t.Fatalf("login with the printed setup:\n%s", out)
	}
}

func TestDemoEndsWithTheSignInLines(t *testing.T) {
	t.Parallel()
	setupCLI(t)
	out := mustRun(t, "demo", "--mfa", "totp")
	i := strings.LastIndex(out, "Done.")
	if i < 0 {
		t.Fatalf("demo output:\n%s", out)
	}
	tail := out[i:]
	for _, want := range []string{"demo@example.com", "Sandbox-Demo-1", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "/home/amazon_aws/0oa1demoawsapp0000001/272", "oktafed init --profile sandbox", "oktafed login --profile sandbox"} {
		if !strings.Contains(tail, want) {
			t.Errorf("demo does not end with %q:\n%s", want, tail)
		}
	}
}

func sandboxDefault() sandbox.Config { return sandbox.DefaultConfig() }

// On a terminal the wait for the next TOTP window counts down; without
// one it is a single plain line.
func TestTOTPWaitCountsDownOnATerminal(t *testing.T) {
	t.Parallel()
	var tty bytes.Buffer
	ios := &IOStreams{ErrOut: &lockedWriter{w: &tty}, ErrTTY: true}
	clk := clock.NewFake(time.Now())
	d := loginDeps{ios: ios, waiting: &waitIndicator{clock: clk}}
	waitForWindow(d, clk.Now().Add(3500*time.Millisecond))
	// Two seconds pass: each time the countdown is waiting for the next
	// one, move the clock by it.
	for range 2 {
		waitForTimer(t, clk)
		clk.Advance(time.Second)
	}
	waitForTimer(t, clk) // the second update is drawn
	d.waiting.stop()
	got := tty.String()
	for _, want := range []string{"Waiting 3 s", "Waiting 2 s", "\r"} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q: %q", want, got)
		}
	}

	var plain bytes.Buffer
	ios = &IOStreams{ErrOut: &plain}
	waitForWindow(loginDeps{ios: ios, waiting: &waitIndicator{}}, time.Now().Add(20*time.Second))
	if got := plain.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "Waiting 20 s for the next TOTP code") || strings.Contains(got, "\r") {
		t.Errorf("plain output %q", got)
	}
}

// waitForTimer returns once code under test waits on clk.
func waitForTimer(t *testing.T, clk *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for clk.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing waits on the clock")
		}
		runtime.Gosched()
	}
}

// lockedWriter lets the spinner's goroutine and the test share a buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
