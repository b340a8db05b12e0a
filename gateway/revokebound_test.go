package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/dpop"
	"github.com/oktafed/oktafed/verify"

	"github.com/oktafed/oktafed/gateway"
)

// TestRevokeDPoPBoundTokenByValue: an admin revokes a DPoP-bound token by
// its value (token=), as a bearer one, without the proof only its
// holder's key can make; the token with a fresh proof is refused from
// then on. A token that does not verify is still refused (400).
func TestRevokeDPoPBoundTokenByValue(t *testing.T) {
	sb := dpopSandbox(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Routes = []gateway.Route{{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}, AllowNoRole: true}}}
	gw := startGateway(t, cfg)
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c := dpopCaller{t: t, base: gw.url, key: key, tok: dpopToken(t, sb, key, seamDPoPClient, seamDPoPSecret)}
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	if st, ch := c.call("DPoP", "/x", c.proof("GET", "/x")); st != http.StatusOK {
		t.Fatalf("the bound token before revocation: %d %q", st, ch)
	}
	if st := revoke(t, gw.url, admin, url.Values{"token": {c.tok[:len(c.tok)-4] + "AAAA"}}); st != http.StatusBadRequest {
		t.Errorf("revoking a token whose signature does not verify: %d, want 400", st)
	}
	if st := revoke(t, gw.url, admin, url.Values{"token": {c.tok}}); st != http.StatusOK {
		t.Fatalf("revoking the DPoP-bound token by value: %d, want 200", st)
	}
	if st, ch := c.call("DPoP", "/x", c.proof("GET", "/x")); st != http.StatusUnauthorized || !strings.Contains(ch, "revoked") {
		t.Errorf("the revoked bound token with a fresh proof: %d %q, want 401 revoked", st, ch)
	}
}
