package gateway_test

// Tests at the seams of DPoP (dpop.go) with configuration reloads
// (reload.go), tracing (tracing.go) and request ids (requestid.go): what an
// attacker can replay, spoof or slip through when a reload swaps the
// generation serving requests.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/dpop"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

const (
	seamDPoPClient = "0oa1demodpop00000001"
	seamDPoPSecret = "dpop-secret-not-secret"
)

// dpopSandbox is the sandbox with an app that requires DPoP.
func dpopSandbox(t *testing.T) *sandbox.Server {
	t.Helper()
	cfg := sandbox.DefaultConfig()
	cfg.OAuth.Servers[0].Clients = append(cfg.OAuth.Servers[0].Clients, sandbox.OAuthClientConfig{
		ClientID: seamDPoPClient, ClientSecret: seamDPoPSecret, TokenEndpointAuthMethod: "client_secret_basic",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read"}, DPoPBoundAccessTokens: true,
	})
	return sandbox.Start(t, cfg)
}

// dpopCaller sends one token in one scheme with the proofs given.
type dpopCaller struct {
	t    *testing.T
	base string
	key  *dpop.Key
	tok  string
}

func (c dpopCaller) proof(method, path string) string {
	c.t.Helper()
	p, err := c.key.Proof(method, c.base+path, c.tok, "", time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c dpopCaller) call(scheme, path string, proofs ...string) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("Authorization", scheme+" "+c.tok)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// refusedDPoP asserts a 401 with a DPoP challenge.
func refusedDPoP(t *testing.T, what string, st int, challenge string) {
	t.Helper()
	if st != http.StatusUnauthorized || !strings.HasPrefix(challenge, "DPoP") {
		t.Errorf("%s: %d %q, want 401 with WWW-Authenticate: DPoP", what, st, challenge)
	}
}

// jtiOf reads a JWT's jti without checking it, as an operator would.
func jtiOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.JTI == "" {
		t.Fatalf("no jti in the token: %v", err)
	}
	return c.JTI
}

// TestSeamDPoPReplayAcrossReload: a reload that changes the issuers'
// settings builds a new verifier. DPoP-bound tokens with fresh proofs
// still pass after it (the new verifier's replay cache works), proofs used
// before the reload are still refused after it (the cache is the one the
// generations share: Redis, or without Redis the gateway's own memory),
// and a bound token sent as Bearer is refused, with tracing on too (the
// tracedVerifier path), where the proof checks are traced.
func TestSeamDPoPReplayAcrossReload(t *testing.T) {
	sb := dpopSandbox(t)
	up := echoUpstream(t)
	rs := testenv.Redis(t)
	for _, tc := range []struct {
		name           string
		redis, tracing bool
	}{
		{"memory", false, false},
		{"redis", true, false},
		{"redis and tracing", true, true},
		{"memory and tracing", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oktaConfig(t, sb, up.URL)
			cfg.AllowNoRole = true
			prefix := "test:" + strings.ReplaceAll(t.Name(), " ", "_") + ":"
			if tc.redis {
				cfg.Redis = gateway.RedisConfig{URL: "redis://" + rs.Addr() + "/0", Prefix: prefix}
			}
			var opts gateway.Options
			spans := tracetest.NewInMemoryExporter()
			if tc.tracing {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
				t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				opts.TracerProvider = tp
			}
			gw := startGatewayWith(t, cfg, opts)
			waitReady(t, gw)
			key, err := dpop.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			c := dpopCaller{t: t, base: gw.url, key: key, tok: dpopToken(t, sb, key, seamDPoPClient, seamDPoPSecret)}

			before := c.proof("GET", "/orders")
			if st, ch := c.call("DPoP", "/orders", before); st != http.StatusOK {
				t.Fatalf("generation 1, valid proof: %d %q", st, ch)
			}
			v1 := gw.gw.Verifier()
			next := withAudiences(cfg, "api://default", "api://orders")
			if err := gw.gw.Reload(context.Background(), next); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if gw.gw.Verifier() == v1 {
				t.Fatal("the reload kept the verifier; this test needs one built anew")
			}
			after := c.proof("GET", "/orders")
			if st, ch := c.call("DPoP", "/orders", after); st != http.StatusOK {
				t.Fatalf("generation 2, valid proof: %d %q (the new verifier refuses DPoP)", st, ch)
			}
			st, ch := c.call("DPoP", "/orders", before)
			refusedDPoP(t, "generation 2, a proof used in generation 1", st, ch)
			st, ch = c.call("DPoP", "/orders", after)
			refusedDPoP(t, "generation 2, a proof used in generation 2", st, ch)
			st, ch = c.call("Bearer", "/orders")
			refusedDPoP(t, "generation 2, the bound token as Bearer", st, ch)
			st, ch = c.call("Bearer", "/orders", c.proof("GET", "/orders"))
			refusedDPoP(t, "generation 2, the bound token as Bearer with a proof", st, ch)

			if tc.redis {
				rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
				defer rdb.Close()
				ids, err := rdb.Keys(context.Background(), prefix+"dpop:*").Result()
				if err != nil {
					t.Fatal(err)
				}
				// Three fresh proofs passed their replay check: one per
				// generation and the Bearer-with-proof one is never checked.
				if len(ids) != 2 {
					t.Errorf("%d proof ids in Redis after two accepted proofs, want 2 (the other replicas would not see them)", len(ids))
				}
			}
			if tc.tracing {
				dpopSpans := 0
				for _, s := range spans.GetSpans() {
					if s.Name == "oktafed.verify_token" {
						for _, a := range s.Attributes {
							if a.Key == attribute.Key("oktafed.dpop") && a.Value.AsBool() {
								dpopSpans++
							}
						}
					}
				}
				if dpopSpans != 4 {
					t.Errorf("%d traced DPoP checks for 4 DPoP requests", dpopSpans)
				}
			}
		})
	}
}

