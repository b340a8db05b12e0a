package gateway_test

// Upgrade tunnels: an upstream that speaks h2c (hypercorn) switches any
// connection whose request says "Upgrade: h2c", after which the client
// talks to it directly. These tests send the attack through the gateway
// and assert, from hypercorn's own record, what reached it.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// pyUpstream is a Python test server under testdata that prints its port.
type pyUpstream struct {
	URL  string
	addr string
}

func startPython(t testing.TB, py, script string) *pyUpstream {
	t.Helper()
	cmd := exec.Command(py, script)
	stdin, err := cmd.StdinPipe() // closing it stops the server
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%s did not start: %v\n%s", script, err, stderr.String())
	}
	addr := "127.0.0.1:" + strings.TrimSpace(line)
	return &pyUpstream{URL: "http://" + addr, addr: addr}
}

// asgiRecord is one request or WebSocket handshake hypercorn received.
type asgiRecord struct {
	Type        string      `json:"type"`
	Method      string      `json:"method"`
	Path        string      `json:"path"`
	Query       string      `json:"query"`
	HTTPVersion string      `json:"http_version"`
	Headers     [][2]string `json:"headers"`
	BodyLen     int         `json:"body_len"`
}

func (r asgiRecord) header(name string) []string {
	var out []string
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			out = append(out, h[1])
		}
	}
	return out
}

func hypercornSeen(t testing.TB, up *pyUpstream) []asgiRecord {
	t.Helper()
	resp, err := http.Get(up.URL + "/__seen")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []asgiRecord
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

type upgradeEnv struct {
	up                    *pyUpstream
	gw                    *running
	addr                  string
	sb                    *sandbox.Server
	reader, writer, admin string
}

func newUpgradeEnv(t *testing.T, tweak func(*gateway.Config)) *upgradeEnv {
	t.Helper()
	up := startPython(t, testenv.Hypercorn(t), "testdata/asgi_upstream.py")
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Routes = []gateway.Route{
		{Prefix: "/admin", Rule: guard.Rule{Roles: []string{verify.RoleAdmin}}},
		{Prefix: "/orders", Methods: []string{"POST", "DELETE"}, Rule: guard.Rule{Roles: []string{verify.RoleWrite}}},
		{Prefix: "/public/", Rule: guard.Rule{Public: true}},
		{Prefix: "/ws/write", WebSocket: true, Rule: guard.Rule{Roles: []string{verify.RoleWrite}}},
		{Prefix: "/ws/", WebSocket: true, Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
		{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	gw := startGateway(t, cfg)
	return &upgradeEnv{
		up: up, gw: gw, addr: strings.TrimPrefix(gw.url, "http://"), sb: sb,
		reader: mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil),
		writer: mint(t, sb, []string{"orders.write"}, []string{"developers"}, nil),
		admin:  mint(t, sb, nil, []string{"aws-admins"}, nil),
	}
}

// h2Smuggle writes what a client that got 101 would send next: the HTTP/2
// preface and requests for the paths given, with its own identity headers.
func h2Smuggle(t *testing.T, w io.Writer, paths ...string) {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		method, path, _ := strings.Cut(p, " ")
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: method}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "upstream"}, {Name: ":path", Value: path},
			{Name: "x-auth-role", Value: "admin"}, {Name: "x-auth-user", Value: "mallory"},
		} {
			enc.WriteField(f)
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 3), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	w.Write(buf.Bytes())
}

// TestUpgradeH2CRefused sends the h2c smuggling attack from the issue
// through the gateway to hypercorn: GET with "Upgrade: h2c",
// HTTP2-Settings and "Connection: Upgrade, HTTP2-Settings", then HTTP/2
// requests for an admin path and a DELETE. hypercorn must see exactly
// one plain HTTP/1.1 request, without the upgrade headers, and nothing of
// the smuggled requests.
func TestUpgradeH2CRefused(t *testing.T) {
	e := newUpgradeEnv(t, nil)
	cases := []struct {
		name, target, token string
		upgrade             string
	}{
		{"no token on a public route", "/public/x", "", "h2c"},
		{"a reader on a read route", "/reports", e.reader, "h2c"},
		{"upper-case token, extra spaces", "/public/y", "", " H2C "},
		{"two tokens", "/public/z", "", "h2c, websocket"},
		{"TLS upgrade", "/public/t", "", "TLS/1.2"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			req := "GET " + tc.target + " HTTP/1.1\r\nHost: " + e.addr + "\r\n" +
				"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: " + tc.upgrade + "\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n" +
				"HTTP2_Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
			if tc.token != "" {
				req += "Authorization: Bearer " + tc.token + "\r\n"
			}
			io.WriteString(conn, req+"\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d (want 200, the request served as plain HTTP/1.1): %s", resp.StatusCode, body)
			}
			// Whatever the client sends next is a new request to the
			// gateway, never bytes to the upstream.
			h2Smuggle(t, conn, "GET /admin/secret", "DELETE /orders/1")
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			rest, _ := io.ReadAll(br)
			if bytes.Contains(rest, []byte("secret")) || bytes.Contains(rest, []byte("mallory")) {
				t.Errorf("the smuggled requests were answered: %q", rest)
			}
			seen := hypercornSeen(t, e.up)
			if len(seen) != i+1 {
				t.Fatalf("hypercorn saw %d requests, want %d: %+v", len(seen), i+1, seen)
			}
			got := seen[i]
			if got.Path != tc.target || got.Method != "GET" || got.HTTPVersion != "1.1" {
				t.Errorf("hypercorn saw %s %s over HTTP/%s, want GET %s over HTTP/1.1", got.Method, got.Path, got.HTTPVersion, tc.target)
			}
			for _, h := range []string{"upgrade", "http2-settings", "http2_settings"} {
				if v := got.header(h); v != nil {
					t.Errorf("hypercorn received %s: %q", h, v)
				}
			}
			if v := got.header("x-auth-role"); tc.token == "" && v != nil || tc.token != "" && strings.Join(v, ",") != "read" {
				t.Errorf("hypercorn received x-auth-role %q", v)
			}
		})
	}
	for _, s := range hypercornSeen(t, e.up) {
		if strings.HasPrefix(s.Path, "/admin") || s.Method == "DELETE" || s.HTTPVersion == "2" {
			t.Errorf("a smuggled request reached hypercorn: %+v", s)
		}
	}
}

