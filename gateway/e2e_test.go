package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// echoUpstream is a real HTTP server that answers with the identity
// headers it received, so tests see exactly what the gateway forwarded.
func echoUpstream(t testing.TB) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := map[string]string{"path": r.URL.Path, "method": r.Method, "authorization": r.Header.Get("Authorization")}
		for k, v := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-auth-") {
				out[strings.ToLower(k)] = strings.Join(v, "|")
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(s.Close)
	return s
}

// grpcUpstream is a gRPC health server on 127.0.0.1, plaintext HTTP/2.
func grpcUpstream(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a gateway serving on 127.0.0.1.
type running struct {
	gw    *gateway.Gateway
	url   string
	admin string // the admin listener's base URL
	logs  *syncBuffer
	// stop cancels Serve's context (a stop signal); done receives what
	// Serve returned.
	stop func()
	done chan error
}

func startGateway(t testing.TB, cfg gateway.Config) *running {
	t.Helper()
	r := startGatewayWith(t, cfg, gateway.Options{})
	waitReady(t, r)
	return r
}

// startGatewayWith starts a gateway without waiting for it to be ready.
func startGatewayWith(t testing.TB, cfg gateway.Config, opts gateway.Options) *running {
	t.Helper()
	if cfg.Timeouts.Drain == 0 {
		cfg.Timeouts.Drain = -1 // tests that stop gateways do not wait
	}
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gw, err := gateway.New(cfg, opts)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	adminDone := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	go func() { adminDone <- gw.ServeAdmin(ctx, aln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := <-adminDone; err != nil {
			t.Errorf("ServeAdmin: %v", err)
		}
		gw.Close()
	})
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	return &running{gw: gw, url: scheme + "://" + ln.Addr().String(), admin: "http://" + aln.Addr().String(), logs: logs, stop: cancel, done: done}
}

func waitReady(t testing.TB, r *running) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !r.gw.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready; log:\n%s", r.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// oktaConfig is the environment a data-platform service would set, pointed
// at the sandbox.
func oktaConfig(t testing.TB, sb *sandbox.Server, upstream string) gateway.Config {
	t.Helper()
	var c gateway.Config
	env := map[string]string{
		"AUTH_PROVIDERS": "okta", "OKTA_ORG_DOMAIN": "sandbox.invalid", "OKTA_BASE_URL": sb.URL,
		"OKTA_AUDIENCE": "api://default", "OKTA_AUTH_SERVER_ID": "default",
		"ADMIN_GROUPS": "aws-admins", "WRITE_GROUPS": "developers", "READ_ONLY_GROUPS": "readers",
		"GATEWAY_UPSTREAM": upstream, "GATEWAY_REALM": "orders",
	}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	return c
}

// withAudiences returns c with its first issuer accepting aud instead, its
// issuers copied so c is left as it was.
func withAudiences(c gateway.Config, aud ...string) gateway.Config {
	c.Issuers = slices.Clone(c.Issuers)
	c.Issuers[0].Audiences = aud
	return c
}

func mint(t testing.TB, sb *sandbox.Server, scopes, groups []string, extra map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": "alice@example.com", "cid": "0oa1demoservice00001", "scp": scopes}
	if groups != nil {
		c["groups"] = groups
	}
	for k, v := range extra {
		c[k] = v
	}
	tok, err := sb.MintAccessToken("default", c, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenFrom runs an OAuth token request against the sandbox, as a real
// client would.
func tokenFrom(t testing.TB, sb *sandbox.Server, form url.Values, basicUser, basicPass string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", sb.URL+"/oauth2/default/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		t.Fatalf("token request: %d %s", resp.StatusCode, body)
	}
	return out.AccessToken
}

func do(t testing.TB, method, u, token string, hdr map[string]string) (int, http.Header, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]string
	_ = json.Unmarshal(body, &m)
	if m == nil {
		m = map[string]string{"_body": string(body)}
	}
	return resp.StatusCode, resp.Header, m
}

func TestGatewaySandboxEndToEnd(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := echoUpstream(t)
	grpcAddr := grpcUpstream(t)
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Routes = []gateway.Route{
		{Prefix: "/grpc.health.v1.Health/", Upstream: "h2c://" + grpcAddr, Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
		{Prefix: "/admin/", Rule: guard.Rule{Roles: []string{verify.RoleAdmin}}},
		{Prefix: "/orders", Methods: []string{"POST", "PUT", "DELETE"}, Rule: guard.Rule{Roles: []string{verify.RoleWrite}, Scopes: []string{"orders.write"}}},
		{Prefix: "/orders", Methods: []string{"GET"}, Rule: guard.Rule{Roles: []string{verify.RoleRead}, Scopes: []string{"orders.read"}}},
		{Prefix: "/public/", Rule: guard.Rule{Public: true}},
	}
	gw := startGateway(t, cfg)

	// Real grants: the demo user's password-grant token carries its groups
	// (aws-admins, developers); the service's client-credentials token has
	// no groups and so no role.
	userTok := tokenFrom(t, sb, url.Values{"grant_type": {"password"}, "client_id": {"0oa1democli000000001"}, "username": {"demo@example.com"}, "password": {"Sandbox-Demo-1"}, "scope": {"openid orders.read orders.write"}}, "", "")
	svcTok := tokenFrom(t, sb, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read orders.write"}}, "0oa1demoservice00001", "demo-service-secret-not-secret")
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	writer := mint(t, sb, []string{"orders.read", "orders.write"}, []string{"developers"}, nil)
	writerNoScope := mint(t, sb, []string{"orders.read"}, []string{"developers"}, nil)

	spoof := map[string]string{"X-Auth-User": "root", "x-auth-role": "admin", "X-AUTH-GROUPS": "aws-admins"}
	cases := []struct {
		name, method, path, token string
		want                      int
		role                      string // X-Auth-Role the upstream must see
	}{
		{"no token", "GET", "/orders", "", 401, ""},
		{"garbage token", "GET", "/orders", "abc.def.ghi", 401, ""},
		{"reader reads", "GET", "/orders/42", reader, 200, "read"},
		{"reader cannot write", "POST", "/orders", reader, 403, ""},
		{"reader not admin", "GET", "/admin/users", reader, 403, ""},
		{"writer writes", "POST", "/orders", writer, 200, "write"},
		{"writer without scope", "DELETE", "/orders/1", writerNoScope, 403, ""},
		{"writer not admin", "GET", "/admin/users", writer, 403, ""},
		{"user (admin) administers", "GET", "/admin/users", userTok, 200, "admin"},
		{"user (admin) writes", "PUT", "/orders/1", userTok, 200, "admin"},
		{"service without groups refused", "GET", "/orders", svcTok, 403, ""},
		{"unrouted method", "PATCH", "/orders", writer, 404, ""},
		{"unrouted path", "GET", "/other", writer, 404, ""},
		{"public without token", "GET", "/public/status", "", 200, ""},
		{"dot segments refused", "GET", "/public/../admin/users", "", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, h, m := do(t, tc.method, gw.url+tc.path, tc.token, spoof)
			if st != tc.want {
				t.Fatalf("status = %d, want %d (%v)", st, tc.want, m)
			}
			if st == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="orders"`) {
				t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
			}
			if st == 403 && !strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
			}
			if st != 200 {
				return
			}
			if m["x-auth-role"] != tc.role {
				t.Errorf("upstream saw role %q, want %q (%v)", m["x-auth-role"], tc.role, m)
			}
			if tc.token == "" {
				if m["x-auth-user"] != "" || m["x-auth-groups"] != "" {
					t.Errorf("spoofed identity reached the upstream: %v", m)
				}
				return
			}
			if m["x-auth-user"] == "root" || m["x-auth-subject"] == "" || strings.Contains(m["x-auth-groups"], "|") {
				t.Errorf("identity headers = %v", m)
			}
			if m["authorization"] != "Bearer "+tc.token {
				t.Error("the Authorization header was not passed upstream")
			}
		})
	}
	if st, _, m := do(t, "GET", gw.url+"/admin/users", userTok, nil); st == 200 && (m["x-auth-subject"] != "demo@example.com" && !strings.Contains(m["x-auth-user"], "demo")) {
		t.Errorf("user identity = %v", m)
	}

	t.Run("grpc health", func(t *testing.T) {
		cc, err := grpc.NewClient(strings.TrimPrefix(gw.url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		hc := healthpb.NewHealthClient(cc)
		for _, tc := range []struct {
			name, token string
			want        codes.Code
		}{
			{"without token", "", codes.Unauthenticated},
			{"with bad token", "nope", codes.Unauthenticated},
			{"service without role", svcTok, codes.PermissionDenied},
			{"reader", reader, codes.OK},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if tc.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
			}
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
			cancel()
			if status.Code(err) != tc.want {
				t.Errorf("%s: code %v, want %v (%v)", tc.name, status.Code(err), tc.want, err)
			}
			if tc.want == codes.OK && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%s: status %v", tc.name, resp.GetStatus())
			}
		}
		// A server stream through the proxy: Watch sends the current status.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+reader)
		w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := w.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Watch: %v %v", m, err)
		}
	})

	t.Run("health, readiness and metrics", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			if st, _, _ := do(t, "GET", gw.admin+p, "", nil); st != 200 {
				t.Errorf("%s = %d", p, st)
			}
		}
		_, _, m := do(t, "GET", gw.admin+"/metrics", "", nil)
		body := m["_body"]
		for _, want := range []string{
			`oktafed_gateway_verifications_total{result="ok"}`,
			`oktafed_gateway_verifications_total{result="forbidden"}`,
			`oktafed_gateway_verifications_total{result="missing_token"}`,
			`oktafed_gateway_verification_duration_seconds_bucket`,
			`oktafed_gateway_jwks_age_seconds{provider="okta"}`,
			`oktafed_gateway_jwks_fetches_total{provider="okta"} 1`,
			`oktafed_gateway_token_cache_hit_ratio`,
			`oktafed_gateway_requests_total{code="200",route="/admin/"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("access log holds no token", func(t *testing.T) {
		logs := gw.logs.String()
		for _, tok := range []string{userTok, svcTok, reader, writer} {
			sig := tok[strings.LastIndex(tok, ".")+1:]
			if strings.Contains(logs, sig) {
				t.Fatal("a token reached the access log")
			}
		}
		if !strings.Contains(logs, `"route":"/admin/"`) || !strings.Contains(logs, `"auth":"forbidden"`) || !strings.Contains(logs, `"sub":"alice@example.com"`) {
			t.Errorf("access log lacks expected fields:\n%s", logs[:min(len(logs), 2000)])
		}
	})
}

func TestGatewayRevocationInMemory(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	gw := startGateway(t, oktaConfig(t, sb, echoUpstream(t).URL))
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	victim := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	if st, _, _ := do(t, "GET", gw.url+"/x", victim, nil); st != 200 {
		t.Fatalf("before revocation: %d", st)
	}
	if st := revoke(t, gw.url, victim, url.Values{"token": {victim}}); st != 403 {
		t.Fatalf("a reader revoking: %d, want 403", st)
	}
	if st := revoke(t, gw.url, admin, url.Values{"token": {victim}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	st, h, _ := do(t, "GET", gw.url+"/x", victim, nil)
	if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "revoked") {
		t.Fatalf("after revocation: %d %q", st, h.Get("WWW-Authenticate"))
	}
}

// TestGatewayIssuerClientIDsAndScopes: an issuer's client_ids
// (OKTA_CLIENT_IDS) and accepted_scopes, now verify's per-issuer rules,
// hold at the gateway: a token from another client is refused 401, one
// with none of the accepted scopes 403, and the listed client with an
// accepted scope passes.
func TestGatewayIssuerClientIDsAndScopes(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	var cfg gateway.Config
	env := map[string]string{
		"OKTA_BASE_URL": sb.URL, "OKTA_AUDIENCE": "api://default", "OKTA_CLIENT_IDS": "0oa1demoservice00001, 0oaSecond",
		"READ_ONLY_GROUPS": "readers", "GATEWAY_UPSTREAM": echoUpstream(t).URL,
	}
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	cfg.Issuers[0].AcceptedScopes = []string{"orders.read", "orders.admin"}
	gw := startGateway(t, cfg)
	for _, tc := range []struct {
		name   string
		cid    string
		scopes []string
		want   int
		chal   string
	}{
		{"listed client, accepted scope", "0oa1demoservice00001", []string{"orders.read"}, 200, ""},
		{"second listed client", "0oaSecond", []string{"orders.admin"}, 200, ""},
		{"another client", "0oaAttacker", []string{"orders.read"}, 401, "invalid_token"},
		{"no client claim", "", []string{"orders.read"}, 401, "invalid_token"},
		{"none of the accepted scopes", "0oa1demoservice00001", []string{"orders.write"}, 403, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]any{"cid": tc.cid}
			if tc.cid == "" {
				extra["cid"] = nil
			}
			st, h, _ := do(t, "GET", gw.url+"/x", mint(t, sb, tc.scopes, []string{"readers"}, extra), nil)
			if st != tc.want || !strings.Contains(h.Get("WWW-Authenticate"), tc.chal) {
				t.Fatalf("%d %q, want %d %q", st, h.Get("WWW-Authenticate"), tc.want, tc.chal)
			}
		})
	}
}

func revoke(t testing.TB, base, adminToken string, form url.Values) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+gateway.DefaultAdminPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// countingProxy forwards to target and counts requests whose path ends in
// suffix.
func countingProxy(t testing.TB, target, suffix string, n *atomic.Int64) string {
	t.Helper()
	tu, _ := url.Parse(target)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, suffix) {
			n.Add(1)
		}
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, tu.Scheme+"://"+tu.Host+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(s.Close)
	return s.URL
}
