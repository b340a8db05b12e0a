package gateway_test

// Failures around the gateway: Redis and the key server going away and
// coming back, and a stop signal under load.

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// flakyTCP forwards connections to target until it is set down; then it
// cuts every open connection and refuses new ones, as a crashed or
// partitioned server looks to a client.
type flakyTCP struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newFlakyTCP(t testing.TB, target string) *flakyTCP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyTCP{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); f.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *flakyTCP) addr() string { return f.ln.Addr().String() }

func (f *flakyTCP) serve(c net.Conn) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		c.Close()
		return
	}
	f.mu.Unlock()
	u, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		return
	}
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	f.conns[c], f.conns[u] = true, true
	f.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
}

func (f *flakyTCP) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	if down {
		for c := range f.conns {
			c.Close()
		}
		clear(f.conns)
	}
}

// readyz returns /readyz's status and body.
func readyz(t testing.TB, base string) (int, string) {
	t.Helper()
	st, _, m := do(t, "GET", base+"/readyz", "", nil)
	return st, m["_body"]
}

func waitReadyz(t testing.TB, base string, within time.Duration, want int, contains string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st, body := readyz(t, base)
		if st == want && strings.Contains(body, contains) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("/readyz = %d %q after %v, want %d with %q", st, body, within, want, contains)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRevocationsWhenRedisFails(t *testing.T) {
	t.Parallel()
	rs := testenv.Redis(t)
	link := newFlakyTCP(t, rs.Addr())
	link.setDown(true)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, echoUpstream(t).URL)
	cfg.Redis.URL = "redis://" + link.addr() + "/0"
	cfg.Redis.Prefix = "test:" + t.Name() + ":"
	cfg.Redis.MaxStale = time.Second
	gw := startGatewayWith(t, cfg, gateway.Options{})
	openCfg := cfg
	openCfg.Redis.OnFailure = gateway.FailOpen
	open := startGatewayWith(t, openCfg, gateway.Options{})

	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	victim := mint(t, sb, nil, []string{"readers"}, map[string]any{"jti": "AT.victim"})

	// Started while Redis is down: fail-closed is not ready and refuses
	// tokens, since it cannot know which were revoked before.
	waitReadyz(t, gw.admin, 10*time.Second, 503, "revocation list has not been loaded")
	if st, _, _ := do(t, "GET", gw.url+"/x", victim, nil); st != 503 {
		t.Fatalf("fail-closed replica without the list answered %d, want 503", st)
	}
	// Fail-open serves, and says Redis is degraded.
	waitReadyz(t, open.admin, 10*time.Second, 200, "degraded")
	if st, _, _ := do(t, "GET", open.url+"/x", victim, nil); st != 200 {
		t.Fatalf("fail-open replica answered %d", st)
	}

	// A revocation during the outage is refused with 503 and applied
	// nowhere, not on this replica alone.
	if st := revoke(t, open.url, admin, url.Values{"jti": {"AT.victim"}}); st != 503 {
		t.Fatalf("revocation without Redis answered %d, want 503", st)
	}
	if st, _, _ := do(t, "GET", open.url+"/x", victim, nil); st != 200 {
		t.Fatalf("a revocation that failed was applied locally: %d", st)
	}

	// Redis back: ready within seconds, with the list loaded.
	link.setDown(false)
	took := waitReadyz(t, gw.admin, 10*time.Second, 200, "ready")
	t.Logf("ready %v after Redis came back", took)
	if st, body := readyz(t, gw.admin); st != 200 || strings.Contains(body, "degraded") {
		t.Fatalf("/readyz = %d %q", st, body)
	}
	if st := revoke(t, gw.url, admin, url.Values{"jti": {"AT.victim"}}); st != 200 {
		t.Fatalf("revocation with Redis: %d", st)
	}
	waitStatus(t, gw.url+"/x", victim, 401)
	waitStatus(t, open.url+"/x", victim, 401)

	// Redis lost again: degraded at once, not ready (fail-closed) once the
	// list is older than max_stale; fail-open keeps serving.
	link.setDown(true)
	waitReadyz(t, gw.admin, 10*time.Second, 200, "degraded")
	waitReadyz(t, gw.admin, 10*time.Second, 503, "Redis unreachable")
	if st, _, _ := do(t, "GET", gw.url+"/x", admin, nil); st != 503 {
		t.Errorf("stale fail-closed replica answered %d, want 503", st)
	}
	if st, _, _ := do(t, "GET", open.url+"/x", admin, nil); st != 200 {
		t.Errorf("fail-open replica answered %d, want 200", st)
	}
	if st, _, _ := do(t, "GET", open.url+"/x", victim, nil); st != 401 {
		t.Errorf("fail-open replica forgot a revocation: %d", st)
	}
	link.setDown(false)
	waitReadyz(t, gw.admin, 10*time.Second, 200, "ready")

	if !strings.Contains(gw.logs.String(), `"msg":"revocation feed from Redis interrupted; retrying"`) {
		t.Errorf("the Redis outage is not in the JSON log:\n%s", gw.logs.String())
	}
}

