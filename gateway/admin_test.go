package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/sandbox"
)

// TestAdminListener: /healthz, /readyz and /metrics are served on the
// admin listener only; on the proxy port they are the upstream's paths,
// under the route's rule like any other. pprof is off unless asked for.
func TestAdminListener(t *testing.T) {
	e := newHostileEnv(t)
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		st, _, body := e.send(t, "GET", p, "", nil, "")
		if st != http.StatusUnauthorized {
			t.Errorf("proxy %s without a token: status %d, want 401 (the default route's rule): %s", p, st, body)
		}
		st, env, body := e.send(t, "GET", p, e.reader, nil, "")
		if st != 200 || env.str("PATH_INFO") != p {
			t.Errorf("proxy %s with a token: status %d, not the upstream's answer: %s", p, st, body)
		}
	}
	want := map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "oktafed_gateway_requests_total"}
	for p, w := range want {
		st, _, m := do(t, "GET", e.gw.admin+p, "", nil)
		if st != 200 || !strings.Contains(m["_body"], w) {
			t.Errorf("admin %s: status %d: %.200s", p, st, m["_body"])
		}
	}
	for _, p := range []string{"/debug/pprof/", "/x", "/_oktafed/revocations"} {
		if st, _, _ := do(t, "GET", e.gw.admin+p, "", nil); st != http.StatusNotFound {
			t.Errorf("admin %s: status %d, want 404", p, st)
		}
	}
	seen := e.up.seen(t)
	if len(seen) != 3 {
		t.Errorf("upstream saw %q, want the three token requests", seen)
	}

	t.Run("pprof when asked for", func(t *testing.T) {
		sb := sandbox.Start(t, sandbox.DefaultConfig())
		cfg := oktaConfig(t, sb, e.up.URL)
		cfg.AdminPprof = true
		gw := startGateway(t, cfg)
		if st, _, _ := do(t, "GET", gw.admin+"/debug/pprof/", "", nil); st != 200 {
			t.Errorf("admin /debug/pprof/ with admin_pprof: status %d", st)
		}
	})
	_ = gateway.DefaultAdminListen
}
