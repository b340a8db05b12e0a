package dbauth_test

import (
	"context"
	"crypto/x509"
	"database/sql"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/mysqlauth"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// TestWrapperExampleDSNs: the DSNs of the AWS Advanced Go Wrapper's
// documented examples (okta, iam and awsSecretsManager, for MySQL and for
// PostgreSQL in both of pgx's forms), with their parameter names and
// shapes as the wrapper writes them (camelCase names; ARNs, URLs and
// e-mail addresses unescaped in MySQL's query), connect unchanged through
// the sandbox's RDS fronts to real PostgreSQL and MariaDB. Only the
// values are the sandbox's. The fronts' CA comes from Config.RootCAs, not
// the DSN.
func TestWrapperExampleDSNs(t *testing.T) {
	t.Parallel()
	cfg := sandbox.DefaultConfig()
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{Login: svcLogin, Password: svcPassword})
	cfg.Org.Apps[0].Roles = append(cfg.Org.Apps[0].Roles, sandbox.OrgRoleConfig{RoleARN: appRole, ProviderARN: samlIdP, Users: []string{svcLogin}})
	cfg.AWS.Roles = append(cfg.AWS.Roles, sandbox.AWSRoleConfig{ARN: appRole, Trust: sandbox.AWSTrustConfig{SAMLProviders: []string{samlIdP}}})
	cfg.Secrets = append(cfg.Secrets, sandbox.SecretConfig{Name: "wrapper/db", JSON: map[string]any{"username": dbtest.Master, "password": dbtest.MasterPW}})
	srv := sandbox.Start(t, cfg)

	pg := testenv.Postgres(t)
	pg.Exec(t, "CREATE ROLE alice LOGIN PASSWORD 'alice-backend-password'", "CREATE DATABASE app OWNER alice")
	pgFront := srv.StartRDS(t, sandbox.RDSConfig{
		Engine: sandbox.RDSPostgres, Allowed: map[string][]string{dbUser: {appRole}}, Passwords: map[string]string{dbtest.Master: dbtest.MasterPW},
		Backend: sandbox.RDSBackendConfig{Addr: pg.Addr(), User: pg.User, Password: pg.Password, Users: map[string]string{dbUser: "alice-backend-password"}},
	})
	my := testenv.MariaDB(t)
	my.Exec(t, "CREATE DATABASE app", "CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-backend-password'", "GRANT ALL PRIVILEGES ON app.* TO 'alice'@'%'")
	myFront := srv.StartRDS(t, sandbox.RDSConfig{
		Engine: sandbox.RDSMySQL, Allowed: map[string][]string{dbUser: {appRole}}, Passwords: map[string]string{dbtest.Master: dbtest.MasterPW},
		Backend: sandbox.RDSBackendConfig{Addr: my.Addr(), User: my.User, Password: my.Password, Users: map[string]string{dbUser: "alice-backend-password"}},
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pgFront.CertPEM())
	roots.AppendCertsFromPEM(myFront.CertPEM())

	// The iam and secrets plugins get the AWS configuration a host with a
	// role would load (TestDefaultChainFromEnvironment covers loading it);
	// the okta plugin reaches the sandbox's STS.
	creds, err := srv.IssueCredentials(appRole, "wrapper-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}

	pgHost, pgPort, _ := net.SplitHostPort(pgFront.Addr())
	myAddr := myFront.Addr()
	org, app := srv.URL, "0oa1demoawsapp0000001"
	// Values of the examples' variables, in the examples' order.
	okta := "plugins=okta&dbUser=" + dbUser + "&iamRegion=us-east-1&idpEndpoint=" + org + "&appId=" + app +
		"&iamRoleArn=" + appRole + "&iamIdpArn=" + samlIdP + "&idpUsername=" + svcLogin + "&idpPassword=" + svcPassword
	oktaKV := strings.ReplaceAll(okta, "&", " ")
	secretsQ := "plugins=awsSecretsManager&secretsManagerSecretId=wrapper/db&secretsManagerRegion=us-east-1&secretsManagerEndpoint=" + org
	cases := []struct {
		name, driver, dsn, wantUser string
	}{
		{"postgres okta", "pgx", "host=" + pgHost + " port=" + pgPort + " dbname=app " + oktaKV, dbUser},
		{"postgres okta url", "pgx", "postgresql://user:password@" + pgFront.Addr() + "/app?" + okta, dbUser},
		{"postgres iam", "pgx", "host=" + pgHost + " port=" + pgPort + " user=" + dbUser + " dbname=app plugins=iam iamRegion=us-east-1", dbUser},
		{"postgres iam url", "pgx", "postgresql://" + dbUser + "@" + pgFront.Addr() + "/app?plugins=iam&iamRegion=us-east-1", dbUser},
		{"postgres secrets", "pgx", "host=" + pgHost + " port=" + pgPort + " user=user password=password dbname=app " + strings.ReplaceAll(secretsQ, "&", " "), pg.User},
		{"postgres secrets url", "pgx", "postgresql://user:password@" + pgFront.Addr() + "/app?" + secretsQ, pg.User},
		{"postgres iam with failover parameters", "pgx", "host=" + pgHost + " port=" + pgPort + " user=" + dbUser + " dbname=app plugins=iam,failover,efm iamRegion=us-east-1 wrapperDialect=aurora-pg clusterId=c1 failoverTimeoutMs=60000 clusterInstanceHostPattern=?.cluster-xyz.us-east-1.rds.amazonaws.com", dbUser},
		{"mysql okta", "mysql", "tcp(" + myAddr + ")/app?" + okta, dbUser},
		{"mysql iam", "mysql", dbUser + ":password@tcp(" + myAddr + ")/app?plugins=iam&iamRegion=us-east-1", dbUser},
		{"mysql secrets", "mysql", "user:password@tcp(" + myAddr + ")/app?" + secretsQ, my.User},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dbauth.Config{RootCAs: roots, AWSConfig: &awsCfg, STSEndpoint: srv.URL}
			var db *sql.DB
			if tc.driver == "pgx" {
				pc, err := pgxauth.NewConnector(tc.dsn, c)
				if err != nil {
					t.Fatal(err)
				}
				db = sql.OpenDB(pc)
			} else {
				mc, err := mysqlauth.NewConnector(tc.dsn, c)
				if err != nil {
					t.Fatal(err)
				}
				db = sql.OpenDB(mc)
			}
			defer db.Close()
			q := "SELECT current_user"
			if tc.driver == "mysql" {
				q = "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"
			}
			var user string
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := db.QueryRowContext(ctx, q).Scan(&user); err != nil {
				t.Fatalf("%s: %v", tc.dsn, err)
			}
			if user != tc.wantUser {
				t.Fatalf("connected as %q, want %q", user, tc.wantUser)
			}
		})
	}

	// A multi-host DSN: the first host is down, the second is the front;
	// the token the front gets is signed for the front's host and port.
	t.Run("postgres multi-host", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		dsn := "host=127.0.0.1,127.0.0.1 port=" + dead + "," + pgPort + " user=" + dbUser + " dbname=app plugins=iam iamRegion=us-east-1"
		pc, err := pgxauth.NewConnector(dsn, dbauth.Config{RootCAs: roots, AWSConfig: &awsCfg})
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(pc)
		defer db.Close()
		before := pgFront.Stats()
		if err := db.Ping(); err != nil {
			t.Fatalf("multi-host connect: %v", err)
		}
		if s := pgFront.Stats(); s.Refused != before.Refused || s.Accepted != before.Accepted+1 {
			t.Fatalf("front stats %+v (before %+v): the token was not signed for the host that got it", s, before)
		}
	})
}
