package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/oktafed/oktafed/internal/dpop"
)

// TestDPoPTokenRequests follows Okta's DPoP guide against an app that
// requires DPoP: no proof is refused; a proof without the server's nonce
// is answered use_dpop_nonce with a DPoP-Nonce header; a new proof with
// the nonce gets a DPoP token bound to the proof's key. Proofs are
// single-use and bound to the token endpoint's URL and POST.
func TestDPoPTokenRequests(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Servers[0].Clients = append(c.Servers[0].Clients, ClientConfig{
			ClientID: "svc-dpop", ClientSecret: "dpop-secret", GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"read"}, DPoPBoundAccessTokens: true,
		})
	})
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := e.url + tokenPath
	form := url.Values{"grant_type": {GrantClientCredentials}, "scope": {"read"}}
	with := func(proofs ...string) func(*http.Request) {
		return func(r *http.Request) {
			r.SetBasicAuth("svc-dpop", "dpop-secret")
			for _, p := range proofs {
				r.Header.Add("DPoP", p)
			}
		}
	}
	proof := func(method, u, nonce string) string {
		p, err := key.Proof(method, u, "", nonce, e.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	r := e.do(http.MethodPost, tokenPath, form, with())
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_dpop_proof" {
		t.Fatalf("no proof: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodPost, tokenPath, form, with(proof("POST", endpoint, "")))
	nonce := r.header.Get("DPoP-Nonce")
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("proof without nonce: %d %s (DPoP-Nonce %q)", r.status, r.body, nonce)
	}
	good := proof("POST", endpoint, nonce)
	r = e.do(http.MethodPost, tokenPath, form, with(good))
	if r.status != http.StatusOK {
		t.Fatalf("proof with nonce: %d %s", r.status, r.body)
	}
	body := r.json(t)
	if body["token_type"] != "DPoP" {
		t.Fatalf("token_type = %v, want DPoP", body["token_type"])
	}
	c := unverifiedClaims(t, body["access_token"].(string))
	if cnf, _ := c["cnf"].(map[string]any); cnf == nil || cnf["jkt"] != key.Thumbprint() {
		t.Fatalf("cnf = %v, want jkt %s", c["cnf"], key.Thumbprint())
	}
	// Introspection reports the binding.
	if got := e.introspect(body["access_token"].(string)); got["active"] != true || got["cnf"] == nil {
		t.Fatalf("introspection of a bound token: %v", got)
	}
	for name, mod := range map[string]func(*http.Request){
		"replayed proof": with(good),
		"wrong htu":      with(proof("POST", e.url+"/oauth2/default/v1/introspect", nonce)),
		"wrong htm":      with(proof("GET", endpoint, nonce)),
		"stale nonce":    with(proof("POST", endpoint, "not-the-nonce")),
		"two proofs":     with(proof("POST", endpoint, nonce), proof("POST", endpoint, nonce)),
	} {
		if r := e.do(http.MethodPost, tokenPath, form, mod); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// An app that does not require DPoP still gets bearer tokens.
	r = e.do(http.MethodPost, tokenPath, form, basicAuth("svc-basic", "basic-secret"))
	if r.status != http.StatusOK || r.json(t)["token_type"] != "Bearer" {
		t.Fatalf("bearer app: %d %s", r.status, r.body)
	}
}

// FuzzDPoPTokenProof: the token endpoint's DPoP proof check never panics
// and binds tokens only to keys whose proofs verify.
func FuzzDPoPTokenProof(f *testing.F) {
	srv := fuzzServer(f)
	key, err := dpop.NewKey()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := key.Proof("POST", srv.url("token"), "", srv.dpop.currentNonce(), testStart)
	f.Add(good)
	f.Add("a.b.c")
	f.Add("")
	cl := &client{id: "c", dpop: true}
	f.Fuzz(func(t *testing.T, proof string) {
		req, _ := http.NewRequest(http.MethodPost, srv.url("token"), nil)
		req.Header.Set("DPoP", proof)
		jkt, oerr := srv.checkDPoP(req, cl)
		if oerr != nil {
			if jkt != "" || (oerr.code != "invalid_dpop_proof" && oerr.code != "use_dpop_nonce") {
				t.Fatalf("%q %+v", jkt, oerr)
			}
			return
		}
		if jkt == "" {
			t.Fatal("no error and no key")
		}
	})
}