// TestSeamReloadMidFlightAndRevocations: a request under way when a
// reload drops its route (and replaces the verifier) finishes on the
// generation that took it; the next one meets the new table. Revocations
// made in one generation hold in the next, for bearer and DPoP-bound
// tokens alike, with and without Redis.
func TestSeamReloadMidFlightAndRevocations(t *testing.T) {
	sb := dpopSandbox(t)
	rs := testenv.Redis(t)
	for _, withRedis := range []bool{false, true} {
		name := "memory"
		if withRedis {
			name = "redis"
		}
		t.Run(name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/slow/") {
					arrived <- struct{}{}
					<-release
				}
				_, _ = io.WriteString(w, "ok")
			}))
			t.Cleanup(up.Close)
			rule := guard.Rule{Roles: []string{verify.RoleRead}, AllowNoRole: true}
			cfg := oktaConfig(t, sb, up.URL)
			cfg.Routes = []gateway.Route{{Prefix: "/slow/", Rule: rule}, {Prefix: "/", Rule: rule}}
			if withRedis {
				cfg.Redis = gateway.RedisConfig{URL: "redis://" + rs.Addr() + "/0", Prefix: "test:" + t.Name() + ":"}
			}
			gw := startGateway(t, cfg)
			key, _ := dpop.NewKey()
			c := dpopCaller{t: t, base: gw.url, key: key, tok: dpopToken(t, sb, key, seamDPoPClient, seamDPoPSecret)}
			admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
			victim := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)

			type result struct {
				st int
				ch string
			}
			done := make(chan result, 1)
			p := c.proof("GET", "/slow/x")
			go func() {
				// c.call's t.Fatal must not run off the test goroutine.
				req, _ := http.NewRequest("GET", gw.url+"/slow/x", nil)
				req.Header.Set("Authorization", "DPoP "+c.tok)
				req.Header.Set("DPoP", p)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- result{0, err.Error()}
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				done <- result{resp.StatusCode, resp.Header.Get("WWW-Authenticate")}
			}()
			select {
			case <-arrived:
			case r := <-done:
				t.Fatalf("the DPoP request ended before reaching the upstream: %d %q", r.st, r.ch)
			}
			// Generation 2 drops /slow/ and the catch-all, and changes the
			// verifier, while the request is at the upstream.
			gen2 := withAudiences(cfg, "api://default", "api://orders")
			gen2.Routes = []gateway.Route{{Prefix: "/other/", Rule: rule}}
			err := gw.gw.Reload(context.Background(), gen2)
			close(release)
			if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if r := <-done; r.st != http.StatusOK {
				t.Errorf("the request under way during the reload: %d %q, want its generation's 200", r.st, r.ch)
			}
			if st, _ := c.call("DPoP", "/slow/x", c.proof("GET", "/slow/x")); st != http.StatusNotFound {
				t.Errorf("the dropped route after the reload: %d, want 404", st)
			}
			if st, ch := c.call("DPoP", "/other/x", c.proof("GET", "/other/x")); st != http.StatusOK {
				t.Fatalf("generation 2's route: %d %q", st, ch)
			}

			// Revoked in generation 2, the bound token and a bearer one
			// stay revoked in generation 3.
			// The bound token by jti here; TestRevokeDPoPBoundTokenByValue
			// revokes one by value.
			if st := revoke(t, gw.url, admin, url.Values{"jti": {jtiOf(t, c.tok)}}); st != http.StatusOK {
				t.Fatalf("revoking the DPoP-bound token: %d", st)
			}
			if st := revoke(t, gw.url, admin, url.Values{"token": {victim}}); st != http.StatusOK {
				t.Fatalf("revoking the bearer token: %d", st)
			}
			st, ch := c.call("DPoP", "/other/x", c.proof("GET", "/other/x"))
			if st != http.StatusUnauthorized || !strings.Contains(ch, "revoked") {
				t.Errorf("generation 2, the revoked DPoP-bound token with a fresh proof: %d %q, want 401 revoked", st, ch)
			}
			gen3 := cfg // back to generation 1's verifier settings: built anew again
			if err := gw.gw.Reload(context.Background(), gen3); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			st, ch = c.call("DPoP", "/x", c.proof("GET", "/x"))
			if st != http.StatusUnauthorized || !strings.Contains(ch, "revoked") {
				t.Errorf("generation 3, the DPoP-bound token revoked in generation 2: %d %q, want 401 revoked", st, ch)
			}
			if st, h, _ := do(t, "GET", gw.url+"/x", victim, nil); st != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "revoked") {
				t.Errorf("generation 3, the bearer token revoked in generation 2: %d %q, want 401 revoked", st, h.Get("WWW-Authenticate"))
			}
			if g := gw.gw.Generation(); g != 3 {
				t.Errorf("generation %d, want 3", g)
			}
		})
	}
}

