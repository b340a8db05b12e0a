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
		check   func(t *testing.T, vc verify.Config, rules map[string]providerRule)
	}{
		{
			name: "okta and auth0 as the data-platform brief names them",
			env: map[string]string{
				"AUTH_PROVIDERS": "okta,auth0", "OKTA_ORG_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://data",
				"OKTA_AUTH_SERVER_ID": "aus123", "OKTA_CLIENT_ID": "0oaA, 0oaB", "AUTH0_DOMAIN": "tenant.eu.auth0.com",
				"AUTH0_AUDIENCE": "https://data.example.com", "ADMIN_GROUPS": "platform-admins", "WRITE_GROUPS": "eng,data-eng",
				"READ_ONLY_GROUPS": "analysts",
			},
			check: func(t *testing.T, vc verify.Config, rules map[string]providerRule) {
				if len(vc.Providers) != 2 || vc.Providers[0].Domain != "example.okta.com" || vc.Providers[0].AuthServerID != "aus123" || vc.Providers[1].Domain != "tenant.eu.auth0.com" {
					t.Fatalf("providers = %+v", vc.Providers)
				}
				if !slices.Equal(vc.Providers[0].Audiences, []string{"api://data"}) || !slices.Equal(vc.Providers[1].Audiences, []string{"https://data.example.com"}) {
					t.Errorf("audiences = %v / %v", vc.Providers[0].Audiences, vc.Providers[1].Audiences)
				}
				if !slices.Equal(rules["okta"].clientIDs, []string{"0oaA", "0oaB"}) {
					t.Errorf("okta client ids = %v", rules["okta"].clientIDs)
				}
				if !slices.Equal(vc.Policy.WriteGroups, []string{"eng", "data-eng"}) || vc.Policy.AdminGroups[0] != "platform-admins" || vc.Policy.ReadOnlyGroups[0] != "analysts" {
					t.Errorf("policy = %+v", vc.Policy)
				}
			},
		},
		{
			name: "okta inferred, default auth server, org server allowed",
			// The org server's ID tokens for OKTA_CLIENT_ID: its access
			// tokens can only be introspected.
			env: map[string]string{"OKTA_ORG_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://x", "OKTA_ALLOW_ORG_SERVER": "true", "OKTA_AUTH_SERVER_ID": "org", "OKTA_CLIENT_ID": "0oaweb"},
			check: func(t *testing.T, vc verify.Config, _ map[string]providerRule) {
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.ApplyEnv(envOf(tc.env))
			var vc verify.Config
			var rules map[string]providerRule
			if err == nil {
				vc, rules, err = c.VerifyConfig()
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
			tc.check(t, vc, rules)
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

func TestParseConfigVerticaRecords(t *testing.T) {
	t.Parallel()
	yml := `
listen: 127.0.0.1:9443
upstream: h2c://127.0.0.1:9000
groups: {admin: [admins], write: [writers], read_only: [readers]}
authentication:
  - name: vertica_jwt
    validate_type: JWT
    jwt_issuer: https://idp.example.com/oauth2/aus1
    jwt_rsa_public_key: |
` + indent(testPEM(t), "      ") + `
    jwt_user_mapping: preferred_username
    jwt_accepted_audience_list: "vertica, api://v"
    jwt_accepted_scope_list: "vertica.read,vertica.write"
  - name: vertica_idp
    validate_type: IDP
    client_id: 0oaVertica
    client_secret: s3cret
    introspect_url: https://idp.example.com/oauth2/aus1/v1/introspect
    jwt_accepted_audience_list: vertica
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
	c, err := ParseConfig([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	vc, rules, err := c.VerifyConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(vc.Providers) != 2 {
		t.Fatalf("providers = %+v", vc.Providers)
	}
	jwt, idp := vc.Providers[0], vc.Providers[1]
	if jwt.Type != verify.ProviderStatic || jwt.Issuer != "https://idp.example.com/oauth2/aus1" || !strings.Contains(jwt.Keys, "BEGIN PUBLIC KEY") || !slices.Equal(jwt.Audiences, []string{"vertica", "api://v"}) {
		t.Errorf("jwt record = %+v", jwt)
	}
	if idp.Type != verify.ProviderIntrospection || idp.ClientID != "0oaVertica" || idp.ClientSecret != "s3cret" || !idp.AcceptOpaque {
		t.Errorf("idp record = %+v", idp)
	}
	if vc.Policy.UserClaim != "preferred_username" {
		t.Errorf("user claim = %q", vc.Policy.UserClaim)
	}
	if !slices.Equal(rules["vertica_jwt"].anyScopes, []string{"vertica.read", "vertica.write"}) {
		t.Errorf("rules = %+v", rules)
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
		{"bad validate_type", "authentication: [{validate_type: SAML, jwt_accepted_audience_list: a}]", "use IDP"},
		{"jwt without key", "authentication: [{validate_type: JWT, jwt_issuer: https://i, jwt_accepted_audience_list: a}]", "jwt_rsa_public_key"},
		{"idp without audience", "authentication: [{validate_type: IDP, client_id: c, client_secret: s, introspect_url: https://i/x}]", "jwt_accepted_audience_list"},
		{"conflicting user mapping", "user_claim: email\nauthentication: [{validate_type: JWT, jwt_issuer: https://i, jwt_rsa_public_key: k, jwt_accepted_audience_list: a, jwt_user_mapping: upn}]", "differs"},
		{"duplicate names", "authentication: [{name: a, validate_type: JWT, jwt_issuer: https://i, jwt_rsa_public_key: k, jwt_accepted_audience_list: a}, {name: a, validate_type: JWT, jwt_issuer: https://j, jwt_rsa_public_key: k, jwt_accepted_audience_list: a}]", "used twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yml))
			if err == nil {
				_, _, err = c.VerifyConfig()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
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
