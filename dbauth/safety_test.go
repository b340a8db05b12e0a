package dbauth_test

import (
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/mysqlauth"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
	"github.com/oktafed/oktafed/secret"

	"github.com/go-sql-driver/mysql"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	svcLogin    = "db-service@example.com"
	svcPassword = "Sandbox-Db-1"
	otherRole   = "arn:aws:iam::123456789012:role/Other"
)

// oktaRig is the whole chain with nothing faked: the sandbox org (which
// locks a user out after 5 failed sign-ins, as Okta's default policy
// does), its SAML, STS, and RDS fronts before real PostgreSQL and (from
// the first use) MariaDB.
type oktaRig struct {
	srv     *sandbox.Server
	counter *stsCounter
	pg, my  *sandbox.RDSFront
	pgCA    string
	myTLS   string
	// allowed and backendUsers are kept for the MariaDB front, which
	// starts on first use: most tests need only PostgreSQL.
	allowed      map[string][]string
	backendUsers map[string]string
}

// newOktaRig starts the rig. allowed is the fronts' allowed: section.
func newOktaRig(t *testing.T, allowed map[string][]string, backendUsers map[string]string) *oktaRig {
	t.Helper()
	cfg := sandbox.DefaultConfig()
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{Login: svcLogin, Password: svcPassword})
	cfg.Org.Apps[0].Roles = append(cfg.Org.Apps[0].Roles, sandbox.OrgRoleConfig{RoleARN: appRole, ProviderARN: samlIdP, Users: []string{svcLogin}})
	cfg.AWS.Roles = append(cfg.AWS.Roles,
		sandbox.AWSRoleConfig{ARN: appRole, Trust: sandbox.AWSTrustConfig{SAMLProviders: []string{samlIdP}}},
		sandbox.AWSRoleConfig{ARN: otherRole})
	srv := sandbox.Start(t, cfg)
	r := &oktaRig{srv: srv, counter: &stsCounter{}, allowed: allowed, backendUsers: backendUsers}

	pg := testenv.Postgres(t)
	pg.Exec(t, "CREATE ROLE alice LOGIN PASSWORD 'alice-backend-password'", "CREATE DATABASE app OWNER alice")
	r.pgCA = filepath.Join(t.TempDir(), "pg-front.pem")
	r.pg = srv.StartRDS(t, sandbox.RDSConfig{
		Engine: sandbox.RDSPostgres, Allowed: allowed, CAFile: r.pgCA,
		Backend: sandbox.RDSBackendConfig{Addr: pg.Addr(), User: pg.User, Password: pg.Password, Users: backendUsers},
	})

	return r
}

