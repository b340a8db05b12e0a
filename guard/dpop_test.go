package guard_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/dpop"
)

// TestRequireDPoP: a token bound to a client's key passes the middleware
// only in the DPoP scheme with a fresh proof for this method and URL;
// everything else is 401 with a DPoP challenge, and the handler never
// runs.
func TestRequireDPoP(t *testing.T) {
	e := newEnv(t)
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dpop.NewKey()
	tok := e.token(t, []string{"orders.read"}, []string{"readers"}, 0, map[string]any{"cnf": map[string]any{"jkt": key.Thumbprint()}})
	g := guard.New(e.v, guard.Options{Realm: "orders"})
	var served int
	srv := httptest.NewServer(g.Require(guard.Rule{Roles: []string{"read"}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		if p == nil || p.KeyThumbprint != key.Thumbprint() {
			t.Errorf("principal %+v", p)
		}
		served++
	})))
	defer srv.Close()
	call := func(method, path, scheme string, proofs ...string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	proof := func(k *dpop.Key, method, path string) string {
		p, err := k.Proof(method, srv.URL+path, tok, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := proof(key, "GET", "/orders")
	if r := call("GET", "/orders?x=1", "DPoP", good); r.StatusCode != http.StatusOK {
		t.Fatalf("good proof: %d %s", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	for name, r := range map[string]*http.Response{
		"bearer":         call("GET", "/orders", "Bearer"),
		"no proof":       call("GET", "/orders", "DPoP"),
		"replayed proof": call("GET", "/orders", "DPoP", good),
		"wrong htm":      call("GET", "/orders", "DPoP", proof(key, "POST", "/orders")),
		"wrong htu":      call("GET", "/orders", "DPoP", proof(key, "GET", "/admin")),
		"another key":    call("GET", "/orders", "DPoP", proof(other, "GET", "/orders")),
		"two proofs":     call("GET", "/orders", "DPoP", proof(key, "GET", "/orders"), proof(key, "GET", "/orders")),
	} {
		if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "DPoP") {
			t.Errorf("%s: %d %q, want 401 with a DPoP challenge", name, r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	}
	if served != 1 {
		t.Fatalf("handler ran %d times, want once", served)
	}
}
