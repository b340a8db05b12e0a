package testenv

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Audiences the OpenID provider issues JWT access tokens for unless
// OIDCProviderOptions.Resources says otherwise.
const (
	// DefaultOIDCAudience is signed with RS256 (as Okta signs) and is what
	// a token request without a resource parameter gets.
	DefaultOIDCAudience = "api://oktafed-test"
	// ES256OIDCAudience is signed with ES256.
	ES256OIDCAudience = "api://oktafed-test-es256"
)

// OIDCResource is an API (resource server) that the provider issues JWT
// access tokens for, identified by its audience.
type OIDCResource struct {
	// Audience is the resource indicator and the tokens' aud claim.
	Audience string
	// Scopes the API knows; requested scopes outside it are left out of
	// the token silently, as oidc-provider does.
	Scopes []string
	// Alg signs the tokens: "RS256" (the default) or "ES256".
	Alg string
	// TTL is the tokens' lifetime, one hour by default; whole seconds.
	TTL time.Duration
}

// DefaultOIDCResources returns the APIs a provider gets when its options
// name none: DefaultOIDCAudience (RS256) and ES256OIDCAudience (ES256),
// both with the scopes "read" and "write".
func DefaultOIDCResources() []OIDCResource {
	return []OIDCResource{
		{Audience: DefaultOIDCAudience, Scopes: []string{"read", "write"}, Alg: "RS256"},
		{Audience: ES256OIDCAudience, Scopes: []string{"read", "write"}, Alg: "ES256"},
	}
}

// OIDCProviderOptions configures OIDCProvider. The zero value is fine.
type OIDCProviderOptions struct {
	// Resources are the APIs tokens may be requested for; the first one is
	// the default audience. Nil means DefaultOIDCResources.
	Resources []OIDCResource
	// ExtraClaims are added to every access token.
	ExtraClaims map[string]any
}

// OIDCProviderServer is an independent OpenID provider, the npm package
// oidc-provider run by testdata/oidc-provider/server.js, on 127.0.0.1. It
// signs with fresh RS256 and ES256 keys, publishes them at its JWKS
// endpoint and issues client_credentials access tokens as JWTs whose
// claims are the standard ones (iss, sub, aud, exp, iat, jti, client_id,
// scope) plus Okta's cid and scp.
type OIDCProviderServer struct {
	// ClientID and ClientSecret identify a client that authenticates
	// with client_secret_basic.
	ClientID     string
	ClientSecret string
	// KeyClientID identifies a client that authenticates with
	// private_key_jwt, signing with ClientKey (ES256) under ClientKeyID.
	KeyClientID string
	ClientKey   *ecdsa.PrivateKey
	ClientKeyID string
	// SigningKeyIDs are the kids of the provider's signing keys.
	SigningKeyIDs []string

	issuer   string
	tokenURL string
	jwksURL  string
	dir      string
	proc     *proc
	stdin    io.Closer
}

// OIDCProvider starts an OpenID provider for t and stops it when t ends.
// opts may be nil.
func OIDCProvider(t testing.TB, opts *OIDCProviderOptions) *OIDCProviderServer {
	t.Helper()
	s, err := startOIDCProvider(opts)
	check(t, "oidc-provider", err)
	cleanupServer(t, s.proc, s.Stop)
	return s
}

// Issuer returns the issuer identifier, http://127.0.0.1:PORT.
func (s *OIDCProviderServer) Issuer() string { return s.issuer }

// DiscoveryURL returns the OpenID discovery document's address.
func (s *OIDCProviderServer) DiscoveryURL() string {
	return s.issuer + "/.well-known/openid-configuration"
}

// TokenURL returns the token endpoint.
func (s *OIDCProviderServer) TokenURL() string { return s.tokenURL }

// JWKSURL returns the JWKS endpoint.
func (s *OIDCProviderServer) JWKSURL() string { return s.jwksURL }

// Log returns the provider's output so far.
func (s *OIDCProviderServer) Log() string { return s.proc.log() }

// Stop shuts the provider down. It is safe to call more than once.
func (s *OIDCProviderServer) Stop() {
	s.proc.stop()
	s.stdin.Close()
	os.RemoveAll(s.dir)
}

// ClientCredentialsToken gets an access token (a JWT) with the
// client_credentials grant as the client_secret_basic client. scope is
// space-separated and may be empty; an empty audience means the default
// one.
func (s *OIDCProviderServer) ClientCredentialsToken(ctx context.Context, scope, audience string) (string, error) {
	form := tokenForm(scope, audience)
	return s.requestToken(ctx, form, func(r *http.Request) {
		// RFC 6749 section 2.3.1: form-encode before Basic encoding.
		r.SetBasicAuth(url.QueryEscape(s.ClientID), url.QueryEscape(s.ClientSecret))
	})
}

// PrivateKeyJWTToken is ClientCredentialsToken for the private_key_jwt
// client: it authenticates with a client assertion signed by ClientKey.
func (s *OIDCProviderServer) PrivateKeyJWTToken(ctx context.Context, scope, audience string) (string, error) {
	now := time.Now()
	assertion, err := signES256(s.ClientKey, s.ClientKeyID, map[string]any{
		"iss": s.KeyClientID,
		"sub": s.KeyClientID,
		"aud": s.tokenURL,
		"jti": randomHex(16),
		"iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
	})
	if err != nil {
		return "", err
	}
	form := tokenForm(scope, audience)
	form.Set("client_id", s.KeyClientID)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", assertion)
	return s.requestToken(ctx, form, nil)
}

