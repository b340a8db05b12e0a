package gateway_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"

	"github.com/oktafed/oktafed/gateway"
)

// h2Conn opens an HTTP/2 connection to the gateway (h2c with prior
// knowledge, or TLS with ALPN h2) and sends the preface and SETTINGS.
func h2Conn(t *testing.T, url string, tlsOn bool) (net.Conn, *http2.Framer) {
	t.Helper()
	addr := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
	var conn net.Conn
	var err error
	if tlsOn {
		conn, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err == nil && conn.(*tls.Conn).ConnectionState().NegotiatedProtocol != "h2" {
			t.Fatal("the gateway did not negotiate h2")
		}
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return conn, fr
}

func requestBlock(path string, pad int) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if pad > 0 {
		enc.WriteField(hpack.HeaderField{Name: "x-pad", Value: strings.Repeat("a", pad)})
	}
	return b.Bytes()
}

// TestHTTP2HeaderBlockBoundedByReadHeader: an HTTP/2 header block left
// unfinished (HEADERS without END_HEADERS and no CONTINUATION, or
// CONTINUATION frames trickled, or the block's end withheld while the
// client answers the server's PING) ends the connection soon after
// timeouts.read_header, over h2c and over TLS, instead of holding it until
// the idle timeout (90s here). An idle connection whose client answers
// PINGs stays open and serves its next request. The upper bound waited
// for is generous: the test waits for the connection to end.
func TestHTTP2HeaderBlockBoundedByReadHeader(t *testing.T) {
	rec := startRecorder(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	const readHeader = time.Second
	const bound = 20 * time.Second // well before the 90s idle timeout
	for _, tlsOn := range []bool{false, true} {
		cfg := oktaConfig(t, sb, rec.URL)
		cfg.Routes = []gateway.Route{{Prefix: "/", Rule: guard.Rule{Public: true}}}
		cfg.Timeouts.ReadHeader = readHeader
		cfg.Timeouts.Idle = 90 * time.Second
		name := "h2c"
		if tlsOn {
			name = "tls"
			cfg.TLS.CertFile, cfg.TLS.KeyFile, _ = selfSigned(t)
		}
		gw := startGateway(t, cfg)

		// ended reads frames until GOAWAY or the connection ends,
		// answering PINGs when ack says so, and fails past bound.
		ended := func(t *testing.T, conn net.Conn, fr *http2.Framer, during func(), ack bool) {
			t.Helper()
			start := time.Now()
			conn.SetReadDeadline(start.Add(bound))
			stop := make(chan struct{})
			defer close(stop)
			if during != nil {
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Millisecond):
							during()
						}
					}
				}()
			}
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatalf("the connection was still open %v after an unfinished header block (read_header %v)", bound, readHeader)
					}
					return // EOF or reset: closed
				}
				switch f := f.(type) {
				case *http2.GoAwayFrame:
					t.Logf("GOAWAY %v after %v", f.ErrCode, time.Since(start).Round(time.Millisecond))
					return
				case *http2.PingFrame:
					if ack && !f.IsAck() {
						fr.WritePing(true, f.Data)
					}
				}
			}
		}

		t.Run(name+"/no continuation", func(t *testing.T) {
			conn, fr := h2Conn(t, gw.url, tlsOn)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/stalled", 0), EndStream: true})
			ended(t, conn, fr, nil, false)
		})
		t.Run(name+"/trickled continuation", func(t *testing.T) {
			conn, fr := h2Conn(t, gw.url, tlsOn)
			block := requestBlock("/trickled", 8000)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:8], EndStream: true})
			next := 8
			ended(t, conn, fr, func() {
				if next < len(block)-1 {
					fr.WriteContinuation(1, false, block[next:next+1])
					next++
				}
			}, false)
		})
		t.Run(name+"/pings answered", func(t *testing.T) {
			conn, fr := h2Conn(t, gw.url, tlsOn)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/pinged", 0), EndStream: true})
			ended(t, conn, fr, nil, true)
		})
		t.Run(name+"/idle connection answering pings stays", func(t *testing.T) {
			conn, fr := h2Conn(t, gw.url, tlsOn)
			conn.SetReadDeadline(time.Now().Add(bound))
			dec := hpack.NewDecoder(4096, nil) // one per connection: the table spans responses
			status := func(id uint32) string {
				t.Helper()
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						t.Fatalf("stream %d: %v", id, err)
					}
					switch f := f.(type) {
					case *http2.HeadersFrame:
						fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
						if f.StreamID == id {
							for _, h := range fields {
								if h.Name == ":status" {
									return h.Value
								}
							}
						}
					case *http2.PingFrame:
						if !f.IsAck() {
							fr.WritePing(true, f.Data)
						}
					case *http2.GoAwayFrame:
						t.Fatalf("GOAWAY %v on an idle connection whose client answers PINGs", f.ErrCode)
					}
				}
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/first", 0), EndStream: true, EndHeaders: true})
			if st := status(1); st != "200" {
				t.Fatalf("first request: %s", st)
			}
			// Wait for the server's PING on the idle connection and
			// answer it; then the connection still serves requests.
			for pinged := false; !pinged; {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("waiting for the idle connection's PING: %v", err)
				}
				switch f := f.(type) {
				case *http2.PingFrame:
					if !f.IsAck() {
						fr.WritePing(true, f.Data)
						pinged = true
					}
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v on an idle connection", f.ErrCode)
				}
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: requestBlock("/second", 0), EndStream: true, EndHeaders: true})
			if st := status(3); st != "200" {
				t.Fatalf("second request after a PING: %s", st)
			}
		})
	}
	for _, r := range rec.requests() {
		if !strings.HasPrefix(r, "GET /first ") && !strings.HasPrefix(r, "GET /second ") {
			t.Errorf("the upstream received %q from an unfinished header block", r)
		}
	}
}
