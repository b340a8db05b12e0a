package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// TestSandboxOrgServer: the org authorization server, as Okta runs it. Its
// access tokens are signed with a key its JWKS does not publish, so the
// org-server option refuses them with a pointer to introspection (which
// does accept them); it accepts the org server's ID tokens issued to the
// configured client, and no other client's.
func TestSandboxOrgServer(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	cfg.OAuth.OrgServer.Clients = append(cfg.OAuth.OrgServer.Clients,
		sandbox.OAuthClientConfig{ClientID: "0oa1orgweb0000000001", ClientSecret: "org-web-secret", GrantTypes: []string{"password"}, Scopes: []string{"openid", "profile"}},
		sandbox.OAuthClientConfig{ClientID: "0oa1orgother00000001", ClientSecret: "org-other-secret", GrantTypes: []string{"password"}, Scopes: []string{"openid", "profile"}})
	srv := sandbox.Start(t, cfg)
	ctx := context.Background()
	tokens := func(client, secret string) (access, id string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/v1/token", strings.NewReader(url.Values{
			"grant_type": {"password"}, "username": {"demo@example.com"}, "password": {"Sandbox-Demo-1"}, "scope": {"openid profile"},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out struct{ AccessToken, IDToken string }
		var raw map[string]string
		_ = json.Unmarshal(body, &raw)
		out.AccessToken, out.IDToken = raw["access_token"], raw["id_token"]
		if out.AccessToken == "" || out.IDToken == "" {
			t.Fatalf("org token: %d %s", resp.StatusCode, body)
		}
		return out.AccessToken, out.IDToken
	}
	access, id := tokens("0oa1orgweb0000000001", "org-web-secret")
	_, otherID := tokens("0oa1orgother00000001", "org-other-secret")

	// The access token's kid is not in the org's published key set.
	d, err := verify.Decode(access)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/oauth2/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if d.KeyID == "" || strings.Contains(string(jwks), d.KeyID) {
		t.Fatalf("org access token kid %q is published: %s", d.KeyID, jwks)
	}

	org := verify.Okta("sandbox.example", "org")
	org.BaseURL, org.AllowOrgServer, org.ClientID = srv.URL, true, "0oa1orgweb0000000001"
	v, err := verify.New(verify.Config{Providers: []verify.ProviderConfig{org}, Policy: verify.Policy{Audiences: []string{"api://ignored-for-org"}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, id)
	if err != nil {
		t.Fatalf("org ID token for the configured client refused: %v", err)
	}
	if p.ClientID != "0oa1orgweb0000000001" || p.Issuer != srv.URL {
		t.Fatalf("principal = %+v", p)
	}
	_, err = v.Verify(ctx, access)
	if !errors.Is(err, verify.ErrUnsupportedToken) || !strings.Contains(err.Error(), "introspect") {
		t.Fatalf("org access token: err = %v, want refused with a pointer to introspection", err)
	}
	if _, err := v.Verify(ctx, otherID); !errors.Is(err, verify.ErrAudience) {
		t.Fatalf("another client's org ID token: err = %v, want audience refused", err)
	}
	// A client allow-list naming the configured client keeps its ID
	// tokens (their client is their audience).
	v2, err := verify.New(verify.Config{Providers: []verify.ProviderConfig{org}, Policy: verify.Policy{Audiences: []string{"x"}, ClientIDs: []string{"0oa1orgweb0000000001"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(ctx, id); err != nil {
		t.Fatalf("org ID token with a client allow-list: %v", err)
	}

	// Introspection is the way for org access tokens.
	ip := verify.Introspection(srv.URL+"/oauth2/v1/introspect", "0oa1orgweb0000000001", "org-web-secret")
	ip.Issuer = srv.URL
	iv, err := verify.New(verify.Config{Providers: []verify.ProviderConfig{ip}, Policy: verify.Policy{Audiences: []string{srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := iv.Verify(ctx, access); err != nil || !p.Introspected || p.ClientID != "0oa1orgweb0000000001" {
		t.Fatalf("org access token by introspection: %+v %v", p, err)
	}
	if _, err := iv.Verify(ctx, id); !errors.Is(err, verify.ErrUnsupportedToken) && !errors.Is(err, verify.ErrAudience) {
		t.Fatalf("org ID token by introspection: %v, want refused (not an access token)", err)
	}
}

// TestSandboxIDTokenNotAccessToken: an ID token of a custom server, signed
// with the very keys its access tokens are, is refused as an access token
// even under AllowAnyAudience, where its audience (the client) would not
// stop it.
func TestSandboxIDTokenNotAccessToken(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	r := tokenResponse(t, srv, url.Values{
		"grant_type": {"password"}, "client_id": {cliClient}, "username": {"demo@example.com"},
		"password": {"Sandbox-Demo-1"}, "scope": {"openid orders.read"},
	}, false)
	id, _ := r["id_token"].(string)
	access, _ := r["access_token"].(string)
	if id == "" || access == "" {
		t.Fatalf("token response %v", r)
	}
	pc := verify.Okta("sandbox.example", "default")
	pc.BaseURL = srv.URL
	v := newVerifier(t, verify.Config{Providers: []verify.ProviderConfig{pc}, Policy: verify.Policy{AllowAnyAudience: true}})
	ctx := context.Background()
	if _, err := v.Verify(ctx, access); err != nil {
		t.Fatalf("access token: %v", err)
	}
	if _, err := v.Verify(ctx, id); !errors.Is(err, verify.ErrUnsupportedToken) {
		t.Fatalf("ID token as access token: %v, want refused", err)
	}
}
