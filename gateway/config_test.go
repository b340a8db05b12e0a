package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestApplyEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, vc verify.Config)
	}{
		{
			name: "okta and auth0 as the data-platform brief names them",
			env: map[string]string{
				"AUTH_PROVIDERS": "okta,auth0", "OKTA_ORG_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://data",
				"OKTA_AUTH_SERVER_ID": "aus123", "OKTA_CLIENT_IDS": "0oaA, 0oaB", "AUTH0_DOMAIN": "tenant.eu.auth0.com",
				"AUTH0_AUDIENCE": "https://data.example.com", "ADMIN_GROUPS": "platform-admins", "WRITE_GROUPS": "eng,data-eng",
				"READ_ONLY_GROUPS": "analysts",
			},
			check: func(t *testing.T, vc verify.Config) {
				if len(vc.Providers) != 2 || vc.Providers[0].Domain != "example.okta.com" || vc.Providers[0].AuthServerID != "aus123" || vc.Providers[1].Domain != "tenant.eu.auth0.com" {
					t.Fatalf("providers = %+v", vc.Providers)
				}
				if !slices.Equal(vc.Providers[0].Audiences, []string{"api://data"}) || !slices.Equal(vc.Providers[1].Audiences, []string{"https://data.example.com"}) {
					t.Errorf("audiences = %v / %v", vc.Providers[0].Audiences, vc.Providers[1].Audiences)
				}
				if !slices.Equal(vc.Providers[0].ClientIDs, []string{"0oaA", "0oaB"}) || vc.Providers[1].ClientIDs != nil {
					t.Errorf("client ids = %v / %v", vc.Providers[0].ClientIDs, vc.Providers[1].ClientIDs)
				}
				if !slices.Equal(vc.Policy.WriteGroups, []string{"eng", "data-eng"}) || vc.Policy.AdminGroups[0] != "platform-admins" || vc.Policy.ReadOnlyGroups[0] != "analysts" {
					t.Errorf("policy = %+v", vc.Policy)
				}
			},
		},
		{
			name: "okta inferred, default auth server, org server allowed",
			// The org server's ID tokens for the one client in
			// OKTA_CLIENT_IDS: its access tokens can only be introspected.
			env: map[string]string{"OKTA_ORG_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://x", "OKTA_ALLOW_ORG_SERVER": "true", "OKTA_AUTH_SERVER_ID": "org", "OKTA_CLIENT_IDS": "0oaweb"},
			check: func(t *testing.T, vc verify.Config) {
				if len(vc.Providers) != 1 || vc.Providers[0].AuthServerID != "org" || !vc.Providers[0].AllowOrgServer || vc.Providers[0].ClientID != "0oaweb" {
					t.Fatalf("providers = %+v", vc.Providers)
				}
			},
		},
		{name: "audience missing", env: map[string]string{"OKTA_ORG_DOMAIN": "example.okta.com"}, wantErr: "OKTA_AUDIENCE"},
		{name: "nothing configured", env: map[string]string{}, wantErr: "no token issuer configured"},
		{name: "unknown provider", env: map[string]string{"AUTH_PROVIDERS": "okta,keycloak", "OKTA_ORG_DOMAIN": "e.okta.com", "OKTA_AUDIENCE": "a"}, wantErr: `unknown provider "keycloak"`},
		{name: "auth0 without domain", env: map[string]string{"AUTH_PROVIDERS": "auth0"}, wantErr: "AUTH0_DOMAIN"},
		{name: "bad bool", env: map[string]string{"OKTA_ALLOW_ORG_SERVER": "yes please"}, wantErr: "OKTA_ALLOW_ORG_SERVER"},
		// The names the gateway read before OKTA_CLIENT_IDS: ignoring
		// them would accept every client, so they stop the start.
		{name: "old okta client id name", env: map[string]string{"OKTA_ORG_DOMAIN": "e.okta.com", "OKTA_AUDIENCE": "a", "OKTA_CLIENT_ID": "0oaA"}, wantErr: "OKTA_CLIENT_IDS"},
		{name: "old auth0 client id name", env: map[string]string{"AUTH0_DOMAIN": "t.auth0.com", "AUTH0_AUDIENCE": "a", "AUTH0_CLIENT_ID": "c"}, wantErr: "AUTH0_CLIENT_IDS"},
		// verify's policy variables the gateway has no place for are
		// refused, not ignored.
		{name: "required scopes", env: map[string]string{"OKTA_ORG_DOMAIN": "e.okta.com", "OKTA_AUDIENCE": "a", "OKTA_REQUIRED_SCOPES": "s"}, wantErr: "routes[].scopes"},
		{name: "domain with a scheme", env: map[string]string{"OKTA_ORG_DOMAIN": "http://e.okta.com", "OKTA_AUDIENCE": "a"}, wantErr: "OKTA_BASE_URL"},
		{
			name: "AUTH_PROVIDERS drops the issuer it does not name",
			env:  map[string]string{"AUTH_PROVIDERS": "auth0", "OKTA_ORG_DOMAIN": "e.okta.com", "OKTA_AUDIENCE": "a", "AUTH0_DOMAIN": "t.auth0.com", "AUTH0_AUDIENCE": "b"},
			check: func(t *testing.T, vc verify.Config) {
				if len(vc.Providers) != 1 || vc.Providers[0].Name != "auth0" {
					t.Fatalf("providers = %+v", vc.Providers)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.ApplyEnv(envOf(tc.env))
			var vc verify.Config
			if err == nil {
				vc, err = c.VerifyConfig()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, vc)
			if _, err := verify.New(vc); err != nil {
				t.Fatalf("verify.New: %v", err)
			}
		})
	}
}

