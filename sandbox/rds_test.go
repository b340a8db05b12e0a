package sandbox_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sandbox/internal/rds"
)

// TestRDSFrontFromConfig starts a sandbox whose config declares an RDS
// front for a real PostgreSQL, and connects through it with an IAM token
// signed by credentials the sandbox issued.
func TestRDSFrontFromConfig(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	pg.Exec(t, "CREATE ROLE app_user LOGIN PASSWORD 'backend-pw'", "CREATE DATABASE app OWNER app_user")
	cfg := sandbox.DefaultConfig()
	cfg.RDS = []rds.Config{{
		Engine:  rds.EnginePostgres,
		Allowed: map[string][]string{"app_user": {adminRole}},
		Backend: rds.BackendConfig{Addr: pg.Addr(), User: pg.User, Password: pg.Password, Users: map[string]string{"app_user": "backend-pw"}},
	}}
	srv := sandbox.Start(t, cfg)
	if len(srv.RDS) != 1 {
		t.Fatalf("%d fronts", len(srv.RDS))
	}
	front := srv.RDS[0]
	creds, err := srv.IssueCredentials(adminRole, "rds-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, front.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := pgxauth.NewConnector("postgres://app_user@"+front.Addr()+"/app?sslmode=verify-full&sslrootcert="+ca, dbauth.Config{
		Plugin: dbauth.PluginIAM, IAMRegion: "us-east-1", Credentials: aws.NewCredentialsCache(credsProvider(creds)),
	})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var user string
	if err := db.QueryRowContext(context.Background(), "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != "app_user" {
		t.Fatalf("connected as %q", user)
	}
}
