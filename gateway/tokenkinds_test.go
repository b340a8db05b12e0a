package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/sandbox"
)

// sandboxUserTokens runs the password grant for the demo user through the
// sandbox's public CLI client and returns the access, refresh and ID
// tokens, as a real client receives them.
func sandboxUserTokens(t *testing.T, sb *sandbox.Server) (access, refresh, id string) {
	t.Helper()
	form := url.Values{
		"grant_type": {"password"}, "client_id": {"0oa1democli000000001"}, "username": {"demo@example.com"},
		"password": {"Sandbox-Demo-1"}, "scope": {"openid orders.read offline_access"},
	}
	resp, err := http.PostForm(sb.URL+"/oauth2/default/v1/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
		ID      string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Access == "" || out.Refresh == "" || out.ID == "" {
		t.Fatalf("token request: %d %s", resp.StatusCode, body)
	}
	return out.Access, out.Refresh, out.ID
}

// TestGatewayTokenKinds: the access, refresh and ID tokens the sandbox
// issues, presented as bearer tokens to a gateway that checks them by
// signature (okta provider) and to one that introspects them (an
// introspection issuer at the sandbox's Okta endpoint): only the access
// token passes; the other two are refused with 401 whatever the
// introspection answer's shape.
func TestGatewayTokenKinds(t *testing.T) {
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := echoUpstream(t)
	access, refresh, id := sandboxUserTokens(t, sb)

	jwtGW := startGateway(t, oktaConfig(t, sb, up.URL))

	iss := sb.URL + "/oauth2/default"
	yml := `
upstream: ` + up.URL + `
groups: {admin: [aws-admins], write: [developers], read_only: [readers]}
allow_no_role: true
issuers:
  - name: sandbox_idp
    type: introspection
    accept_opaque: true
    client_id: 0oa1demoservice00001
    client_secret: demo-service-secret-not-secret
    introspect_url: ` + iss + `/v1/introspect
    issuer: ` + iss + `
    audiences: [api://default]
`
	cfg, err := gateway.ParseConfig([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	introGW := startGateway(t, cfg)

	for _, gw := range []struct {
		name string
		r    *running
	}{{"signature", jwtGW}, {"introspection", introGW}} {
		for _, tc := range []struct {
			kind, token string
			want        int
		}{
			{"access token", access, http.StatusOK},
			{"refresh token", refresh, http.StatusUnauthorized},
			{"id token", id, http.StatusUnauthorized},
		} {
			status, hdr, body := do(t, "GET", gw.r.url+"/orders", tc.token, nil)
			if status != tc.want {
				t.Errorf("%s gateway, %s: status %d, want %d (%v)", gw.name, tc.kind, status, tc.want, body)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s gateway, %s: WWW-Authenticate %q", gw.name, tc.kind, hdr.Get("WWW-Authenticate"))
			}
		}
	}
}