// TestSeamRequestIDAndTraceparentAcrossReload: a client's X-Request-Id
// is kept, and its traceparent continued, only while the generation
// serving it trusts the client's address (forward_auth.trusted). A reload
// that stops trusting it makes the gateway generate the id and start a
// trace of its own (the caller's is only linked), and one that trusts it
// again restores both: no generation serves with another's trust list.
func TestSeamRequestIDAndTraceparentAcrossReload(t *testing.T) {
	var mu sync.Mutex
	type seen struct{ id, traceparent, tracestate string }
	var got []seen
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{strings.Join(r.Header.Values("X-Request-Id"), ","), r.Header.Get("Traceparent"), r.Header.Get("Tracestate")})
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg := oktaConfig(t, sb, up.URL)
	gw := startGatewayWith(t, cfg, gateway.Options{TracerProvider: tp})
	waitReady(t, gw)
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)

	const (
		callerID    = "req-chosen-by-caller"
		callerTrace = "0af7651916cd43dd8448eb211c80319c"
		callerSpan  = "b7ad6b7169203331"
	)
	send := func(gen string) seen {
		t.Helper()
		spans.Reset()
		mu.Lock()
		got = nil
		mu.Unlock()
		st, _, _ := do(t, "GET", gw.url+"/x", reader, map[string]string{
			"X-Request-Id": callerID,
			// Sampled: with a parent-based sampler that never samples
			// roots, only a continued trace is recorded.
			"Traceparent": "00-" + callerTrace + "-" + callerSpan + "-01",
			"Tracestate":  "vendor=chosen-by-caller",
		})
		if st != http.StatusOK {
			t.Fatalf("%s: %d", gen, st)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("%s: the upstream got %d requests", gen, len(got))
		}
		return got[0]
	}
	continued := func(s seen) bool {
		parts := strings.Split(s.traceparent, "-")
		return len(parts) == 4 && parts[1] == callerTrace
	}

	// Generation 1 trusts loopback (the default): both are the caller's.
	s := send("generation 1")
	if s.id != callerID || !continued(s) {
		t.Errorf("generation 1, trusted caller: upstream got id %q traceparent %q, want the caller's", s.id, s.traceparent)
	}
	if n := len(spans.GetSpans()); n == 0 {
		t.Error("generation 1: the trusted caller's sampled trace recorded no span")
	}

	untrusted := cfg
	untrusted.ForwardAuth.Trusted = []string{"192.0.2.0/24"}
	if err := gw.gw.Reload(context.Background(), untrusted); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	s = send("generation 2")
	if !generated.MatchString(s.id) {
		t.Errorf("generation 2, untrusted caller: upstream got X-Request-Id %q, want a generated one", s.id)
	}
	if continued(s) {
		t.Errorf("generation 2, untrusted caller: upstream got traceparent %q, the caller's trace continued", s.traceparent)
	}
	if s.tracestate != "" {
		t.Errorf("generation 2, untrusted caller: upstream got its tracestate %q beside the gateway's traceparent", s.tracestate)
	}
	// The caller's sampled flag does not sample a root the sampler
	// would not: nothing is recorded, and nothing in the caller's trace.
	for _, sp := range spans.GetSpans() {
		t.Errorf("generation 2: span %q recorded (trace %s, parent %s) for an untrusted caller's sampled traceparent", sp.Name, sp.SpanContext.TraceID(), sp.Parent.SpanID())
	}

	if err := gw.gw.Reload(context.Background(), cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	s = send("generation 3")
	if s.id != callerID || !continued(s) {
		t.Errorf("generation 3, trusted again: upstream got id %q traceparent %q, want the caller's", s.id, s.traceparent)
	}
	if s.tracestate != "vendor=chosen-by-caller" {
		t.Errorf("generation 3, trusted again: upstream got tracestate %q, want the caller's", s.tracestate)
	}
}

