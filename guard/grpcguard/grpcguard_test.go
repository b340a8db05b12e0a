package grpcguard_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/guard/grpcguard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// newVerifier trusts a sandbox org's "default" server and maps its groups
// to roles as the data-platform services do.
func newVerifier(t *testing.T) (*sandbox.Server, *verify.Verifier) {
	t.Helper()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	pc := verify.Okta("", "default")
	pc.BaseURL = sb.URL
	v, err := verify.New(verify.Config{
		Providers: []verify.ProviderConfig{pc},
		Policy: verify.Policy{
			Audiences:      []string{"api://default"},
			AdminGroups:    []string{"aws-admins"},
			ReadOnlyGroups: []string{"readers"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sb, v
}

func token(t *testing.T, sb *sandbox.Server, groups []string) string {
	t.Helper()
	tok, err := sb.MintAccessToken("default", map[string]any{"sub": "alice@example.com", "cid": "0oa1demoservice00001", "uid": "00u1", "groups": groups}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestMethods(t *testing.T) {
	admin := guard.Rule{Roles: []string{verify.RoleAdmin}}
	read := guard.Rule{Roles: []string{verify.RoleRead}}
	public := guard.Rule{Public: true}
	policy := grpcguard.Methods(map[string]guard.Rule{"/pkg.Svc/": read, "/pkg.Svc/Open": public}, admin)
	cases := map[string]guard.Rule{
		"/pkg.Svc/Get":      read,
		"/pkg.Svc/Open":     public,
		"/pkg.Other/Get":    admin,
		"/pkg.Svc":          admin, // no method: not the service prefix
		"/pkg.Svc/Get/more": admin, // only the last segment is the method
		"":                  admin,
	}
	for method, want := range cases {
		got := policy(method)
		if got.Public != want.Public || len(got.Roles) != len(want.Roles) || (len(got.Roles) > 0 && got.Roles[0] != want.Roles[0]) {
			t.Errorf("%q: rule %+v, want %+v", method, got, want)
		}
	}
}

func TestGRPCInterceptors(t *testing.T) {
	sb, v := newVerifier(t)
	var seen sync.Map
	g := guard.New(v, guard.Options{Observe: func(r guard.Result) { seen.Store(guard.Reason(r.Err), true) }})
	policy := grpcguard.Methods(map[string]guard.Rule{
		"/grpc.health.v1.Health/":      {Roles: []string{verify.RoleRead}},
		"/grpc.health.v1.Health/Watch": {Roles: []string{verify.RoleAdmin}},
	}, guard.Rule{Roles: []string{verify.RoleAdmin}})
	srv := grpc.NewServer(grpc.UnaryInterceptor(grpcguard.UnaryServerInterceptor(g, policy)), grpc.StreamInterceptor(grpcguard.StreamServerInterceptor(g, policy)))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	client := healthpb.NewHealthClient(cc)

	reader := token(t, sb, []string{"readers"})
	admin := token(t, sb, []string{"aws-admins"})
	cases := []struct {
		name   string
		token  string
		stream bool
		want   codes.Code
	}{
		{"unary without token", "", false, codes.Unauthenticated},
		{"unary with bad token", "nope", false, codes.Unauthenticated},
		{"unary reader", reader, false, codes.OK},
		{"stream reader refused", reader, true, codes.PermissionDenied},
		{"stream admin", admin, true, codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
			}
			var err error
			if tc.stream {
				var st healthpb.Health_WatchClient
				st, err = client.Watch(ctx, &healthpb.HealthCheckRequest{})
				if err == nil {
					_, err = st.Recv()
				}
			} else {
				_, err = client.Check(ctx, &healthpb.HealthCheckRequest{})
			}
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
	if _, ok := seen.Load("forbidden"); !ok {
		t.Error("Observe did not see the refused stream")
	}
}

// TestCodesAreGRPCs holds guard's plain gRPC numbers to grpc's codes and
// Code to guard.GRPCCode, the one mapping the gateway also answers with.
func TestCodesAreGRPCs(t *testing.T) {
	for got, want := range map[uint32]codes.Code{
		guard.GRPCPermissionDenied: codes.PermissionDenied,
		guard.GRPCUnavailable:      codes.Unavailable,
		guard.GRPCUnauthenticated:  codes.Unauthenticated,
	} {
		if codes.Code(got) != want {
			t.Errorf("guard's %d is %s in grpc, want %s", got, codes.Code(got), want)
		}
	}
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{&verify.Error{Code: verify.CodeInvalidToken, Reason: verify.ErrExpired}, codes.Unauthenticated},
		{&verify.Error{Code: verify.CodeInvalidRequest, Reason: verify.ErrInvalidRequest}, codes.Unauthenticated},
		{&verify.Error{Code: verify.CodeInsufficientScope, Reason: verify.ErrInsufficientScope}, codes.PermissionDenied},
		{&verify.Error{Code: verify.CodeInvalidToken, Reason: verify.ErrKeysUnavailable}, codes.Unavailable},
		{context.Canceled, codes.Unauthenticated},
	} {
		if got := grpcguard.Code(tc.err); got != tc.want || got != codes.Code(guard.GRPCCode(tc.err)) {
			t.Errorf("Code(%v) = %s (guard.GRPCCode %d), want %s", tc.err, got, guard.GRPCCode(tc.err), tc.want)
		}
	}
}
