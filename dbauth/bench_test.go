package dbauth_test

import (
	"context"
	"database/sql/driver"
	"slices"
	"testing"
	"time"

	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/mysqlauth"
	"github.com/oktafed/oktafed/dbauth/pgxauth"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// BenchmarkConnect opens and closes one connection per iteration through
// the same front: with a cached IAM token (dbauth) and with the master
// user's plain password. Compare token/… with password/… per engine.
func BenchmarkConnect(b *testing.B) {
	b.Run("postgres", func(b *testing.B) {
		e := dbtest.NewEnv(b)
		front, ca := e.StartPostgres(b)
		tokenConn, err := pgxauth.NewConnector(dbtest.PgURL(front, ca, dbtest.DBUser, nil), e.Config())
		if err != nil {
			b.Fatal(err)
		}
		pwCfg, err := pgx.ParseConfig(dbtest.PgURL(front, ca, dbtest.Master, nil))
		if err != nil {
			b.Fatal(err)
		}
		pwCfg.Password = dbtest.MasterPW
		pwConn := stdlib.GetConnector(*pwCfg)
		benchConnect(b, tokenConn, pwConn)
	})
	b.Run("mysql", func(b *testing.B) {
		e := dbtest.NewEnv(b)
		front, tlsName := e.StartMySQL(b)
		tokenConn, err := mysqlauth.NewConnector(dbtest.DBUser+"@tcp("+front.Addr()+")/app?tls="+tlsName, e.Config())
		if err != nil {
			b.Fatal(err)
		}
		mc, err := mysql.ParseDSN(dbtest.Master + ":" + dbtest.MasterPW + "@tcp(" + front.Addr() + ")/app?tls=" + tlsName + "&allowCleartextPasswords=true")
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
