package gateway_test

// Forward-auth end to end: Debian's nginx with auth_request (running
// the README's configuration as written: readme_snippets_test.go) in front of the
// WSGI upstream of the hostile-client suite, oktafed answering only the
// decisions. The hostile cases of the proxy are rerun through nginx,
// asserting what the upstream received or that it received nothing.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// hostileRoutes are the hostile suite's routes without the upstream-only
// ones.
func hostileRoutes() []gateway.Route {
	return []gateway.Route{
		{Prefix: "/admin", CaseInsensitive: true, Rule: guard.Rule{Roles: []string{verify.RoleAdmin}}},
		{Prefix: "/orders", Methods: []string{"post", "PUT", "DELETE", "PATCH"}, Rule: guard.Rule{Roles: []string{verify.RoleWrite}}},
		{Prefix: "/public/", Rule: guard.Rule{Public: true}},
		{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
	}
}

type nginxEnv struct {
	*hostileEnv
	ngx *testenv.NginxServer
}

func newNginxEnv(t *testing.T) *nginxEnv {
	t.Helper()
	up := startWSGI(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, "")
	cfg.Upstream = ""
	cfg.ForwardAuth.Only = true
	cfg.Routes = hostileRoutes()
	gw := startGateway(t, cfg)
	ngx := testenv.Nginx(t, testenv.NginxOptions{Server: nginxConf(t, up.addr, strings.TrimPrefix(gw.url, "http://"))})
	e := &hostileEnv{
		sb: sb, up: up, gw: gw, addr: ngx.Addr(),
		reader: mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil),
		writer: mint(t, sb, []string{"orders.write"}, []string{"developers"}, nil),
		admin:  mint(t, sb, nil, []string{"aws-admins"}, nil),
		noRole: mint(t, sb, nil, []string{"strangers"}, nil),
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx error log:\n%s", ngx.ErrorLog())
		}
	})
	return &nginxEnv{hostileEnv: e, ngx: ngx}
}

