package gateway_test

// The hostile-client suite: requests a careless or malicious client can
// send, through the gateway, to a real WSGI upstream (Python's wsgiref),
// which merges "_" and "-" header names and percent-decodes paths as
// Flask, Django and every CGI-style server do. Each case asserts what the
// upstream received, or that it received nothing.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// wsgiUpstream is testdata/wsgi_echo.py running on 127.0.0.1.
type wsgiUpstream struct {
	URL  string
	addr string
}

func startWSGI(t testing.TB, args ...string) *wsgiUpstream {
	t.Helper()
	py := testenv.LookPath(t, "/usr/bin/python3", "Debian package python3")
	cmd := exec.Command(py, append([]string{"testdata/wsgi_echo.py"}, args...)...)
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
		t.Fatalf("wsgi upstream did not start: %v\n%s", err, stderr.String())
	}
	addr := "127.0.0.1:" + strings.TrimSpace(line)
	return &wsgiUpstream{URL: "http://" + addr, addr: addr}
}

// seen returns the raw request targets the upstream has received.
func (u *wsgiUpstream) seen(t testing.TB) []string {
	t.Helper()
	resp, err := http.Get(u.URL + "/__seen")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// environ is what the WSGI application saw.
type environ map[string]any

func (e environ) str(k string) string { s, _ := e[k].(string); return s }

// rawRequest sends bytes exactly as given on a fresh connection and reads
// one response: Go's client would normalize what these tests must send.
func rawRequest(t testing.TB, addr, req string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", req, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// hostileEnv is a gateway in front of the WSGI upstream, with a strict
// admin route, a write route, a public route, a slow route and a weak
// catch-all, as a real service would have.
type hostileEnv struct {
	sb                            *sandbox.Server
	up                            *wsgiUpstream
	gw                            *running
	addr                          string
	reader, writer, admin, noRole string
}

func newHostileEnv(t *testing.T) *hostileEnv {
	t.Helper()
	up := startWSGI(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Routes = []gateway.Route{
		{Prefix: "/admin", CaseInsensitive: true, Rule: guard.Rule{Roles: []string{verify.RoleAdmin}}},
		{Prefix: "/orders", Methods: []string{"post", "PUT", "DELETE", "PATCH"}, Rule: guard.Rule{Roles: []string{verify.RoleWrite}}},
		{Prefix: "/public/", Rule: guard.Rule{Public: true}},
		{Prefix: "/hang/", UpstreamTimeout: 500 * time.Millisecond, Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
		{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
	}
	cfg.Timeouts.BodyIdle = 500 * time.Millisecond
	cfg.Timeouts.BodyRead = 1500 * time.Millisecond
	gw := startGateway(t, cfg)
	return &hostileEnv{
		sb: sb, up: up, gw: gw, addr: strings.TrimPrefix(gw.url, "http://"),
		reader: mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil),
		writer: mint(t, sb, []string{"orders.write"}, []string{"developers"}, nil),
		admin:  mint(t, sb, nil, []string{"aws-admins"}, nil),
		noRole: mint(t, sb, nil, []string{"strangers"}, nil),
	}
}

// send makes a raw HTTP/1.1 request with the given request line target,
// extra header lines and body, and decodes the upstream's echo.
func (e *hostileEnv) send(t *testing.T, method, target, token string, headers []string, body string) (int, environ, string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, e.addr)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("Connection: close\r\n\r\n" + body)
	st, _, resp := rawRequest(t, e.addr, b.String())
	var env environ
	if st == 200 && method != "HEAD" {
		if err := json.Unmarshal([]byte(resp), &env); err != nil {
			t.Fatalf("upstream answer is not JSON: %q", resp)
		}
	}
	return st, env, resp
}

func TestHostileClientIdentityHeaders(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t)
	cases := []struct {
		name    string
		path    string
		token   string
		headers []string
		want    map[string]string // upstream environ; "" means absent
	}{
		{
			"Connection cannot remove identity headers",
			"/x", e.reader, []string{"Connection: X-Auth-User, X-Auth-Role, X-Auth-Groups"},
			map[string]string{"HTTP_X_AUTH_USER": "alice@example.com", "HTTP_X_AUTH_ROLE": "read", "HTTP_X_AUTH_GROUPS": "readers"},
		},
		{
			"Connection close plus identity names",
			"/x", e.reader, []string{"Connection: close, X-Auth-User, X-Auth-Role, X-Auth-Subject"},
			map[string]string{"HTTP_X_AUTH_USER": "alice@example.com", "HTTP_X_AUTH_ROLE": "read", "HTTP_X_AUTH_SUBJECT": "alice@example.com"},
		},
		{
			"underscore spellings are not merged by the upstream",
			"/x", e.reader, []string{"X_Auth_User: root", "X_Auth_Role: admin", "X-Auth_Groups: aws-admins", "x_auth_roles: admin"},
			map[string]string{"HTTP_X_AUTH_USER": "alice@example.com", "HTTP_X_AUTH_ROLE": "read", "HTTP_X_AUTH_GROUPS": "readers", "HTTP_X_AUTH_ROLES": "read"},
		},
		{
			"underscore spellings in Connection and as headers at once",
			"/x", e.reader, []string{"Connection: X-Auth-Role", "X_AUTH_ROLE: admin"},
			map[string]string{"HTTP_X_AUTH_ROLE": "read"},
		},
		{
			"identity on a public route is removed, not passed",
			"/public/x", "", []string{"X-Auth-User: root", "X_Auth_User: root", "X_AUTH_ROLE: admin"},
			map[string]string{"HTTP_X_AUTH_USER": "", "HTTP_X_AUTH_ROLE": ""},
		},
		{
			"forwarding headers cannot be spoofed in any spelling",
			"/x", e.reader, []string{"X-Forwarded-For: 10.6.6.6", "X_Forwarded_For: 10.6.6.6", "X_Real_IP: 10.6.6.6", "Forwarded: for=10.6.6.6"},
			map[string]string{"HTTP_X_FORWARDED_FOR": "127.0.0.1", "HTTP_X_REAL_IP": "", "HTTP_FORWARDED": ""},
		},
		{
			"access_token is removed from the query",
			"/x?a=1&access_token=LEAKED&b=2&ACCESS%5FTOKEN=LEAKED", e.reader, nil,
			map[string]string{"QUERY_STRING": "a=1&b=2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, env, body := e.send(t, "GET", tc.path, tc.token, tc.headers, "")
			if st != 200 {
				t.Fatalf("status %d: %s", st, body)
			}
			for k, want := range tc.want {
				_, present := env[k]
				if got := env.str(k); got != want || (want == "" && present) {
					t.Errorf("upstream saw %s = %q (present %v), want %q", k, got, present, want)
				}
			}
			if strings.Contains(body, "LEAKED") || strings.Contains(body, "root") || strings.Contains(body, "10.6.6.6") {
				t.Errorf("a client value reached the upstream: %s", body)
			}
		})
	}

	t.Run("access_token is removed from form bodies", func(t *testing.T) {
		st, env, body := e.send(t, "POST", "/orders", e.writer, []string{"Content-Type: application/x-www-form-urlencoded"}, "item=42&access_token=LEAKED&qty=1")
		if st != 200 || env.str("BODY") != "item=42&qty=1" || env.str("REQUEST_METHOD") != "POST" {
			t.Fatalf("status %d, upstream body %q: %s", st, env.str("BODY"), body)
		}
		if env.str("HTTP_X_AUTH_ROLE") != "write" {
			t.Errorf("role %q", env.str("HTTP_X_AUTH_ROLE"))
		}
	})
	t.Run("a JSON body is passed untouched", func(t *testing.T) {
		st, env, _ := e.send(t, "POST", "/orders", e.writer, []string{"Content-Type: application/json"}, `{"access_token":"kept"}`)
		if st != 200 || env.str("BODY") != `{"access_token":"kept"}` {
			t.Fatalf("status %d, body %q", st, env.str("BODY"))
		}
	})
	t.Run("access_token in the query does not authenticate", func(t *testing.T) {
		before := len(e.up.seen(t))
		st, _, _ := e.send(t, "GET", "/x?access_token="+e.reader, "", nil, "")
		if st != 401 || len(e.up.seen(t)) != before {
			t.Fatalf("status %d; the upstream was reached: %v", st, len(e.up.seen(t)) != before)
		}
	})
	t.Run("the same rules over HTTP/2 (h2c)", func(t *testing.T) {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
		get := func(path string, hdr map[string]string) (*http.Response, environ) {
			req, _ := http.NewRequest("GET", e.gw.url+path, nil)
			req.Header.Set("Authorization", "Bearer "+e.reader)
			for k, v := range hdr {
				req.Header[k] = []string{v}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env environ
			json.NewDecoder(resp.Body).Decode(&env)
			return resp, env
		}
		resp, env := get("/x?access_token=LEAKED", map[string]string{"X_Auth_User": "root", "X_Auth_Role": "admin"})
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
		}
		if env.str("HTTP_X_AUTH_USER") != "alice@example.com" || env.str("HTTP_X_AUTH_ROLE") != "read" || env.str("QUERY_STRING") != "" {
			t.Errorf("upstream saw %v", env)
		}
		before := len(e.up.seen(t))
		for _, p := range []string{"/admin;x", "/admin.", "/public/%2e%2e/admin"} {
			if resp, _ := get(p, nil); resp.StatusCode != 400 {
				t.Errorf("%s over HTTP/2: %d, want 400", p, resp.StatusCode)
			}
		}
		if len(e.up.seen(t)) != before {
			t.Error("a refused HTTP/2 request reached the upstream")
		}
	})
	t.Run("Basic credentials get 401 with a Bearer challenge", func(t *testing.T) {
		st, h, _ := rawRequest(t, e.addr, "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2U6cHc=\r\nConnection: close\r\n\r\n")
		if st != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("status %d, challenge %q", st, h.Get("WWW-Authenticate"))
		}
	})
}

func TestHostileClientMethodsAndPaths(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t)
	cases := []struct {
		name, method, target, token string
		want                        int
		path                        string // PATH_INFO the upstream must see on 200
	}{
		// Methods: only the canonical upper-case form is routed.
		{"lower-case delete is refused", "delete", "/orders/1", e.reader, 400, ""},
		{"mixed-case delete is refused", "Delete", "/orders/1", e.writer, 400, ""},
		{"lower-case post is refused", "post", "/orders", e.writer, 400, ""},
		{"DELETE needs the write role", "DELETE", "/orders/1", e.reader, 403, ""},
		{"writer deletes", "DELETE", "/orders/1", e.writer, 200, "/orders/1"},
		{"route methods are canonical (post in config)", "POST", "/orders", e.writer, 200, "/orders"},
		{"a reader cannot POST through a read catch-all", "POST", "/orders-archive", e.reader, 403, ""},
		{"a reader cannot DELETE through a read catch-all", "DELETE", "/x", e.reader, 403, ""},
		{"a reader cannot PATCH through a read catch-all", "PATCH", "/x", e.reader, 403, ""},
		{"a reader may HEAD", "HEAD", "/x", e.reader, 200, ""},
		{"a writer may POST through a read catch-all", "POST", "/x", e.writer, 200, "/x"},
		{"a token without a role is refused", "GET", "/x", e.noRole, 403, ""},

		// Paths: the examples, each of which reached the upstream
		// under the weaker catch-all or with no token at all.
		{"path parameter", "GET", "/admin;x", e.reader, 400, ""},
		{"trailing dot", "GET", "/admin.", e.reader, 400, ""},
		{"upper case reaches the admin rule", "GET", "/Admin", e.reader, 403, ""},
		{"upper case is forwarded as sent to an admin", "GET", "/ADMIN/users", e.admin, 200, "/ADMIN/users"},
		{"encoded trailing space", "GET", "/admin%20", e.reader, 400, ""},
		{"encoded NUL", "GET", "/admin%00", e.reader, 400, ""},
		{"backslash traversal", "GET", `/public\..\admin`, "", 400, ""},
		{"semicolon traversal without a token", "GET", "/public/..;/admin", "", 400, ""},
		{"dot segments", "GET", "/public/../admin", "", 400, ""},
		{"encoded dot segments", "GET", "/public/%2e%2e/admin", "", 400, ""},
		{"encoded slash", "GET", "/public%2f..%2fadmin", "", 400, ""},
		{"encoded backslash", "GET", "/public/%5c../admin", "", 400, ""},
		{"double encoding", "GET", "/public/%252e%252e/admin", "", 400, ""},
		{"overlong UTF-8 dot", "GET", "/public/%c0%ae%c0%ae/admin", "", 400, ""},
		{"empty segment", "GET", "/public//admin", "", 400, ""},
		{"control byte", "GET", "/admin%09", e.reader, 400, ""},
		{"trailing space in a segment", "GET", "/admin%20/users", e.reader, 400, ""},
		{"trailing dot in a segment", "GET", "/admin./users", e.reader, 400, ""},

		// What is accepted is forwarded in its one canonical form.
		{"percent-encoded letters are decoded once", "GET", "/x/%61dmin", e.reader, 200, "/x/admin"},
		// PEP 3333: PATH_INFO holds the path's bytes read as latin-1.
		{"UTF-8 survives", "GET", "/x/caf%C3%A9", e.reader, 200, "/x/caf\u00c3\u00a9"},
		{"public route", "GET", "/public/status", "", 200, "/public/status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.up.seen(t))
			st, env, body := e.send(t, tc.method, tc.target, tc.token, nil, "")
			if st != tc.want {
				t.Fatalf("status %d, want %d: %s", st, tc.want, body)
			}
			seen := e.up.seen(t)
			if tc.want != 200 {
				if len(seen) != before {
					t.Fatalf("a refused request reached the upstream as %q", seen[before:])
				}
				return
			}
			if len(seen) != before+1 {
				t.Fatalf("upstream saw %d requests, want 1", len(seen)-before)
			}
			if tc.method == "HEAD" {
				return
			}
			if env.str("REQUEST_METHOD") != tc.method || env.str("PATH_INFO") != tc.path {
				t.Errorf("upstream saw %s %q (raw %q), want %s %q", env.str("REQUEST_METHOD"), env.str("PATH_INFO"), env.str("RAW_TARGET"), tc.method, tc.path)
			}
		})
	}
}

