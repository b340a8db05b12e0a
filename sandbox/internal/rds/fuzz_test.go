package rds

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// FuzzMySQLHandshakeResponse checks that any client packet parses without
// panicking and that what parses survives an encode/parse round trip.
func FuzzMySQLHandshakeResponse(f *testing.F) {
	full := (&myResponse{
		caps:      capProtocol41 | capSecureConnection | capPluginAuth | capConnectWithDB | capConnectAttrs | capPluginAuthLenenc,
		maxPacket: 1 << 24, charset: 45, user: "alice", authResp: []byte("token-bytes"),
		database: "app", authPlugin: pluginNative, attrs: []byte{4, 1, 'a', 1, 'b'},
	}).encode()
	f.Add(full)
	f.Add(full[:32])
	f.Add((&myResponse{caps: capProtocol41 | capSecureConnection, user: "u", authResp: []byte{1, 2}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResponse(b)
		if err != nil || r.sslOnly {
			return
		}
		if r.caps&(capPluginAuthLenenc|capSecureConnection) == 0 || len(r.authResp) > 250 {
			// The encoder always writes a length-prefixed response.
			return
		}
		if r.caps&capConnectWithDB != 0 && r.database == "" {
			return
		}
		r2, err := parseResponse(r.encode())
		if err != nil {
			t.Fatalf("re-parse of %+v: %v", r, err)
		}
		if r2.user != r.user || !bytes.Equal(r2.authResp, r.authResp) || r2.database != r.database || r2.caps != r.caps {
			t.Fatalf("round trip changed %+v into %+v", r, r2)
		}
	})
}

// FuzzMySQLGreeting checks the backend greeting parser on any input and
// the round trip of the greetings the front writes.
func FuzzMySQLGreeting(f *testing.F) {
	g := &myGreeting{version: "11.8.3-MariaDB", connID: 7, salt: []byte("abcdefghijklmnopqrst"), caps: frontCaps, charset: 45, status: 2, authPlugin: pluginNative}
	f.Add(g.encode())
	f.Add([]byte{0xFF, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'n', 'o'})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parseGreeting(b)
		if err != nil || len(g.salt) != 20 || g.caps&capSecureConnection == 0 || g.caps&capPluginAuth == 0 {
			return
		}
		if bytes.IndexByte(g.salt, 0) >= 0 || bytes.IndexByte([]byte(g.version), 0) >= 0 || bytes.IndexByte([]byte(g.authPlugin), 0) >= 0 {
			return
		}
		g2, err := parseGreeting(g.encode())
		if err != nil || g2.version != g.version || !bytes.Equal(g2.salt, g.salt) || g2.caps != g.caps || g2.authPlugin != g.authPlugin {
			t.Fatalf("round trip of %+v: %+v, %v", g, g2, err)
		}
	})
}

// FuzzPostgresStartup feeds any bytes to the PostgreSQL front as a client
// would send them: it must answer or hang up without panicking, and must
// never let a login through without TLS.
func FuzzPostgresStartup(f *testing.F) {
	startup := []byte{0, 0, 0, 0x17, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'a', 'l', 'i', 'c', 'e', 0, 0}
	f.Add(startup)
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})                          // SSLRequest
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30})                          // GSSENCRequest
	f.Add([]byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 1, 2, 3, 4}) // CancelRequest
	s := &Server{cfg: Config{Engine: EnginePostgres, Backend: BackendConfig{Addr: "127.0.0.1:1"}}, log: discardLogger(), conns: map[net.Conn]struct{}{}}
	cert, _, err := selfSignedCert("127.0.0.1")
	if err != nil {
		f.Fatal(err)
	}
	s.tlsCfg = tlsServerConfig(cert)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &scriptConn{r: bytes.NewReader(b)}
		s.servePostgres(c)
		if bytes.Contains(c.w.Bytes(), []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0}) {
			t.Fatalf("AuthenticationOk without TLS for %q", b)
		}
	})
}

// scriptConn is a connection whose peer sent a fixed script of bytes and
// then hung up.
type scriptConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5432}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzLenenc checks length-encoded integers round trip.
func FuzzLenenc(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(250))
	f.Add(uint64(1 << 20))
	f.Add(uint64(1 << 40))
	f.Fuzz(func(t *testing.T, n uint64) {
		b := appendLenenc(nil, n)
		got, w, ok := readLenenc(b)
		if !ok || got != n || w != len(b) {
			t.Fatalf("%d encoded as %x read back as %d (%d bytes, %v)", n, b, got, w, ok)
		}
	})
}
