package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/oktafed/oktafed/sandbox"
)

// TestRequestIDKeptFromTrustedIngressOnly: an X-Request-Id reaches the
// upstream exactly once, kept only when a trusted ingress sent a well
// formed one and generated otherwise; its underscore spelling is
// removed; every access-log line carries the id the upstream got.
func TestRequestIDKeptFromTrustedIngressOnly(t *testing.T) {
	var mu sync.Mutex
	var got [][]string
	var underscore []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Values("X-Request-Id"))
		for k := range r.Header {
			if strings.Contains(strings.ToLower(k), "request_id") {
				underscore = append(underscore, k)
			}
		}
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)

	for _, tc := range []struct {
		name    string
		trusted []string // forward_auth.trusted; the test client is 127.0.0.1
		sent    map[string]string
		keep    bool
	}{
		{"trusted ingress", nil, map[string]string{"X-Request-Id": "req-1f3a.9:b_c"}, true},
		{"untrusted client", []string{"192.0.2.0/24"}, map[string]string{"X-Request-Id": "chosen-by-attacker"}, false},
		{"trusted but malformed", nil, map[string]string{"X-Request-Id": "a b\"c"}, false},
		{"trusted but too long", nil, map[string]string{"X-Request-Id": strings.Repeat("a", 129)}, false},
		{"underscore spelling", []string{"192.0.2.0/24"}, map[string]string{"X_Request_Id": "forged"}, false},
		{"none sent", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oktaConfig(t, sb, up.URL)
			cfg.ForwardAuth.Trusted = tc.trusted
			gw := startGateway(t, cfg)
			mu.Lock()
			got, underscore = nil, nil
			mu.Unlock()
			if st, _, _ := do(t, "GET", gw.url+"/x", reader, tc.sent); st != 200 {
				t.Fatalf("status %d", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || len(got[0]) != 1 {
				t.Fatalf("the upstream got X-Request-Id %v, want exactly one", got)
			}
			id := got[0][0]
			if tc.keep && id != tc.sent["X-Request-Id"] {
				t.Errorf("upstream got %q, want the ingress's %q", id, tc.sent["X-Request-Id"])
			}
			if !tc.keep && !generated.MatchString(id) {
				t.Errorf("upstream got %q, want a generated id", id)
			}
			if len(underscore) > 0 {
				t.Errorf("underscore spellings reached the upstream: %v", underscore)
			}
			found := false
			for _, line := range strings.Split(gw.logs.String(), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" {
					found = true
					if rec["request_id"] != id {
						t.Errorf("access log request_id %v, the upstream got %q", rec["request_id"], id)
					}
				}
			}
			if !found {
				t.Errorf("no access-log line:\n%s", gw.logs.String())
			}
		})
	}
}
