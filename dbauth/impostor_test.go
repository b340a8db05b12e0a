package dbauth_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/mysqlauth"
	"github.com/oktafed/oktafed/dbauth/pgxauth"
)

// impostorCert is a certificate authority made by the test (self-signed)
// and a server certificate it signed for another name than the address
// the clients dial: a chain check alone (verify-ca) accepts it, a host
// name check refuses it, and nothing else trusts it.
type impostorCert struct {
	cert   tls.Certificate
	caFile string
	caPool *x509.CertPool
}

func newImpostorCert(t *testing.T) impostorCert {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "impostor CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "impostor.invalid"},
		DNSNames:  []string{"impostor.invalid"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "impostor-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return impostorCert{cert: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, caFile: caFile, caPool: pool}
}

// impostor is a server that speaks just enough of a database's wire
// protocol to ask for a cleartext password, and records every password
// it is sent.
type impostor struct {
	ln  net.Listener
	mu  sync.Mutex
	got []string
}

func (m *impostor) addr() string { return m.ln.Addr().String() }

func (m *impostor) passwords() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

func (m *impostor) record(p string) {
	m.mu.Lock()
	m.got = append(m.got, p)
	m.mu.Unlock()
}

func startImpostor(t *testing.T, serve func(m *impostor, c net.Conn)) *impostor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &impostor{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(m, c)
			})
		}
	})
	return m
}