func TestForwardAuthNginxIdentityHeaders(t *testing.T) {
	t.Parallel()
	e := newNginxEnv(t)
	cases := []struct {
		name    string
		path    string
		token   string
		headers []string
		want    map[string]string // upstream environ; "" means absent
	}{
		{
			"the verified identity reaches the upstream",
			"/x", e.reader, nil,
			map[string]string{"HTTP_X_AUTH_USER": "alice@example.com", "HTTP_X_AUTH_SUBJECT": "alice@example.com", "HTTP_X_AUTH_ROLE": "read", "HTTP_X_AUTH_GROUPS": "readers", "HTTP_X_AUTH_SCOPES": "orders.read", "HTTP_X_AUTH_PROVIDER": "okta"},
		},
		{
			"spoofed identity headers are replaced",
			"/x", e.reader, []string{"X-Auth-User: root", "X-Auth-Role: admin", "X-Auth-Roles: admin", "X-Auth-Groups: aws-admins", "X-Auth-Subject: root"},
			map[string]string{"HTTP_X_AUTH_USER": "alice@example.com", "HTTP_X_AUTH_ROLE": "read", "HTTP_X_AUTH_ROLES": "read", "HTTP_X_AUTH_GROUPS": "readers"},
		},
		{
			"underscore spellings never reach the upstream",
			"/x", e.reader, []string{"X_Auth_User: root", "X_Auth_Role: admin", "X-Auth_Groups: aws-admins", "x_auth_roles: admin"},
			map[string]string{"HTTP_X_AUTH_USER": "alice@example.com", "HTTP_X_AUTH_ROLE": "read", "HTTP_X_AUTH_GROUPS": "readers", "HTTP_X_AUTH_ROLES": "read"},
		},
		{
			"Connection cannot remove identity headers",
			"/x", e.reader, []string{"Connection: X-Auth-User, X-Auth-Role, X-Auth-Groups"},
			map[string]string{"HTTP_X_AUTH_USER": "alice@example.com", "HTTP_X_AUTH_ROLE": "read", "HTTP_X_AUTH_GROUPS": "readers"},
		},
		{
			"identity on a public route is removed, not passed",
			"/public/x", "", []string{"X-Auth-User: root", "X_Auth_User: root", "X_AUTH_ROLE: admin", "X-Auth-Role: admin"},
			map[string]string{"HTTP_X_AUTH_USER": "", "HTTP_X_AUTH_ROLE": ""},
		},
		{
			"a group the token lacks cannot be added by the client",
			"/x", mint(t, e.sb, nil, nil, map[string]any{"groups": []string{"readers"}, "scp": nil}), []string{"X-Auth-Scopes: orders.admin"},
			map[string]string{"HTTP_X_AUTH_SCOPES": "", "HTTP_X_AUTH_ROLE": "read"},
		},
		{
			"forwarding headers cannot be spoofed",
			"/x", e.reader, []string{"X-Forwarded-For: 10.6.6.6", "X_Forwarded_For: 10.6.6.6", "X_Real_IP: 10.6.6.6"},
			map[string]string{"HTTP_X_FORWARDED_FOR": "127.0.0.1", "HTTP_X_REAL_IP": ""},
		},
		{
			"the client's X-Original-URI and X-Forwarded-Uri describe nothing",
			"/x", e.reader, []string{"X-Original-URI: /public/x", "X-Forwarded-Uri: /public/x", "X-Original-Method: GET"},
			map[string]string{"HTTP_X_AUTH_ROLE": "read", "PATH_INFO": "/x"},
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
			if strings.Contains(body, "root") || strings.Contains(body, "10.6.6.6") || strings.Contains(body, "aws-admins") || strings.Contains(body, "orders.admin") {
				t.Errorf("a client value reached the upstream: %s", body)
			}
		})
	}
	t.Run("a spoofed X-Original-URI cannot open the admin route", func(t *testing.T) {
		before := len(e.up.seen(t))
		st, _, _ := e.send(t, "GET", "/admin/users", e.reader, []string{"X-Original-URI: /x", "X-Forwarded-Uri: /x"}, "")
		if st != 403 || len(e.up.seen(t)) != before {
			t.Fatalf("status %d; upstream reached: %v", st, len(e.up.seen(t)) != before)
		}
	})
	t.Run("a spoofed X-Original-Method cannot turn DELETE into GET", func(t *testing.T) {
		before := len(e.up.seen(t))
		st, _, _ := e.send(t, "DELETE", "/x", e.reader, []string{"X-Original-Method: GET", "X-Forwarded-Method: GET"}, "")
		if st != 403 || len(e.up.seen(t)) != before {
			t.Fatalf("status %d; upstream reached: %v", st, len(e.up.seen(t)) != before)
		}
	})
	t.Run("no token: 401 with the Bearer challenge through nginx", func(t *testing.T) {
		st, h, _ := rawRequest(t, e.addr, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if st != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="orders"`) {
			t.Fatalf("status %d, challenge %q", st, h.Get("WWW-Authenticate"))
		}
	})
	t.Run("the decision endpoint is internal to nginx", func(t *testing.T) {
		st, _, _ := rawRequest(t, e.addr, "GET /_oktafed/auth HTTP/1.1\r\nHost: a\r\nX-Original-URI: /x\r\nX-Original-Method: GET\r\nConnection: close\r\n\r\n")
		if st == 200 {
			t.Fatal("a client reached the decision endpoint through nginx")
		}
	})
}

func TestForwardAuthNginxMethodsAndPaths(t *testing.T) {
	t.Parallel()
	e := newNginxEnv(t)
	const refused = 0 // any refusal: nginx's own 400, or 500 for oktafed's 400
	cases := []struct {
		name, method, target, token string
		want                        int
		path                        string // PATH_INFO the upstream must see on 200
	}{
		{"lower-case delete is refused", "delete", "/orders/1", e.writer, refused, ""},
		{"mixed-case delete is refused", "Delete", "/orders/1", e.writer, refused, ""},
		{"DELETE needs the write role", "DELETE", "/orders/1", e.reader, 403, ""},
		{"writer deletes", "DELETE", "/orders/1", e.writer, 200, "/orders/1"},
		{"route methods are canonical (post in config)", "POST", "/orders", e.writer, 200, "/orders"},
		{"a reader cannot POST through a read catch-all", "POST", "/orders-archive", e.reader, 403, ""},
		{"a reader cannot PATCH", "PATCH", "/x", e.reader, 403, ""},
		{"an unknown method is held to the write role", "PURGE", "/x", e.reader, 403, ""},
		{"a reader may HEAD", "HEAD", "/x", e.reader, 200, ""},
		{"a token without a role is refused", "GET", "/x", e.noRole, 403, ""},

		{"path parameter", "GET", "/admin;x", e.reader, refused, ""},
		{"trailing dot", "GET", "/admin.", e.reader, refused, ""},
		{"upper case reaches the admin rule", "GET", "/Admin", e.reader, 403, ""},
		{"upper case is forwarded as sent to an admin", "GET", "/ADMIN/users", e.admin, 200, "/ADMIN/users"},
		{"encoded trailing space", "GET", "/admin%20", e.reader, refused, ""},
		{"encoded NUL", "GET", "/admin%00", e.reader, refused, ""},
		{"backslash traversal", "GET", `/public\..\admin`, "", refused, ""},
		{"semicolon traversal without a token", "GET", "/public/..;/admin", "", refused, ""},
		{"dot segments", "GET", "/public/../admin", "", refused, ""},
		{"encoded dot segments", "GET", "/public/%2e%2e/admin", "", refused, ""},
		{"encoded slash", "GET", "/public%2f..%2fadmin", "", refused, ""},
		{"double encoding", "GET", "/public/%252e%252e/admin", "", refused, ""},
		{"overlong UTF-8 dot", "GET", "/public/%c0%ae%c0%ae/admin", "", refused, ""},
		{"empty segment", "GET", "/public//admin", "", refused, ""},
		{"trailing dot in a segment", "GET", "/admin./users", e.reader, refused, ""},
		{"absolute-form target is judged on its path", "GET", "http://elsewhere/admin/users", e.reader, 403, ""},

		{"percent-encoded letters are judged decoded", "GET", "/x/%61dmin", e.reader, 200, "/x/admin"},
		{"public route", "GET", "/public/status", "", 200, "/public/status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.up.seen(t))
			st, env, body := e.send(t, tc.method, tc.target, tc.token, nil, "")
			seen := e.up.seen(t)
			if tc.want != 200 {
				if st == 200 || (tc.want != refused && st != tc.want) || (tc.want == refused && st != 400 && st != 500) {
					t.Fatalf("status %d, want %d (0: 400 or 500): %s", st, tc.want, body)
				}
				if len(seen) != before {
					t.Fatalf("a refused request reached the upstream as %q", seen[before:])
				}
				return
			}
			if st != 200 {
				t.Fatalf("status %d: %s", st, body)
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

// faCall calls a forward-auth endpoint directly as an ingress would.
func faCall(t *testing.T, base, method, path string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = append(req.Header[http.CanonicalHeaderKey(k)], v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return resp.StatusCode, resp.Header, b.String()
}

func TestForwardAuthTraefikAndEnvoyHTTP(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, "")
	cfg.ForwardAuth.Only = true
	cfg.Routes = hostileRoutes()
	gw := startGateway(t, cfg)
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	writer := mint(t, sb, nil, []string{"developers"}, nil)
	bearer := func(tok string) string { return "Bearer " + tok }

	t.Run("Traefik", func(t *testing.T) {
		cases := []struct {
			name string
			hdr  map[string]string
			want int
			role string
		}{
			{"reader GET", map[string]string{"Authorization": bearer(reader), "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/x?a=1", "X-Forwarded-Host": "app.example", "X-Forwarded-Proto": "https"}, 200, "read"},
			{"reader DELETE", map[string]string{"Authorization": bearer(reader), "X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/x"}, 403, ""},
			{"writer DELETE", map[string]string{"Authorization": bearer(writer), "X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/orders/1"}, 200, "write"},
			{"no token", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/x"}, 401, ""},
			{"public", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x"}, 200, ""},
			{"admin by path case", map[string]string{"Authorization": bearer(reader), "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/ADMIN"}, 403, ""},
			{"traversal", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/%2e%2e/admin"}, 400, ""},
			{"lower-case method", map[string]string{"Authorization": bearer(writer), "X-Forwarded-Method": "delete", "X-Forwarded-Uri": "/orders/1"}, 400, ""},
			{"no method", map[string]string{"Authorization": bearer(reader), "X-Forwarded-Uri": "/x"}, 400, ""},
			{"no URI", map[string]string{"Authorization": bearer(reader), "X-Forwarded-Method": "GET"}, 400, ""},
			{"nginx and Traefik headers that disagree", map[string]string{"X-Original-Uri": "/admin", "X-Forwarded-Uri": "/public/x", "X-Original-Method": "GET"}, 400, ""},
			{"methods that disagree", map[string]string{"Authorization": bearer(reader), "X-Original-Uri": "/x", "X-Original-Method": "DELETE", "X-Forwarded-Method": "GET"}, 400, ""},
			{"two URIs", map[string]string{"X-Forwarded-Uri": "/public/x", "X-Forwarded-uri": "/admin", "X-Forwarded-Method": "GET"}, 400, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				st, h, body := faCall(t, gw.url, "GET", gateway.DefaultForwardAuthPath, tc.hdr)
				if st != tc.want {
					t.Fatalf("status %d, want %d: %s", st, tc.want, body)
				}
				if h.Get("X-Auth-Role") != tc.role {
					t.Errorf("X-Auth-Role %q, want %q", h.Get("X-Auth-Role"), tc.role)
				}
				if st == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %q", h.Get("WWW-Authenticate"))
				}
				if st != 200 && h.Get("X-Auth-User") != "" {
					t.Error("a refusal carried identity headers")
				}
			})
		}
	})
	t.Run("Envoy over HTTP ignores a client's X-Original-URI", func(t *testing.T) {
		req := fmt.Sprintf("GET %s/admin/users HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nX-Original-URI: /x\r\nX-Forwarded-Uri: /x\r\nX-Original-Method: GET\r\nConnection: close\r\n\r\n", gateway.DefaultEnvoyPrefix, reader)
		if st, _, body := rawRequest(t, strings.TrimPrefix(gw.url, "http://"), req); st != 403 {
			t.Fatalf("status %d: %s", st, body)
		}
	})
	t.Run("Envoy over HTTP", func(t *testing.T) {
		cases := []struct {
			method, path, token string
			want                int
		}{
			{"GET", "/x?y=1", reader, 200},
			{"DELETE", "/x", reader, 403},
			{"DELETE", "/orders/1", writer, 200},
			{"GET", "/x", "", 401},
			{"GET", "/public/a", "", 200},
			{"GET", "/public/%2e%2e/admin", "", 400},
			{"GET", "/public/..;/admin", "", 400},
			{"GET", "/Admin/x", reader, 403},
		}
		for _, tc := range cases {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				hdr := map[string]string{}
				if tc.token != "" {
					hdr["Authorization"] = bearer(tc.token)
				}
				req := fmt.Sprintf("%s %s%s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n", tc.method, gateway.DefaultEnvoyPrefix, tc.path)
				if tc.token != "" {
					req += "Authorization: Bearer " + tc.token + "\r\n"
				}
				st, h, body := rawRequest(t, strings.TrimPrefix(gw.url, "http://"), req+"\r\n")
				if st != tc.want {
					t.Fatalf("status %d, want %d: %s", st, tc.want, body)
				}
				if st == 200 && tc.token != "" && h.Get("X-Auth-User") != "alice@example.com" {
					t.Errorf("identity headers: %v", h)
				}
			})
		}
	})
}

// TestForwardAuthTrustedIngressOnly reaches the endpoints from an address
// not listed as an ingress: nothing it claims is believed.
func TestForwardAuthTrustedIngressOnly(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, "")
	cfg.ForwardAuth.Only = true
	cfg.ForwardAuth.Trusted = []string{"10.0.0.0/8", "192.0.2.7"}
	gw := startGateway(t, cfg)
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	for _, path := range []string{gateway.DefaultForwardAuthPath, gateway.DefaultEnvoyPrefix + "/x"} {
		st, h, body := faCall(t, gw.url, "GET", path, map[string]string{
			"Authorization": "Bearer " + reader, "X-Original-URI": "/x", "X-Original-Method": "GET",
			"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3", "Forwarded": "for=10.1.2.3",
		})
		if st != 403 || h.Get("X-Auth-User") != "" || !strings.Contains(body, "trusted") {
			t.Errorf("%s from an untrusted address: %d %q", path, st, body)
		}
	}
	t.Run("a bad trusted entry is refused at start", func(t *testing.T) {
		bad := cfg
		bad.ForwardAuth.Trusted = []string{"ingress.internal"}
		if _, err := gateway.New(bad, gateway.Options{}); err == nil || !strings.Contains(err.Error(), "CIDR") {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("forward_auth.only proxies nothing and checks no token", func(t *testing.T) {
		for _, tok := range []string{reader, "", "not-a-token"} {
			for _, p := range []string{"/x", "/admin", "/public/x", gateway.DefaultForwardAuthPath + "x", "/_oktafed"} {
				st, h, _ := do(t, "GET", gw.url+p, tok, nil)
				if st != 404 || h.Get("WWW-Authenticate") != "" {
					t.Errorf("GET %s (token %v): status %d, challenge %q; want 404 without a challenge", p, tok != "", st, h.Get("WWW-Authenticate"))
				}
			}
		}
	})
}

// TestForwardAuthOffByDefault: a proxy claims no forward-auth path unless
// told to, and serves both when enabled.
func TestForwardAuthOffByDefault(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := echoUpstream(t).URL
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	hdr := map[string]string{"X-Original-URI": "/x", "X-Original-Method": "GET"}

	plain := startGateway(t, oktaConfig(t, sb, up))
	st, _, m := do(t, "GET", plain.url+gateway.DefaultForwardAuthPath, reader, hdr)
	if st != 200 || m["path"] != gateway.DefaultForwardAuthPath {
		t.Fatalf("proxy without forward_auth: %d %v; want the path proxied", st, m)
	}

	cfg := oktaConfig(t, sb, up)
	cfg.ForwardAuth.Enabled = true
	both := startGateway(t, cfg)
	st, h, m := do(t, "GET", both.url+gateway.DefaultForwardAuthPath, reader, hdr)
	if st != 200 || m["path"] != "" || h.Get("X-Auth-Role") != "read" {
		t.Fatalf("forward_auth.enabled: %d %v %v", st, m, h)
	}
	if st, _, m := do(t, "GET", both.url+"/x", reader, nil); st != 200 || m["path"] != "/x" {
		t.Fatalf("proxying next to forward-auth: %d %v", st, m)
	}
}
