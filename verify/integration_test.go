package verify_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// These tests verify tokens issued by real authorization servers: the
// sandbox's Okta-shaped servers, and the npm oidc-provider, an independent
// implementation that shares no code with this repository.

const (
	serviceClient = "0oa1demoservice00001"
	serviceSecret = "demo-service-secret-not-secret"
	cliClient     = "0oa1democli000000001"
)

// countingTransport counts requests by path, so tests can tell how often
// the verifier went to the network.
type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count(suffix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, k := range c.n {
		if strings.HasSuffix(p, suffix) {
			n += k
		}
	}
	return n
}

// tokenResponse posts form to the sandbox's default server token endpoint.
func tokenResponse(t *testing.T, srv *sandbox.Server, form url.Values, basic bool) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/default/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(serviceClient, serviceSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("token endpoint: HTTP %d: %s", resp.StatusCode, body)
	}
	return out
}

func serviceToken(t *testing.T, srv *sandbox.Server) string {
	t.Helper()
	r := tokenResponse(t, srv, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read orders.write"}}, true)
	return r["access_token"].(string)
}

// userTokens returns the access and refresh tokens of the demo user.
func userTokens(t *testing.T, srv *sandbox.Server) (access, refresh string) {
	t.Helper()
	r := tokenResponse(t, srv, url.Values{
		"grant_type": {"password"}, "client_id": {cliClient}, "username": {"demo@example.com"},
		"password": {"Sandbox-Demo-1"}, "scope": {"openid orders.read offline_access"},
	}, false)
	refresh, _ = r["refresh_token"].(string)
	return r["access_token"].(string), refresh
}

func newVerifier(t *testing.T, cfg verify.Config) *verify.Verifier {
	t.Helper()
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func oktaConfig(srv *sandbox.Server) verify.Config {
	pc := verify.Okta("sandbox.example", "default")
	pc.BaseURL = srv.URL
	return verify.Config{
		Providers: []verify.ProviderConfig{pc},
		Policy:    verify.Policy{Audiences: []string{"api://default"}, AdminGroups: []string{"aws-admins"}, ReadOnlyGroups: []string{"developers"}},
	}
}

func wantReason(t *testing.T, name string, err, reason error) {
	t.Helper()
	var e *verify.Error
	if !errors.As(err, &e) || !errors.Is(err, reason) {
		t.Errorf("%s: err = %v, want %v", name, err, reason)
	}
}

func TestSandboxOktaTokens(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ctx := context.Background()
	v := newVerifier(t, oktaConfig(srv))
	if err := v.Warm(ctx); err != nil {
		t.Fatal(err)
	}

	p, err := v.Verify(ctx, serviceToken(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientID != serviceClient || p.Subject != serviceClient || !p.HasScope("orders.write") || p.Issuer != srv.URL+"/oauth2/default" || p.Provider != "okta" {
		t.Errorf("service principal = %+v", p)
	}

	access, _ := userTokens(t, srv)
	p, err = v.Verify(ctx, access)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "demo@example.com" || p.ClientID != cliClient || p.Role != verify.RoleAdmin || !p.HasRole(verify.RoleRead) {
		t.Errorf("user principal = %+v", p)
	}
	claims, err := p.Claims()
	if err != nil || claims["uid"] != "00u1demouser00000001" {
		t.Errorf("user claims = %v, %v", claims, err)
	}

	mint := func(claims map[string]any, ttl time.Duration) string {
		tok, err := srv.MintAccessToken("default", claims, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for name, tc := range map[string]struct {
		tok    string
		reason error
	}{
		"expired":        {mint(map[string]any{"sub": "a"}, -time.Hour), verify.ErrExpired},
		"other audience": {mint(map[string]any{"sub": "a", "aud": "api://other"}, 0), verify.ErrAudience},
		"other issuer":   {mint(map[string]any{"sub": "a", "iss": srv.URL + "/oauth2/other"}, 0), verify.ErrUnknownIssuer},
		"no sub":         {mint(map[string]any{}, 0), verify.ErrClaims},
		"future iat":     {mint(map[string]any{"sub": "a", "iat": time.Now().Add(time.Hour).Unix()}, 0), verify.ErrIssuedInFuture},
	} {
		_, err := v.Verify(ctx, tc.tok)
		wantReason(t, name, err, tc.reason)
	}

	// The org server's tokens are refused by default: Okta does not
	// support validating them outside Okta.
	org := verify.Okta("sandbox.example", "org")
	org.BaseURL = srv.URL
	if _, err := verify.New(verify.Config{Providers: []verify.ProviderConfig{org}, Policy: verify.Policy{Audiences: []string{"x"}}}); err == nil {
		t.Error("org server accepted without AllowOrgServer")
	}
}

func TestSandboxKeyRotation(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ctx := context.Background()
	ct := &countingTransport{}
	cfg := oktaConfig(srv)
	// A short floor so the test need not wait a minute for the refetch
	// that an unknown kid triggers.
	cfg.KeyCache.RefetchFloor = 10 * time.Millisecond
	cfg.HTTPClient = &http.Client{Transport: ct}
	v := newVerifier(t, cfg)

	before := serviceToken(t, srv)
	if _, err := v.Verify(ctx, before); err != nil {
		t.Fatal(err)
	}
	oldKid, _ := srv.SigningKeyID("default")
	if err := srv.RotateKeys("default"); err != nil {
		t.Fatal(err)
	}
	newKid, _ := srv.SigningKeyID("default")
	if newKid == oldKid {
		t.Fatal("rotation kept the kid")
	}
	time.Sleep(20 * time.Millisecond)
	after := serviceToken(t, srv)
	if _, err := v.Verify(ctx, after); err != nil {
		t.Fatalf("token signed with the new key: %v", err)
	}
	if n := ct.count("/v1/keys"); n != 2 {
		t.Errorf("%d key fetches, want 2 (first use, then the new kid)", n)
	}
	// The old key stays published for the overlap, so tokens it signed
	// still verify (the cache entry is dropped: the key set changed).
	if _, err := v.Verify(ctx, before); err != nil {
		t.Errorf("token signed before the rotation: %v", err)
	}
	// A kid the issuer never published costs at most one fetch per floor.
	forged := strings.Replace(after, strings.Split(after, ".")[0], b64json(t, map[string]any{"alg": "RS256", "kid": "no-such-kid"}), 1)
	for range 20 {
		_, err := v.Verify(ctx, forged)
		wantReason(t, "unknown kid", err, verify.ErrUnknownKey)
	}
	if n := ct.count("/v1/keys"); n > 3 {
		t.Errorf("%d key fetches after an unknown-kid burst, want at most 3", n)
	}
}

func TestSandboxBackgroundRefresh(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ct := &countingTransport{}
	cfg := oktaConfig(srv)
	cfg.KeyCache = verify.KeyCache{MinRefresh: 50 * time.Millisecond, MaxRefresh: 50 * time.Millisecond, RefetchFloor: 10 * time.Millisecond}
	cfg.HTTPClient = &http.Client{Transport: ct}
	v := newVerifier(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := v.RefreshInBackground(ctx)

	// With no traffic at all the keys follow the rotation: a token signed
	// by the new key then needs no fetch on the request path.
	deadline := time.Now().Add(30 * time.Second)
	for ct.count("/v1/keys") < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := srv.RotateKeys("default"); err != nil {
		t.Fatal(err)
	}
	n := ct.count("/v1/keys")
	for ct.count("/v1/keys") < n+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ct.count("/v1/keys") < n+2 {
		t.Fatalf("background refresh fetched %d times", ct.count("/v1/keys"))
	}
	// The refresh stops with its context; any fetch from now on is the
	// request path's (counting while it ran raced with its timer).
	cancel()
	<-done
	before := ct.count("/v1/keys")
	if _, err := v.Verify(context.Background(), serviceToken(t, srv)); err != nil {
		t.Fatal(err)
	}
	after := ct.count("/v1/keys")
	if after != before {
		t.Errorf("the request path fetched keys: %d -> %d", before, after)
	}
	time.Sleep(150 * time.Millisecond)
	if ct.count("/v1/keys") != after {
		t.Error("refresh continued after its context ended")
	}
}

func b64json(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestSandboxIntrospection(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ctx := context.Background()
	iss := srv.URL + "/oauth2/default"
	ct := &countingTransport{}
	// The verifier's clock is moved past cache lifetimes instead of the
	// test waiting them out; it starts at the sandbox's time.
	clk := clock.NewFake(time.Now())
	introCfg := func(pc verify.ProviderConfig) verify.Config {
		pc.Issuer = iss
		pc.AcceptOpaque = true
		pc.IntrospectTTL = time.Second
		return verify.Config{Providers: []verify.ProviderConfig{pc}, Policy: verify.Policy{Audiences: []string{"api://default"}}, HTTPClient: &http.Client{Transport: ct}, Clock: clk}
	}
	v := newVerifier(t, introCfg(verify.Introspection(iss+"/v1/introspect", serviceClient, serviceSecret)))

	tok := serviceToken(t, srv)
	// Many requests with one new token make one introspection call.
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 16 {
		wg.Go(func() {
			p, err := v.Verify(ctx, tok)
			if err != nil || !p.Introspected || p.ClientID != serviceClient || !p.HasScope("orders.read") {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d concurrent introspections failed", failed.Load())
	}
	if n := ct.count("/v1/introspect"); n != 1 {
		t.Errorf("%d introspection calls for one token, want 1", n)
	}

	// Revocation shows once the positive cache entry has aged out.
	if ok, err := srv.RevokeToken("default", tok); err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	clk.Advance(2100 * time.Millisecond)
	_, err := v.Verify(ctx, tok)
	wantReason(t, "revoked", err, verify.ErrInactive)

	// A refresh token is active at the endpoint but is not an access
	// token: it must not pass as a bearer token.
	_, refresh := userTokens(t, srv)
	if refresh == "" {
		t.Fatal("no refresh token")
	}
	_, err = v.Verify(ctx, refresh)
	wantReason(t, "refresh token", err, verify.ErrUnsupportedToken)

	// The endpoint found through the server's metadata document, and the
	// secret read from a file as a mounted Kubernetes Secret provides it.
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(serviceSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pc := verify.ProviderConfig{Type: verify.ProviderIntrospection, ClientID: serviceClient, ClientSecretFile: secretFile,
		DiscoveryURL: iss + "/.well-known/oauth-authorization-server"}
	v2 := newVerifier(t, introCfg(pc))
	if p, err := v2.Verify(ctx, serviceToken(t, srv)); err != nil || !p.Introspected {
		t.Errorf("introspection through discovery: %v", err)
	}
	// Wrong client credentials are an outage of the check, not a verdict
	// on the token, and the error names them rather than the keys.
	v3 := newVerifier(t, introCfg(verify.Introspection(iss+"/v1/introspect", serviceClient, "wrong")))
	_, err = v3.Verify(ctx, serviceToken(t, srv))
	wantReason(t, "bad client secret", err, verify.ErrIntrospectionRefused)
	if st, _ := verify.Challenge(err, ""); st != http.StatusServiceUnavailable {
		t.Errorf("bad client secret: status %d, want 503", st)
	}
}

func TestOIDCProviderTokens(t *testing.T) {
	op := testenv.OIDCProvider(t, nil)
	ctx := context.Background()
	v := newVerifier(t, verify.Config{
		Providers: []verify.ProviderConfig{verify.OIDC(op.Issuer())},
		Policy:    verify.Policy{Audiences: []string{testenv.DefaultOIDCAudience, testenv.ES256OIDCAudience}},
	})
	get := func(name string, f func(context.Context, string, string) (string, error), scope, aud string) string {
		tok, err := f(ctx, scope, aud)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, op.Log())
		}
		return tok
	}
	rs := get("RS256", op.ClientCredentialsToken, "read", "")
	es := get("ES256", op.ClientCredentialsToken, "read write", testenv.ES256OIDCAudience)
	pk := get("private_key_jwt", op.PrivateKeyJWTToken, "write", "")
	for name, tc := range map[string]struct {
		tok, client, scope, alg string
	}{
		"RS256":           {rs, op.ClientID, "read", "RS256"},
		"ES256":           {es, op.ClientID, "write", "ES256"},
		"private_key_jwt": {pk, op.KeyClientID, "write", "RS256"},
	} {
		d, err := verify.Decode(tc.tok)
		if err != nil || d.Alg != tc.alg {
			t.Errorf("%s: decoded alg %v, %v", name, d, err)
		}
		p, err := v.Verify(ctx, tc.tok)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if p.ClientID != tc.client || !p.HasScope(tc.scope) || p.Issuer != op.Issuer() {
			t.Errorf("%s: principal %+v", name, p)
		}
	}

	// Only the audiences asked for, and only the algorithms allowed.
	strict := newVerifier(t, verify.Config{
		Providers:  []verify.ProviderConfig{verify.OIDC(op.Issuer())},
		Policy:     verify.Policy{Audiences: []string{testenv.DefaultOIDCAudience}},
		Algorithms: []string{verify.RS256},
	})
	_, err := strict.Verify(ctx, es)
	wantReason(t, "ES256 not allowed", err, verify.ErrAlgorithm)
	pc := verify.OIDC(op.Issuer())
	pc.JWKSURL = op.JWKSURL()
	other := newVerifier(t, verify.Config{Providers: []verify.ProviderConfig{pc}, Policy: verify.Policy{Audiences: []string{"api://someone-else"}}})
	_, err = other.Verify(ctx, rs)
	wantReason(t, "audience", err, verify.ErrAudience)

	// The PEM export of the provider's keys verifies the same tokens.
	resp, err := http.Get(op.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pemKeys, err := verify.JWKSToPEM(jwks)
	if err != nil {
		t.Fatal(err)
	}
	st := verify.StaticKeys(op.Issuer())
	st.Keys = string(pemKeys)
	sv := newVerifier(t, verify.Config{Providers: []verify.ProviderConfig{st}, Policy: verify.Policy{Audiences: []string{testenv.DefaultOIDCAudience, testenv.ES256OIDCAudience}}})
	for _, tok := range []string{rs, es} {
		if _, err := sv.Verify(ctx, tok); err != nil {
			t.Errorf("static PEM keys: %v", err)
		}
	}
}
