package main

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/oktafed/oktafed/sandbox"

	"github.com/oktafed/oktafed/internal/testenv"
)

// TestSIGTERMDrains runs the built binary and stops it as an orchestrator
// does: after SIGTERM /readyz answers 503 at once, requests are still
// served past main's default 2s grace (the gateway raised it to cover
// --drain), and the process then exits 0 on its own rather than being cut
// off with 130.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "oktafed-gateway")
	if out, err := testenv.GoBuild(nil, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(up.Close)

	const drain = 3 * time.Second
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream", up.URL, "--drain", drain.String(), "--access-log", "off")
	cmd.Env = append(os.Environ(), "OKTA_BASE_URL="+sb.URL, "OKTA_AUDIENCE=api://default", "OKTA_ORG_DOMAIN=", "REDIS_URL=", "GATEWAY_CONFIG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	addrCh := make(chan string, 1)
	go func() {
		// The admin listener serves /readyz and /healthz.
		re := regexp.MustCompile(`\(admin: http://(127\.0\.0\.1:[0-9]+)\)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrCh <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not say where it listens")
	}
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(path string, want int) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); status(path) != want; {
			if time.Now().After(end) {
				t.Fatalf("%s never answered %d", path, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("/readyz", 200)

	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("/readyz", 503)
	// Past main's default grace, still inside the drain.
	time.Sleep(defaultGrace + 300*time.Millisecond - time.Since(stopped))
	// A machine too loaded to ask within the drain cannot tell; the exit
	// code and time below still show the drain was not cut off.
	if got := status("/healthz"); got != 200 && time.Since(stopped) < drain {
		t.Fatalf("/healthz during the drain: %d, want 200", got)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("exit code %d after SIGTERM, want 0", ee.ExitCode())
		} else if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(stopped); took < drain {
			t.Errorf("stopped %s after SIGTERM, before the %s drain ended", took, drain)
		}
	case <-time.After(drain + 20*time.Second):
		t.Fatal("the gateway did not stop after the drain")
	}
}