// testPEM returns a fresh ECDSA P-256 public key in PEM, made per run.
func testPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

// verticaRecords are issuers in the retired Vertica-style form (a PEM
// key goes in place of @@PEM@@); verticaRoutes the rest of that file.
const verticaRecords = `
authentication:
  - name: vertica_jwt
    validate_type: JWT
    jwt_issuer: https://idp.example.com/oauth2/aus1
    jwt_rsa_public_key: |
@@PEM@@
    jwt_user_mapping: preferred_username
    jwt_accepted_audience_list: "vertica, api://v"
    jwt_accepted_scope_list: "vertica.read,vertica.write"
  - name: vertica_idp
    validate_type: IDP
    client_id: 0oaVertica
    client_secret: s3cret
    introspect_url: https://idp.example.com/oauth2/aus1/v1/introspect
    jwt_accepted_audience_list: vertica
`

const verticaRoutes = `
listen: 127.0.0.1:9443
upstream: h2c://127.0.0.1:9000
groups: {admin: [admins], write: [writers], read_only: [readers]}
routes:
  - prefix: /admin/
    roles: [admin]
  - prefix: /data
    methods: [get, head]
    roles: [read]
    scopes: [vertica.read]
  - prefix: /healthcheck
    public: true
`

func TestParseConfigIssuers(t *testing.T) {
	t.Parallel()
	yml := verticaRoutes + `
user_claim: preferred_username
issuers:
  - name: vertica_jwt
    type: static
    issuer: https://idp.example.com/oauth2/aus1
    keys: |
` + indent(testPEM(t), "      ") + `
    audiences: [vertica, api://v]
    accepted_scopes: [vertica.read, vertica.write]
  - name: vertica_idp
    type: introspection
    client_id: 0oaVertica
    client_secret: s3cret
    introspect_url: https://idp.example.com/oauth2/aus1/v1/introspect
    accept_opaque: true
    audiences: [vertica]
`
	c, err := ParseConfig([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := c.VerifyConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(vc.Providers) != 2 {
		t.Fatalf("providers = %+v", vc.Providers)
	}
	jwt, idp := vc.Providers[0], vc.Providers[1]
	if jwt.Type != verify.ProviderStatic || jwt.Issuer != "https://idp.example.com/oauth2/aus1" || !strings.Contains(jwt.Keys, "BEGIN PUBLIC KEY") || !slices.Equal(jwt.Audiences, []string{"vertica", "api://v"}) ||
		!slices.Equal(jwt.AcceptedScopes, []string{"vertica.read", "vertica.write"}) {
		t.Errorf("jwt issuer = %+v", jwt)
	}
	if idp.Type != verify.ProviderIntrospection || idp.ClientID != "0oaVertica" || idp.ClientSecret != "s3cret" || !idp.AcceptOpaque {
		t.Errorf("idp issuer = %+v", idp)
	}
	if vc.Policy.UserClaim != "preferred_username" {
		t.Errorf("user claim = %q", vc.Policy.UserClaim)
	}
	if _, err := verify.New(vc); err != nil {
		t.Fatalf("verify.New: %v", err)
	}
	rt, err := c.compileRoutes(func(string, time.Duration) (*upstream, error) { return &upstream{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	matches := []struct {
		method, path, want string
	}{
		{"GET", "/admin/users", "/admin/"},
		{"GET", "/admin", ""},
		{"GET", "/data", "/data GET,HEAD"},
		{"HEAD", "/data/x", "/data GET,HEAD"},
		{"POST", "/data", ""},
		{"GET", "/database", ""},
		{"GET", "/healthcheck", "/healthcheck"},
	}
	for _, m := range matches {
		got := ""
		if r := rt.match(m.method, m.path); r != nil {
			got = r.name
		}
		if got != m.want {
			t.Errorf("%s %s matched %q, want %q", m.method, m.path, got, m.want)
		}
	}
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yml, want string }{
		{"unknown key", "listen: x\nupstrem: y\n", "upstrem"},
		{"duplicate names", "issuers: [{name: a, type: static, issuer: https://i, keys: k, audiences: [a]}, {name: a, type: static, issuer: https://j, keys: k, audiences: [a]}]", "used twice"},
		{"issuer without audience", "issuers: [{type: oidc, issuer: https://i}]", "no audience"},
		{"client ids misspelt as the old key", "issuers: [{type: okta, domain: e.okta.com, audiences: [a], client_id: [x, y]}]", "cannot unmarshal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yml))
			if err == nil {
				_, err = c.VerifyConfig()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLegacyIssuerFormsRefused: each retired issuer form stops the
// gateway with the issuers: entries that say the same; that suggestion,
// pasted in (the secret moved to a file), is a valid configuration that
// verifies the same way; and the error never carries the secret.
func TestLegacyIssuerFormsRefused(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, yml string
		check     func(t *testing.T, vc verify.Config)
	}{
		{
			name: "vertica records",
			yml:  strings.Replace(verticaRecords, "@@PEM@@", indent(testPEM(t), "      "), 1),
			check: func(t *testing.T, vc verify.Config) {
				jwt, idp := vc.Providers[0], vc.Providers[1]
				if jwt.Name != "vertica_jwt" || jwt.Type != verify.ProviderStatic || !slices.Equal(jwt.AcceptedScopes, []string{"vertica.read", "vertica.write"}) ||
					!slices.Equal(jwt.Audiences, []string{"vertica", "api://v"}) || vc.Policy.UserClaim != "preferred_username" {
					t.Errorf("jwt = %+v, policy %+v", jwt, vc.Policy)
				}
				if idp.Type != verify.ProviderIntrospection || idp.ClientID != "0oaVertica" || idp.ClientSecretFile != secretFile || idp.ClientSecret != "" || !idp.AcceptOpaque {
					t.Errorf("idp = %+v", idp)
				}
			},
		},
		{
			name: "okta and auth0 sections chosen by providers",
			yml:  "providers: [okta]\nokta: {org_domain: e.okta.com, audience: [api://x], client_id: [0oaA, 0oaB]}\nauth0: {domain: t.auth0.com, audience: [b]}\n",
			check: func(t *testing.T, vc verify.Config) {
				if len(vc.Providers) != 1 || vc.Providers[0].Name != "okta" || vc.Providers[0].AuthServerID != "default" ||
					!slices.Equal(vc.Providers[0].ClientIDs, []string{"0oaA", "0oaB"}) || !slices.Equal(vc.Providers[0].Audiences, []string{"api://x"}) {
					t.Errorf("providers = %+v", vc.Providers)
				}
			},
		},
		{
			name: "okta org server for one client",
			yml:  "okta: {org_domain: e.okta.com, auth_server_id: org, allow_org_server: true, audience: [x], client_id: [0oaweb]}\n",
			check: func(t *testing.T, vc verify.Config) {
				if p := vc.Providers[0]; !p.AllowOrgServer || p.ClientID != "0oaweb" || !slices.Equal(p.ClientIDs, []string{"0oaweb"}) {
					t.Errorf("provider = %+v", p)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yml))
			if err == nil {
				t.Fatal("a retired issuer form was accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "s3cret") {
				t.Fatalf("the error carries the client secret: %s", msg)
			}
			_, suggestion, ok := strings.Cut(msg, "with:\n\n")
			if !ok || !strings.Contains(suggestion, "issuers:") {
				t.Fatalf("no issuers: suggestion in %q", msg)
			}
			suggestion, _, _ = strings.Cut(suggestion, "\n\nand put")
			c, err := ParseConfig([]byte(strings.ReplaceAll(suggestion, secretFilePlaceholder, secretFile)))
			if err != nil {
				t.Fatalf("the suggestion does not parse: %v\n%s", err, suggestion)
			}
			vc, err := c.VerifyConfig()
			if err != nil {
				t.Fatalf("the suggestion is refused: %v\n%s", err, suggestion)
			}
			tc.check(t, vc)
			if _, err := verify.New(vc); err != nil {
				t.Fatalf("verify.New: %v\n%s", err, suggestion)
			}
		})
	}
}

func TestCompileRoutesErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"no upstream", Config{}, "GATEWAY_UPSTREAM"},
		{"bad scheme", Config{Upstream: "ftp://x"}, "use http, h2c or https"},
		{"relative prefix", Config{Upstream: "http://x", Routes: []Route{{Prefix: "api"}}}, "must start with /"},
		{"bad role", Config{Upstream: "http://x", Routes: []Route{{Prefix: "/", Rule: ruleRoles("owner")}}}, "use admin, write or read"},
		{"prefix not canonical", Config{Upstream: "http://x", Routes: []Route{{Prefix: "/a/../admin"}}}, "dot segment"},
		{"encoded prefix", Config{Upstream: "http://x", Routes: []Route{{Prefix: "/a%41"}}}, "canonical"},
		{"bad method", Config{Upstream: "http://x", Routes: []Route{{Prefix: "/", Methods: []string{"GET POST"}}}}, "not an HTTP method"},
	}
	g := &Gateway{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.compileRoutes(g.newUpstream)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCanonicalPath(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw, want string // want "" means refused
	}{
		{"/a/b", "/a/b"}, {"/a/b/", "/a/b/"}, {"/", "/"}, {"/a%20b", "/a b"}, {"/caf%C3%A9", "/café"},
		{"/a%41", "/aA"}, {"/v1.0/x", "/v1.0/x"}, {"/a/.well-known", "/a/.well-known"},
		// The examples: each could reach a stricter route's
		// upstream under a weaker rule.
		{"/admin;x", ""}, {"/admin.", ""}, {"/admin%20", ""}, {"/admin%00", ""}, {"/public\\..\\admin", ""},
		{"/public/..;/admin", ""}, {"/public/../admin", ""}, {"/a//b", ""}, {"/a/./b", ""},
		{"/a%2Fb", ""}, {"/a%2fb", ""}, {"/a%5Cb", ""}, {"/%2e%2e/admin", ""}, {"/a%2E", ""}, {"/a%3Bb", ""},
		{"/a%252e", ""}, {"/a%zz", ""}, {"/a%2", ""}, {"/a\x01", ""}, {"/a\x7f", ""}, {"/a b", ""}, {"/a%0d%0a", ""},
		{"/a\xc3\xa9", ""}, {"/%c0%ae%c0%ae/admin", ""}, {"", ""}, {"admin", ""}, {"*", ""}, {"/admin%09", ""},
		{"/admin/..", ""}, {"/admin/.", ""}, {"/x/admin%2e", ""},
	}
	for _, tc := range cases {
		got, err := canonicalPath(tc.raw)
		if tc.want == "" {
			if err == nil {
				t.Errorf("canonicalPath(%q) = %q, want refused", tc.raw, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	for uri, want := range map[string]string{"/a?b": "/a", "http://h/a/b?x": "/a/b", "http://h?x": "", "/": "/", "https://h:1/": "/"} {
		if got := requestPath(uri); got != want {
			t.Errorf("requestPath(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestValidMethod(t *testing.T) {
	t.Parallel()
	for m, want := range map[string]bool{"GET": true, "DELETE": true, "M-SEARCH": true, "PROPFIND": true, "delete": false, "Get": false, "": false, "GE T": false, "GET\x00": false} {
		if got := validMethod(m); got != want {
			t.Errorf("validMethod(%q) = %v", m, got)
		}
	}
}

func TestStripSpoofable(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"X-Auth-User": {"root"}, "x-auth-role": {"admin"}, "X-AUTH-SCOPES": {"all"}, "X_Auth_User": {"root"},
		"X_AUTH_ROLE": {"admin"}, "X-Auth_Groups": {"g"}, "X_Forwarded_For": {"1.2.3.4"}, "X_Real_Ip": {"1.2.3.4"},
		"X-Authz": {"keep"}, "Accept": {"*/*"}, "X_custom": {"keep"}, // as net/http canonicalizes it
	}
	for _, n := range []string{"X-Real-Ip", "X-Original-Url", "X_Original_URL", "X-Rewrite-Url", "X-Http-Method-Override",
		"X_HTTP_METHOD_OVERRIDE", "X-Forwarded-Host", "X-Forwarded-Prefix", "Forwarded", "True-Client-Ip", "Http2-Settings"} {
		h[n] = []string{"spoofed"}
	}
	stripSpoofable(h, []string{"x-auth-"})
	if len(h) != 3 || h.Get("Accept") == "" || h.Get("X-Authz") == "" || h["X_custom"] == nil {
		t.Errorf("after strip: %v", h)
	}
}

func TestStripAccessToken(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"a=1&access_token=x&b=2": "a=1&b=2", "access_token=x": "", "ACCESS_TOKEN=x&a": "a",
		"access%5Ftoken=x&a=1": "a=1", "%61ccess_token=x": "", "a=1;access_token=x&b": "b",
		"a=access_token": "a=access_token", "a=1&b=2": "a=1&b=2", "access_tokens=1": "access_tokens=1",
		"access_token[]=x&a": "a", "access_token[k]=x&a": "a", "access.token=x&a": "a", "access+token=x&a": "a",
		"+access_token=x&a": "a", "%2Baccess_token=x&a": "a", "access_token%00=x&a": "a", "access_token%00evil=x&a": "a",
		"Access-Token=x&a": "a", "access%255Ftoken=x&a": "a", "access_tok%en=x&a": "access_tok%en=x&a",
		"%20access_token%20=x&a": "a", "access_token%5B%5D=x&a": "a", "accesstoken=1": "accesstoken=1",
	}
	for in, want := range cases {
		if got, _ := stripAccessToken(in); got != want {
			t.Errorf("stripAccessToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func ruleRoles(r ...string) (rule guardRule) { rule.Roles = r; return }

type guardRule = guard.Rule

// TestRedisLoggerIsStructured: go-redis's own messages become JSON lines
// in the gateway's log, not plain lines on standard error.
func TestRedisLoggerIsStructured(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := redisLogger{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	l.Printf(context.Background(), "connection pool: %s", "dial tcp: refused")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["msg"] != "redis: connection pool: dial tcp: refused" || line["level"] != "WARN" {
		t.Errorf("line = %v", line)
	}
}

func TestApplyEnvRedisAndForwardAuth(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"REDIS_ADDRS": "10.0.0.1:26379, 10.0.0.2:26379", "REDIS_MASTER_NAME": "mymaster",
		"REDIS_USERNAME": "gw", "REDIS_PASSWORD": " pass with spaces ", "REDIS_SENTINEL_PASSWORD": "sp",
		"REDIS_TLS": "true", "REDIS_CA_FILE": "/etc/ca.pem", "REDIS_TLS_SERVER_NAME": "redis.internal",
		"FORWARD_AUTH_PATH": "/auth", "FORWARD_AUTH_ENVOY_PREFIX": "-", "FORWARD_AUTH_TRUSTED": "10.0.0.0/8,::1",
		"FORWARD_AUTH_ONLY": "1",
	}
	var c Config
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	r := c.Redis
	if len(r.Addrs) != 2 || r.Addrs[1] != "10.0.0.2:26379" || r.MasterName != "mymaster" || r.Username != "gw" ||
		r.Password != " pass with spaces " || r.SentinelPassword != "sp" || !r.TLS || r.CAFile != "/etc/ca.pem" || r.ServerName != "redis.internal" || r.Cluster {
		t.Errorf("redis: %+v", r)
	}
	fa := c.ForwardAuth
	if fa.Path != "/auth" || fa.EnvoyPrefix != "-" || len(fa.Trusted) != 2 || !fa.Only {
		t.Errorf("forward_auth: %+v", fa)
	}
	compiled, err := fa.compile()
	if err != nil || compiled.path != "/auth" || compiled.envoyPrefix != "" {
		t.Fatalf("compile: %+v %v", compiled, err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3:5": true, "[::1]:5": true, "127.0.0.1:5": false, "[::ffff:10.0.0.9]:5": true, "11.0.0.1:5": false, "garbage": false, "": false,
	} {
		if got := compiled.trustedPeer(addr); got != want {
			t.Errorf("trustedPeer(%q) = %v", addr, got)
		}
	}
	for _, bad := range []map[string]string{{"REDIS_CLUSTER": "yes please"}, {"REDIS_TLS": "maybe"}, {"FORWARD_AUTH_ONLY": "y"}} {
		var c Config
		if err := c.ApplyEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	off, err := ForwardAuthConfig{Path: "/auth"}.compile()
	if err != nil || off.path != "" || off.envoyPrefix != "" {
		t.Errorf("forward-auth on without enabled or only: %+v %v", off, err)
	}
	for _, fa := range []ForwardAuthConfig{
		{Path: "auth"}, {Path: "/a/../b"}, {Path: "/auth/"}, {EnvoyPrefix: "/x;y"}, {Path: "/same", EnvoyPrefix: "/same"}, {Trusted: []string{"10.0.0.0/33"}},
	} {
		fa.Enabled = true
		if _, err := fa.compile(); err == nil {
			t.Errorf("%+v accepted", fa)
		}
	}
}

func TestParseConfigForwardAuthAndRedis(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte("forward_auth: {only: true, trusted: [10.0.0.0/8]}\nredis: {addrs: [a:1, b:2, c:3], cluster: true, tls: true}\nroutes: [{prefix: /}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ForwardAuth.Only || !c.Redis.Cluster || len(c.Redis.Addrs) != 3 {
		t.Fatalf("%+v", c)
	}
	// No upstream is needed when only decisions are answered.
	if _, err := c.compileRoutes(nil); err != nil {
		t.Fatalf("forward_auth.only without an upstream: %v", err)
	}
	if _, err := ParseConfig([]byte("forward_auth: {trusted_proxies: [x]}\n")); err == nil {
		t.Fatal("a misspelt forward_auth key was accepted")
	}
}