func TestHostileClientDefaultPolicy(t *testing.T) {
	t.Parallel()
	up := startWSGI(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	strict := startGateway(t, oktaConfig(t, sb, up.URL)) // environment only: no routes
	relaxedCfg := oktaConfig(t, sb, up.URL)
	relaxedCfg.AllowNoRole = true
	relaxed := startGateway(t, relaxedCfg)

	reader := mint(t, sb, nil, []string{"readers"}, nil)
	writer := mint(t, sb, nil, []string{"developers"}, nil)
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	noRole := mint(t, sb, nil, []string{"strangers"}, nil)
	cases := []struct {
		gw            *running
		method, token string
		want          int
	}{
		{strict, "GET", reader, 200}, {strict, "HEAD", reader, 200}, {strict, "OPTIONS", reader, 200},
		{strict, "POST", reader, 403}, {strict, "PUT", reader, 403}, {strict, "DELETE", reader, 403}, {strict, "PATCH", reader, 403},
		{strict, "POST", writer, 200}, {strict, "DELETE", writer, 200},
		{strict, "DELETE", admin, 200},
		{strict, "GET", noRole, 403}, {strict, "POST", noRole, 403},
		{relaxed, "GET", noRole, 200}, {relaxed, "POST", noRole, 403}, {relaxed, "POST", writer, 200},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s by %s", tc.method, map[string]string{reader: "reader", writer: "writer", admin: "admin", noRole: "no role"}[tc.token])
		if tc.gw == relaxed {
			name += " with ALLOW_NO_ROLE"
		}
		t.Run(name, func(t *testing.T) {
			before := len(up.seen(t))
			st, _, m := do(t, tc.method, tc.gw.url+"/orders/1", tc.token, map[string]string{"X_Auth_Role": "admin"})
			if st != tc.want {
				t.Fatalf("status %d, want %d (%v)", st, tc.want, m)
			}
			if reached := len(up.seen(t)) != before; reached != (tc.want == 200) {
				t.Fatalf("upstream reached: %v", reached)
			}
		})
	}
	t.Run("the admin endpoint needs admin", func(t *testing.T) {
		if st := revoke(t, strict.url, writer, map[string][]string{"jti": {"AT.x"}}); st != 403 {
			t.Fatalf("writer revoking: %d", st)
		}
		if st := revoke(t, strict.url, admin, map[string][]string{"jti": {"AT.x"}}); st != 200 {
			t.Fatalf("admin revoking: %d", st)
		}
	})
}

// The bounds on how long an answer took tell the configured timeouts
// (0.5s, 1.5s) from the 30s defaults, with room for a loaded machine.
const beforeDefaults = 15 * time.Second

func TestHostileClientTimeoutsAndAborts(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t)
	t.Run("hung upstream gets 504 after the route's timeout", func(t *testing.T) {
		start := time.Now()
		st, _, body := e.send(t, "GET", "/hang/x", e.reader, nil, "")
		if st != 504 || time.Since(start) > beforeDefaults {
			t.Fatalf("status %d after %v: %s", st, time.Since(start), body)
		}
	})
	t.Run("stalled body gets 408 and does not hold the connection", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":", e.writer)
		conn.SetDeadline(time.Now().Add(2 * beforeDefaults))
		start := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a stalled body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 408 || time.Since(start) > beforeDefaults {
			t.Fatalf("status %d after %v", resp.StatusCode, time.Since(start))
		}
	})
	t.Run("trickled body gets 408 once the body read timeout passes", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", e.writer)
		start := time.Now()
		answered := make(chan *http.Response, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				answered <- nil
				return
			}
			resp.Body.Close()
			answered <- resp
		}()
		tick := time.NewTicker(200 * time.Millisecond) // within body_idle every time
		defer tick.Stop()
		for {
			select {
			case resp := <-answered:
				if resp == nil || resp.StatusCode != 408 {
					t.Fatalf("answer %v", resp)
				}
				if d := time.Since(start); d < time.Second || d > beforeDefaults {
					t.Fatalf("408 after %v; body_read is 1.5s", d)
				}
				return
			case <-tick.C:
				conn.Write([]byte(" "))
				if time.Since(start) > 2*beforeDefaults {
					t.Fatalf("a trickled body held the connection for %v", 2*beforeDefaults)
				}
			}
		}
	})
	t.Run("a client that aborts is counted as 499, not as an upstream failure", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.gw.url+"/hang/abort", nil)
		req.Header.Set("Authorization", "Bearer "+e.reader)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the request was answered: %d", resp.StatusCode)
		}
		testenv.WaitFor(t, 5*time.Second, "the 499 in the access log", func() bool {
			return strings.Contains(e.gw.logs.String(), `"path":"/hang/abort","proto":"HTTP/1.1","route":"/hang/","status":499`)
		})
		if strings.Contains(e.gw.logs.String(), "check that the upstream is running") {
			t.Error("a client abort was logged as an upstream failure")
		}
		_, _, m := do(t, "GET", e.gw.admin+"/metrics", "", nil)
		if !strings.Contains(m["_body"], `oktafed_gateway_requests_total{code="499",route="/hang/"} 1`) {
			t.Error("metrics do not count the 499")
		}
	})
}
