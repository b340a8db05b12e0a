package dbauth

import (
	"bytes"
	"context"
	"errors"
	"github.com/jackc/pgx/v5/pgconn"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
)

// checkSplitStable: whatever parses, splitting the remainder again finds
// no dbauth parameter and changes nothing.
func checkSplitStable(t *testing.T, dsn string, split func(string, *Config) (string, error)) {
	var c Config
	rest, err := split(dsn, &c)
	if err != nil {
		return
	}
	var c2 Config
	rest2, err := split(rest, &c2)
	if err != nil {
		t.Fatalf("remainder %q of %q does not parse: %v", rest, dsn, err)
	}
	if rest2 != rest {
		t.Fatalf("second split of %q changed it to %q", rest, rest2)
	}
	if !reflect.DeepEqual(c2, Config{}) {
		t.Fatalf("remainder %q of %q still holds dbauth parameters: %+v", rest, dsn, c2)
	}
}

func FuzzSplitPostgresDSN(f *testing.F) {
	f.Add("postgres://alice@db:5432/app?sslmode=verify-full&plugins=okta&idp_endpoint=x.okta.com&iam_token_expiration=600")
	f.Add("host=db user=alice iam_region = eu-west-1 password='a b\\' c' db_user=bob")
	f.Add("postgresql://h/db?iam_default_port=6543&ssl_secure=false&app_id=%30oa")
	f.Fuzz(func(t *testing.T, dsn string) { checkSplitStable(t, dsn, SplitPostgresDSN) })
}

func FuzzSplitMySQLDSN(f *testing.F) {
	f.Add("alice:pa?ss/x@tcp(db:3306)/app?tls=true&plugins=iam&iam_region=us-west-2&parseTime=true")
	f.Add("u@unix(/tmp/s)/db?secrets_manager_secret_id=prod%2Fdb&plugins=secrets")
	f.Fuzz(func(t *testing.T, dsn string) { checkSplitStable(t, dsn, SplitMySQLDSN) })
}

// FuzzStartupRelay feeds any server bytes, in any split, through the
// pgxpool startup relay: it must not panic, and when it cannot retry (here
// it never can: the connection is not TLS) pgx must read exactly the
// bytes the server sent.
func FuzzStartupRelay(f *testing.F) {
	refusal := []byte{'E', 0, 0, 0, 0x2d, 'S', 'F', 'A', 'T', 'A', 'L', 0, 'C', '2', '8', 'P', '0', '1', 0, 'M', 'P', 'A', 'M', ' ', 'a', 'u', 't', 'h', 'e', 'n', 't', 'i', 'c', 'a', 't', 'i', 'o', 'n', ' ', 'f', 'a', 'i', 'l', 'e', 'd', 0, 0}
	f.Add(append([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}, refusal...), uint8(3))
	f.Add([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3, 'R', 0, 0, 0, 8, 0, 0, 0, 0, 'Z', 0, 0, 0, 5, 'I'}, uint8(1))
	a, err := New(Config{Plugin: PluginIAM, IAMRegion: "us-east-1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		conn := &chunkConn{data: b, n: int(chunk)%16 + 1}
		w := &startupRelay{ctx: context.Background(), cfg: &pgconn.Config{}, a: a, login: Login{User: "u", token: &tokenEntry{}}}
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

// FuzzScrub: whatever the DSN, scrubbing an error that quotes it whole
// leaves no value of a password parameter of 4 bytes or more.
func FuzzScrub(f *testing.F) {
	f.Add("alice@example.com&idp_password=Hunter22&app_id=1")
	f.Add("postgres://a:Hunter22@h/db?x=1")
	f.Add("host=h password='it\\'s secret' idpPassword=abcdef")
	f.Fuzz(func(t *testing.T, dsn string) {
		msg := scrub(errors.New("bad DSN "+dsn), dsn).Error()
		for _, s := range dsnSecrets(dsn) {
			if len(s) >= 4 && strings.Contains(msg, s) {
				t.Fatalf("%q survives in %q", s, msg)
			}
		}
	})
}

// FuzzDropQuoted: whatever a driver's parse error says about a DSN, the
// message kept holds no run of minQuoted bytes of the DSN (outside the
// "…" that replace them).
func FuzzDropQuoted(f *testing.F) {
	f.Add("cannot parse `postgres://alice:xxxxx@cial/pa&ss?x=1#%zz`: invalid URL escape \"%zz\"", "postgres://alice:xxxxx@cial/pa&ss?x=1#%zz")
	f.Add("default addr for network 'alice@example.com&idp_password=Hunter22' unknown", "alice@example.com&idp_password=Hunter22")
	f.Fuzz(func(t *testing.T, msg, dsn string) {
		out := dropQuoted(msg, dsn)
		for _, part := range strings.Split(out, "…") {
			for i := 0; i+minQuoted <= len(part); i++ {
				if strings.Contains(dsn, part[i:i+minQuoted]) {
					t.Fatalf("%q keeps %q of the DSN %q", out, part[i:i+minQuoted], dsn)
				}
			}
		}
	})
}
