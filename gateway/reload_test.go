package gateway_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// TestReloadKeepsRevocationsAndRefusesRedisChanges reloads a gateway's
// configuration in process: the new route table applies to the next
// request, a revocation made before the reload still holds after it, a
// changed Redis or an invalid table is refused with the running
// configuration kept, and a new audience (a new verifier) is warmed
// before it serves.
func TestReloadKeepsRevocationsAndRefusesRedisChanges(t *testing.T) {
	rs := testenv.Redis(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := echoUpstream(t).URL
	cfg := oktaConfig(t, sb, up)
	cfg.Redis.URL = "redis://" + rs.Addr() + "/0"
	cfg.Redis.Prefix = "test:" + t.Name() + ":"
	gw := startGateway(t, cfg)
	ctx := context.Background()

	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	victim := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	if st := revoke(t, gw.url, admin, url.Values{"token": {victim}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if st, _, _ := do(t, "GET", gw.url+"/open/x", "", nil); st != 401 {
		t.Fatalf("/open/ before the reload without a token: %d, want 401", st)
	}

	next := cfg
	next.Routes = []gateway.Route{{Prefix: "/open/"}, {Prefix: "/"}}
	next.Routes[0].Public = true
	next.Routes[1].Roles = []string{"read"}
	if err := gw.gw.Reload(ctx, next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if g := gw.gw.Generation(); g != 2 {
		t.Fatalf("generation %d after one reload, want 2", g)
	}
	if st, _, _ := do(t, "GET", gw.url+"/open/x", "", nil); st != 200 {
		t.Errorf("/open/ after the reload without a token: %d, want 200", st)
	}
	if st, _, _ := do(t, "GET", gw.url+"/x", victim, nil); st != 401 {
		t.Errorf("a token revoked before the reload: %d after it, want 401", st)
	}
	if st, _, _ := do(t, "GET", gw.url+"/x", reader, nil); st != 200 {
		t.Errorf("a reader after the reload: %d, want 200", st)
	}

	for name, bad := range map[string]func(*gateway.Config){
		"another redis":  func(c *gateway.Config) { c.Redis.Prefix = "other:" },
		"a bad route":    func(c *gateway.Config) { c.Routes = []gateway.Route{{Prefix: "no-slash"}} },
		"a bad upstream": func(c *gateway.Config) { c.Upstream = "ftp://127.0.0.1:1" },
	} {
		c := next
		bad(&c)
		err := gw.gw.Reload(ctx, c)
		if err == nil {
			t.Errorf("%s: reloaded", name)
			continue
		}
		if name == "another redis" && !strings.Contains(err.Error(), "restart") {
			t.Errorf("%s: %v: the error must say a restart applies it", name, err)
		}
	}
	if g := gw.gw.Generation(); g != 2 {
		t.Errorf("generation %d after refused reloads, want 2", g)
	}
	if st, _, _ := do(t, "GET", gw.url+"/open/x", "", nil); st != 200 {
		t.Errorf("/open/ after refused reloads: %d, want the running table's 200", st)
	}
	if !strings.Contains(gw.logs.String(), "configuration reload failed; the running configuration is kept") {
		t.Errorf("refused reloads not logged:\n%s", gw.logs.String())
	}

	// Another audience: the new verifier loads its keys before serving.
	aud := withAudiences(next, "api://other")
	if err := gw.gw.Reload(ctx, aud); err != nil {
		t.Fatalf("Reload with a new audience: %v", err)
	}
	if st, _, _ := do(t, "GET", gw.url+"/x", reader, nil); st != 401 {
		t.Errorf("a token for the old audience after the reload: %d, want 401", st)
	}
	if !gw.gw.Ready() {
		t.Error("not ready after a reload that changed the verifier")
	}
}

// TestWatchFileReloadsOnContentChange: the watch calls reload once per
// change of content, whether the file is rewritten or swapped by a
// rename (a ConfigMap update), and not for a rewrite with the same
// content.
func TestWatchFileReloadsOnContentChange(t *testing.T) {
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	gw := startGateway(t, oktaConfig(t, sb, echoUpstream(t).URL))
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path+".new", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	write("upstream: http://127.0.0.1:1\n")
	var calls atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	gw.gw.ConfigLoaded(path)
	go func() { gw.gw.WatchFile(ctx, path, 5*time.Millisecond, func() { calls.Add(1) }); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	write("upstream: http://127.0.0.1:2\n")
	testenv.WaitFor(t, 10*time.Second, "the watch to see the change", func() bool { return calls.Load() == 1 })
	write("upstream: http://127.0.0.1:2\n") // same content
	write("upstream: http://127.0.0.1:3\n")
	testenv.WaitFor(t, 10*time.Second, "the watch to see the second change", func() bool { return calls.Load() >= 2 })
	if n := calls.Load(); n != 2 {
		t.Errorf("%d reloads for two changes", n)
	}
}
