package pgxauth

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbconn"
)

const leakSecret = "Hunter2-Okta-Secret"

func TestConfigRequiresTLS(t *testing.T) {
	if _, _, err := parseConfig("postgres://a@h/db?plugins=iam&iam_region=us-east-1&sslmode=disable", dbauth.Config{}); err == nil || !strings.Contains(err.Error(), "sslmode=verify-full") {
		t.Errorf("sslmode=disable: %v", err)
	}
	if _, _, err := parseConfig("postgres://a@h/db?plugins=iam&iam_region=us-east-1&sslmode=prefer", dbauth.Config{}); !errors.Is(err, dbconn.ErrUnverifiedTLS) {
		t.Errorf("sslmode=prefer: %v", err)
	}
	c, _, err := parseConfig("postgres://a@h/db?plugins=iam&iam_region=us-east-1&sslmode=prefer&"+dbauth.ParamInsecureDBTLS+"=true", dbauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSConfig == nil || len(c.Fallbacks) != 0 {
		t.Errorf("sslmode=prefer kept a cleartext fallback: tls=%v fallbacks=%d", c.TLSConfig != nil, len(c.Fallbacks))
	}
	c, _, err = parseConfig("postgres://a@h/db?plugins=iam&iam_region=us-east-1", dbauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSConfig == nil || c.TLSConfig.InsecureSkipVerify || c.TLSConfig.ServerName != "h" {
		t.Errorf("default is not verify-full: %+v", c.TLSConfig)
	}
}

// TestDSNErrorsNeverQuoteSecrets feeds pgx DSNs that carry a password and
// cannot be parsed, in every form a careless user writes, and checks that
// the error says something useful without the password.
func TestDSNErrorsNeverQuoteSecrets(t *testing.T) {
	for _, dsn := range []string{
		"postgres://alice:" + leakSecret + "@db:5432/app?plugins=iam&connect_timeout=soon",
		"postgres://alice:" + leakSecret + "@db:notaport/app?plugins=iam",
		"postgres://alice@db/app?plugins=okta&idp_password=" + leakSecret + "&sslmode=bogus",
		"host=db user=alice password=" + leakSecret + " sslmode=bogus plugins=iam",
		"host=db user=alice password='" + leakSecret + "' plugins=iam port=x",
		"host=db idp_password=" + leakSecret + " plugins=okta idp_port=0",
		"host=db user=alice password='" + leakSecret,
		"postgres://alice@db/app?idp_pasword=" + leakSecret,
		"postgres://alice@db/app?idpPasword=" + leakSecret,
	} {
		for name, open := range map[string]func() error{
			"NewConnector":    func() error { _, err := NewConnector(dsn, dbauth.Config{}); return err },
			"ParsePoolConfig": func() error { _, _, err := ParsePoolConfig(dsn, dbauth.Config{}); return err },
		} {
			err := open()
			if err == nil {
				t.Errorf("%s %q: accepted", name, dsn)
				continue
			}
			if strings.Contains(err.Error(), leakSecret) {
				t.Errorf("%s error quotes the secret: %v", name, err)
			}
		}
	}
}

// TestParseErrorsNeverQuoteTheDSN: URL DSNs whose password holds
// characters that break URL parsing ('/', '#', '%', '?', '&') fail with
// an error that quotes no run of three or more of the DSN's bytes.
func TestParseErrorsNeverQuoteTheDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://alice:sp3cial/pa&ss?x=1#%zz@db:5432/app?plugins=iam",
		"postgres://alice:pa%zzss@db/app?plugins=iam",
		"postgresql://alice:p#ss@db:99999/app?plugins=iam",
	} {
		_, err := NewConnector(dsn, dbauth.Config{})
		if err == nil {
			t.Errorf("%q: accepted", dsn)
			continue
		}
		checkQuotesNothing(t, dsn, err.Error())
	}
}

// checkQuotesNothing fails when msg holds a run of three bytes of dsn
// that is not in the error's own words.
func checkQuotesNothing(t *testing.T, dsn, msg string) {
	t.Helper()
	const ownWords = "dbauth: the driver cannot parse the DSN (quoted parts withheld): check the DSN's form and percent-encode '%', '/', '?', '#', '&' and '@' in the user name, password and values"
	for i := 0; i+3 <= len(msg); i++ {
		if strings.Contains(dsn, msg[i:i+3]) && !strings.Contains(ownWords, msg[i:i+3]) {
			t.Errorf("%q: the error quotes %q of the DSN: %s", dsn, msg[i:i+3], msg)
			return
		}
	}
}

// FuzzStartupRelay feeds any server bytes, in any split, through the
// pgxpool startup relay: it must not panic, and when it cannot retry (here
// it never can: the connection is not TLS) pgx must read exactly the
// bytes the server sent.
func FuzzStartupRelay(f *testing.F) {
	refusal := []byte{'E', 0, 0, 0, 0x2d, 'S', 'F', 'A', 'T', 'A', 'L', 0, 'C', '2', '8', 'P', '0', '1', 0, 'M', 'P', 'A', 'M', ' ', 'a', 'u', 't', 'h', 'e', 'n', 't', 'i', 'c', 'a', 't', 'i', 'o', 'n', ' ', 'f', 'a', 'i', 'l', 'e', 'd', 0, 0}
	f.Add(append([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}, refusal...), uint8(3))
	f.Add([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3, 'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'}, uint8(1))
	a, err := dbauth.New(dbauth.Config{Plugin: dbauth.PluginIAM, IAMRegion: "us-east-1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		conn := &chunkConn{data: b, n: int(chunk)%16 + 1}
		w := &startupRelay{ctx: context.Background(), cfg: &pgconn.Config{}, a: a, set: a.Config(), login: dbauth.Login{User: "u"}}
		w.setConn(conn)
		w.Write([]byte{0, 0, 0, 8, 0, 3, 0, 0})
		got, err := io.ReadAll(w)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("relay changed %q into %q", b, got)
		}
	})
}

// chunkConn is a net.Conn that returns data n bytes at a time.
type chunkConn struct {
	net.Conn
	data []byte
	n    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func (c *chunkConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *chunkConn) Close() error                { return nil }
func (c *chunkConn) RemoteAddr() net.Addr        { return &net.TCPAddr{} }

// TestDriverName: sql.Open with DriverName reads dbauth's parameters from
// the DSN and holds the connection to the same TLS rule.
func TestDriverName(t *testing.T) {
	db, err := sql.Open(DriverName, "postgres://a@h/db?plugins=iam&iam_region=us-east-1&sslmode=require")
	if err == nil {
		err = db.Ping()
		db.Close()
	}
	if !errors.Is(err, dbconn.ErrUnverifiedTLS) {
		t.Fatalf("sslmode=require through sql.Open: %v", err)
	}
	db, err = sql.Open(DriverName, "postgres://a@h/db?plugins=iam&iam_regoin=us-east-1")
	if err == nil {
		err = db.Ping()
		db.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "iam_region") {
		t.Fatalf("a misspelt parameter through sql.Open: %v", err)
	}
}
