package dbauth_test

import (
	"bytes"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// stsCounter counts what reaches the sandbox: Okta password sign-ins and
// STS AssumeRoleWithSAML calls.
type stsCounter struct{ authn, assume atomic.Int32 }

func (c *stsCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/api/v1/authn" {
		c.authn.Add(1)
	}
	if r.URL.Path == "/" && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(string(body), "Action=AssumeRoleWithSAML") {
			c.assume.Add(1)
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestOktaPluginEndToEnd connects through the RDS front with the okta
// plugin and nothing faked: a real Okta sign-in against the sandbox org, its
// signed SAML, STS, an RDS token, and PostgreSQL behind the front. Fifty
// connections at once make one sign-in and one AssumeRoleWithSAML.
func TestOktaPluginEndToEnd(t *testing.T) {
	t.Parallel()
	cfg := sandbox.DefaultConfig()
	// A service account without a second factor, as database clients use.
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{Login: "db-service@example.com", Password: "Sandbox-Db-1"})
	cfg.Org.Apps[0].Roles = append(cfg.Org.Apps[0].Roles, sandbox.OrgRoleConfig{RoleARN: appRole, ProviderARN: samlIdP, Users: []string{"db-service@example.com"}})
	cfg.AWS.Roles = append(cfg.AWS.Roles, sandbox.AWSRoleConfig{ARN: appRole, Trust: sandbox.AWSTrustConfig{SAMLProviders: []string{samlIdP}}})
	srv := sandbox.Start(t, cfg)

	pg := testenv.Postgres(t)
	pg.Exec(t, "CREATE ROLE alice LOGIN PASSWORD 'alice-backend-password'", "CREATE DATABASE app OWNER alice")
	front := srv.StartRDS(t, sandbox.RDSConfig{
		Engine:  sandbox.RDSPostgres,
		Allowed: map[string][]string{dbUser: {appRole}},
		Backend: sandbox.RDSBackendConfig{Addr: pg.Addr(), User: pg.User, Password: pg.Password, Users: map[string]string{dbUser: "alice-backend-password"}},
	})
	ca := filepath.Join(t.TempDir(), "front.pem")
	if err := os.WriteFile(ca, front.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	counter := &stsCounter{}
	conn, err := pgxauth.NewConnector(dbtest.PgURL(front, ca, dbUser, nil), dbauth.Config{
		Plugin:      dbauth.PluginOkta,
		IdPEndpoint: srv.URL, AppID: "0oa1demoawsapp0000001",
		IdPUsername: "db-service@example.com", IdPPassword: secret.New("Sandbox-Db-1"),
		IAMRoleARN: appRole, IAMIdPARN: samlIdP, IAMRegion: "us-east-1",
		HTTPClient:  &http.Client{Transport: counter},
		STSEndpoint: srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	dbtest.ConnectConcurrently(t, db, 50, "SELECT current_user")
	if a, s := counter.authn.Load(), counter.assume.Load(); a != 1 || s != 1 {
		t.Fatalf("50 connects made %d Okta sign-ins and %d AssumeRoleWithSAML calls, want 1 and 1", a, s)
	}
}