// flakyTransport fails every request while down, as an unreachable key
// server does, and counts the requests it refused.
type flakyTransport struct {
	down    atomic.Bool
	refused atomic.Int64
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() {
		f.refused.Add(1)
		return nil, errors.New("dial tcp: connection refused")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestKeyServerOutage(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, echoUpstream(t).URL)
	const floor = 700 * time.Millisecond
	cfg.KeyCache.RefetchFloor = floor
	keys := &flakyTransport{}
	keys.down.Store(true)
	gw := startGatewayWith(t, cfg, gateway.Options{HTTPClient: &http.Client{Transport: keys}})
	reader := mint(t, sb, nil, []string{"readers"}, nil)

	waitReadyz(t, gw.admin, 5*time.Second, 503, "issuer keys")
	if st, _, _ := do(t, "GET", gw.url+"/x", reader, nil); st != 503 {
		t.Fatalf("without keys: %d, want 503", st)
	}
	// Failed attempts pile up (retries go on, once per floor at most),
	// then the key server comes back and the gateway gets ready.
	testenv.WaitFor(t, 30*time.Second, "three refused key fetches", func() bool { return keys.refused.Load() >= 3 })
	keys.down.Store(false)
	took := waitReadyz(t, gw.admin, 30*time.Second, 200, "ready")
	t.Logf("ready %v after the key server came back (refetch floor %v)", took, floor)
	if st, _, _ := do(t, "GET", gw.url+"/x", reader, nil); st != 200 {
		t.Fatalf("with keys: %d", st)
	}

	// The key server goes away: cached keys keep verifying new tokens and
	// the gateway stays ready.
	keys.down.Store(true)
	time.Sleep(2 * floor) // past the floor, so a refetch would be allowed
	fresh := mint(t, sb, nil, []string{"readers"}, map[string]any{"jti": "AT.fresh"})
	if st, _, _ := do(t, "GET", gw.url+"/x", fresh, nil); st != 200 {
		t.Errorf("a new token signed by a cached key during the outage: %d", st)
	}
	if st, body := readyz(t, gw.admin); st != 200 {
		t.Errorf("/readyz during the key server outage: %d %q", st, body)
	}
}

var wrkSocketErrors = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)

func TestDrainUnderWrk(t *testing.T) {
	wrk := testenv.Wrk(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, echoUpstream(t).URL)
	const drain = 3 * time.Second
	cfg.Timeouts.Drain = drain
	gw := startGateway(t, cfg)
	reader := mint(t, sb, nil, []string{"readers"}, nil)

	// wrk runs 2s; the stop signal comes 0.5s in, so every request of
	// the run falls in the drain period and must be answered.
	cmd := exec.Command(wrk, "-t1", "-c16", "-d2s", "--timeout", "10s", "-H", "Authorization: Bearer "+reader, gw.url+"/x")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	stopped := time.Now()
	gw.stop()
	waitReadyz(t, gw.admin, drain, 503, "draining")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	t.Logf("wrk during drain:\n%s", out.String())
	if m := wrkSocketErrors.FindStringSubmatch(out.String()); m != nil {
		t.Errorf("requests failed during the drain: %s", m[0])
	}
	if strings.Contains(out.String(), "Non-2xx") {
		t.Errorf("non-2xx answers during the drain")
	}
	if !strings.Contains(out.String(), "requests in") {
		t.Fatalf("wrk output without a summary:\n%s", out.String())
	}
	err := <-gw.done
	gw.done <- err
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// Timers never fire early: Serve kept serving for the whole drain.
	if d := time.Since(stopped); d < drain {
		t.Errorf("Serve returned %v after the stop signal; drain is %v", d, drain)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(gw.url, "http://")); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}
