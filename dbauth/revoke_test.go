package dbauth_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
)

// TestRevokedSessionOldTokenGetsNewCredentials: the first role session is
// one the sandbox never issued (a revoked one), and its token is cached
// and over a minute old when the connect uses it. The refusal makes the
// connector call AssumeRoleWithSAML again (a second Federation login) and
// the retry, in the same connect, succeeds: the token is not re-signed
// with the revoked credentials.
func TestRevokedSessionOldTokenGetsNewCredentials(t *testing.T) {
	t.Parallel()
	e := dbtest.NewEnv(t)
	front, ca := e.StartPostgres(t)
	e.ForeignFirst.Store(true)
	c, err := pgxauth.NewConnector(dbtest.PgURL(front, ca, dbUser, nil), e.Config())
	if err != nil {
		t.Fatal(err)
	}
	host, port := "127.0.0.1", dbtest.PortOf(front.Addr())
	if _, err := c.Auth().Token(context.Background(), host, port, dbUser); err != nil {
		t.Fatal(err)
	}
	e.Clk.Advance(2 * time.Minute)
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatalf("connect with an old token from a revoked session: %v", err)
	}
	if n := e.Logins.Load(); n != 2 {
		t.Fatalf("%d credential fetches, want 2: the revoked session's and a new AssumeRoleWithSAML", n)
	}
	if s := front.Stats(); s.Refused != 1 || s.Accepted != 1 {
		t.Fatalf("front stats %+v", s)
	}
}

// TestRefusalErrorSaysWhatWasTried: a database user the front does not
// allow for the role is refused with fresh credentials too; the error
// names what the connect did, and the next connect does not renew again.
func TestRefusalErrorSaysWhatWasTried(t *testing.T) {
	t.Parallel()
	e := dbtest.NewEnv(t)
	front, ca := e.StartPostgres(t)
	c, err := pgxauth.NewConnector(dbtest.PgURL(front, ca, "mallory", nil), e.Config())
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	err = db.Ping()
	if err == nil {
		t.Fatal("mallory connected")
	}
	for _, want := range []string{"new AWS credentials from a new AssumeRoleWithSAML signed a new token", "that token was refused too"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := e.Logins.Load(); n != 2 {
		t.Fatalf("%d credential fetches, want 2", n)
	}
	err = db.Ping()
	if err == nil || !strings.Contains(err.Error(), "had already been renewed") {
		t.Fatalf("second connect: %v", err)
	}
	if n := e.Logins.Load(); n != 2 {
		t.Fatalf("%d credential fetches after a second refused connect, want still 2", n)
	}
}
