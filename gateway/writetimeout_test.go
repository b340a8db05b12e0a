package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// TestResponseWriteTimeout: a client that asks for a large response and
// stops reading does not hold the upstream handler: once a write has
// blocked for timeouts.write the gateway abandons the response and the
// upstream's request ends.
func TestResponseWriteTimeout(t *testing.T) {
	var ended atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer ended.Add(1)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1024 { // 64 MiB, far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Routes = []gateway.Route{{Prefix: "/", Rule: guard.Rule{Public: true}}}
	cfg.Timeouts.Write = 300 * time.Millisecond
	gw := startGateway(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	// Read nothing more: the client's window stays full.
	testenv.WaitFor(t, 15*time.Second, "the upstream request to end while the client does not read", func() bool {
		return ended.Load() == 1
	})
	testenv.WaitFor(t, 5*time.Second, "the access log line of the abandoned response", func() bool {
		return strings.Contains(gw.logs.String(), `"path":"/big"`)
	})
	_, _ = io.Copy(io.Discard, io.LimitReader(conn, 1))
}
