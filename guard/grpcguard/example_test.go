package grpcguard_test

import (
	"google.golang.org/grpc"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/guard/grpcguard"
	"github.com/oktafed/oktafed/verify"
)

// A gRPC server whose methods need a role: reads for everyone with a
// role, the Delete method for admins, and health checks without a token.
// Refused calls end with Unauthenticated, PermissionDenied or Unavailable
// (grpcguard.Code).
func ExampleUnaryServerInterceptor() {
	v, err := verify.New(verify.Config{
		Providers: []verify.ProviderConfig{verify.Okta("example.okta.com", "default")},
		Policy:    verify.Policy{Audiences: []string{"api://default"}, AdminGroups: []string{"aws-admins"}, ReadOnlyGroups: []string{"readers"}},
	})
	if err != nil {
		panic(err)
	}
	g := guard.New(v, guard.Options{})
	policy := grpcguard.Methods(map[string]guard.Rule{
		"/orders.v1.Orders/Delete": {Roles: []string{verify.RoleAdmin}},
		"/grpc.health.v1.Health/":  {Public: true},
	}, guard.Rule{Roles: []string{verify.RoleRead}})
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(grpcguard.UnaryServerInterceptor(g, policy)),
		grpc.StreamInterceptor(grpcguard.StreamServerInterceptor(g, policy)),
	)
	_ = srv // register services, then srv.Serve(listener)
}
