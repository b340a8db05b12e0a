package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// silentListener accepts connections and never answers, as a firewall or
// a dropped VPN does; it returns its address.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// An Okta that takes the connection and never answers costs a login and a
// credential_process no more than the configured deadline, and the error
// names the host and the setting.
func TestSilentOktaMeetsTheDeadline(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	expireCached(t, e.creds)

	addr := silentListener(t)
	cfgPath := filepath.Join(e.home, ".config", "oktafed", "config.yaml")
	cfg := mustRead(t, cfgPath)
	if err := os.WriteFile(cfgPath, bytes.ReplaceAll(cfg, []byte(e.srv.URL), []byte("http://"+addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	setenv(t, "OKTAFED_RESPONSE_TIMEOUT", "300ms")
	const bound = 60 * time.Second // generous: the deadline is 300 ms
	for _, args := range [][]string{
		{"credential-process", "--profile", "okta-123456789012-Admin"},
		{"login", "--force", "--role", "/Admin$/", "--non-interactive"},
	} {
		start := time.Now()
		code, _, errOut := run(t, args...)
		if took := time.Since(start); took > bound {
			t.Errorf("%s took %s", args[0], took)
		}
		for _, w := range []string{"cannot reach Okta at " + addr, "did not answer in time", "OKTAFED_RESPONSE_TIMEOUT"} {
			if code == 0 || !strings.Contains(errOut, w) {
				t.Errorf("%s: exit %d, stderr lacks %q:\n%s", args[0], code, w, errOut)
			}
		}
	}

	setenv(t, "OKTAFED_CONNECT_TIMEOUT", "soon")
	if code, _, errOut := run(t, "credential-process", "--profile", "okta-123456789012-Admin"); code == 0 || !strings.Contains(errOut, "OKTAFED_CONNECT_TIMEOUT=\"soon\"") {
		t.Errorf("a mistyped deadline: exit %d\n%s", code, errOut)
	}
}

// While a login waits on a terminal, it shows which host it waits for.
func TestLoginShowsWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	setupCLI(t)
	addr := silentListener(t)
	mustRun(t, "init", "--non-interactive", "--org-url", "http://"+addr, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com", "--mfa", "totp")
	var buf bytes.Buffer
	errOut := &lockedWriter{w: &buf}
	ios, _, _, _ := Test()
	ios.ErrOut, ios.ErrTTY, ios.Getenv = errOut, true, getenvOf(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- Main(ctx, ios, []string{"login", "--role", "all", "--non-interactive"}) }()
	want := "Waiting for " + addr + " to answer"
	for {
		errOut.mu.Lock()
		seen := strings.Contains(buf.String(), want)
		errOut.mu.Unlock()
		if seen {
			break
		}
		select {
		case c := <-code:
			t.Fatalf("login ended (exit %d) without showing %q:\n%s", c, want, buf.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if c := <-code; c == 0 {
		t.Fatal("a cancelled login succeeded")
	}
}
