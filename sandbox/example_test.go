package sandbox_test

import (
	"testing"

	"github.com/oktafed/oktafed/sandbox"
)

// A test adds a user and, for a database it started, an IAM-auth front.
func ExampleServer_StartRDS() {
	var t testing.TB // the test's *testing.T
	var pgAddr, pgPassword string

	cfg := sandbox.DefaultConfig()
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{Login: "ci@example.com", Password: "Sandbox-Ci-1"})
	srv := sandbox.Start(t, cfg)
	// srv.URL is both the Okta org URL and the AWS endpoint URL.
	front := srv.StartRDS(t, sandbox.RDSConfig{Engine: sandbox.RDSPostgres,
		Backend: sandbox.RDSBackendConfig{Addr: pgAddr, User: "postgres", Password: pgPassword}})
	// front.Addr() takes IAM tokens signed with credentials srv issued.
	_ = front.Addr()
}
