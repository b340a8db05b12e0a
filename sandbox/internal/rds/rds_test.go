package rds_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	rdsauth "github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox/internal/iam"
	"github.com/oktafed/oktafed/sandbox/internal/rds"
)

const (
	appRole   = "arn:aws:iam::123456789012:role/App"
	otherRole = "arn:aws:iam::123456789012:role/Other"
)

// newIAM is a sandbox AWS side with two roles, on a fake clock.
func newIAM(t *testing.T) (*iam.Service, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Now())
	svc, err := iam.New(iam.Config{
		Region:   "us-east-1",
		Accounts: []iam.AccountConfig{{ID: "123456789012"}},
		Roles:    []iam.RoleConfig{{ARN: appRole}, {ARN: otherRole}},
	}, iam.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return svc, clk
}

func issue(t *testing.T, svc *iam.Service, role string) aws.CredentialsProvider {
	t.Helper()
	c, err := svc.IssueCredentials(role, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return credentials.StaticCredentialsProvider{Value: c}
}

func token(t *testing.T, endpoint, user string, creds aws.CredentialsProvider) string {
	t.Helper()
	tok, err := rdsauth.BuildAuthToken(context.Background(), endpoint, "us-east-1", user, creds)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type pgFixture struct {
	front *rds.Server
	svc   *iam.Service
	clk   *clock.Fake
	ca    string
}

// The package's tests share one PostgreSQL and one MariaDB server (each
// costs a start-up); the backend user alice and her database app are made
// once on each, and the tests only read through them.
var backendSetup struct{ pg, my sync.Once }

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// backendPostgres is the shared PostgreSQL server with alice and app.
func backendPostgres(t *testing.T) *testenv.PostgresServer {
	t.Helper()
	pg := testenv.SharedPostgres(t)
	backendSetup.pg.Do(func() {
		pg.Exec(t,
			"CREATE ROLE alice LOGIN PASSWORD 'alice-backend-password'",
			"CREATE DATABASE app OWNER alice",
		)
	})
	return pg
}

// backendMariaDB is the shared MariaDB server with alice and app.
func backendMariaDB(t *testing.T) *testenv.MySQLServer {
	t.Helper()
	my := testenv.SharedMariaDB(t)
	backendSetup.my.Do(func() {
		my.Exec(t,
			"CREATE DATABASE app",
			"CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-backend-password'",
			"GRANT ALL PRIVILEGES ON app.* TO 'alice'@'%'",
		)
	})
	return my
}

func startPostgresFront(t *testing.T) *pgFixture {
	t.Helper()
	pg := backendPostgres(t)
	svc, clk := newIAM(t)
	front := rds.Start(t, rds.Config{
		Engine:    rds.EnginePostgres,
		Allowed:   map[string][]string{"alice": {appRole}, "bob": {appRole}},
		Passwords: map[string]string{"master": "master-password"},
		Backend: rds.BackendConfig{
			Addr: pg.Addr(), User: pg.User, Password: pg.Password,
			Users: map[string]string{"alice": "alice-backend-password"},
		},
	}, rds.Options{Verifier: svc, Clock: clk})
	ca := filepath.Join(t.TempDir(), "front-ca.pem")
	if err := os.WriteFile(ca, front.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &pgFixture{front: front, svc: svc, clk: clk, ca: ca}
}

func (f *pgFixture) connect(user, password, sslmode string) (*pgx.Conn, error) {
	host, port, _ := net.SplitHostPort(f.front.Addr())
	cfg, err := pgx.ParseConfig("host=" + host + " port=" + port + " dbname=app sslmode=" + sslmode + " sslrootcert=" + f.ca)
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Password = user, password
	// Cancel queries with a CancelRequest, to check that it reaches the
	// backend through the front.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

func wantPgCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("err = %v, want SQLSTATE %s", err, code)
	}
	if pgErr.Code != code || !strings.Contains(pgErr.Message, msg) {
		t.Fatalf("err = %s %q, want %s %q", pgErr.Code, pgErr.Message, code, msg)
	}
}

func TestPostgresFront(t *testing.T) {
	t.Parallel()
	f := startPostgresFront(t)
	app := issue(t, f.svc, appRole)
	ctx := context.Background()

	conn, err := f.connect("alice", token(t, f.front.Endpoint(), "alice", app), "verify-full")
	if err != nil {
		t.Fatalf("connect with a token from the SDK's BuildAuthToken: %v", err)
	}
	var user, db string
	if err := conn.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&user, &db); err != nil {
		t.Fatal(err)
	}
	if user != "alice" || db != "app" {
		t.Fatalf("session is %s in %s, want alice in app", user, db)
	}
	// A cancel request goes through the front to the backend.
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = conn.Exec(qctx, "SELECT pg_sleep(10)")
	cancel()
	wantPgCode(t, err, "57014", "cancel")
	conn.Close(ctx)

	// The master user logs in with its password.
	conn, err = f.connect("master", "master-password", "verify-full")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	t.Run("refusals", func(t *testing.T) {
		host, _, _ := net.SplitHostPort(f.front.Endpoint())
		for name, tc := range map[string]struct {
			user, password string
		}{
			"token for another user":  {"alice", token(t, f.front.Endpoint(), "bob", app)},
			"token for another port":  {"alice", token(t, host+":1", "alice", app)},
			"role not allowed":        {"alice", token(t, f.front.Endpoint(), "alice", issue(t, f.svc, otherRole))},
			"credentials not issued":  {"alice", token(t, f.front.Endpoint(), "alice", credentials.NewStaticCredentialsProvider("ASIAFOREIGNFOREIGN00", "secret", "session"))},
			"not a token":             {"alice", "alice-backend-password"},
			"master's wrong password": {"master", "guess"},
		} {
			_, err := f.connect(tc.user, tc.password, "verify-full")
			if err == nil {
				t.Errorf("%s: accepted", name)
				continue
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "28P01" || pgErr.Message != `PAM authentication failed for user "`+tc.user+`"` {
				t.Errorf("%s: %v, want 28P01 PAM authentication failed", name, err)
			}
		}
		_, err := f.connect("alice", token(t, f.front.Endpoint(), "alice", app), "disable")
		wantPgCode(t, err, "28000", "no encryption")
	})

	t.Run("expired token", func(t *testing.T) {
		tok := token(t, f.front.Endpoint(), "alice", app)
		// BuildAuthToken signs at wall-clock time.
		f.clk.Set(time.Now().Add(15*time.Minute + time.Second))
		_, err := f.connect("alice", tok, "verify-full")
		wantPgCode(t, err, "28P01", "PAM authentication failed")
		// Fresh credentials and a fresh token work at the new time… but
		// BuildAuthToken signs with the wall clock, which is now 15
		// minutes behind the front's, so move the front back.
		f.clk.Set(time.Now())
		conn, err := f.connect("alice", token(t, f.front.Endpoint(), "alice", app), "verify-full")
		if err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	})
	if s := f.front.Stats(); s.Accepted < 3 || s.Refused < 7 {
		t.Errorf("stats = %+v", s)
	}
}

const mysqlTLSName = "oktafed-rds-front-test"

type myFixture struct {
	front *rds.Server
	svc   *iam.Service
	clk   *clock.Fake
}

func startMySQLFront(t *testing.T) *myFixture {
	t.Helper()
	my := backendMariaDB(t)
	svc, clk := newIAM(t)
	front := rds.Start(t, rds.Config{
		Engine:    rds.EngineMySQL,
		Allowed:   map[string][]string{"alice": {appRole}, "bob": {appRole}},
		Passwords: map[string]string{"master": "master-password"},
		Backend: rds.BackendConfig{
			Addr: my.Addr(), User: my.User, Password: my.Password,
			Users: map[string]string{"alice": "alice-backend-password"},
		},
	}, rds.Options{Verifier: svc, Clock: clk})
	if err := mysql.RegisterTLSConfig(mysqlTLSName+strconv.Itoa(portOf(front.Addr())), front.ClientTLSConfig("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	return &myFixture{front: front, svc: svc, clk: clk}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (f *myFixture) open(user, password string, useTLS bool) (*sql.Conn, error) {
	c := mysql.NewConfig()
	c.Net, c.Addr, c.DBName = "tcp", f.front.Addr(), "app"
	c.User, c.Passwd = user, password
	c.AllowCleartextPasswords = true
	if useTLS {
		c.TLSConfig = mysqlTLSName + strconv.Itoa(portOf(f.front.Addr()))
	}
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	return conn, nil
}

func wantMySQLErr(t *testing.T, err error, num uint16, msg string) {
	t.Helper()
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != num || !strings.Contains(myErr.Message, msg) {
		t.Fatalf("err = %v, want MySQL error %d %q", err, num, msg)
	}
}

func TestMySQLFront(t *testing.T) {
	t.Parallel()
	f := startMySQLFront(t)
	app := issue(t, f.svc, appRole)
	ctx := context.Background()

	conn, err := f.open("alice", token(t, f.front.Endpoint(), "alice", app), true)
	if err != nil {
		t.Fatalf("connect with a token from the SDK's BuildAuthToken: %v", err)
	}
	var user, db string
	if err := conn.QueryRowContext(ctx, "SELECT CURRENT_USER(), DATABASE()").Scan(&user, &db); err != nil {
		t.Fatal(err)
	}
	if user != "alice@%" || db != "app" {
		t.Fatalf("session is %s in %s, want alice@%% in app", user, db)
	}
	// The database is shared: a table left by an earlier run goes first.
	if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS t"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, v MEDIUMTEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO t VALUES (1, ?)", strings.Repeat("x", 100000)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT LENGTH(v) FROM t WHERE id = 1").Scan(&n); err != nil || n != 100000 {
		t.Fatalf("round trip of 100 kB: %d, %v", n, err)
	}
	conn.Close()

	conn, err = f.open("master", "master-password", true)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()

	host, _, _ := net.SplitHostPort(f.front.Endpoint())
	for name, tc := range map[string]struct{ user, password string }{
		"token for another user": {"alice", token(t, f.front.Endpoint(), "bob", app)},
		"token for another port": {"alice", token(t, host+":1", "alice", app)},
		"role not allowed":       {"alice", token(t, f.front.Endpoint(), "alice", issue(t, f.svc, otherRole))},
		"not a token":            {"alice", "alice-backend-password"},
	} {
		_, err := f.open(tc.user, tc.password, true)
		var myErr *mysql.MySQLError
		if !errors.As(err, &myErr) || myErr.Number != 1045 || !strings.Contains(myErr.Message, "Access denied for user '"+tc.user+"'") {
			t.Errorf("%s: %v, want 1045 Access denied", name, err)
		}
	}
	_, err = f.open("alice", token(t, f.front.Endpoint(), "alice", app), false)
	wantMySQLErr(t, err, 3159, "insecure transport")

	tok := token(t, f.front.Endpoint(), "alice", app)
	f.clk.Set(time.Now().Add(16 * time.Minute))
	_, err = f.open("alice", tok, true)
	wantMySQLErr(t, err, 1045, "Access denied")
}

func TestNewChecksConfig(t *testing.T) {
	svc, _ := newIAM(t)
	for _, tc := range []struct {
		cfg  rds.Config
		want string
	}{
		{rds.Config{Engine: "oracle", Backend: rds.BackendConfig{Addr: "127.0.0.1:1"}}, "engine"},
		{rds.Config{Engine: rds.EnginePostgres}, "backend.addr"},
		{rds.Config{Engine: rds.EnginePostgres, Addr: "0.0.0.0:0", Backend: rds.BackendConfig{Addr: "127.0.0.1:1"}}, "loopback"},
	} {
		_, err := rds.New(tc.cfg, rds.Options{Verifier: svc})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := rds.New(rds.Config{Engine: rds.EngineMySQL, Backend: rds.BackendConfig{Addr: "127.0.0.1:1"}}, rds.Options{}); err == nil {
		t.Error("a front without a verifier was accepted")
	}
}

// TestCAFileAndBackendRefusal: the front writes its CA where ca_file says,
// and that file alone verifies it (sslmode=verify-full); a user the front
// allows but the backend does not know gets an error that says the token
// was accepted, not the refused-token answer.
func TestCAFileAndBackendRefusal(t *testing.T) {
	t.Parallel()
	pg := backendPostgres(t)
	svc, clk := newIAM(t)
	caFile := filepath.Join(t.TempDir(), "sub", "..", "front.pem")
	front := rds.Start(t, rds.Config{
		Engine:  rds.EnginePostgres,
		Allowed: map[string][]string{"alice": {appRole}, "ghost": {appRole}},
		Backend: rds.BackendConfig{Addr: pg.Addr(), User: pg.User, Password: pg.Password,
			Users: map[string]string{"alice": "alice-backend-password", "ghost": "no-such-role"}},
		CAFile: caFile,
	}, rds.Options{Verifier: svc, Clock: clk})
	st, err := os.Stat(caFile)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("ca_file: %v %v", st, err)
	}
	f := &pgFixture{front: front, svc: svc, clk: clk, ca: caFile}
	app := issue(t, svc, appRole)
	conn, err := f.connect("alice", token(t, front.Endpoint(), "alice", app), "verify-full")
	if err != nil {
		t.Fatalf("verify-full with the ca_file: %v", err)
	}
	conn.Close(context.Background())

	_, err = f.connect("ghost", token(t, front.Endpoint(), "ghost", app), "verify-full")
	wantPgCode(t, err, "28000", "the IAM token for \"ghost\" was accepted, but the backend database refused that user")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Message, "PAM authentication failed") {
		t.Fatal("a backend refusal reads as a refused token")
	}

	if _, err := rds.New(rds.Config{Engine: rds.EnginePostgres, Backend: rds.BackendConfig{Addr: pg.Addr()}, CAFile: filepath.Join(t.TempDir(), "missing", "ca.pem")}, rds.Options{Verifier: svc}); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("unwritable ca_file: %v", err)
	}
}

// tokenAt signs an RDS token as the SDK does, but dated at.
func tokenAt(t *testing.T, endpoint, user string, creds aws.CredentialsProvider, at time.Time) string {
	t.Helper()
	c, err := creds.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+endpoint+"/?Action=connect&DBUser="+url.QueryEscape(user)+"&X-Amz-Expires=900", nil)
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, req,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "rds-db", "us-east-1", at.UTC())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(signed, "https://")
}