// wsConn is a minimal RFC 6455 client: enough to open a socket through
// the gateway and exchange text frames.
type wsConn struct {
	net.Conn
	br *bufio.Reader
}

// wsDial sends a WebSocket handshake for target and returns the
// connection and response (the connection is nil unless the answer is 101).
func wsDial(t *testing.T, addr, method, target, token string) (*wsConn, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 16)
	rand.Read(key)
	req := method + " " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, req+"\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		io.ReadAll(resp.Body)
		conn.Close()
		return nil, resp
	}
	conn.SetDeadline(time.Time{})
	t.Cleanup(func() { conn.Close() })
	return &wsConn{Conn: conn, br: br}, resp
}

func (c *wsConn) send(t *testing.T, msg string) error {
	t.Helper()
	var f bytes.Buffer
	f.WriteByte(0x81) // FIN, text
	mask := [4]byte{1, 2, 3, 4}
	if len(msg) > 125 {
		t.Fatal("wsConn.send: message too long for this client")
	}
	f.WriteByte(0x80 | byte(len(msg)))
	f.Write(mask[:])
	for i := 0; i < len(msg); i++ {
		f.WriteByte(msg[i] ^ mask[i%4])
	}
	_, err := c.Write(f.Bytes())
	return err
}

func (c *wsConn) recv() (string, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return "", err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(c.br, l[:]); err != nil {
			return "", err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		return "", fmt.Errorf("frame too long")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return "", err
	}
	if h[0]&0x0f == 8 {
		return "", io.EOF // close frame
	}
	return string(p), nil
}

// TestUpgradeWebSocketByRoute: a WebSocket is opened only on routes with
// websocket: true, only as a GET, only under the route's role rule.
func TestUpgradeWebSocketByRoute(t *testing.T) {
	e := newUpgradeEnv(t, nil)
	refused := []struct {
		name, method, target, token string
		status                      int
	}{
		{"no token", "GET", "/ws/feed", "", 401},
		{"route without websocket", "GET", "/reports", e.reader, 400},
		{"public route without websocket", "GET", "/public/feed", "", 400},
		{"reader on a write websocket route", "GET", "/ws/write", e.reader, 403},
		{"POST handshake on a write route", "POST", "/orders/1", e.writer, 400},
		{"reader POST handshake on a write route", "POST", "/orders/1", e.reader, 403},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c, resp := wsDial(t, e.addr, tc.method, tc.target, tc.token)
			if c != nil || resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if seen := hypercornSeen(t, e.up); len(seen) != 0 {
		t.Fatalf("hypercorn saw refused upgrades: %+v", seen)
	}
	for _, tok := range []string{e.reader, e.writer} {
		target := "/ws/feed"
		if tok == e.writer {
			target = "/ws/write"
		}
		c, resp := wsDial(t, e.addr, "GET", target, tok)
		if c == nil {
			t.Fatalf("%s: status %d, want 101", target, resp.StatusCode)
		}
		if err := c.send(t, "hello"); err != nil {
			t.Fatal(err)
		}
		if got, err := c.recv(); err != nil || got != "hello" {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	seen := hypercornSeen(t, e.up)
	if len(seen) != 2 || seen[0].Type != "websocket" || seen[0].header("x-auth-role")[0] != "read" || seen[1].header("x-auth-role")[0] != "write" {
		t.Fatalf("hypercorn saw %+v", seen)
	}
	logs := e.gw.logs.String()
	if !strings.Contains(logs, `"msg":"upgrade"`) {
		t.Errorf("no access log line at the upgrade:\n%s", logs)
	}
}

// TestUpgradeMismatchedSwitch: an upstream that answers 101 naming another
// protocol than the one forwarded, or switching a request that asked for
// no upgrade, gets the client 502 and no switched connection.
func TestUpgradeMismatchedSwitch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
				io.Copy(io.Discard, c)
			}()
		}
	}()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, "http://"+ln.Addr().String())
	cfg.Routes = []gateway.Route{{Prefix: "/", WebSocket: true, Rule: guard.Rule{Public: true}}}
	gw := startGateway(t, cfg)
	addr := strings.TrimPrefix(gw.url, "http://")
	c, resp := wsDial(t, addr, "GET", "/ws", "")
	if c != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("websocket answered with h2c: status %d, want 502", resp.StatusCode)
	}
	st, _, body := rawRequest(t, addr, "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if st != http.StatusBadGateway {
		t.Fatalf("101 to a plain request: status %d, want 502: %s", st, body)
	}
}
