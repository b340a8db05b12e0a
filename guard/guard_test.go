package guard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// env is a sandbox Okta org with a verifier trusting its "default" server
// and the group-to-role mapping the data-platform services use.
type env struct {
	sb *sandbox.Server
	v  *verify.Verifier
}

func newEnv(t testing.TB) *env {
	t.Helper()
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	pc := verify.Okta("", "default")
	pc.BaseURL = sb.URL
	v, err := verify.New(verify.Config{
		Providers: []verify.ProviderConfig{pc},
		Policy: verify.Policy{
			Audiences:      []string{"api://default"},
			AdminGroups:    []string{"aws-admins"},
			WriteGroups:    []string{"developers"},
			ReadOnlyGroups: []string{"readers"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &env{sb: sb, v: v}
}

// token mints an access token for sub with the given scopes and groups.
func (e *env) token(t testing.TB, scopes []string, groups []string, ttl time.Duration, extra map[string]any) string {
	t.Helper()
	c := map[string]any{"sub": "alice@example.com", "cid": "0oa1demoservice00001", "scp": scopes, "uid": "00u1"}
	if groups != nil {
		c["groups"] = groups
	}
	for k, v := range extra {
		c[k] = v
	}
	tok, err := e.sb.MintAccessToken("default", c, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type revocations struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (r *revocations) Revoked(_ context.Context, jti string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[jti]
}

func TestRequire(t *testing.T) {
	e := newEnv(t)
	revoked := e.token(t, []string{"orders.read"}, []string{"aws-admins"}, 0, map[string]any{"jti": "AT.revoked"})
	g := guard.New(e.v, guard.Options{Realm: "orders", Revocations: &revocations{ids: map[string]bool{"AT.revoked": true}}})
	read := g.Require(guard.Rule{Scopes: []string{"orders.read"}})
	write := g.Require(guard.Rule{Scopes: []string{"orders.write"}, Roles: []string{verify.RoleWrite}})
	admin := g.Require(guard.Rule{Roles: []string{verify.RoleAdmin}})
	readRole := g.Require(guard.Rule{Roles: []string{verify.RoleRead}})
	noRoleRead := g.Require(guard.Rule{Roles: []string{verify.RoleRead}, AllowNoRole: true})
	noRoleWrite := g.Require(guard.Rule{Roles: []string{verify.RoleWrite}, AllowNoRole: true})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, found := guard.PrincipalFrom(r.Context())
		if !found {
			t.Error("no principal in context")
			return
		}
		io.WriteString(w, p.Subject+" "+p.Role)
	})

	cases := []struct {
		name       string
		mw         func(http.Handler) http.Handler
		auth       string
		wantStatus int
		wantChall  string // substring of WWW-Authenticate
		wantBody   string
	}{
		{"no token", read, "", 401, `Bearer realm="orders"`, "authentication required"},
		// RFC 6750 section 3.1: another scheme is no authentication at
		// all, so the bare challenge and 401, not 400.
		{"basic scheme", read, "Basic YWxpY2U6cHc=", 401, `Bearer realm="orders"`, "authentication required"},
		{"bearer scheme glued to token", read, "Bearerabc", 401, `Bearer realm="orders"`, "authentication required"},
		{"two tokens", read, "Bearer a b", 400, `error="invalid_request"`, ""},
		{"garbage", read, "Bearer not-a-jwt", 401, `error="invalid_token"`, "not accepted"},
		{"expired", read, "Bearer " + e.token(t, []string{"orders.read"}, nil, -time.Hour, nil), 401, `error="invalid_token"`, "expired"},
		{"wrong audience", read, "Bearer " + e.token(t, []string{"orders.read"}, nil, 0, map[string]any{"aud": "api://other"}), 401, `error="invalid_token"`, ""},
		{"revoked jti", read, "Bearer " + revoked, 401, `error="invalid_token"`, "revoked"},
		{"read ok", read, "Bearer " + e.token(t, []string{"orders.read"}, nil, 0, nil), 200, "", "alice@example.com "},
		{"lowercase scheme", read, "bearer " + e.token(t, []string{"orders.read"}, nil, 0, nil), 200, "", "alice@example.com"},
		{"write lacks scope", write, "Bearer " + e.token(t, []string{"orders.read"}, []string{"developers"}, 0, nil), 403, `error="insufficient_scope", error_description="the token lacks a scope this resource requires", scope="orders.write"`, "lacks a required scope"},
		{"write lacks role", write, "Bearer " + e.token(t, []string{"orders.write"}, []string{"readers"}, 0, nil), 403, `error="insufficient_scope"`, "ask an administrator"},
		{"write ok", write, "Bearer " + e.token(t, []string{"orders.write"}, []string{"developers"}, 0, nil), 200, "", "alice@example.com write"},
		{"admin refused writer", admin, "Bearer " + e.token(t, nil, []string{"developers"}, 0, nil), 403, `error="insufficient_scope"`, ""},
		{"admin ok", admin, "Bearer " + e.token(t, nil, []string{"aws-admins", "developers"}, 0, nil), 200, "", "alice@example.com admin"},
		{"admin may write", write, "Bearer " + e.token(t, []string{"orders.write"}, []string{"aws-admins"}, 0, nil), 200, "", "admin"},
		{"reader reads", readRole, "Bearer " + e.token(t, nil, []string{"readers"}, 0, nil), 200, "", "alice@example.com read"},
		{"reader cannot POST under a read rule", readRole, "Bearer " + e.token(t, nil, []string{"readers"}, 0, nil), 403, `error_description="the read role allows only GET, HEAD and OPTIONS"`, "ask an administrator"},
		{"reader cannot DELETE under a read rule", readRole, "Bearer " + e.token(t, nil, []string{"readers"}, 0, nil), 403, `error="insufficient_scope"`, ""},
		{"writer may POST under a read rule", readRole, "Bearer " + e.token(t, nil, []string{"developers"}, 0, nil), 200, "", "write"},
		{"no role refused under a read rule", readRole, "Bearer " + e.token(t, nil, nil, 0, nil), 403, `error="insufficient_scope"`, ""},
		{"no role reads with AllowNoRole", noRoleRead, "Bearer " + e.token(t, nil, nil, 0, nil), 200, "", "alice@example.com "},
		{"no role cannot POST with AllowNoRole", noRoleRead, "Bearer " + e.token(t, nil, nil, 0, nil), 403, `error="insufficient_scope"`, ""},
		{"no role is no writer with AllowNoRole", noRoleWrite, "Bearer " + e.token(t, nil, nil, 0, nil), 403, `error="insufficient_scope"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if strings.Contains(tc.name, "POST") {
				method = "POST"
			} else if strings.Contains(tc.name, "DELETE") {
				method = "DELETE"
			}
			r := httptest.NewRequest(method, "/orders", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			tc.mw(ok).ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", w.Code, tc.wantStatus, w.Body.String())
			}
			chall := w.Header().Get("WWW-Authenticate")
			if tc.wantStatus != 200 && !strings.Contains(chall, tc.wantChall) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", chall, tc.wantChall)
			}
			if !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Errorf("body = %q, want %q", w.Body.String(), tc.wantBody)
			}
			if tok, ok := strings.CutPrefix(tc.auth, "Bearer "); ok && len(tok) > 20 && strings.Contains(w.Body.String()+chall, tok) {
				t.Error("the response echoes the token")
			}
		})
	}
}

func TestMiddlewarePolicy(t *testing.T) {
	e := newEnv(t)
	g := guard.New(e.v, guard.Options{})
	policy := func(r *http.Request) (guard.Rule, bool) {
		switch {
		case r.URL.Path == "/public":
			return guard.Rule{Public: true}, true
		case strings.HasPrefix(r.URL.Path, "/orders"):
			return guard.Rule{Roles: []string{verify.RoleRead}}, true
		}
		return guard.Rule{}, false
	}
	h := g.Middleware(policy)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, found := guard.PrincipalFrom(r.Context())
		w.Header().Set("X-Has-Principal", map[bool]string{true: "yes", false: "no"}[found])
	}))
	reader := "Bearer " + e.token(t, nil, []string{"readers"}, 0, nil)
	cases := []struct {
		path, auth string
		status     int
		principal  string
	}{
		{"/public", "", 200, "no"},
		{"/orders/1", "", 401, ""},
		{"/orders/1", reader, 200, "yes"},
		{"/unrouted", reader, 404, ""},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || w.Header().Get("X-Has-Principal") != tc.principal {
			t.Errorf("%s (token %t): status %d principal %q, want %d %q", tc.path, tc.auth != "", w.Code, w.Header().Get("X-Has-Principal"), tc.status, tc.principal)
		}
	}
}

// TestTwoAuthorizationHeaders: a request with two Authorization headers is
// refused with 400, whichever of them is valid, before any check.
func TestTwoAuthorizationHeaders(t *testing.T) {
	h := http.Header{"Authorization": {"Bearer a", "Bearer b"}}
	if _, err := guard.AuthorizationHeader(h); err == nil {
		t.Fatal("two Authorization headers accepted")
	} else if st, _ := verify.Challenge(err, "r"); st != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", st)
	}
	if v, err := guard.AuthorizationHeader(http.Header{"Authorization": {"Bearer a"}}); err != nil || v != "Bearer a" {
		t.Fatalf("one header: %q, %v", v, err)
	}
	g := guard.New(nil, guard.Options{})
	reached := false
	h2 := g.Require(guard.Rule{Roles: []string{verify.RoleRead}})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header = h
	h2.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || reached {
		t.Fatalf("Require: status %d, handler reached %v", rec.Code, reached)
	}
}
