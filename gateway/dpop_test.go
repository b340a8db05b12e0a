package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/internal/dpop"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// dpopToken gets a DPoP-bound access token for a client that requires
// DPoP, as Okta's guide has it: a proof, the use_dpop_nonce answer with
// its DPoP-Nonce, a new proof with the nonce.
func dpopToken(t *testing.T, sb *sandbox.Server, key *dpop.Key, client, secret string) string {
	t.Helper()
	endpoint := sb.URL + "/oauth2/default/v1/token"
	nonce := ""
	for attempt := 0; attempt < 2; attempt++ {
		proof, err := key.Proof("POST", endpoint, "", nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", endpoint, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		req.SetBasicAuth(client, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		if resp.StatusCode == http.StatusBadRequest && out["error"] == "use_dpop_nonce" && nonce == "" {
			nonce = resp.Header.Get("DPoP-Nonce")
			continue
		}
		if resp.StatusCode != http.StatusOK || out["token_type"] != "DPoP" {
			t.Fatalf("DPoP token request: %d %s", resp.StatusCode, body)
		}
		return out["access_token"].(string)
	}
	t.Fatal("no token after the nonce exchange")
	return ""
}

// TestGatewayDPoPEndToEnd: the sandbox issues a DPoP-bound token to an app
// that requires DPoP; the gateway lets it through only with a valid proof
// for the request (200); without one, as a bearer token, with a replayed
// proof, or with a proof for another URL or method it answers 401 with a
// DPoP challenge.
func TestGatewayDPoPEndToEnd(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	cfg.OAuth.Servers[0].Clients = append(cfg.OAuth.Servers[0].Clients, sandbox.OAuthClientConfig{
		ClientID: "0oa1demodpop00000001", ClientSecret: "dpop-secret-not-secret", TokenEndpointAuthMethod: "client_secret_basic",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read"}, DPoPBoundAccessTokens: true,
	})
	sb := sandbox.Start(t, cfg)
	up := echoUpstream(t)
	gc := oktaConfig(t, sb, up.URL)
	gc.AllowNoRole = true
	gw := startGateway(t, gc)

	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	thief, _ := dpop.NewKey()
	tok := dpopToken(t, sb, key, "0oa1demodpop00000001", "dpop-secret-not-secret")
	proof := func(k *dpop.Key, method, path string) string {
		p, err := k.Proof(method, gw.url+path, tok, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	call := func(scheme, path string, proofs ...string) (int, http.Header) {
		req, _ := http.NewRequest("GET", gw.url+path, nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}

	good := proof(key, "GET", "/orders")
	if st, h := call("DPoP", "/orders", good); st != http.StatusOK {
		t.Fatalf("valid proof: %d %q", st, h.Get("WWW-Authenticate"))
	}
	for _, tc := range []struct {
		name, scheme string
		proofs       []string
	}{
		{"bearer, no proof", "Bearer", nil},
		{"DPoP, no proof", "DPoP", nil},
		{"replayed proof", "DPoP", []string{good}},
		{"wrong htu", "DPoP", []string{proof(key, "GET", "/admin")}},
		{"wrong htm", "DPoP", []string{proof(key, "POST", "/orders")}},
		{"another key", "DPoP", []string{proof(thief, "GET", "/orders")}},
	} {
		st, h := call(tc.scheme, "/orders", tc.proofs...)
		if st != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP") {
			t.Errorf("%s: %d %q, want 401 with WWW-Authenticate: DPoP", tc.name, st, h.Get("WWW-Authenticate"))
		}
	}
}

// TestGatewayDPoPReplayAcrossReplicas: two replicas sharing Redis share
// the DPoP replay cache: a proof used at one is refused at the other.
func TestGatewayDPoPReplayAcrossReplicas(t *testing.T) {
	rs := testenv.Redis(t)
	cfg := sandbox.DefaultConfig()
	cfg.OAuth.Servers[0].Clients = append(cfg.OAuth.Servers[0].Clients, sandbox.OAuthClientConfig{
		ClientID: "0oa1demodpop00000001", ClientSecret: "dpop-secret-not-secret", TokenEndpointAuthMethod: "client_secret_basic",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read"}, DPoPBoundAccessTokens: true,
	})
	sb := sandbox.Start(t, cfg)
	up := echoUpstream(t)
	gc := oktaConfig(t, sb, up.URL)
	gc.AllowNoRole = true
	gc.Redis = gateway.RedisConfig{URL: "redis://" + rs.Addr() + "/0", Prefix: "test:" + t.Name() + ":"}
	a, b := startGateway(t, gc), startGateway(t, gc)
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := dpopToken(t, sb, key, "0oa1demodpop00000001", "dpop-secret-not-secret")
	// Both replicas are addressed by one public URL; the proof names a's
	// address, and the same request reaches b with its Host kept.
	proof, err := key.Proof("GET", a.url+"/orders", tok, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.url, "http://")
	for i, target := range []string{a.url, b.url} {
		req, _ := http.NewRequest("GET", target+"/orders", nil)
		req.Host = host
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusOK
		if i == 1 {
			want = http.StatusUnauthorized
		}
		if resp.StatusCode != want {
			t.Fatalf("replica %d: %d %q, want %d", i, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
		}
	}
}
