package gateway_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"

	"github.com/oktafed/oktafed/gateway"
)

// TestUpstreamConnectionNamedHeadersNeverLeak: a header the upstream
// names in its Connection header is hop-by-hop and never reaches the
// client, whatever else Connection says. Go's transport drops the whole
// Connection header of an HTTP/1.1 response that says "close", so without
// the gateway's own reading of the response head "Connection: close,
// X-Secret" let X-Secret through. Each case is answered by a raw upstream,
// over plain TCP and over TLS (HTTP/1.1); an https upstream that speaks
// HTTP/2 is still reached over HTTP/2.
func TestUpstreamConnectionNamedHeadersNeverLeak(t *testing.T) {
	const final = "Content-Type: text/plain\r\nX-Kept: kept\r\nContent-Length: 2\r\n\r\nok"
	heads := map[string]string{
		"/close-first":     "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s3cret\r\n" + final,
		"/close-last":      "HTTP/1.1 200 OK\r\nX-Secret: s3cret\r\nconnection: X-Secret , close\r\n" + final,
		"/two-lines":       "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Secret: s3cret\r\nCONNECTION: x-secret\r\n" + final,
		"/folded":          "HTTP/1.1 200 OK\r\nConnection: close,\r\n X-Secret\r\nX-Secret: s3cret\r\n" + final,
		"/bare-lf":         "HTTP/1.1 200 OK\nConnection: close, X-Secret\nX-Secret: s3cret\nX-Kept: kept\nContent-Length: 2\n\nok",
		"/keep-alive":      "HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: s3cret\r\n" + final,
		"/after-103":       "HTTP/1.1 103 Early Hints\r\nConnection: X-Early\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s3cret\r\nX-Early: early\r\n" + final,
		"/body-lookalike":  "HTTP/1.1 200 OK\r\nContent-Length: 46\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close, X-Kept\r\n\r\n",
		"/after-body":      "HTTP/1.1 200 OK\r\nConnection: close\r\n" + final,
		"/close-lookalike": "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Kept: kept\r\nContent-Length: 46\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close, X-Kept\r\n\r\n",
		"/long":            "HTTP/1.1 200 OK\r\nConnection: close, X-Secret, " + strings.Repeat("X-Pad-", 4000) + "\r\nX-Secret: s3cret\r\n" + final,
	}
	answer := func(r *http.Request, w *bufio.Writer) bool {
		h, ok := heads[strings.TrimPrefix(r.URL.Path, "/tls")]
		if !ok {
			h = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
		}
		w.WriteString(h)
		return !strings.Contains(strings.ToLower(h), "close")
	}
	up := rawUpstream(t, answer)

	certFile, keyFile, _ := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	serveRaw(t, tln, answer)
	h2up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s", r.Proto)
	}))
	h2up.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	h2up.EnableHTTP2 = true
	h2up.StartTLS()
	t.Cleanup(h2up.Close)

	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up)
	cfg.UpstreamCAFile = certFile
	cfg.Routes = []gateway.Route{
		{Prefix: "/tls/", Upstream: "https://" + tln.Addr().String(), Rule: guard.Rule{Public: true}},
		{Prefix: "/h2/", Upstream: h2up.URL, Rule: guard.Rule{Public: true}},
		{Prefix: "/", Rule: guard.Rule{Public: true}},
	}
	gw := startGateway(t, cfg)
	client := &http.Client{Timeout: 20 * time.Second}
	get := func(path string) *http.Response {
		t.Helper()
		res, err := client.Get(gw.url + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		res.Header.Set("X-Test-Body", string(b))
		return res
	}
	for _, prefix := range []string{"", "/tls"} {
		for _, path := range []string{"/close-first", "/close-last", "/two-lines", "/folded", "/bare-lf", "/keep-alive", "/after-103"} {
			res := get(prefix + path)
			if res.StatusCode != 200 || res.Header.Get("X-Test-Body") != "ok" {
				t.Errorf("%s%s: %d %q", prefix, path, res.StatusCode, res.Header.Get("X-Test-Body"))
				continue
			}
			if v := res.Header.Get("X-Secret"); v != "" {
				t.Errorf("%s%s: X-Secret, named in the upstream's Connection, reached the client: %q", prefix, path, v)
			}
			if res.Header.Get("X-Kept") != "kept" {
				t.Errorf("%s%s: X-Kept, not named, was removed", prefix, path)
			}
			if path == "/after-103" && res.Header.Get("X-Early") != "early" {
				t.Errorf("%s%s: X-Early, named only by the 103's Connection, was removed from the final response", prefix, path)
			}
		}
		// A keep-alive response whose body looks like a head, then a
		// close response on the same connection: the body's lines are
		// not read as the next response's Connection header.
		if res := get(prefix + "/body-lookalike"); res.StatusCode != 200 {
			t.Fatalf("%s/body-lookalike: %d", prefix, res.StatusCode)
		}
		if res := get(prefix + "/after-body"); res.StatusCode != 200 || res.Header.Get("X-Kept") != "kept" {
			t.Errorf("%s/after-body: %d, X-Kept %q: a body was read as a head", prefix, res.StatusCode, res.Header.Get("X-Kept"))
		}
		if res := get(prefix + "/close-lookalike"); res.StatusCode != 200 || res.Header.Get("X-Kept") != "kept" {
			t.Errorf("%s/close-lookalike: %d, X-Kept %q: the body of a close response was read as its head", prefix, res.StatusCode, res.Header.Get("X-Kept"))
		}
		// A Connection line too long to note whole is refused, never
		// passed with what it named.
		if res := get(prefix + "/long"); res.StatusCode != http.StatusBadGateway || res.Header.Get("X-Secret") != "" {
			t.Errorf("%s/long: %d, X-Secret %q; want 502 and no X-Secret", prefix, res.StatusCode, res.Header.Get("X-Secret"))
		}
	}
	if res := get("/h2/x"); res.StatusCode != 200 || res.Header.Get("X-Test-Body") != "HTTP/2.0" {
		t.Errorf("https upstream speaking HTTP/2: %d %q", res.StatusCode, res.Header.Get("X-Test-Body"))
	}
}
