package mysqlauth_test

import (
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
	"github.com/oktafed/oktafed/dbauth/mysqlauth"
)

// startMySQLImpostor offers TLS and mysql_clear_password, as RDS does for
// IAM tokens, and records the password the client sends.
func startMySQLImpostor(t *testing.T, ic dbtest.ImpostorCert) *dbtest.Impostor {
	return dbtest.StartImpostor(t, func(m *dbtest.Impostor, c net.Conn) {
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
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{ic.Cert}})
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
		m.Record(strings.TrimRight(string(rest[off:off+n]), "\x00"))
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

// TestImpostorMySQLGetsNoToken: the same for MySQL tls= settings.
func TestImpostorMySQLGetsNoToken(t *testing.T) {
	ic := dbtest.NewImpostorCert(t)
	imp := startMySQLImpostor(t, ic)
	insecureName := "impostor-insecure-" + imp.Addr()
	if err := mysql.RegisterTLSConfig(insecureName, &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	caName := "impostor-ca-" + imp.Addr()
	if err := mysql.RegisterTLSConfig(caName, &tls.Config{RootCAs: ic.CAPool}); err != nil {
		t.Fatal(err)
	}
	base := "alice@tcp(" + imp.Addr() + ")/app?plugins=iam&iam_region=us-east-1"
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
			before := len(imp.Passwords())
			dsn := base
			if tc.query != "" {
				dsn += "&" + tc.query
			}
			c, err := mysqlauth.NewConnector(dsn, dbtest.IAMConfig())
			if err == nil {
				db := sql.OpenDB(c)
				err = dbtest.PingOnce(db)
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
				a, _ := dbauth.New(dbtest.IAMConfig())
				mc, err := mysqlauth.NewConnectorFromConfig(raw, a)
				if err == nil {
					db := sql.OpenDB(mc)
					err = dbtest.PingOnce(db)
					db.Close()
				}
				if err == nil {
					t.Fatal("NewMySQLConnectorFromConfig connected to the impostor")
				}
			}
			if got := imp.Passwords()[before:]; len(got) > 0 {
				t.Fatalf("the impostor received %d passwords", len(got))
			}
		})
	}
	t.Run("opt-out", func(t *testing.T) {
		for _, q := range []string{"tls=skip-verify", "tls=preferred", "tls=" + insecureName} {
			before := len(imp.Passwords())
			c, err := mysqlauth.NewConnector(base+"&"+q+"&"+dbauth.ParamInsecureDBTLS+"=true", dbtest.IAMConfig())
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
				t.Fatalf("%s with the opt-out: the impostor got %q, want the token (so this test can tell)", q, got)
			}
		}
	})
}