// prefixConn replays bytes already read before the rest of the conn.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// startPgImpostor answers SSLRequest (and direct TLS) with the impostor's
// certificate, plaintext startups as they come, asks for a cleartext
// password and records it.
func startPgImpostor(t *testing.T, ic impostorCert) *impostor {
	return startImpostor(t, func(m *impostor, c net.Conn) {
		br := bufio.NewReader(c)
		var conn net.Conn = c
		var r io.Reader = br
		first, err := br.Peek(1)
		if err != nil {
			return
		}
		var startup []byte
		if first[0] == 0x16 { // a TLS ClientHello: sslnegotiation=direct
			tc := tls.Server(&prefixConn{Conn: c, r: br}, &tls.Config{Certificates: []tls.Certificate{ic.cert}, NextProtos: []string{"postgresql"}})
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
				tc := tls.Server(&prefixConn{Conn: conn, r: r}, &tls.Config{Certificates: []tls.Certificate{ic.cert}})
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
		m.record(strings.TrimRight(string(body), "\x00"))
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

// startMySQLImpostor offers TLS and mysql_clear_password, as RDS does for
// IAM tokens, and records the password the client sends.
func startMySQLImpostor(t *testing.T, ic impostorCert) *impostor {
	return startImpostor(t, func(m *impostor, c net.Conn) {
		const caps = 0x1 | 0x8 | 0x200 | 0x800 | 0x2000 | 0x8000 | 0x80000 | 0x200000
		var p []byte
		p = append(p, 10)
		p = append(p, "8.0.36-impostor\x00"...)
		p = binary.LittleEndian.AppendUint32(p, 7)
		p = append(p, "abcdefgh"...)
		p = append(p, 0)
		p = binary.LittleEndian.AppendUint16(p, caps&0xffff)
		p = append(p, 0x21)
		p = binary.LittleEndian.AppendUint16(p, 2)
		p = binary.LittleEndian.AppendUint16(p, caps>>16)
		p = append(p, 21)
		p = append(p, make([]byte, 10)...)
		p = append(p, "ijklmnopqrst\x00"...)
		p = append(p, "mysql_clear_password\x00"...)
		if writeMyPacket(c, 0, p) != nil {
			return
		}
		var conn net.Conn = c
		seq, pkt, err := readMyPacket(conn)
		if err != nil {
			return
		}
		if len(pkt) == 32 { // SSLRequest
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{ic.cert}})
			if tc.Handshake() != nil {
				return
			}
			conn = tc
			if seq, pkt, err = readMyPacket(conn); err != nil {
				return
			}
		}
		if len(pkt) < 33 {
			return
		}
		rest := pkt[32:]
		i := strings.IndexByte(string(rest), 0)
		if i < 0 || i+2 > len(rest) {
			return
		}
		rest = rest[i+1:]
		n, off := int(rest[0]), 1
		if n == 0xfc && len(rest) >= 3 { // a length-encoded integer of two bytes
			n, off = int(binary.LittleEndian.Uint16(rest[1:3])), 3
		}
		if n > 0xffff || off+n > len(rest) {
			return
		}
		m.record(strings.TrimRight(string(rest[off:off+n]), "\x00"))
		e := append([]byte{0xff}, binary.LittleEndian.AppendUint16(nil, 1045)...)
		e = append(e, "#28000Access denied for user"...)
		writeMyPacket(conn, seq+1, e)
	})
}

func writeMyPacket(w io.Writer, seq byte, p []byte) error {
	h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}
	_, err := w.Write(append(h, p...))
	return err
}

func readMyPacket(r io.Reader) (byte, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(r, p)
	return h[3], p, err
}

// iamConfig signs tokens with static credentials, so the tests need no
// AWS endpoint: what matters is where the token goes.
func iamConfig() dbauth.Config {
	return dbauth.Config{
		Plugin: dbauth.PluginIAM, IAMRegion: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIMPOSTORTEST0000", "impostor-test-secret", ""),
	}
}

var _ aws.CredentialsProvider = credentials.StaticCredentialsProvider{}

func pingOnce(db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// TestImpostorPostgresGetsNoToken: a PostgreSQL impostor with a
// certificate no RDS CA signed (issued for another name by a CA of its
// own) receives no token under any sslmode, from the DSN or the
// environment, through database/sql, pgxpool or the bare hook; only the
// loud opt-out sends it, and even then never in cleartext.
func TestImpostorPostgresGetsNoToken(t *testing.T) {
	ic := newImpostorCert(t)
	imp := startPgImpostor(t, ic)
	base := "postgres://alice@" + imp.addr() + "/app?plugins=iam&iam_region=us-east-1"
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
		{name: "require with the CA", query: "sslmode=require&sslrootcert=" + ic.caFile, refused: true},
		{name: "verify-ca with the CA", query: "sslmode=verify-ca&sslrootcert=" + ic.caFile, refused: true},
		{name: "direct require", query: "sslnegotiation=direct&sslmode=require", refused: true},
		{name: "verify-full with the CA (wrong host name)", query: "sslmode=verify-full&sslrootcert=" + ic.caFile},
		{name: "direct verify-full", query: "sslnegotiation=direct&sslmode=verify-full&sslrootcert=" + ic.caFile},
		{name: "PGSSLMODE=require", env: map[string]string{"PGSSLMODE": "require"}, refused: true},
		{name: "PGSSLMODE=prefer", env: map[string]string{"PGSSLMODE": "prefer"}, refused: true},
		{name: "PGSSLMODE=verify-ca", env: map[string]string{"PGSSLMODE": "verify-ca", "PGSSLROOTCERT": ic.caFile}, refused: true},
		{name: "PGSSLMODE=verify-full", env: map[string]string{"PGSSLMODE": "verify-full", "PGSSLROOTCERT": ic.caFile}},
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
			before := len(imp.passwords())
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
			c, err := pgxauth.NewConnector(dsn, iamConfig())
			if err == nil {
				db := sql.OpenDB(c)
				err = pingOnce(db)
				db.Close()
			}
			check("database/sql", err)

			pc, _, err := pgxauth.ParsePoolConfig(dsn, iamConfig())
			if err == nil {
				var pool *pgxpool.Pool
				if pool, err = pgxpool.NewWithConfig(context.Background(), pc); err == nil {
					err = pool.Ping(context.Background())
					pool.Close()
				}
			}
			check("pgxpool", err)

			// A configuration made by pgx itself, then handed to dbauth.
			a, err := dbauth.New(iamConfig())
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
				check("PgxBeforeConnect", pingOnce(db))
				db.Close()
			}
			if got := imp.passwords()[before:]; len(got) > 0 {
				t.Fatalf("the impostor received %d passwords", len(got))
			}
		})
	}

	t.Run("opt-out", func(t *testing.T) {
		for _, mode := range []string{"require", "prefer", "allow"} {
			before := len(imp.passwords())
			cfg := iamConfig()
			cfg.InsecureUnverifiedDBTLS = true
			c, err := pgxauth.NewConnector(base+"&sslmode="+mode, cfg)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			if err := pingOnce(db); err == nil {
				t.Fatal("connected")
			}
			db.Close()
			got := imp.passwords()[before:]
			if len(got) == 0 || !strings.HasPrefix(got[0], imp.addr()+"/?Action=connect") {
				t.Fatalf("sslmode=%s with the opt-out: the impostor got %q, want the token (so this test can tell)", mode, got)
			}
		}
		c, err := pgxauth.NewConnector(base+"&sslmode=disable&"+dbauth.ParamInsecureDBTLS+"=true", iamConfig())
		if err == nil {
			db := sql.OpenDB(c)
			err = pingOnce(db)
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "cleartext") {
			t.Errorf("sslmode=disable with the opt-out: %v", err)
		}
	})
}

