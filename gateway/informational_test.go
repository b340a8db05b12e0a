package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"

	"github.com/oktafed/oktafed/gateway"
)

// rawUpstream is an HTTP/1.1 upstream that writes its answers byte by
// byte as answer says, for responses no well-behaved server library
// would send. answer gets the request and the connection's writer; it
// returns whether the connection may serve another request.
func rawUpstream(t *testing.T, answer func(r *http.Request, w *bufio.Writer) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveRaw(t, ln, answer)
	return "http://" + ln.Addr().String()
}

// serveRaw serves rawUpstream's answers on ln.
func serveRaw(t *testing.T, ln net.Listener, answer func(r *http.Request, w *bufio.Writer) bool) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br, bw := bufio.NewReader(c), bufio.NewWriter(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, r.Body)
					more := answer(r, bw)
					if bw.Flush() != nil || !more {
						return
					}
				}
			}()
		}
	}()
}

// informed is what a client saw of one request: its informational
// responses (code and headers) and the final status and body.
type informed struct {
	infos  []int
	heads  []textproto.MIMEHeader
	status int
	body   string
}

func getInformed(t *testing.T, client *http.Client, url string) informed {
	t.Helper()
	var got informed
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got.infos = append(got.infos, code)
		got.heads = append(got.heads, h)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", url, nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	got.status, got.body = res.StatusCode, string(b)
	return got
}

// TestInformationalResponsesBounded: an upstream's 1xx responses reach
// the client through an allow-list (Link and Content-Security-Policy, the
// headers of 103 Early Hints) and within a bound: past a few of them, or
// past their header bytes, the gateway stops relaying, stops reading the
// upstream's answer and answers 502, over HTTP/1.1 and HTTP/2. An
// upstream sending 103s without end has its connection closed.
func TestInformationalResponsesBounded(t *testing.T) {
	endless := make(chan error, 4)
	const hint = "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload; as=style\r\nContent-Security-Policy: default-src 'self'\r\n" +
		"X-Internal-Secret: s3cret\r\nConnection: X-Hop\r\nX-Hop: hop\r\nSet-Cookie: session=1\r\n\r\n"
	final := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
	up := rawUpstream(t, func(r *http.Request, w *bufio.Writer) bool {
		switch r.URL.Path {
		case "/few":
			for range 3 {
				w.WriteString(hint)
			}
			w.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		case "/many":
			for range 1000 {
				w.WriteString(hint)
			}
		case "/big":
			fmt.Fprintf(w, "HTTP/1.1 103 Early Hints\r\nLink: <%s>; rel=preload\r\n\r\n", strings.Repeat("a", 20<<10))
		case "/endless":
			for {
				if _, err := w.WriteString(hint); err != nil {
					endless <- err
					return false
				}
				if err := w.Flush(); err != nil {
					endless <- err
					return false
				}
			}
		}
		w.WriteString(final)
		return true
	})
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up)
	cfg.Routes = []gateway.Route{{Prefix: "/", Rule: guard.Rule{Public: true}}}
	gw := startGateway(t, cfg)
	var seenEndless atomic.Int32
	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"HTTP/1.1", &http.Client{Timeout: 20 * time.Second}}, {"HTTP/2", h2cClient()}} {
		t.Run(c.name, func(t *testing.T) {
			got := getInformed(t, c.client, gw.url+"/few")
			if got.status != 200 || got.body != "ok" {
				t.Fatalf("three 103s and a 100, then 200: final %d %q", got.status, got.body)
			}
			if len(got.infos) != 4 || got.infos[0] != 103 || got.infos[3] != 100 {
				t.Fatalf("informational responses relayed: %v, want [103 103 103 100]", got.infos)
			}
			for _, h := range got.heads[:3] {
				if h.Get("Link") != "</app.css>; rel=preload; as=style" || h.Get("Content-Security-Policy") != "default-src 'self'" {
					t.Errorf("103 lost its hints: %v", h)
				}
				for _, name := range []string{"X-Internal-Secret", "X-Hop", "Connection", "Set-Cookie"} {
					if v := h.Get(name); v != "" {
						t.Errorf("103 relayed %s: %q", name, v)
					}
				}
			}

			got = getInformed(t, c.client, gw.url+"/many")
			if got.status != http.StatusBadGateway {
				t.Errorf("1000 103s then 200: final %d, want 502", got.status)
			}
			if len(got.infos) > 5 {
				t.Errorf("%d informational responses relayed, want at most 5", len(got.infos))
			}

			got = getInformed(t, c.client, gw.url+"/big")
			if got.status != http.StatusBadGateway || len(got.infos) != 0 {
				t.Errorf("a 103 with 20 KiB of headers: %d informational relayed, final %d; want none and 502", len(got.infos), got.status)
			}

			got = getInformed(t, c.client, gw.url+"/endless")
			if got.status != http.StatusBadGateway || len(got.infos) > 5 {
				t.Errorf("endless 103s: %d informational relayed, final %d; want at most 5 and 502", len(got.infos), got.status)
			}
			select {
			case <-endless:
				seenEndless.Add(1)
			case <-time.After(20 * time.Second):
				t.Error("the gateway still reads an upstream that sends 103s without end")
			}

			// The connection and the gateway still serve.
			if got := getInformed(t, c.client, gw.url+"/few"); got.status != 200 {
				t.Fatalf("after the bounded requests: %d", got.status)
			}
		})
	}
}
