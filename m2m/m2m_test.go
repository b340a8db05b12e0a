package m2m_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oktafed/oktafed/m2m"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	demoKeyPath  = "../sandbox/testdata/demo-m2m-client.PUBLIC-TEST-KEY.pem"
	demoClientID = "0oa1demom2m000000001"
	demoRole     = "arn:aws:iam::123456789012:role/Automation"
)

func demoKey(t testing.TB) m2m.Key {
	t.Helper()
	k, err := m2m.LoadKey(demoKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	k.ID = "demo-m2m-1"
	return k
}

func demoConfig(t testing.TB, srv *sandbox.Server) m2m.Config {
	return m2m.Config{
		Issuer: srv.URL + "/oauth2/default", ClientID: demoClientID, Key: demoKey(t),
		Scopes: []string{"orders.read"}, RoleARN: demoRole, Region: "us-east-1", STSEndpoint: srv.URL,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}
}

func TestCredentialsFromTheClientKey(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	p, err := m2m.New(demoConfig(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	creds := p.Cache()
	cfg := aws.Config{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(srv.URL)}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Arn); got != "arn:aws:sts::123456789012:assumed-role/Automation/oktafed-"+demoClientID {
		t.Fatalf("caller %s", got)
	}
	a, _ := creds.Retrieve(context.Background())
	b, _ := creds.Retrieve(context.Background())
	if a.AccessKeyID != b.AccessKeyID || !a.CanExpire {
		t.Fatal("credentials not cached")
	}
}

func TestAssertionClaims(t *testing.T) {
	cfg := m2m.Config{Issuer: "https://example.okta.com/oauth2/default", ClientID: "0oaX", Key: demoKey(t), RoleARN: demoRole}
	p, err := m2m.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Assertion()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.Claims(cfg.Key.Signer.Public(), &c); err != nil {
		t.Fatal(err)
	}
	switch {
	case c.Issuer != "0oaX" || c.Subject != "0oaX":
		t.Errorf("iss/sub %q %q", c.Issuer, c.Subject)
	case !c.Audience.Contains("https://example.okta.com/oauth2/default/v1/token"):
		t.Errorf("aud %v", c.Audience)
	case c.ID == "":
		t.Error("no jti")
	case c.Expiry.Time().Sub(c.IssuedAt.Time()) > 5*time.Minute:
		t.Errorf("lifetime %s", c.Expiry.Time().Sub(c.IssuedAt.Time()))
	case tok.Headers[0].KeyID != "demo-m2m-1":
		t.Errorf("kid %q", tok.Headers[0].KeyID)
	}
	raw2, _ := p.Assertion()
	tok2, _ := jwt.ParseSigned(raw2, []jose.SignatureAlgorithm{jose.RS256})
	var c2 jwt.Claims
	_ = tok2.UnsafeClaimsWithoutVerification(&c2)
	if c2.ID == c.ID {
		t.Error("jti reused")
	}
}

func TestRefusals(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name   string
		change func(*m2m.Config)
		want   string
	}{
		{"key Okta does not know", func(c *m2m.Config) { c.Key = m2m.Key{Signer: otherRSA} }, "invalid_client"},
		{"unknown client", func(c *m2m.Config) { c.ClientID = "0oa1nobody0000000001" }, "invalid_client"},
		{"scope not granted", func(c *m2m.Config) { c.Scopes = []string{"orders.write"} }, "invalid_scope"},
		{"role that does not trust the issuer", func(c *m2m.Config) { c.RoleARN = "arn:aws:iam::123456789012:role/Admin" }, "AccessDenied"},
		{"wrong token endpoint", func(c *m2m.Config) { c.TokenURL = srv.URL + "/oauth2/v1/token" }, "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := demoConfig(t, srv)
			tc.change(&cfg)
			p, err := m2m.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Retrieve(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			var te *m2m.TokenError
			if strings.HasPrefix(tc.want, "invalid_") && !errors.As(err, &te) {
				t.Fatalf("err %T is not a *TokenError", err)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	pemText, err := os.ReadFile(demoKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{
		"OKTA_DOMAIN": "example.okta.com", "OKTA_CLIENT_ID": "0oaX", "OKTAFED_CLIENT_KEY": demoKeyPath,
		"AWS_ROLE_ARN": demoRole, "OKTA_SCOPES": "a, b c", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	}
	tests := []struct {
		name       string
		set        map[string]string
		wantIssuer string
		wantErr    string
	}{
		{"domain", nil, "https://example.okta.com/oauth2/default", ""},
		{"issuer wins", map[string]string{"OKTA_ISSUER": "https://x.example/oauth2/aus1/"}, "https://x.example/oauth2/aus1", ""},
		{"base URL and server", map[string]string{"OKTA_DOMAIN": "", "OKTA_BASE_URL": "http://127.0.0.1:9", "OKTA_AUTH_SERVER_ID": "aus9"}, "http://127.0.0.1:9/oauth2/aus9", ""},
		{"inline PEM", map[string]string{"OKTAFED_CLIENT_KEY": string(pemText)}, "https://example.okta.com/oauth2/default", ""},
		{"missing", map[string]string{"OKTA_CLIENT_ID": "", "AWS_ROLE_ARN": ""}, "", "set OKTA_CLIENT_ID, AWS_ROLE_ARN"},
		{"bad key path", map[string]string{"OKTAFED_CLIENT_KEY": "/nonexistent/key.pem"}, "", "OKTAFED_CLIENT_KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.set {
				env[k] = v
			}
			c, err := m2m.ConfigFromEnv(func(k string) string { return env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tc.wantIssuer || strings.Join(c.Scopes, "|") != "a|b|c" || c.STSEndpoint != "http://127.0.0.1:1" {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	jwkPriv, _ := json.Marshal(jose.JSONWebKey{Key: ecKey, KeyID: "k1", Algorithm: "ES256"})
	jwkPub, _ := json.Marshal(jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "k1"})
	pubPEM := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	tests := []struct {
		name    string
		data    []byte
		wantAlg jose.SignatureAlgorithm
		wantKID string
		wantErr string
	}{
		{"PKCS#8 RSA", pkcs8(rsaKey), jose.RS256, "", ""},
		{"PKCS#1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), jose.RS256, "", ""},
		{"PKCS#8 EC", pkcs8(ecKey), jose.ES256, "", ""},
		{"SEC 1 EC", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), jose.ES256, "", ""},
		{"private JWK", jwkPriv, jose.ES256, "k1", ""},
		{"public JWK", jwkPub, "", "", "public key"},
		{"public PEM", pubPEM, "", "", "not a private key"},
		{"short RSA", pkcs8(smallRSA), "", "", "1024 bits"},
		{"P-384", pkcs8(p384), "", "", "P-256"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "", "", "encrypted"},
		{"garbage", []byte("not a key"), "", "", "neither PEM nor a JWK"},
		{"two blocks", append(pkcs8(rsaKey), pkcs8(ecKey)...), "", "", "more than one block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := m2m.ParseKey(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != tc.wantAlg || k.ID != tc.wantKID {
				t.Fatalf("alg %s kid %q", k.Algorithm(), k.ID)
			}
		})
	}
	// A file path works as well as the text.
	path := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(path, pkcs8(ecKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := m2m.LoadKey(path); err != nil || k.Algorithm() != jose.ES256 {
		t.Fatalf("LoadKey(path) = %v, %v", k.Algorithm(), err)
	}
}

func TestES256KeyAgainstTheSandbox(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"})
	cfg := sandbox.DefaultConfig()
	yaml := "oauth:\n  servers:\n    - id: machines\n      audiences: [\"api://machines\"]\n      scopes: [{name: jobs.run}]\n      clients:\n        - client_id: 0oa1ecmachine0000001\n          grant_types: [client_credentials]\n          jwks: '{\"keys\":[" + string(jwk) + "]}'\n"
	extra, err := sandbox.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OAuth.Servers = append(cfg.OAuth.Servers, extra.OAuth.Servers...)
	srv := sandbox.Start(t, cfg)
	p, err := m2m.New(m2m.Config{Issuer: srv.URL + "/oauth2/machines", ClientID: "0oa1ecmachine0000001", Key: m2m.Key{Signer: ecKey, ID: "ec-1"},
		Scopes: []string{"jobs.run"}, RoleARN: demoRole, Region: "us-east-1", STSEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.AccessToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Scope != "jobs.run" || tok.ExpiresIn <= 0 {
		t.Fatalf("token %+v", tok)
	}
	// The default OIDC provider trusts /oauth2/default only: STS refuses.
	if _, err := p.Retrieve(context.Background()); err == nil || !strings.Contains(err.Error(), "InvalidIdentityToken") {
		t.Fatalf("err = %v, want InvalidIdentityToken", err)
	}
}