func tokenForm(scope, audience string) url.Values {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if audience != "" {
		form.Set("resource", audience)
	}
	return form
}

func (s *OIDCProviderServer) requestToken(ctx context.Context, form url.Values, auth func(*http.Request)) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint: %s: %s", resp.Status, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return "", fmt.Errorf("token endpoint: %w: %s", err, body)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: no access_token in %s", body)
	}
	return tok.AccessToken, nil
}

// signES256 makes a compact JWS; private_key_jwt needs only this much.
func signES256(key *ecdsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", err
	}
	// JWS wants the raw 32-byte r and s, not ASN.1.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}

func ecPublicJWK(key *ecdsa.PrivateKey, kid string) (map[string]string, error) {
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	b := pub.Bytes() // 0x04 || X || Y
	enc := base64.RawURLEncoding
	return map[string]string{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
		"x": enc.EncodeToString(b[1:33]), "y": enc.EncodeToString(b[33:65]),
	}, nil
}

// oidcProviderDir finds testdata/oidc-provider: tests run in their
// package's directory, so look upwards from there, then next to this
// source file.
func oidcProviderDir() (string, error) {
	const rel = "testdata/oidc-provider"
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, rel, "server.js")); err == nil {
				return filepath.Join(d, rel), nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "..", "..", rel)
		if _, err := os.Stat(filepath.Join(d, "server.js")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("cannot find " + rel + "/server.js above the working directory")
}

func startOIDCProvider(opts *OIDCProviderOptions) (*OIDCProviderServer, error) {
	if opts == nil {
		opts = &OIDCProviderOptions{}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, missing("node not found (Node.js 20 or later)")
	}
	pdir, err := oidcProviderDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(pdir, "node_modules", "oidc-provider", "package.json")); err != nil {
		return nil, missing("npm package oidc-provider is not installed: run npm ci in %s", pdir)
	}

	resources := opts.Resources
	if resources == nil {
		resources = DefaultOIDCResources()
	}
	if len(resources) == 0 {
		return nil, errors.New("OIDCProviderOptions.Resources is empty")
	}
	type resourceJSON struct {
		Audience string   `json:"audience"`
		Scopes   []string `json:"scopes"`
		Alg      string   `json:"alg,omitempty"`
		TTL      int64    `json:"ttl,omitempty"`
	}
	var rs []resourceJSON
	for _, r := range resources {
		if r.Alg != "" && r.Alg != "RS256" && r.Alg != "ES256" {
			return nil, fmt.Errorf("OIDCResource %s: alg %q: only RS256 and ES256 have keys", r.Audience, r.Alg)
		}
		rs = append(rs, resourceJSON{Audience: r.Audience, Scopes: r.Scopes, Alg: r.Alg, TTL: int64(r.TTL / time.Second)})
	}

	s := &OIDCProviderServer{
		ClientID:     "oktafed-test-client",
		ClientSecret: randomHex(16),
		KeyClientID:  "oktafed-test-key-client",
		ClientKeyID:  "client-" + randomHex(6),
	}
	s.ClientKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	jwk, err := ecPublicJWK(s.ClientKey, s.ClientKeyID)
	if err != nil {
		return nil, err
	}
	machineClient := map[string]any{
		"grant_types":    []string{"client_credentials"},
		"response_types": []string{},
		"redirect_uris":  []string{},
	}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range machineClient {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	config := map[string]any{
		"clients": []any{
			with(map[string]any{
				"client_id":                  s.ClientID,
				"client_secret":              s.ClientSecret,
				"token_endpoint_auth_method": "client_secret_basic",
			}),
			with(map[string]any{
				"client_id":                       s.KeyClientID,
				"token_endpoint_auth_method":      "private_key_jwt",
				"token_endpoint_auth_signing_alg": "ES256",
				"jwks":                            map[string]any{"keys": []any{jwk}},
			}),
		},
		"resources":   rs,
		"extraClaims": opts.ExtraClaims,
	}
	configJSON, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return nil, err
	}

	dir, err := newServerDir("oidc-", nil)
	if err != nil {
		return nil, err
	}
	s.dir = dir
	configPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(configPath, configJSON, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(node, filepath.Join(pdir, "server.js"), configPath)
	cmd.Dir = pdir
	// The provider logs its warnings and errors; a DEBUG setting meant for
	// something else would drown them.
	cmd.Env = append(os.Environ(), "DEBUG=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.stdin = stdin
	p, err := startProc("oidc-provider", cmd, filepath.Join(dir, "oidc-provider.log"), syscall.SIGTERM)
	if err != nil {
		stdin.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s.proc = p
	var ready struct {
		Ready         bool     `json:"ready"`
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		JWKSURI       string   `json:"jwks_uri"`
		KIDs          []string `json:"kids"`
	}
	err = p.waitReady(func() (bool, error) {
		// Only whole lines: the ready line may be half written.
		log := p.log()
		log = log[:strings.LastIndexByte(log, '\n')+1]
		sc := bufio.NewScanner(strings.NewReader(log))
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, `{"ready":true`) {
				continue
			}
			if err := json.Unmarshal([]byte(line), &ready); err != nil {
				return false, fmt.Errorf("ready line %q: %w", line, err)
			}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.issuer = ready.Issuer
	s.tokenURL = ready.TokenEndpoint
	s.jwksURL = ready.JWKSURI
	s.SigningKeyIDs = ready.KIDs
	return s, nil
}
