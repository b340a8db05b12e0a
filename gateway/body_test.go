package gateway_test

// Request bodies are read whole by the gateway before the upstream is
// contacted (unless the route streams): a client trickling its body holds
// a gateway goroutine, not an upstream worker, and a malformed or short
// body never reaches the upstream.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

func newBodyEnv(t *testing.T, oneWorker bool, tweak func(*gateway.Config)) *hostileEnv {
	t.Helper()
	var up *wsgiUpstream
	if oneWorker {
		up = startWSGI(t, "--one-worker")
	} else {
		up = startWSGI(t)
	}
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Routes = []gateway.Route{
		{Prefix: "/stream", StreamBody: true, Rule: guard.Rule{Roles: []string{verify.RoleWrite}}},
		{Prefix: "/big", MaxBodyBytes: 64 << 10, Rule: guard.Rule{Roles: []string{verify.RoleWrite}}},
		{Prefix: "/public/", Rule: guard.Rule{Public: true}},
		{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
	}
	cfg.MaxBodyBytes = 1024
	cfg.Timeouts.Upstream = 3 * time.Second
	cfg.Timeouts.BodyIdle = 30 * time.Second
	cfg.Timeouts.BodyRead = time.Minute
	if tweak != nil {
		tweak(&cfg)
	}
	gw := startGateway(t, cfg)
	return &hostileEnv{
		sb: sb, up: up, gw: gw, addr: strings.TrimPrefix(gw.url, "http://"),
		reader: mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil),
		writer: mint(t, sb, []string{"orders.write"}, []string{"developers"}, nil),
	}
}

// TestBodyTrickleDoesNotHoldOneWorkerUpstream: against an upstream that
// serves one request at a time (wsgiref without threads), a client that
// has sent half its body does not keep other clients from being served;
// on a route that streams bodies (stream_body: true) it does, which is why
// streaming is a per-route choice.
func TestBodyTrickleDoesNotHoldOneWorkerUpstream(t *testing.T) {
	e := newBodyEnv(t, true, nil)
	trickle := func(t *testing.T, path string) (finish func() (int, string)) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello", path, e.writer)
		return func() (int, string) {
			io.WriteString(conn, "world")
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
	}
	t.Run("buffered route", func(t *testing.T) {
		finish := trickle(t, "/orders/1")
		for i := range 3 {
			st, env, body := e.send(t, "GET", fmt.Sprintf("/x/%d", i), e.reader, nil, "")
			if st != 200 || env.str("PATH_INFO") != fmt.Sprintf("/x/%d", i) {
				t.Fatalf("another client while one trickles: status %d: %s", st, body)
			}
		}
		st, body := finish()
		if st != 200 || !strings.Contains(body, `"BODY": "helloworld"`) {
			t.Fatalf("the trickled request: status %d: %s", st, body)
		}
	})
	t.Run("streaming route holds the worker", func(t *testing.T) {
		finish := trickle(t, "/stream/1")
		// The upstream's one worker now waits for the streamed body:
		// another client's request times out at the upstream timeout.
		st, _, body := e.send(t, "GET", "/x/blocked", e.reader, nil, "")
		if st != http.StatusGatewayTimeout {
			t.Errorf("another client behind a streamed trickle: status %d, want 504: %s", st, body)
		}
		if st, body := finish(); st != 200 {
			t.Fatalf("the streamed request: status %d: %s", st, body)
		}
	})
}

// TestBodyMalformedNeverReachesUpstream: bad chunk sizes, bodies shorter
// than their Content-Length (HTTP/1.1 and HTTP/2) and bodies over the
// route's limit are answered 400 or 413, and the upstream sees nothing.
func TestBodyMalformedNeverReachesUpstream(t *testing.T) {
	e := newBodyEnv(t, false, nil)
	head := func(path string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + e.writer + "\r\nContent-Type: application/json\r\n"
	}
	cases := []struct {
		name, req string
		status    int
	}{
		{"chunk size zz", head("/x") + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size 0x5", head("/x") + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400},
		{"overflowing chunk size", head("/x") + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400},
		{"chunked past max_body_bytes", head("/x") + "Transfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("a", 0x800) + "\r\n0\r\n\r\n", 413},
		{"Content-Length past max_body_bytes", head("/x") + "Content-Length: 4096\r\n\r\n" + strings.Repeat("a", 4096), 413},
		{"Content-Length past the route's own limit", head("/big") + fmt.Sprintf("Content-Length: %d\r\n\r\n", 65<<10) + strings.Repeat("a", 65<<10), 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body := rawRequest(t, e.addr, tc.req)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, body)
			}
		})
	}
	t.Run("HTTP/1.1 body shorter than Content-Length", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, head("/x")+"Content-Length: 10\r\n\r\nhello")
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil && resp.StatusCode != 400 {
			t.Fatalf("status %d, want 400 or no answer", resp.StatusCode)
		}
	})
	t.Run("HTTP/2 body shorter than content-length", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(conn, http2.ClientPreface)
		fr := http2.NewFramer(conn, conn)
		fr.WriteSettings()
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/x"},
			{"authorization", "Bearer " + e.writer}, {"content-type", "application/json"}, {"content-length", "10"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
		fr.WriteData(1, true, []byte("hello"))
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("no answer on stream 1: %v", err)
			}
			if h, ok := f.(*http2.HeadersFrame); ok && h.StreamID == 1 {
				fields, _ := hpack.NewDecoder(4096, nil).DecodeFull(h.HeaderBlockFragment())
				if len(fields) == 0 || fields[0].Value != "400" {
					t.Fatalf("answer %v, want :status 400", fields)
				}
				break
			}
			if r, ok := f.(*http2.RSTStreamFrame); ok && r.StreamID == 1 {
				break // the server refused the stream itself
			}
		}
	})
	if seen := e.up.seen(t); len(seen) != 0 {
		t.Fatalf("the upstream received refused requests: %q", seen)
	}
	st, env, body := e.send(t, "POST", "/big", e.writer, []string{"Content-Type: application/x-www-form-urlencoded"}, "a=1&access_token=LEAKED&"+strings.Repeat("b", 2000))
	if st != 200 || strings.Contains(body, "LEAKED") || !strings.HasPrefix(env.str("BODY"), "a=1&bbb") {
		t.Fatalf("a form under the route's limit: status %d: %.200s", st, body)
	}
}
