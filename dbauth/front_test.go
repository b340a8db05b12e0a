package dbauth_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	appRole  = "arn:aws:iam::123456789012:role/App"
	samlIdP  = "arn:aws:iam::123456789012:saml-provider/okta"
	dbUser   = "alice"
	master   = "master"
	masterPW = "master-password"
)

// env is a sandbox, for its AWS side, on a fake clock with an RDS front.
type env struct {
	srv   *sandbox.Server // its AWS side checks tokens and issues credentials
	clk   *clock.Fake
	front *sandbox.RDSFront
	// federations counts Config.Federation calls and logins counts
	// credential fetches, each standing for one Okta login and
	// AssumeRoleWithSAML call.
	federations, logins atomic.Int32
	// foreignFirst makes the first login return credentials the sandbox
	// never issued, as a revoked session would be.
	foreignFirst atomic.Bool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clk := clock.NewFake(time.Now())
	srv := sandbox.StartWithOptions(t, sandbox.Config{AWS: sandbox.AWSConfig{
		Region:   "us-east-1",
		Accounts: []sandbox.AWSAccountConfig{{ID: "123456789012"}},
		Roles:    []sandbox.AWSRoleConfig{{ARN: appRole}},
	}}, sandbox.Options{Clock: clk})
	return &env{srv: srv, clk: clk}
}

// config is the okta plugin with a Federation that stands in for package
// federation: each Retrieve is one Okta login + AssumeRoleWithSAML, here
// IssueCredentials on the sandbox.
func (e *env) config() dbauth.Config {
	return dbauth.Config{
		Plugin:      dbauth.PluginOkta,
		IdPEndpoint: "http://127.0.0.1:1", AppID: "0oa1demoawsapp0000001",
		IAMRoleARN: appRole, IAMIdPARN: samlIdP, IAMRegion: "us-east-1",
		IdPUsername: "demo@example.com", IdPPassword: secret.New("demo-password"),
		Now: e.clk.Now,
		Federation: func(ctx context.Context, l dbauth.OktaLogin) (aws.CredentialsProvider, error) {
			e.federations.Add(1)
			return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
				n := e.logins.Add(1)
				// Let concurrent callers pile up behind the first, as a
				// real login's round trips would.
				time.Sleep(20 * time.Millisecond)
				if n == 1 && e.foreignFirst.Load() {
					return aws.Credentials{AccessKeyID: "ASIAREVOKEDREVOKED00", SecretAccessKey: "x", SessionToken: "y", CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
				}
				return e.srv.IssueCredentials(l.RoleARN, "dbauth-test", time.Hour)
			}), nil
		},
	}
}

func (e *env) startPostgres(t testing.TB) (front *sandbox.RDSFront, caFile string) {
	t.Helper()
	pg := testenv.Postgres(t)
	pg.Exec(t,
		"CREATE ROLE alice LOGIN PASSWORD 'alice-backend-password'",
		"CREATE DATABASE app OWNER alice",
	)
	front = e.srv.StartRDS(t, sandbox.RDSConfig{
		Engine:    sandbox.RDSPostgres,
		Allowed:   map[string][]string{dbUser: {appRole}},
		Passwords: map[string]string{master: masterPW},
		Backend: sandbox.RDSBackendConfig{Addr: pg.Addr(), User: pg.User, Password: pg.Password,
			Users: map[string]string{dbUser: "alice-backend-password"}},
	})
	caFile = filepath.Join(t.TempDir(), "front.pem")
	if err := os.WriteFile(caFile, front.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	e.front = front
	return front, caFile
}

func pgURL(front *sandbox.RDSFront, caFile, user string, extra url.Values) string {
	q := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {caFile}}
	for k, v := range extra {
		q[k] = v
	}
	return "postgres://" + user + "@" + front.Addr() + "/app?" + q.Encode()
}