// TestFrontsMapUsersToThemselvesOnly: a user the front allows but
// backend.users does not list is refused with the README's error, on
// both engines; it never gets the backend administrator's session.
func TestFrontsMapUsersToThemselvesOnly(t *testing.T) {
	t.Parallel()
	pg := startPostgresFront(t)
	_, err := pg.connect("bob", token(t, pg.front.Endpoint(), "bob", issue(t, pg.svc, appRole)), "verify-full")
	if err == nil || !strings.Contains(err.Error(), "give its password under backend.users") {
		t.Errorf("postgres bob: %v", err)
	}
	my := startMySQLFront(t)
	_, err = my.open("bob", token(t, my.front.Endpoint(), "bob", issue(t, my.svc, appRole)), true)
	if err == nil || !strings.Contains(err.Error(), "give its password under backend.users") {
		t.Errorf("mysql bob: %v", err)
	}
	if conn, err := my.open("master", "master-password", true); err != nil {
		t.Errorf("mysql master (a plain password user keeps the backend's login): %v", err)
	} else {
		conn.Close()
	}
}

// TestFrontsRefuseTokensFromTheFuture: a token dated more than 5 minutes
// after the server's clock is refused; 4 minutes ahead is clock skew and
// passes.
func TestFrontsRefuseTokensFromTheFuture(t *testing.T) {
	t.Parallel()
	pg := startPostgresFront(t)
	creds := issue(t, pg.svc, appRole)
	if _, err := pg.connect("alice", tokenAt(t, pg.front.Endpoint(), "alice", creds, pg.clk.Now().Add(10*time.Minute)), "verify-full"); err == nil {
		t.Error("postgres: a token dated 10 minutes ahead was accepted")
	}
	conn, err := pg.connect("alice", tokenAt(t, pg.front.Endpoint(), "alice", creds, pg.clk.Now().Add(4*time.Minute)), "verify-full")
	if err != nil {
		t.Fatalf("postgres: a token dated 4 minutes ahead: %v", err)
	}
	conn.Close(context.Background())
	my := startMySQLFront(t)
	mcreds := issue(t, my.svc, appRole)
	if _, err := my.open("alice", tokenAt(t, my.front.Endpoint(), "alice", mcreds, my.clk.Now().Add(10*time.Minute)), true); err == nil {
		t.Error("mysql: a token dated 10 minutes ahead was accepted")
	}
}