// startMySQL starts real MariaDB and the rig's front before it, once.
func (r *oktaRig) startMySQL(t *testing.T) {
	t.Helper()
	if r.my != nil {
		return
	}
	my := testenv.MariaDB(t)
	my.Exec(t, "CREATE DATABASE app", "CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-backend-password'", "GRANT ALL PRIVILEGES ON app.* TO 'alice'@'%'")
	r.my = r.srv.StartRDS(t, sandbox.RDSConfig{
		Engine: sandbox.RDSMySQL, Allowed: r.allowed,
		Backend: sandbox.RDSBackendConfig{Addr: my.Addr(), User: my.User, Password: my.Password, Users: r.backendUsers},
	})
	r.myTLS = "dbauth-safety-" + r.my.Addr()
	if err := mysql.RegisterTLSConfig(r.myTLS, r.my.ClientTLSConfig("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
}

func (r *oktaRig) config(password string) dbauth.Config {
	return dbauth.Config{
		Plugin:      dbauth.PluginOkta,
		IdPEndpoint: r.srv.URL, AppID: "0oa1demoawsapp0000001",
		IdPUsername: svcLogin, IdPPassword: secret.New(password),
		IAMRoleARN: appRole, IAMIdPARN: samlIdP, IAMRegion: "us-east-1",
		HTTPClient:  &http.Client{Transport: r.counter, Timeout: 30 * time.Second},
		STSEndpoint: r.srv.URL,
	}
}

func (r *oktaRig) pgDB(t *testing.T, user string, cfg dbauth.Config) *sql.DB {
	t.Helper()
	c, err := pgxauth.NewConnector(dbtest.PgURL(r.pg, r.pgCA, user, nil), cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func (r *oktaRig) myDB(t *testing.T, user string, cfg dbauth.Config) *sql.DB {
	t.Helper()
	r.startMySQL(t)
	c, err := mysqlauth.NewConnector(user+"@tcp("+r.my.Addr()+")/app?tls="+r.myTLS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestWrongOktaPasswordNeverLocksTheAccount: five connects with a wrong
// idp_password make one Okta sign-in, each says the password is held
// back, the account stays unlocked, and the fixed password then connects
// at once.
func TestWrongOktaPasswordNeverLocksTheAccount(t *testing.T) {
	t.Parallel()
	r := newOktaRig(t, map[string][]string{dbUser: {appRole}}, map[string]string{dbUser: "alice-backend-password"})
	db := r.pgDB(t, dbUser, r.config("Wrong-Password-1"))
	for i := range 5 {
		err := db.Ping()
		if !errors.Is(err, dbauth.ErrSignInRefused) {
			t.Fatalf("connect %d: %v, want ErrSignInRefused", i+1, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "Wrong-Password-1") {
			t.Fatalf("connect %d: the error quotes the password: %s", i+1, msg)
		}
		if !strings.Contains(msg, "will not be sent again until it changes") || !strings.Contains(msg, "fix idp_password") {
			t.Fatalf("connect %d: %s", i+1, msg)
		}
		if i > 0 && !strings.Contains(msg, "did not ask Okta again") {
			t.Fatalf("connect %d: %s", i+1, msg)
		}
	}
	// Another sql.Open of the same DSN and password is held back too.
	if err := r.pgDB(t, dbUser, r.config("Wrong-Password-1")).Ping(); !errors.Is(err, dbauth.ErrSignInRefused) {
		t.Fatalf("a second pool with the refused password: %v", err)
	}
	if n := r.counter.authn.Load(); n != 1 {
		t.Fatalf("%d Okta sign-ins for 6 connects with a wrong password, want 1", n)
	}

	// The password is fixed: it connects at once, and the account was
	// never locked.
	fixed := r.pgDB(t, dbUser, r.config(svcPassword))
	var user string
	if err := fixed.QueryRow("SELECT current_user").Scan(&user); err != nil || user != dbUser {
		t.Fatalf("fixed password: %q, %v", user, err)
	}
	if n := r.counter.authn.Load(); n != 2 {
		t.Fatalf("%d Okta sign-ins, want 2", n)
	}
	// MySQL through the same org: its own Auth, the same held-back table.
	if err := r.myDB(t, dbUser, r.config("Wrong-Password-1")).Ping(); !errors.Is(err, dbauth.ErrSignInRefused) {
		t.Fatalf("mysql with the refused password: %v", err)
	}
	if err := r.myDB(t, dbUser, r.config(svcPassword)).Ping(); err != nil {
		t.Fatalf("mysql with the fixed password: %v", err)
	}
	if n := r.counter.authn.Load(); n != 3 {
		t.Fatalf("%d Okta sign-ins, want 3", n)
	}
}

// TestDatabaseRefusalsKeepSTSCredentials: when the database refuses every
// token because the role may not connect as the user, ten connects cost
// one Okta sign-in and two AssumeRoleWithSAML calls (the first, and one
// renewal in case the session was revoked), not eleven, and the error
// says what to check.
func TestDatabaseRefusalsKeepSTSCredentials(t *testing.T) {
	t.Parallel()
	r := newOktaRig(t, map[string][]string{dbUser: {otherRole}}, map[string]string{dbUser: "alice-backend-password"})
	r.startMySQL(t)
	for _, engine := range []struct {
		name  string
		db    *sql.DB
		front *sandbox.RDSFront
	}{
		{"postgres", r.pgDB(t, dbUser, r.config(svcPassword)), r.pg},
		{"mysql", r.myDB(t, dbUser, r.config(svcPassword)), r.my},
	} {
		before := r.counter.assume.Load()
		for i := range 10 {
			err := engine.db.Ping()
			if err == nil || !refusedLogin(err) {
				t.Fatalf("%s connect %d: %v, want a refusal", engine.name, i+1, err)
			}
			if !strings.Contains(err.Error(), "rds-db:connect") || !strings.Contains(err.Error(), "allowed: section") {
				t.Fatalf("%s connect %d: %v", engine.name, i+1, err)
			}
		}
		if n := r.counter.assume.Load() - before; n != 2 {
			t.Errorf("%s: 10 refused connects made %d AssumeRoleWithSAML calls, want 2", engine.name, n)
		}
		if s := engine.front.Stats(); s.Refused != 11 {
			t.Errorf("%s: front refused %d logins, want 11 (one retry, on the first connect)", engine.name, s.Refused)
		}
	}
	if n := r.counter.authn.Load(); n != 2 {
		t.Errorf("%d Okta sign-ins, want 2 (one per Auth)", n)
	}
}

// TestHintsFitTheFailure: a user the front allows but the backend lacks is
// not told to enable IAM authentication; an untrusted identity provider
// certificate is not blamed on the RDS CA bundle.
func TestHintsFitTheFailure(t *testing.T) {
	t.Parallel()
	r := newOktaRig(t, map[string][]string{dbUser: {appRole}, "ghost": {appRole}}, map[string]string{dbUser: "alice-backend-password", "ghost": "ghost-pw"})
	for name, db := range map[string]*sql.DB{
		"postgres": r.pgDB(t, "ghost", r.config(svcPassword)),
		"mysql":    r.myDB(t, "ghost", r.config(svcPassword)),
	} {
		err := db.Ping()
		if err == nil {
			t.Fatalf("%s: ghost connected", name)
		}
		msg := err.Error()
		if strings.Contains(msg, "IAM authentication enabled") || strings.Contains(msg, "rds_iam") {
			t.Errorf("%s: backend refusal blamed on IAM: %s", name, msg)
		}
		if !strings.Contains(msg, "not a refusal of the IAM token") || !strings.Contains(msg, "backend.users") {
			t.Errorf("%s: %s", name, msg)
		}
	}

	idp := httptest.NewTLSServer(http.NotFoundHandler())
	defer idp.Close()
	cfg := r.config(svcPassword)
	cfg.IdPEndpoint, cfg.HTTPClient = idp.URL, nil
	err := r.pgDB(t, dbUser, cfg).Ping()
	if err == nil || strings.Contains(err.Error(), "RDS CA bundle") || !strings.Contains(err.Error(), "identity provider's TLS certificate") {
		t.Fatalf("untrusted IdP certificate: %v", err)
	}

	// The database's own certificate is still blamed on the database.
	c, err := pgxauth.NewConnector("postgres://alice@"+r.pg.Addr()+"/app?sslmode=verify-full", r.config(svcPassword))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("untrusted database certificate: %v", err)
	}
}

// TestCamelCaseDSNThroughTheSandbox: a DSN written only with the AWS
// Advanced Go Wrapper's names connects through the sandbox's fronts to
// real PostgreSQL and MariaDB, signing in to the sandbox org.
func TestCamelCaseDSNThroughTheSandbox(t *testing.T) {
	t.Parallel()
	r := newOktaRig(t, map[string][]string{dbUser: {appRole}}, map[string]string{dbUser: "alice-backend-password"})
	q := url.Values{
		"plugins": {"okta"}, "idpEndpoint": {r.srv.URL}, "appId": {"0oa1demoawsapp0000001"},
		"idpUsername": {svcLogin}, "idpPassword": {svcPassword},
		"iamRoleArn": {appRole}, "iamIdpArn": {samlIdP}, "iamRegion": {"us-east-1"},
		"iamTokenExpirationSec": {"600"}, "httpTimeoutMs": {"20000"}, "dbUser": {dbUser},
	}
	pgDSN := "postgres://nobody@" + r.pg.Addr() + "/app?sslmode=verify-full&sslrootcert=" + url.QueryEscape(r.pgCA) + "&" + q.Encode()
	// Only the STS endpoint, which a program reaching AWS needs not set,
	// comes from Config.
	sts := dbauth.Config{STSEndpoint: r.srv.URL}
	pc, err := pgxauth.NewConnector(pgDSN, sts)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(pc)
	defer db.Close()
	var user string
	if err := db.QueryRow("SELECT current_user").Scan(&user); err != nil || user != dbUser {
		t.Fatalf("postgres with camelCase names: %q, %v", user, err)
	}

	r.startMySQL(t)
	myDSN := "nobody@tcp(" + r.my.Addr() + ")/app?tls=" + r.myTLS + "&" + q.Encode()
	mc, err := mysqlauth.NewConnector(myDSN, sts)
	if err != nil {
		t.Fatal(err)
	}
	mdb := sql.OpenDB(mc)
	defer mdb.Close()
	if err := mdb.QueryRow("SELECT CURRENT_USER()").Scan(&user); err != nil || !strings.HasPrefix(user, dbUser+"@") {
		t.Fatalf("mysql with camelCase names: %q, %v", user, err)
	}
	if _, err := os.Stat(r.pgCA); err != nil {
		t.Fatal(err)
	}
}

// refusedLogin reports whether err is the server refusing a login:
// PostgreSQL SQLSTATE 28P01 or 28000, MySQL error 1045.
func refusedLogin(err error) bool {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	return errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") ||
		errors.As(err, &myErr) && myErr.Number == 1045
}
