package gateway_test

import (
	"bytes"
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

// h2Request sends one HTTP/2 request on a fresh h2c connection, its header
// block as given (already HPACK-encoded), and returns the :status of the
// answer, or "" when the server reset the stream or the connection.
func h2Request(t *testing.T, addr string, block []byte) (status string, wire int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var out bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, nil)
	fr.WriteSettings()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
	wire = out.Len()
	conn.Write(out.Bytes())
	rd := http2.NewFramer(nil, conn)
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			return "", wire
		}
		switch f := f.(type) {
		case *http2.HeadersFrame:
			if f.StreamID == 1 {
				fields, _ := hpack.NewDecoder(4096, nil).DecodeFull(f.HeaderBlockFragment())
				for _, h := range fields {
					if h.Name == ":status" {
						return h.Value, wire
					}
				}
			}
		case *http2.RSTStreamFrame:
			return "", wire
		case *http2.GoAwayFrame:
			return "", wire
		}
	}
}

// TestHPACKAmplificationBounded: an HTTP/2 request of a few kilobytes on
// the wire whose header block decodes to a megabyte (one large header
// stored in the HPACK dynamic table, then referenced again and again) is
// refused; the upstream receives nothing of it. The same request with a
// few references passes.
func TestHPACKAmplificationBounded(t *testing.T) {
	rec := startRecorder(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, rec.URL)
	cfg.Routes = []gateway.Route{{Prefix: "/", Rule: guard.Rule{Public: true}}}
	gw := startGateway(t, cfg)
	addr := strings.TrimPrefix(gw.url, "http://")
	block := func(refs int) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/amplified"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		// The encoder indexes the field on first use and sends one-byte
		// references to the table afterwards.
		big := hpack.HeaderField{Name: "x-pad", Value: strings.Repeat("a", 4000)}
		for range refs {
			enc.WriteField(big)
		}
		return b.Bytes()
	}
	st, wire := h2Request(t, addr, block(256))
	if st == "200" {
		t.Fatalf("a %d-byte request decoding to ~1 MB was proxied", wire)
	}
	if st != "" && st != "431" {
		t.Errorf("status %s, want 431 or a reset", st)
	}
	if wire > 8<<10 {
		t.Fatalf("the attack request is %d bytes on the wire: the test no longer amplifies", wire)
	}
	if got := rec.requests(); len(got) != 0 {
		t.Fatalf("the upstream received %d amplified requests", len(got))
	}
	if st, _ := h2Request(t, addr, block(4)); st != "200" {
		t.Fatalf("a 16 KB header block: status %q, want 200", st)
	}
	if got := rec.requests(); len(got) != 1 {
		t.Fatalf("the upstream saw %d requests, want 1", len(got))
	}
}