func (e *env) startMySQL(t testing.TB) (front *sandbox.RDSFront, tlsName string) {
	t.Helper()
	my := testenv.MariaDB(t)
	my.Exec(t,
		"CREATE DATABASE app",
		"CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-backend-password'",
		"GRANT ALL PRIVILEGES ON app.* TO 'alice'@'%'",
	)
	front = e.srv.StartRDS(t, sandbox.RDSConfig{
		Engine:    sandbox.RDSMySQL,
		Allowed:   map[string][]string{dbUser: {appRole}},
		Passwords: map[string]string{master: masterPW},
		Backend: sandbox.RDSBackendConfig{Addr: my.Addr(), User: my.User, Password: my.Password,
			Users: map[string]string{dbUser: "alice-backend-password"}},
	})
	tlsName = "dbauth-test-" + front.Addr()
	if err := mysql.RegisterTLSConfig(tlsName, front.ClientTLSConfig("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	e.front = front
	return front, tlsName
}

// connectConcurrently opens n connections at once through db and checks
// each is a session of alice.
func connectConcurrently(t *testing.T, db *sql.DB, n int, query string) {
	t.Helper()
	db.SetMaxOpenConns(n + 5)
	db.SetMaxIdleConns(n + 5)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	conns := make([]*sql.Conn, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := db.Conn(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = c
			var user string
			errs[i] = c.QueryRowContext(ctx, query).Scan(&user)
			if errs[i] == nil && user != dbUser && user != dbUser+"@%" {
				errs[i] = fmt.Errorf("session user %q", user)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestPostgresThroughFront(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	front, ca := e.startPostgres(t)

	t.Run("50 concurrent connects make one Okta login", func(t *testing.T) {
		c, err := dbauth.NewPgxConnector(pgURL(front, ca, dbUser, nil), e.config())
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		defer db.Close()
		connectConcurrently(t, db, 50, "SELECT current_user")
		if e.federations.Load() != 1 || e.logins.Load() != 1 {
			t.Fatalf("50 connects: %d federation setups and %d logins, want 1 and 1", e.federations.Load(), e.logins.Load())
		}
		if s := front.Stats(); s.Accepted != 50 || s.Refused != 0 {
			t.Fatalf("front stats %+v, want 50 accepted", s)
		}
	})

	t.Run("DSN parameters through sql.Open", func(t *testing.T) {
		// The DSN form needs Federation, which only code can give; the
		// iam plugin with the default chain is the DSN-only case, so
		// check here that the driver strips parameters and requires TLS.
		db, err := sql.Open(dbauth.PostgresDriverName, pgURL(front, ca, dbUser, url.Values{"plugins": {"iam"}, "iam_region": {"us-east-1"}, "sslmode": {"disable"}}))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "sslmode=verify-full") {
			t.Fatalf("sslmode=disable: %v", err)
		}
	})
}

func TestPgxPoolReconnectsAfterExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	front, ca := e.startPostgres(t)
	pc, a, err := dbauth.ParsePoolConfig(pgURL(front, ca, dbUser, nil), e.config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var user string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != dbUser {
		t.Fatalf("first query: %q, %v", user, err)
	}
	first, _ := a.Token(ctx, "127.0.0.1", portOf(front.Addr()), dbUser)

	// 16 minutes on, the first token is expired for the front; new pool
	// connections must carry a fresh one.
	e.clk.Advance(16 * time.Minute)
	pool.Reset()
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != dbUser {
		t.Fatalf("query after expiry: %q, %v", user, err)
	}
	second, _ := a.Token(ctx, "127.0.0.1", portOf(front.Addr()), dbUser)
	if first == second {
		t.Fatal("the token was not renewed after iam_token_expiration")
	}
	if s := front.Stats(); s.Refused != 0 || s.Accepted != 2 {
		t.Fatalf("front stats %+v, want 2 accepted and none refused", s)
	}
	if e.logins.Load() != 1 {
		t.Fatalf("%d Okta logins, want 1: the STS credentials outlive the token", e.logins.Load())
	}
}

func TestRefusedTokenIsRetriedWithFreshCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	front, ca := e.startPostgres(t)
	e.foreignFirst.Store(true)
	c, err := dbauth.NewPgxConnector(pgURL(front, ca, dbUser, nil), e.config())
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatalf("connect after a refused token: %v", err)
	}
	if e.logins.Load() != 2 {
		t.Fatalf("%d logins, want 2 (the refused one and its replacement)", e.logins.Load())
	}
	if s := front.Stats(); s.Refused != 1 || s.Accepted != 1 {
		t.Fatalf("front stats %+v", s)
	}

	// pgxpool retries within the same connect, on the wire.
	e2 := newEnv(t)
	front2, ca2 := e2.startPostgres(t)
	e2.foreignFirst.Store(true)
	pc, _, err := dbauth.ParsePoolConfig(pgURL(front2, ca2, dbUser, nil), e2.config())
	if err != nil {
		t.Fatal(err)
	}
	pc.MinConns = 0
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatalf("pool connect after a refused token: %v", err)
	}
	if s := front2.Stats(); s.Refused != 1 || s.Accepted != 1 || e2.logins.Load() != 2 {
		t.Fatalf("front stats %+v, logins %d", s, e2.logins.Load())
	}
}

func TestMySQLThroughFront(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	front, tlsName := e.startMySQL(t)
	dsn := dbUser + "@tcp(" + front.Addr() + ")/app?tls=" + tlsName + "&plugins=okta&iam_token_expiration=600"
	c, err := dbauth.NewMySQLConnector(dsn, e.config())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Auth().Config().IAMTokenExpiration; got != 600*time.Second {
		t.Fatalf("iam_token_expiration from the DSN: %s", got)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	connectConcurrently(t, db, 50, "SELECT CURRENT_USER()")
	if e.federations.Load() != 1 || e.logins.Load() != 1 {
		t.Fatalf("50 connects: %d federation setups and %d logins, want 1 and 1", e.federations.Load(), e.logins.Load())
	}

	// After expiry new connections get a fresh token.
	db.SetMaxIdleConns(0)
	e.clk.Advance(16 * time.Minute)
	if err := db.Ping(); err != nil {
		t.Fatalf("connect after expiry: %v", err)
	}
	if s := front.Stats(); s.Refused != 0 || s.Accepted != 51 {
		t.Fatalf("front stats %+v", s)
	}

	// A refused token is retried once with fresh credentials.
	e2 := newEnv(t)
	front2, tlsName2 := e2.startMySQL(t)
	e2.foreignFirst.Store(true)
	c2, err := dbauth.NewMySQLConnector(dbUser+"@tcp("+front2.Addr()+")/app?tls="+tlsName2, e2.config())
	if err != nil {
		t.Fatal(err)
	}
	db2 := sql.OpenDB(c2)
	defer db2.Close()
	if err := db2.Ping(); err != nil {
		t.Fatalf("connect after a refused token: %v", err)
	}
	if s := front2.Stats(); s.Refused != 1 || s.Accepted != 1 || e2.logins.Load() != 2 {
		t.Fatalf("front stats %+v, logins %d", s, e2.logins.Load())
	}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// BenchmarkConnect opens and closes one connection per iteration through
// the same front: with a cached IAM token (dbauth) and with the master
// user's plain password. Compare token/… with password/… per engine.
func BenchmarkConnect(b *testing.B) {
	b.Run("postgres", func(b *testing.B) {
		e := newEnv(b)
		front, ca := e.startPostgres(b)
		tokenConn, err := dbauth.NewPgxConnector(pgURL(front, ca, dbUser, nil), e.config())
		if err != nil {
			b.Fatal(err)
		}
		pwCfg, err := pgx.ParseConfig(pgURL(front, ca, master, nil))
		if err != nil {
			b.Fatal(err)
		}
		pwCfg.Password = masterPW
		pwConn := stdlib.GetConnector(*pwCfg)
		benchConnect(b, tokenConn, pwConn)
	})
	b.Run("mysql", func(b *testing.B) {
		e := newEnv(b)
		front, tlsName := e.startMySQL(b)
		tokenConn, err := dbauth.NewMySQLConnector(dbUser+"@tcp("+front.Addr()+")/app?tls="+tlsName, e.config())
		if err != nil {
			b.Fatal(err)
		}
		mc, err := mysql.ParseDSN(master + ":" + masterPW + "@tcp(" + front.Addr() + ")/app?tls=" + tlsName + "&allowCleartextPasswords=true")
		if err != nil {
			b.Fatal(err)
		}
		pwConn, err := mysql.NewConnector(mc)
		if err != nil {
			b.Fatal(err)
		}
		benchConnect(b, tokenConn, pwConn)
	})
}

// benchConnect measures each connector in sub-benchmarks, the token one
// warmed first so its token is cached, and then both in alternation
// ("paired"): each iteration opens one connection of each kind, so load
// from other processes falls on both alike. The paired run reports the
// median of each and their ratio, token/password, which the project keeps
// at or under 1.1.
func benchConnect(b *testing.B, token, password driver.Connector) {
	ctx := context.Background()
	for _, c := range []driver.Connector{token, password} {
		conn, err := c.Connect(ctx)
		if err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
	connect := func(b *testing.B, c driver.Connector) time.Duration {
		start := time.Now()
		conn, err := c.Connect(ctx)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		conn.Close()
		return d
	}
	for _, bc := range []struct {
		name string
		c    driver.Connector
	}{{"token", token}, {"password", password}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				connect(b, bc.c)
			}
		})
	}
	b.Run("paired", func(b *testing.B) {
		var tok, pw []time.Duration
		for i := 0; b.Loop(); i++ {
			// Alternate which goes first, so neither always follows a
			// close.
			if i%2 == 0 {
				tok = append(tok, connect(b, token))
				pw = append(pw, connect(b, password))
			} else {
				pw = append(pw, connect(b, password))
				tok = append(tok, connect(b, token))
			}
		}
		mt, mp := median(tok), median(pw)
		b.ReportMetric(float64(mt.Nanoseconds()), "token-ns/connect")
		b.ReportMetric(float64(mp.Nanoseconds()), "password-ns/connect")
		b.ReportMetric(float64(mt)/float64(mp), "token/password")
	})
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
