package pgxauth_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
)

func TestPostgresThroughFront(t *testing.T) {
	t.Parallel()
	e := dbtest.NewEnv(t)
	front, ca := e.StartPostgres(t)

	t.Run("50 concurrent connects make one Okta login", func(t *testing.T) {
		c, err := pgxauth.NewConnector(dbtest.PgURL(front, ca, dbtest.DBUser, nil), e.Config())
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		defer db.Close()
		dbtest.ConnectConcurrently(t, db, 50, "SELECT current_user")
		if e.Federations.Load() != 1 || e.Logins.Load() != 1 {
			t.Fatalf("50 connects: %d federation setups and %d logins, want 1 and 1", e.Federations.Load(), e.Logins.Load())
		}
		if s := front.Stats(); s.Accepted != 50 || s.Refused != 0 {
			t.Fatalf("front stats %+v, want 50 accepted", s)
		}
	})

	t.Run("DSN parameters through sql.Open", func(t *testing.T) {
		// The DSN form needs Federation, which only code can give; the
		// iam plugin with the default chain is the DSN-only case, so
		// check here that the driver strips parameters and requires TLS.
		db, err := sql.Open(pgxauth.DriverName, dbtest.PgURL(front, ca, dbtest.DBUser, url.Values{"plugins": {"iam"}, "iam_region": {"us-east-1"}, "sslmode": {"disable"}}))
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
	e := dbtest.NewEnv(t)
	front, ca := e.StartPostgres(t)
	pc, a, err := pgxauth.ParsePoolConfig(dbtest.PgURL(front, ca, dbtest.DBUser, nil), e.Config())
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
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != dbtest.DBUser {
		t.Fatalf("first query: %q, %v", user, err)
	}
	first, _ := a.Token(ctx, "127.0.0.1", dbtest.PortOf(front.Addr()), dbtest.DBUser)

	// 16 minutes on, the first token is expired for the front; new pool
	// connections must carry a fresh one.
	e.Clk.Advance(16 * time.Minute)
	pool.Reset()
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != dbtest.DBUser {
		t.Fatalf("query after expiry: %q, %v", user, err)
	}
	second, _ := a.Token(ctx, "127.0.0.1", dbtest.PortOf(front.Addr()), dbtest.DBUser)
	if first == second {
		t.Fatal("the token was not renewed after iam_token_expiration")
	}
	if s := front.Stats(); s.Refused != 0 || s.Accepted != 2 {
		t.Fatalf("front stats %+v, want 2 accepted and none refused", s)
	}
	if e.Logins.Load() != 1 {
		t.Fatalf("%d Okta logins, want 1: the STS credentials outlive the token", e.Logins.Load())
	}
}

func TestRefusedTokenIsRetriedWithFreshCredentials(t *testing.T) {
	t.Parallel()
	e := dbtest.NewEnv(t)
	front, ca := e.StartPostgres(t)
	e.ForeignFirst.Store(true)
	c, err := pgxauth.NewConnector(dbtest.PgURL(front, ca, dbtest.DBUser, nil), e.Config())
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatalf("connect after a refused token: %v", err)
	}
	if e.Logins.Load() != 2 {
		t.Fatalf("%d logins, want 2 (the refused one and its replacement)", e.Logins.Load())
	}
	if s := front.Stats(); s.Refused != 1 || s.Accepted != 1 {
		t.Fatalf("front stats %+v", s)
	}

	// pgxpool retries within the same connect, on the wire.
	e2 := dbtest.NewEnv(t)
	front2, ca2 := e2.StartPostgres(t)
	e2.ForeignFirst.Store(true)
	pc, _, err := pgxauth.ParsePoolConfig(dbtest.PgURL(front2, ca2, dbtest.DBUser, nil), e2.Config())
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
	if s := front2.Stats(); s.Refused != 1 || s.Accepted != 1 || e2.Logins.Load() != 2 {
		t.Fatalf("front stats %+v, logins %d", s, e2.Logins.Load())
	}
}
