package testenv_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/oktafed/oktafed/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	s := testenv.Postgres(t)
	ctx := ctxFor(t)
	if s.Host != "127.0.0.1" {
		t.Errorf("Host = %q", s.Host)
	}

	s.Exec(t,
		"CREATE ROLE app LOGIN PASSWORD 'app-secret'",
		"CREATE DATABASE appdb OWNER app",
	)

	// TLS with full verification, the way oktafed's clients connect.
	conn, err := pgx.Connect(ctx, s.URL("app", "app-secret", "appdb"))
	if err != nil {
		t.Fatalf("connect over TLS as app: %v", err)
	}
	defer conn.Close(ctx)
	var user, db string
	var ssl bool
	err = conn.QueryRow(ctx, "SELECT current_user, current_database(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&user, &db, &ssl)
	if err != nil {
		t.Fatal(err)
	}
	if user != "app" || db != "appdb" || !ssl {
		t.Errorf("got user %q db %q ssl %v, want app appdb true", user, db, ssl)
	}
	if conn.PgConn().Conn().RemoteAddr().(*net.TCPAddr).IP.String() != "127.0.0.1" {
		t.Errorf("connected to %v", conn.PgConn().Conn().RemoteAddr())
	}

	// Passwords are checked over TCP.
	_, err = pgx.Connect(ctx, s.URL("app", "wrong", "appdb"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Errorf("wrong password: got %v, want SQLSTATE 28P01", err)
	}

	// Plain TCP works too, for tests of clients that negotiate TLS.
	plain, err := pgx.Connect(ctx, strings.Replace(s.AdminURL("postgres"), "sslmode=verify-full", "sslmode=disable", 1))
	if err != nil {
		t.Fatalf("connect without TLS: %v", err)
	}
	defer plain.Close(ctx)
	if err := plain.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if ssl {
		t.Error("sslmode=disable connection uses TLS")
	}

	// The server's own listener is loopback only.
	var listen string
	if err := plain.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %q", listen)
	}
}

func TestPostgresStop(t *testing.T) {
	t.Parallel()
	s := testenv.Postgres(t)
	ctx := ctxFor(t)
	conn, err := pgx.Connect(ctx, s.AdminURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	s.Stop()
	s.Stop() // idempotent
	if _, err := pgx.Connect(ctx, s.AdminURL("postgres")); err == nil {
		t.Fatal("connected after Stop")
	}
	if _, err := os.Stat(s.DataDir); !os.IsNotExist(err) {
		t.Errorf("data directory left after Stop: %v", err)
	}
}

func TestSharedPostgres(t *testing.T) {
	t.Parallel()
	a := testenv.SharedPostgres(t)
	b := testenv.SharedPostgres(t)
	if a != b {
		t.Fatal("SharedPostgres returned two servers")
	}
	ctx := ctxFor(t)
	db1, db2 := a.NewDatabase(t), a.NewDatabase(t)
	if db1 == db2 {
		t.Fatal("NewDatabase repeated a name")
	}
	a.ExecIn(t, db1, "CREATE TABLE only_here (id int)")
	conn, err := pgx.Connect(ctx, a.AdminURL(db2))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("a table made in one test database shows in another")
	}
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	s := testenv.MariaDB(t)
	ctx := ctxFor(t)
	s.Exec(t,
		"CREATE DATABASE appdb",
		"CREATE USER 'app'@'%' IDENTIFIED BY 'app-secret'",
		"GRANT ALL ON appdb.* TO 'app'@'%'",
	)

	db, err := sql.Open("mysql", s.DSN("app", "app-secret", "appdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var user, dbName string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER(), DATABASE()").Scan(&user, &dbName); err != nil {
		t.Fatalf("query as app over TLS: %v", err)
	}
	if user != "app@%" || dbName != "appdb" {
		t.Errorf("got user %q db %q", user, dbName)
	}
	var name, cipher string
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		t.Fatal(err)
	}
	if cipher == "" {
		t.Error("connection is not encrypted")
	}

	bad, err := sql.Open("mysql", s.DSN("app", "wrong", "appdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.PingContext(ctx)
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1045 {
		t.Errorf("wrong password: got %v, want error 1045", err)
	}

	// The administrator needs its password too.
	noPass, err := sql.Open("mysql", s.DSN(s.User, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer noPass.Close()
	if err := noPass.PingContext(ctx); err == nil {
		t.Error("administrator logged in without a password")
	}

	var bind string
	if err := db.QueryRowContext(ctx, "SELECT @@bind_address").Scan(&bind); err != nil {
		t.Fatal(err)
	}
	if bind != "127.0.0.1" {
		t.Errorf("bind_address = %q", bind)
	}
}

func TestSharedMariaDB(t *testing.T) {
	t.Parallel()
	a := testenv.SharedMariaDB(t)
	if b := testenv.SharedMariaDB(t); a != b {
		t.Fatal("SharedMariaDB returned two servers")
	}
	name := a.NewDatabase(t)
	a.ExecIn(t, name, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)")
	db, err := sql.Open("mysql", a.AdminDSN(name))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctxFor(t), "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("count = %d, want 2", n)
	}
}

func TestRedis(t *testing.T) {
	t.Parallel()
	s := testenv.Redis(t)
	ctx := ctxFor(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	if got, err := c.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING: %q, %v", got, err)
	}
	if err := c.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET: %q, %v", got, err)
	}
	s.Stop()
	if conn, err := net.Dial("tcp", s.Addr()); err == nil {
		conn.Close()
		t.Error("port still open after Stop")
	}
}

func TestFreePort(t *testing.T) {
	p := testenv.FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("FreePort gave %d, which cannot be bound: %v", p, err)
	}
	l.Close()
}

func TestWaitFor(t *testing.T) {
	n := 0
	testenv.WaitFor(t, 5*time.Second, "three calls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("ready called %d times", n)
	}
}