// TestImpostorMySQLGetsNoToken: the same for MySQL tls= settings.
func TestImpostorMySQLGetsNoToken(t *testing.T) {
	ic := newImpostorCert(t)
	imp := startMySQLImpostor(t, ic)
	insecureName := "impostor-insecure-" + imp.addr()
	if err := mysql.RegisterTLSConfig(insecureName, &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	caName := "impostor-ca-" + imp.addr()
	if err := mysql.RegisterTLSConfig(caName, &tls.Config{RootCAs: ic.caPool}); err != nil {
		t.Fatal(err)
	}
	base := "alice@tcp(" + imp.addr() + ")/app?plugins=iam&iam_region=us-east-1"
	cases := []struct {
		name, query string
		refused     bool
	}{
		{name: "unset (system roots)"},
		{name: "true", query: "tls=true"},
		{name: "false", query: "tls=false", refused: true},
		{name: "skip-verify", query: "tls=skip-verify", refused: true},
		{name: "preferred", query: "tls=preferred", refused: true},
		{name: "registered InsecureSkipVerify", query: "tls=" + insecureName, refused: true},
		{name: "registered with the CA (wrong host name)", query: "tls=" + caName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(imp.passwords())
			dsn := base
			if tc.query != "" {
				dsn += "&" + tc.query
			}
			c, err := mysqlauth.NewConnector(dsn, iamConfig())
			if err == nil {
				db := sql.OpenDB(c)
				err = pingOnce(db)
				db.Close()
			}
			if err == nil {
				t.Fatal("connected to the impostor")
			}
			if tc.refused && (!strings.Contains(err.Error(), "mysql.RegisterTLSConfig") || !strings.Contains(err.Error(), "global-bundle.pem")) {
				t.Errorf("the error does not name the fix: %v", err)
			}
			// A mysql.Config made by the driver, handed to dbauth.
			if raw, perr := mysql.ParseDSN(strings.Replace(dsn, "plugins=iam&iam_region=us-east-1", "", 1)); perr == nil {
				a, _ := dbauth.New(iamConfig())
				mc, err := mysqlauth.NewConnectorFromConfig(raw, a)
				if err == nil {
					db := sql.OpenDB(mc)
					err = pingOnce(db)
					db.Close()
				}
				if err == nil {
					t.Fatal("NewMySQLConnectorFromConfig connected to the impostor")
				}
			}
			if got := imp.passwords()[before:]; len(got) > 0 {
				t.Fatalf("the impostor received %d passwords", len(got))
			}
		})
	}
	t.Run("opt-out", func(t *testing.T) {
		for _, q := range []string{"tls=skip-verify", "tls=preferred", "tls=" + insecureName} {
			before := len(imp.passwords())
			c, err := mysqlauth.NewConnector(base+"&"+q+"&"+dbauth.ParamInsecureDBTLS+"=true", iamConfig())
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			if err := pingOnce(db); err == nil {
				t.Fatal("connected")
			}
			db.Close()
			got := imp.passwords()[before:]
			if len(got) == 0 || !strings.HasPrefix(got[0], imp.addr()+"/?Action=connect") {
				t.Fatalf("%s with the opt-out: the impostor got %q, want the token (so this test can tell)", q, got)
			}
		}
	})
}
