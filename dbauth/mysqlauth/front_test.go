package mysqlauth_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/mysqlauth"
)

func TestMySQLThroughFront(t *testing.T) {
	t.Parallel()
	e := dbtest.NewEnv(t)
	front, tlsName := e.StartMySQL(t)
	dsn := dbtest.DBUser + "@tcp(" + front.Addr() + ")/app?tls=" + tlsName + "&plugins=okta&iam_token_expiration=600"
	c, err := mysqlauth.NewConnector(dsn, e.Config())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Auth().Config().IAMTokenExpiration; got != 600*time.Second {
		t.Fatalf("iam_token_expiration from the DSN: %s", got)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	dbtest.ConnectConcurrently(t, db, 50, "SELECT CURRENT_USER()")
	if e.Federations.Load() != 1 || e.Logins.Load() != 1 {
		t.Fatalf("50 connects: %d federation setups and %d logins, want 1 and 1", e.Federations.Load(), e.Logins.Load())
	}

	// After expiry new connections get a fresh token.
	db.SetMaxIdleConns(0)
	e.Clk.Advance(16 * time.Minute)
	if err := db.Ping(); err != nil {
		t.Fatalf("connect after expiry: %v", err)
	}
	if s := front.Stats(); s.Refused != 0 || s.Accepted != 51 {
		t.Fatalf("front stats %+v", s)
	}

	// A refused token is retried once with fresh credentials.
	e2 := dbtest.NewEnv(t)
	front2, tlsName2 := e2.StartMySQL(t)
	e2.ForeignFirst.Store(true)
	c2, err := mysqlauth.NewConnector(dbtest.DBUser+"@tcp("+front2.Addr()+")/app?tls="+tlsName2, e2.Config())
	if err != nil {
		t.Fatal(err)
	}
	db2 := sql.OpenDB(c2)
	defer db2.Close()
	if err := db2.Ping(); err != nil {
		t.Fatalf("connect after a refused token: %v", err)
	}
	if s := front2.Stats(); s.Refused != 1 || s.Accepted != 1 || e2.Logins.Load() != 2 {
		t.Fatalf("front stats %+v, logins %d", s, e2.Logins.Load())
	}
}
