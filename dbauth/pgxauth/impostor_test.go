package pgxauth_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
)

// prefixConn replays bytes already read before the rest of the conn.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// startPgImpostor answers SSLRequest (and direct TLS) with the impostor's
// certificate, plaintext startups as they come, asks for a cleartext
// password and records it.
func startPgImpostor(t *testing.T, ic dbtest.ImpostorCert) *dbtest.Impostor {
	return dbtest.StartImpostor(t, func(m *dbtest.Impostor, c net.Conn) {
		br := bufio.NewReader(c)
		var conn net.Conn = c
		var r io.Reader = br
		first, err := br.Peek(1)
		if err != nil {
			return
		}
		var startup []byte
		if first[0] == 0x16 { // a TLS ClientHello: sslnegotiation=direct
			tc := tls.Server(&prefixConn{Conn: c, r: br}, &tls.Config{Certificates: []tls.Certificate{ic.Cert}, NextProtos: []string{"postgresql"}})
			if tc.Handshake() != nil {
				return
			}
			conn, r = tc, tc
		}
		for startup == nil {
			msg, err := readPgUntyped(r)
			if err != nil {
				return
			}
			switch binary.BigEndian.Uint32(msg[:4]) {
			case 80877103: // SSLRequest
				conn.Write([]byte{'S'})
				tc := tls.Server(&prefixConn{Conn: conn, r: r}, &tls.Config{Certificates: []tls.Certificate{ic.Cert}})
				if tc.Handshake() != nil {
					return
				}
				conn, r = tc, tc
			case 80877104: // GSSENCRequest
				conn.Write([]byte{'N'})
			default:
				startup = msg
			}
		}
		conn.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}) // AuthenticationCleartextPassword
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil || hdr[0] != 'p' {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		m.Record(strings.TrimRight(string(body), "\x00"))
		e := []byte("SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00")
		out := append([]byte{'E'}, binary.BigEndian.AppendUint32(nil, uint32(len(e)+4))...)
		conn.Write(append(out, e...))
	})
}

func readPgUntyped(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := binary.BigEndian.Uint32(n[:])
	if l < 8 || l > 1<<16 {
		return nil, errors.New("bad length")
	}
	msg := make([]byte, l-4)
	_, err := io.ReadFull(r, msg)
	return msg, err
}

