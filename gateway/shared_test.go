package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// waitStatus polls until a request answers want, for changes that travel
// between replicas through Redis.
func waitStatus(t *testing.T, u, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, _ := do(t, "GET", u, token, nil)
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d, want %d within 30s", u, st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicasShareRevocationsThroughRedis(t *testing.T) {
	t.Parallel()
	rs := testenv.Redis(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := echoUpstream(t).URL
	cfg := oktaConfig(t, sb, up)
	cfg.Redis.URL = "redis://" + rs.Addr() + "/0"
	cfg.Redis.Prefix = "test:" + t.Name() + ":"
	a, b := startGateway(t, cfg), startGateway(t, cfg)

	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	viaA := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	viaB := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	viaCLI := mint(t, sb, []string{"orders.read"}, []string{"readers"}, map[string]any{"jti": "AT.cli-revoked"})
	for _, tok := range []string{viaA, viaB, viaCLI} {
		for _, g := range []*running{a, b} {
			if st, _, _ := do(t, "GET", g.url+"/x", tok, nil); st != 200 {
				t.Fatalf("before revocation: %d", st)
			}
		}
	}
	if st := revoke(t, a.url, admin, url.Values{"token": {viaA}}); st != 200 {
		t.Fatalf("revoke through A: %d", st)
	}
	if st := revoke(t, b.url, admin, url.Values{"token": {viaB}}); st != 200 {
		t.Fatalf("revoke through B: %d", st)
	}
	// What `oktafed-gateway revoke` does: write to Redis with no gateway.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	if err := gateway.PublishRevocation(context.Background(), rdb, cfg.Redis.Prefix, "AT.cli-revoked", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*running{a, b} {
		for _, tok := range []string{viaA, viaB, viaCLI} {
			waitStatus(t, g.url+"/x", tok, 401)
		}
		if st, _, _ := do(t, "GET", g.url+"/x", admin, nil); st != 200 {
			t.Errorf("an unrevoked token was refused: %d", st)
		}
	}

	// A replica started later learns the list from Redis at start.
	c := startGateway(t, cfg)
	waitStatus(t, c.url+"/x", viaA, 401)
	if n := c.gw.Revocations().Len(); n < 3 {
		t.Errorf("late replica lists %d ids, want 3", n)
	}
}

func TestReplicasShareIntrospectionThroughRedis(t *testing.T) {
	t.Parallel()
	rs := testenv.Redis(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	var calls atomic.Int64
	idp := countingProxy(t, sb.URL, "/v1/introspect", &calls)
	cfg := gateway.Config{
		Upstream: echoUpstream(t).URL,
		Issuers: []verify.ProviderConfig{{
			Name: "okta_idp", Type: verify.ProviderIntrospection, AcceptOpaque: true,
			ClientID: "0oa1demoservice00001", ClientSecret: "demo-service-secret-not-secret",
			IntrospectURL: idp + "/oauth2/default/v1/introspect", Issuer: sb.Issuer("default"),
			Audiences: []string{"api://default"}, AcceptedScopes: []string{"orders.read"},
		}},
		// The introspection answer carries scopes but not the groups claim,
		// so the route asks for a scope.
		Routes: []gateway.Route{{Prefix: "/", Rule: guard.Rule{Scopes: []string{"orders.read"}}}},
		Redis:  gateway.RedisConfig{URL: "redis://" + rs.Addr() + "/0", Prefix: "test:" + t.Name() + ":"},
	}
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	tok := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	noScope := mint(t, sb, []string{"orders.write"}, []string{"readers"}, nil)

	st, _, m := do(t, "GET", a.url+"/x", tok, nil)
	if st != 200 || m["x-auth-provider"] != "okta_idp" {
		t.Fatalf("replica A: %d %v", st, m)
	}
	if calls.Load() != 1 {
		t.Fatalf("introspection calls after A = %d, want 1", calls.Load())
	}
	for range 3 {
		if st, _, _ := do(t, "GET", b.url+"/x", tok, nil); st != 200 {
			t.Fatalf("replica B: %d", st)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("replica B called the IdP itself: %d calls, want 1", calls.Load())
	}
	// jwt_accepted_scope_list is enforced per record.
	if st, _, _ := do(t, "GET", a.url+"/x", noScope, nil); st != 403 {
		t.Errorf("token without an accepted scope: %d, want 403", st)
	}
}

func TestGatewayWithOIDCProvider(t *testing.T) {
	t.Parallel()
	op := testenv.OIDCProvider(t, &testenv.OIDCProviderOptions{ExtraClaims: map[string]any{"groups": []string{"developers"}}})
	up := echoUpstream(t).URL
	cfg, err := gateway.ParseConfig([]byte(`
upstream: ` + up + `
issuers:
  - name: npm-oidc
    type: oidc
    issuer: ` + op.Issuer() + `
    audiences: ["` + testenv.DefaultOIDCAudience + `", "` + testenv.ES256OIDCAudience + `"]
groups: {admin: [aws-admins], write: [developers], read_only: [readers]}
routes:
  - {prefix: /admin/, roles: [admin]}
  - {prefix: /items, methods: [POST], roles: [write], scopes: [write]}
  - {prefix: /items, methods: [GET], roles: [read], scopes: [read]}
`))
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, cfg)
	ctx := context.Background()
	rw, err := op.ClientCredentialsToken(ctx, "read write", testenv.DefaultOIDCAudience)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := op.ClientCredentialsToken(ctx, "read", testenv.ES256OIDCAudience)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"RS256 writer reads", "GET", "/items", rw, 200},
		{"RS256 writer writes", "POST", "/items", rw, 200},
		{"ES256 token without write scope", "POST", "/items", ro, 403},
		{"ES256 reads", "GET", "/items/1", ro, 200},
		{"writer is not admin", "GET", "/admin/x", rw, 403},
		{"no token", "GET", "/items", "", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, m := do(t, tc.method, gw.url+tc.path, tc.token, nil)
			if st != tc.want {
				t.Fatalf("status %d, want %d (%v)", st, tc.want, m)
			}
			if st == 200 && (m["x-auth-provider"] != "npm-oidc" || m["x-auth-role"] != "write") {
				t.Errorf("identity = %v", m)
			}
		})
	}
}

// selfSigned writes a certificate for 127.0.0.1 and returns its paths and
// a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oktafed gateway test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestGatewayTLSAndHTTP2(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, echoUpstream(t).URL)
	certFile, keyFile, pool := selfSigned(t)
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	gw := startGateway(t, cfg)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest("GET", gw.url+"/x", nil)
	req.Header.Set("Authorization", "Bearer "+mint(t, sb, nil, []string{"readers"}, nil))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if !strings.HasPrefix(gw.url, "https://") {
		t.Fatal("gateway is not serving TLS")
	}
}
