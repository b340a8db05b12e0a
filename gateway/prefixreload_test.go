package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"

	"github.com/oktafed/oktafed/gateway"
)

// TestHeaderPrefixChangeStripsOldFamily: after a reload that changes
// header_prefix, clients' headers in the old family (any case, '_' for
// '-') are still removed, so an upstream not yet reading the new names
// cannot be fed a forged identity under the old ones; the default X-Auth-
// family is removed under any prefix. The new family carries the verified
// identity.
func TestHeaderPrefixChangeStripsOldFamily(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up.URL)
	cfg.HeaderPrefix = "X-Corp-"
	cfg.Routes = []gateway.Route{{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}}}}
	gw := startGateway(t, cfg)
	tok := mint(t, sb, nil, []string{"readers"}, nil)
	send := func() http.Header {
		t.Helper()
		req, _ := http.NewRequest("GET", gw.url+"/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for _, n := range []string{"X-Corp-Role", "X-Auth-Role", "X-Id-Role"} {
			req.Header.Set(n, "admin")
		}
		req.Header["X_corp_user"] = []string{"mallory"}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	check := func(h http.Header, live string, forged ...string) {
		t.Helper()
		if u := h.Values(live + "User"); len(u) != 1 || u[0] == "mallory" {
			t.Errorf("%sUser = %q, want the verified user only", live, u)
		}
		if h.Get(live+"Role") != verify.RoleRead {
			t.Errorf("%sRole = %q, want the verified %q", live, h.Get(live+"Role"), verify.RoleRead)
		}
		for k, v := range h {
			for _, f := range forged {
				if strings.HasPrefix(strings.ReplaceAll(strings.ToLower(k), "_", "-"), f) {
					t.Errorf("the client's %s: %q reached the upstream", k, v)
				}
			}
		}
	}
	check(send(), "X-Corp-", "x-auth-")
	cfg.HeaderPrefix = "X-Id-"
	if err := gw.gw.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	check(send(), "X-Id-", "x-auth-", "x-corp-")
}