// TestImpostorPostgresGetsNoToken: a PostgreSQL impostor with a
// certificate no RDS CA signed (issued for another name by a CA of its
// own) receives no token under any sslmode, from the DSN or the
// environment, through database/sql, pgxpool or the bare hook; only the
// loud opt-out sends it, and even then never in cleartext.
func TestImpostorPostgresGetsNoToken(t *testing.T) {
	ic := dbtest.NewImpostorCert(t)
	imp := startPgImpostor(t, ic)
	base := "postgres://alice@" + imp.Addr() + "/app?plugins=iam&iam_region=us-east-1"
	cases := []struct {
		name, query string
		env         map[string]string
		refused     bool // refused before dialing, with the fix named
	}{
		{name: "default (verify-full, system roots)"},
		{name: "disable", query: "sslmode=disable", refused: true},
		{name: "allow", query: "sslmode=allow", refused: true},
		{name: "prefer", query: "sslmode=prefer", refused: true},
		{name: "require", query: "sslmode=require", refused: true},
		{name: "ssl=true (made verify-full)", query: "ssl=true"},
		{name: "require with the CA", query: "sslmode=require&sslrootcert=" + ic.CAFile, refused: true},
		{name: "verify-ca with the CA", query: "sslmode=verify-ca&sslrootcert=" + ic.CAFile, refused: true},
		{name: "direct require", query: "sslnegotiation=direct&sslmode=require", refused: true},
		{name: "verify-full with the CA (wrong host name)", query: "sslmode=verify-full&sslrootcert=" + ic.CAFile},
		{name: "direct verify-full", query: "sslnegotiation=direct&sslmode=verify-full&sslrootcert=" + ic.CAFile},
		{name: "PGSSLMODE=require", env: map[string]string{"PGSSLMODE": "require"}, refused: true},
		{name: "PGSSLMODE=prefer", env: map[string]string{"PGSSLMODE": "prefer"}, refused: true},
		{name: "PGSSLMODE=verify-ca", env: map[string]string{"PGSSLMODE": "verify-ca", "PGSSLROOTCERT": ic.CAFile}, refused: true},
		{name: "PGSSLMODE=verify-full", env: map[string]string{"PGSSLMODE": "verify-full", "PGSSLROOTCERT": ic.CAFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dsn := base
			if tc.query != "" {
				dsn += "&" + tc.query
			}
			before := len(imp.Passwords())
			check := func(how string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: connected to the impostor", how)
				}
				if tc.refused && !strings.Contains(err.Error(), "sslmode=verify-full") {
					t.Errorf("%s: the error does not name the fix: %v", how, err)
				}
				if tc.refused && !strings.Contains(err.Error(), "global-bundle.pem") {
					t.Errorf("%s: the error does not say where the RDS CA bundle is: %v", how, err)
				}
			}
			c, err := pgxauth.NewConnector(dsn, dbtest.IAMConfig())
			if err == nil {
				db := sql.OpenDB(c)
				err = dbtest.PingOnce(db)
				db.Close()
			}
			check("database/sql", err)

			pc, _, err := pgxauth.ParsePoolConfig(dsn, dbtest.IAMConfig())
			if err == nil {
				var pool *pgxpool.Pool
				if pool, err = pgxpool.NewWithConfig(context.Background(), pc); err == nil {
					err = pool.Ping(context.Background())
					pool.Close()
				}
			}
			check("pgxpool", err)

			// A configuration made by pgx itself, then handed to dbauth.
			a, err := dbauth.New(dbtest.IAMConfig())
			if err != nil {
				t.Fatal(err)
			}
			if raw, perr := pgxpool.ParseConfig(strings.TrimPrefix(strings.Replace(dsn, "plugins=iam&iam_region=us-east-1", "", 1), "")); perr == nil {
				err = pgxauth.ConfigurePool(raw, a)
				if err == nil {
					var pool *pgxpool.Pool
					if pool, err = pgxpool.NewWithConfig(context.Background(), raw); err == nil {
						err = pool.Ping(context.Background())
						pool.Close()
					}
				}
				check("ConfigurePool", err)
			}
			if raw, perr := pgx.ParseConfig(strings.Replace(dsn, "plugins=iam&iam_region=us-east-1", "", 1)); perr == nil {
				db := sql.OpenDB(stdlib.GetConnector(*raw, stdlib.OptionBeforeConnect(pgxauth.BeforeConnect(a))))
				check("PgxBeforeConnect", dbtest.PingOnce(db))
				db.Close()
			}
			if got := imp.Passwords()[before:]; len(got) > 0 {
				t.Fatalf("the impostor received %d passwords", len(got))
			}
		})
	}

	t.Run("opt-out", func(t *testing.T) {
		for _, mode := range []string{"require", "prefer", "allow"} {
			before := len(imp.Passwords())
			cfg := dbtest.IAMConfig()
			cfg.InsecureUnverifiedDBTLS = true
			c, err := pgxauth.NewConnector(base+"&sslmode="+mode, cfg)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			if err := dbtest.PingOnce(db); err == nil {
				t.Fatal("connected")
			}
			db.Close()
			got := imp.Passwords()[before:]
			if len(got) == 0 || !strings.HasPrefix(got[0], imp.Addr()+"/?Action=connect") {
				t.Fatalf("sslmode=%s with the opt-out: the impostor got %q, want the token (so this test can tell)", mode, got)
			}
		}
		c, err := pgxauth.NewConnector(base+"&sslmode=disable&"+dbauth.ParamInsecureDBTLS+"=true", dbtest.IAMConfig())
		if err == nil {
			db := sql.OpenDB(c)
			err = dbtest.PingOnce(db)
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "cleartext") {
			t.Errorf("sslmode=disable with the opt-out: %v", err)
		}
	})
}
