package testenv_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/internal/testenv"
)

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// jwtParts decodes a compact JWS's header and payload without checking
// the signature: these tests check what the provider issues, not oktafed's
// verifier.
func jwtParts(t *testing.T, token string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts: %q", len(parts), token)
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
	}
	return header, payload
}

func TestOIDCProvider(t *testing.T) {
	t.Parallel()
	p := testenv.OIDCProvider(t, &testenv.OIDCProviderOptions{
		Resources:   append(testenv.DefaultOIDCResources(), testenv.OIDCResource{Audience: "api://other", Scopes: []string{"admin"}}),
		ExtraClaims: map[string]any{"tenant": "acme"},
	})
	ctx := ctxFor(t)

	var disc struct {
		Issuer        string   `json:"issuer"`
		JWKSURI       string   `json:"jwks_uri"`
		TokenEndpoint string   `json:"token_endpoint"`
		GrantTypes    []string `json:"grant_types_supported"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	getJSON(t, p.DiscoveryURL(), &disc)
	if disc.Issuer != p.Issuer() || !strings.HasPrefix(p.Issuer(), "http://127.0.0.1:") {
		t.Errorf("discovery issuer %q, helper issuer %q", disc.Issuer, p.Issuer())
	}
	if disc.JWKSURI != p.JWKSURL() || disc.TokenEndpoint != p.TokenURL() {
		t.Errorf("discovery endpoints %q %q, helper %q %q", disc.JWKSURI, disc.TokenEndpoint, p.JWKSURL(), p.TokenURL())
	}
	if !slices.Contains(disc.GrantTypes, "client_credentials") || !slices.Contains(disc.AuthMethods, "private_key_jwt") {
		t.Errorf("discovery lacks client_credentials or private_key_jwt: %v %v", disc.GrantTypes, disc.AuthMethods)
	}

	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, disc.JWKSURI, &jwks)
	algByKid := map[string]string{}
	for _, k := range jwks.Keys {
		if _, private := k["d"]; private {
			t.Errorf("JWKS publishes a private key: %v", k["kid"])
		}
		algByKid[fmt.Sprint(k["kid"])] = fmt.Sprint(k["alg"])
	}

	for _, tc := range []struct {
		audience, wantAud, wantAlg, scope string
		wantScp                           []any
	}{
		{"", testenv.DefaultOIDCAudience, "RS256", "read", []any{"read"}},
		{testenv.ES256OIDCAudience, testenv.ES256OIDCAudience, "ES256", "read write unknown", []any{"read", "write"}},
		{"api://other", "api://other", "RS256", "admin", []any{"admin"}},
	} {
		token, err := p.ClientCredentialsToken(ctx, tc.scope, tc.audience)
		if err != nil {
			t.Fatalf("client_credentials for %q: %v", tc.audience, err)
		}
		h, c := jwtParts(t, token)
		kid, _ := h["kid"].(string)
		if kid == "" {
			t.Fatalf("token header has no kid: %v", h)
		}
		if h["alg"] != tc.wantAlg || algByKid[kid] != tc.wantAlg {
			t.Errorf("aud %s: alg %v, JWKS alg for kid %s %q, want %s", tc.wantAud, h["alg"], kid, algByKid[kid], tc.wantAlg)
		}
		if c["iss"] != p.Issuer() || c["aud"] != tc.wantAud || c["client_id"] != p.ClientID || c["cid"] != p.ClientID || c["tenant"] != "acme" {
			t.Errorf("claims %v", c)
		}
		if !slices.Equal(c["scp"].([]any), tc.wantScp) {
			t.Errorf("scp %v, want %v", c["scp"], tc.wantScp)
		}
	}

	token, err := p.PrivateKeyJWTToken(ctx, "write", "")
	if err != nil {
		t.Fatalf("private_key_jwt: %v", err)
	}
	if _, c := jwtParts(t, token); c["client_id"] != p.KeyClientID {
		t.Errorf("private_key_jwt token for %v, want %s", c["client_id"], p.KeyClientID)
	}

	if _, err := p.ClientCredentialsToken(ctx, "read", "api://unknown"); err == nil || !strings.Contains(err.Error(), "invalid_target") {
		t.Errorf("unknown audience: got %v, want invalid_target", err)
	}
}

func TestChromiumDumpDOM(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		// The script proves the DOM is dumped after JavaScript ran.
		io.WriteString(w, `<!doctype html><html><body><p id="x">static</p>
<script>document.getElementById("x").textContent = "from-script";</script></body></html>`)
	}))
	defer srv.Close()
	dom := testenv.ChromiumDumpDOM(t, ctxFor(t), srv.URL)
	if !strings.Contains(dom, "from-script") {
		t.Errorf("DOM lacks the script's text:\n%s", dom)
	}
}

func TestPrograms(t *testing.T) {
	for name, f := range map[string]func(testing.TB) string{
		"aws": testenv.AWSCLI, "wrk": testenv.Wrk, "chromedriver": testenv.ChromeDriver, "chromium": testenv.Chromium,
	} {
		if p := f(t); !strings.HasSuffix(p, "/"+name) {
			t.Errorf("%s: got %q", name, p)
		}
	}
}