// TestSeamReloadDoesNotServeSharedIntrospectionOfOldPolicy: principals
// introspected under one configuration and shared through Redis are not
// served by a generation whose issuer settings differ: a reload that
// narrows the accepted audiences refuses a token cached a moment before
// (it would pass for the shared cache's two minutes otherwise), and one
// that restores them finds the cache again.
func TestSeamReloadDoesNotServeSharedIntrospectionOfOldPolicy(t *testing.T) {
	rs := testenv.Redis(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := gateway.Config{
		Upstream: echoUpstream(t).URL,
		Issuers: []verify.ProviderConfig{{
			Name: "okta_idp", Type: verify.ProviderIntrospection, AcceptOpaque: true,
			ClientID: "0oa1demoservice00001", ClientSecret: "demo-service-secret-not-secret",
			IntrospectURL: sb.URL + "/oauth2/default/v1/introspect", Issuer: sb.Issuer("default"),
			Audiences: []string{"api://default"}, AcceptedScopes: []string{"orders.read"},
		}},
		Routes: []gateway.Route{{Prefix: "/", Rule: guard.Rule{Scopes: []string{"orders.read"}}}},
		Redis:  gateway.RedisConfig{URL: "redis://" + rs.Addr() + "/0", Prefix: "test:" + t.Name() + ":"},
	}
	gw := startGateway(t, cfg)
	tok := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	if st, _, _ := do(t, "GET", gw.url+"/x", tok, nil); st != http.StatusOK {
		t.Fatalf("generation 1: %d", st)
	}
	narrow := withAudiences(cfg, "api://orders-only")
	if err := gw.gw.Reload(context.Background(), narrow); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if st, h, _ := do(t, "GET", gw.url+"/x", tok, nil); st != http.StatusUnauthorized {
		t.Errorf("generation 2, a token for an audience it no longer accepts: %d %q, want 401", st, h.Get("WWW-Authenticate"))
	}
	if err := gw.gw.Reload(context.Background(), cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if st, _, _ := do(t, "GET", gw.url+"/x", tok, nil); st != http.StatusOK {
		t.Errorf("generation 3, the audience accepted again: %d, want 200", st)
	}
}
