package gateway_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// BenchmarkProxy compares a public route with a token route through the
// whole handler and a real loopback upstream, so the difference is what
// checking a cached token and passing the identity cost per request.
func BenchmarkProxy(b *testing.B) {
	sb := sandbox.Start(b, sandbox.DefaultConfig())
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
	b.Cleanup(up.Close)
	cfg := oktaConfig(b, sb, up.URL)
	cfg.Routes = []gateway.Route{
		{Prefix: "/public/", Rule: guard.Rule{Public: true}},
		{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}, Scopes: []string{"orders.read"}}},
	}
	// Logs off, as in bench/gateway: the access log line of a token
	// request has more fields, which is the logger's cost, not the check's.
	quiet := gateway.Options{Logger: slog.New(slog.DiscardHandler)}
	gw := startGatewayWith(b, cfg, quiet)
	waitReady(b, gw)
	h := gw.gw.Handler()
	cfg.StripAuthorization = true
	gs := startGatewayWith(b, cfg, quiet)
	waitReady(b, gs)
	hs := gs.gw.Handler()
	tok := mint(b, sb, []string{"orders.read"}, []string{"readers"}, nil)
	for _, bc := range []struct {
		name, path, auth string
		h                http.Handler
	}{
		{"public", "/public/x", "", h},
		{"public+header", "/public/x", "Bearer " + tok, h},
		{"token", "/x", "Bearer " + tok, h},
		{"token, strip_authorization", "/x", "Bearer " + tok, hs},
	} {
		h := bc.h
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", bc.path, nil)
				if bc.auth != "" {
					r.Header.Set("Authorization", bc.auth)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}

// BenchmarkForwardAuth is the decision alone, in process: what the
// gateway spends per nginx auth_request call (a token under a role and
// scope rule, identity headers set), next to the ext_authz gRPC Check.
func BenchmarkForwardAuth(b *testing.B) {
	sb := sandbox.Start(b, sandbox.DefaultConfig())
	cfg := oktaConfig(b, sb, "")
	cfg.ForwardAuth.Only = true
	cfg.Routes = []gateway.Route{{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}, Scopes: []string{"orders.read"}}}}
	gw := startGatewayWith(b, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	waitReady(b, gw)
	h := gw.gw.Handler()
	tok := mint(b, sb, []string{"orders.read"}, []string{"readers"}, nil)
	b.Run("nginx auth_request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("GET", gateway.DefaultForwardAuthPath, nil)
			r.RemoteAddr = "127.0.0.1:40000" // nginx on the same host
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("X-Original-URI", "/orders/42?x=1")
			r.Header.Set("X-Original-Method", "GET")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 || w.Header().Get("X-Auth-Role") != "read" {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
	b.Run("ext_authz Check", func(b *testing.B) {
		b.ReportAllocs()
		srv := gw.gw.ExtAuthz()
		req := checkRequest("GET", "/orders/42?x=1", map[string]string{"authorization": "Bearer " + tok})
		ctx := context.Background()
		for b.Loop() {
			resp, err := srv.Check(ctx, req)
			if err != nil || resp.GetOkResponse() == nil {
				b.Fatalf("%v %v", resp, err)
			}
		}
	})
}
