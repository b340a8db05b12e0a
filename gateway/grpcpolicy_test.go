package gateway_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// recorder is an upstream speaking HTTP/1.1 and h2c that records what it
// receives.
type recorder struct {
	URL  string
	mu   sync.Mutex
	seen []string
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(body))
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	}), Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rec
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// h2cClient speaks HTTP/2 with prior knowledge, as gRPC clients do.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// TestGRPCPolicyFromRoute: a gRPC content type changes nothing unless the
// route goes to an h2c:// upstream AND the request is a gRPC call (HTTP/2
// POST). A reader's DELETE with "Content-Type: application/grpc" is held
// to the read-only rule on the proxy and in ext_authz; on a plain route
// the body timeouts and buffering apply to it like any request.
func TestGRPCPolicyFromRoute(t *testing.T) {
	rec := startRecorder(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, rec.URL)
	routes := []gateway.Route{
		{Prefix: "/grpc/", Upstream: "h2c://" + strings.TrimPrefix(rec.URL, "http://"), Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
		{Prefix: "/public/", Rule: guard.Rule{Public: true}},
		{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
	}
	cfg.Routes = routes
	cfg.Timeouts.BodyIdle = 300 * time.Millisecond
	gw := startGateway(t, cfg)
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	c := h2cClient()
	send := func(t *testing.T, method, path, ct string, body io.Reader) int {
		t.Helper()
		req, _ := http.NewRequest(method, gw.url+path, body)
		req.Header.Set("Authorization", "Bearer "+reader)
		req.Header.Set("Content-Type", ct)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("answered over HTTP/%d", resp.ProtoMajor)
		}
		if g := resp.Header.Get("Grpc-Status"); g != "" && resp.StatusCode == 200 {
			switch g {
			case "7":
				return http.StatusForbidden
			case "16":
				return http.StatusUnauthorized
			}
		}
		return resp.StatusCode
	}
	cases := []struct {
		name, method, path, ct string
		want                   int
	}{
		{"reader DELETE with a gRPC content type on a gRPC route", "DELETE", "/grpc/orders/1", "application/grpc", 403},
		{"reader PUT with a gRPC content type on a gRPC route", "PUT", "/grpc/orders/1", "application/grpc+proto", 403},
		{"reader DELETE with a gRPC content type on a plain route", "DELETE", "/orders/1", "application/grpc", 403},
		{"reader POST with a gRPC content type on a plain route", "POST", "/orders", "application/grpc", 403},
		{"reader POST without a gRPC content type on a gRPC route", "POST", "/grpc/orders", "application/json", 403},
		{"reader gRPC call on a gRPC route", "POST", "/grpc/orders.Orders/Get", "application/grpc", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := send(t, tc.method, tc.path, tc.ct, strings.NewReader("x")); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
	if got := rec.requests(); len(got) != 1 || !strings.HasPrefix(got[0], "POST /grpc/orders.Orders/Get application/grpc") {
		t.Fatalf("the upstream saw %q, want only the gRPC call", got)
	}

	t.Run("a gRPC content type on a public plain route gets the body timeouts", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write([]byte("partial"))
		if got := send(t, "POST", "/public/upload", "application/grpc", pr); got != http.StatusRequestTimeout {
			t.Fatalf("status %d, want 408 once body_idle passed", got)
		}
		if got := rec.requests(); len(got) != 1 {
			t.Fatalf("the stalled request reached the upstream: %q", got)
		}
	})

	t.Run("ext_authz applies the same rule", func(t *testing.T) {
		fcfg := oktaConfig(t, sb, "")
		fcfg.ForwardAuth.Only = true
		fcfg.Routes = routes
		fgw := startGateway(t, fcfg)
		client := extAuthzClient(t, fgw.url)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, m := range []string{"DELETE", "PUT"} {
			resp, err := client.Check(ctx, checkRequest(m, "/grpc/orders/1", map[string]string{"authorization": "Bearer " + reader, "content-type": "application/grpc"}))
			if err != nil {
				t.Fatal(err)
			}
			if codes.Code(resp.GetStatus().GetCode()) != codes.PermissionDenied {
				t.Errorf("%s with a gRPC content type: %v", m, resp.GetStatus())
			}
		}
		resp, err := client.Check(ctx, checkRequest("POST", "/grpc/orders.Orders/Get", map[string]string{"authorization": "Bearer " + reader, "content-type": "application/grpc"}))
		if err != nil || resp.GetOkResponse() == nil {
			t.Fatalf("a reader's gRPC call: %v %v", resp, err)
		}
	})
}
