package cli

import (
	"bytes"
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
