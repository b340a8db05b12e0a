package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// logWatch collects a process's JSON log lines and lets a test wait for
// one.
type logWatch struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	addr  chan string
	admin string // the admin listener's address, set with addr
}

func watchLog(t *testing.T, cmd *exec.Cmd) *logWatch {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &logWatch{addr: make(chan string, 1)}
	re := regexp.MustCompile(`on http://(127\.0\.0\.1:[0-9]+).*\(admin: http://(127\.0\.0\.1:[0-9]+)\)`)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := re.FindStringSubmatch(line); m != nil {
				w.mu.Lock()
				w.admin = m[2]
				w.mu.Unlock()
				w.addr <- m[1]
			}
			var rec map[string]any
			_ = json.Unmarshal([]byte(line), &rec)
			w.mu.Lock()
			w.raw = append(w.raw, line)
			if rec != nil {
				w.lines = append(w.lines, rec)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// find returns the first record with msg whose fields match want.
func (w *logWatch) find(msg string, want map[string]any) map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, rec := range w.lines {
		if rec["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range want {
			if fmt.Sprint(rec[k]) != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			return rec
		}
	}
	return nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.raw, "\n")
}

// TestSIGHUPReloadUnderLoad runs the built binary under wrk and reloads
// its route table with SIGHUP, as systemd's ExecReload does: no request
// fails, the new table routes the next requests (a new route answers, a
// route turned private asks for a token, the default upstream moved), and
// a file that does not validate changes nothing and is logged.
func TestSIGHUPReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	wrk := testenv.Wrk(t)
	bin := filepath.Join(t.TempDir(), "oktafed-gateway")
	if out, err := testenv.GoBuild(nil, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	var hitsA, hitsB, loadA, loadB atomic.Int64
	upstream := func(hits, load *atomic.Int64) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Load") == "wrk" {
				load.Add(1)
			} else {
				hits.Add(1) // the test's own requests
			}
		}))
		t.Cleanup(s.Close)
		return s
	}
	upA, upB := upstream(&hitsA, &loadA), upstream(&hitsB, &loadB)

	path := filepath.Join(t.TempDir(), "gateway.yaml")
	write := func(body string) {
		t.Helper()
		// Written beside and renamed, as editors and ConfigMaps do, so the
		// gateway never reads half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("upstream: " + upA.URL + `
routes:
  - {prefix: /stable/, public: true}
  - {prefix: /old/, public: true}
`)
	cmd := exec.Command(bin, "--config", path, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--access-log", "off", "--drain", "0")
	cmd.Env = append(os.Environ(), "OKTA_BASE_URL="+sb.URL, "OKTA_AUDIENCE=api://default", "OKTA_ORG_DOMAIN=", "REDIS_URL=", "GATEWAY_CONFIG=")
	logs := watchLog(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var base string
	select {
	case a := <-logs.addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("the gateway did not say where it listens:\n%s", logs)
	}
	status := func(p string) int {
		resp, err := http.Get(base + p)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	logs.mu.Lock()
	admin := "http://" + logs.admin
	logs.mu.Unlock()
	testenv.WaitFor(t, 30*time.Second, "the gateway to be ready", func() bool {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if st := status("/new/x"); st != 404 {
		t.Fatalf("/new/ before the reload: %d, want 404", st)
	}

	load := exec.Command(wrk, "-t1", "-c8", "-d3s", "--timeout", "2s", "-H", "X-Load: wrk", base+"/stable/x")
	var out strings.Builder
	load.Stdout, load.Stderr = &out, &out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	wrkDone := make(chan error, 1)
	go func() { wrkDone <- load.Wait() }()
	testenv.WaitFor(t, 10*time.Second, "wrk's requests to reach the first upstream", func() bool { return loadA.Load() > 100 })

	// A new table: /new/ added, /old/ needs an admin, another upstream.
	write("upstream: " + upB.URL + `
routes:
  - {prefix: /stable/, public: true}
  - {prefix: /new/, public: true}
  - {prefix: /old/, roles: [admin]}
`)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the reload to be logged", func() bool {
		return logs.find("configuration reloaded", map[string]any{"generation": 2}) != nil
	})
	if st := status("/new/x"); st != 200 {
		t.Errorf("/new/ after the reload: %d, want 200", st)
	}
	if st := status("/old/x"); st != 401 {
		t.Errorf("/old/ (now admin only) after the reload without a token: %d, want 401", st)
	}
	before := hitsB.Load()
	if st := status("/stable/x"); st != 200 || hitsB.Load() != before+1 {
		t.Errorf("/stable/ after the reload: %d, upstream B hits %d -> %d: the new default upstream must answer", st, before, hitsB.Load())
	}
	if hitsA.Load() != 0 {
		t.Errorf("upstream A got %d requests besides the load", hitsA.Load())
	}

	// A file that does not validate: an unknown key and a bad route.
	write("upstream: " + upA.URL + `
routes:
  - {prefix: /stable/, public: true}
  - {prefix: nope, public: true, methodz: [GET]}
`)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "the failed reload to be logged", func() bool {
		return logs.find("configuration reload failed; the running configuration is kept", map[string]any{"generation": 2}) != nil
	})
	if st := status("/new/x"); st != 200 {
		t.Errorf("/new/ after an invalid file: %d, want 200 (the running table kept)", st)
	}
	if st := status("/old/x"); st != 401 {
		t.Errorf("/old/ after an invalid file: %d, want 401", st)
	}
	if logs.find("configuration reloaded", map[string]any{"generation": 3}) != nil {
		t.Error("an invalid file made a new generation")
	}

	if err := <-wrkDone; err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	t.Logf("wrk across the reloads:\n%s", out.String())
	if m := wrkSocketErrors.FindStringSubmatch(out.String()); m != nil {
		t.Errorf("requests failed across the reloads: %s", m[0])
	}
	if strings.Contains(out.String(), "Non-2xx") {
		t.Errorf("non-2xx answers across the reloads")
	}
	if !strings.Contains(out.String(), "requests in") {
		t.Fatalf("wrk output without a summary:\n%s", out.String())
	}
	if loadB.Load() == 0 {
		t.Fatalf("wrk ended before the reload (upstream A %d, B %d load requests): the reload was not tested under load", loadA.Load(), loadB.Load())
	}
	t.Logf("load requests: %d before the reload (upstream A), %d after (upstream B)", loadA.Load(), loadB.Load())
}

var wrkSocketErrors = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
