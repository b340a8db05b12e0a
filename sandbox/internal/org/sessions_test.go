package org

import (
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

func newJar() (http.CookieJar, error) { return cookiejar.New(nil) }

func (h *harness) sidCookie() string {
	u, _ := url.Parse(h.srv.URL)
	for _, c := range h.client.Jar.Cookies(u) {
		if c.Name == "sid" {
			return c.Value
		}
	}
	return ""
}

func TestSessionCookieRedirect(t *testing.T) {
	h := newHarness(t, testConfig())
	target := h.srv.URL + "/app/amazon_aws/exktestapp/sso/saml"
	for _, bad := range []string{"", "https://evil.example/", "//evil.example/x", "http://" + "127.0.0.1:1/x", "javascript:alert(1)", "/\\evil.example"} {
		r := h.do(http.MethodGet, "/login/sessionCookieRedirect?token=x&redirectUrl="+url.QueryEscape(bad), nil)
		if r.code != http.StatusBadRequest {
			t.Fatalf("redirectUrl %q accepted: %d", bad, r.code)
		}
	}
	tok := h.loginTOTP()
	r := h.do(http.MethodGet, "/login/sessionCookieRedirect?token="+tok+"&redirectUrl="+url.QueryEscape(target), nil)
	if r.code != http.StatusFound || r.header.Get("Location") != target {
		t.Fatalf("redirect: %d %q %s", r.code, r.header.Get("Location"), r.raw)
	}
	setCookie := r.header.Get("Set-Cookie")
	if !strings.Contains(setCookie, "sid=") || !strings.Contains(setCookie, "HttpOnly") || !strings.Contains(setCookie, "Path=/") {
		t.Fatalf("Set-Cookie: %q", setCookie)
	}
	me := h.do(http.MethodGet, "/api/v1/sessions/me", nil)
	if me.code != 200 || me.str("login") != "totp@example.com" || me.str("id") != h.sidCookie() || me.str("status") != "ACTIVE" || dig(me.body, "mfaActive") != true {
		t.Fatalf("sessions/me: %d %s", me.code, me.raw)
	}
	// Read through "me", the links name "me", as Okta's reference shows.
	if me.str("_links", "self", "href") != h.srv.URL+"/api/v1/sessions/me" || me.str("_links", "refresh", "href") != h.srv.URL+"/api/v1/sessions/me/lifecycle/refresh" || me.str("_links", "user", "href") != h.srv.URL+"/api/v1/users/me" {
		t.Fatalf("sessions/me links: %s", me.raw)
	}
	amr, _ := dig(me.body, "amr").([]any)
	if len(amr) != 3 || amr[0] != "pwd" || amr[1] != "mfa" || amr[2] != "otp" {
		t.Fatalf("amr %v", amr)
	}
	if me.str("expiresAt") != oktaTime(t0.Add(2*time.Hour)) || me.str("lastFactorVerification") == "" {
		t.Fatalf("session times: %s", me.raw)
	}
	// The token was spent by the redirect.
	if r := h.do(http.MethodGet, "/login/sessionCookieRedirect?token="+tok+"&redirectUrl=%2F", nil); r.code != http.StatusForbidden {
		t.Fatalf("second redirect with the same token: %d", r.code)
	}
	// SessionUser sees the same session.
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "sid", Value: h.sidCookie()})
	if u, ok := h.org.SessionUser(req); !ok || u.Login != "totp@example.com" {
		t.Fatalf("SessionUser = %+v, %v", u, ok)
	}
	req.Header.Del("Cookie")
	if _, ok := h.org.SessionUser(req); ok {
		t.Fatal("SessionUser without a cookie")
	}
}

func TestSessionExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.Policy.SessionLifetime = time.Hour
	cfg.Policy.SessionIdle = 20 * time.Minute
	h := newHarness(t, cfg)
	tok := h.loginNoMFA("nofactor@example.com")
	if r := h.do(http.MethodGet, "/login/sessionCookieRedirect?token="+tok+"&redirectUrl=%2F", nil); r.code != http.StatusFound {
		t.Fatalf("redirect: %d", r.code)
	}
	me := func() reply { return h.do(http.MethodGet, "/api/v1/sessions/me", nil) }
	if got := me().str("expiresAt"); got != oktaTime(t0.Add(20*time.Minute)) {
		t.Fatalf("idle expiry %s", got)
	}
	// Reading the session is not activity; refreshing is.
	for i := 0; i < 3; i++ {
		h.clk.Advance(19 * time.Minute)
		r := h.post("/api/v1/sessions/me/lifecycle/refresh", nil)
		if r.code != 200 {
			t.Fatalf("refresh %d: %d %s", i, r.code, r.raw)
		}
	}
	// 57 minutes in: the lifetime caps the idle extension.
	if got := me().str("expiresAt"); got != oktaTime(t0.Add(time.Hour)) {
		t.Fatalf("lifetime cap %s", got)
	}
	h.clk.Advance(3 * time.Minute)
	expectError(t, me(), 404, "E0000007")
	expectError(t, h.post("/api/v1/sessions/me/lifecycle/refresh", nil), 404, "E0000007")

	t.Run("idle", func(t *testing.T) {
		tok := h.loginNoMFA("nofactor@example.com")
		h.do(http.MethodGet, "/login/sessionCookieRedirect?token="+tok+"&redirectUrl=%2F", nil)
		h.clk.Advance(19 * time.Minute)
		if me().code != 200 {
			t.Fatal("session died early")
		}
		h.clk.Advance(time.Minute)
		expectError(t, me(), 404, "E0000007")
	})
}

func TestSessionsAPI(t *testing.T) {
	h := newHarness(t, testConfig())
	tok := h.loginTOTP()
	created := h.post("/api/v1/sessions", map[string]any{"sessionToken": tok})
	if created.code != 200 || created.str("userId") != "00utotp" || !strings.HasPrefix(created.str("id"), "102") {
		t.Fatalf("create: %d %s", created.code, created.raw)
	}
	if created.header.Get("Set-Cookie") != "" {
		t.Fatal("create session set a cookie")
	}
	id := created.str("id")
	if created.str("_links", "self", "href") != h.srv.URL+"/api/v1/sessions/"+id {
		t.Fatalf("self link: %s", created.raw)
	}
	expectError(t, h.post("/api/v1/sessions", map[string]any{"sessionToken": tok}), 401, "E0000004")
	expectError(t, h.post("/api/v1/sessions", map[string]any{}), 400, "E0000001")
	expectError(t, h.post("/api/v1/sessions", "nope"), 400, "E0000003")

	withToken := func(method, path, token string) reply {
		req, _ := http.NewRequest(method, h.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "SSWS "+token)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return reply{code: resp.StatusCode, header: resp.Header}
	}
	if r := withToken(http.MethodGet, "/api/v1/sessions/"+id, ""); r.code != 401 {
		t.Fatalf("get without API token: %d", r.code)
	}
	if r := withToken(http.MethodGet, "/api/v1/sessions/"+id, "wrong"); r.code != 401 {
		t.Fatalf("get with a wrong API token: %d", r.code)
	}
	if r := withToken(http.MethodGet, "/api/v1/sessions/"+id, "test-api-token"); r.code != 200 {
		t.Fatalf("get: %d", r.code)
	}
	if r := withToken(http.MethodPost, "/api/v1/sessions/"+id+"/lifecycle/refresh", "test-api-token"); r.code != 200 {
		t.Fatalf("refresh: %d", r.code)
	}
	if got := h.org.Sessions(); len(got) != 1 || got[0].ID != id || !got[0].MFA {
		t.Fatalf("Sessions() = %+v", got)
	}
	if r := h.do(http.MethodGet, "/sandbox/admin/org/sessions", nil); r.code != 200 || !strings.Contains(string(r.raw), id) {
		t.Fatalf("admin sessions: %d %s", r.code, r.raw)
	}
	if r := withToken(http.MethodDelete, "/api/v1/sessions/"+id, "test-api-token"); r.code != 204 {
		t.Fatalf("delete: %d", r.code)
	}
	if r := withToken(http.MethodGet, "/api/v1/sessions/"+id, "test-api-token"); r.code != 404 {
		t.Fatalf("get after delete: %d", r.code)
	}

	t.Run("close my session", func(t *testing.T) {
		tok := h.loginNoMFA("nofactor@example.com")
		h.do(http.MethodGet, "/login/sessionCookieRedirect?token="+tok+"&redirectUrl=%2F", nil)
		if h.sidCookie() == "" {
			t.Fatal("no sid cookie")
		}
		if r := h.do(http.MethodDelete, "/api/v1/sessions/me", nil); r.code != 204 {
			t.Fatalf("delete me: %d %s", r.code, r.raw)
		}
		if h.sidCookie() != "" {
			t.Fatal("sid cookie not cleared")
		}
		expectError(t, h.do(http.MethodDelete, "/api/v1/sessions/me", nil), 404, "E0000007")
	})
}

func TestOrganizationAndUnknownPaths(t *testing.T) {
	for _, pipeline := range []string{"", "idx"} {
		cfg := testConfig()
		cfg.Pipeline = pipeline
		h := newHarness(t, cfg)
		r := h.do(http.MethodGet, "/.well-known/okta-organization", nil)
		want := pipeline
		if want == "" {
			want = "v1"
		}
		if r.code != 200 || r.str("id") != "00otestorg000000001" || r.str("pipeline") != want || r.str("_links", "organization", "href") != h.srv.URL {
			t.Fatalf("okta-organization: %d %s", r.code, r.raw)
		}
		if pipeline != "" {
			continue
		}
		expectError(t, h.do(http.MethodGet, "/api/v1/authn", nil), 405, "E0000022")
		expectError(t, h.do(http.MethodPut, "/api/v1/sessions/me", nil), 405, "E0000022")
		expectError(t, h.do(http.MethodGet, "/api/v1/nothing", nil), 404, "E0000007")
		if r := h.do(http.MethodGet, "/login/login.htm?fromURI=%2Fx", nil); r.code != 200 {
			t.Fatalf("login page: %d", r.code)
		}
	}
}

func TestAdminCodeAndUnlockErrors(t *testing.T) {
	h := newHarness(t, testConfig())
	for _, p := range []string{"/sandbox/admin/org/users/sms@example.com/code", "/sandbox/admin/org/users/ghost/code"} {
		if r := h.do(http.MethodGet, p, nil); r.code != 404 || r.str("error") == "" {
			t.Fatalf("%s: %d %s", p, r.code, r.raw)
		}
	}
	if r := h.post("/sandbox/admin/org/users/ghost/unlock", nil); r.code != 404 {
		t.Fatalf("unlock ghost: %d", r.code)
	}
	if r := h.post("/sandbox/admin/org/users/00utotp/unlock", nil); r.code != 200 || r.str("id") != "00utotp" {
		t.Fatalf("unlock by id: %d %s", r.code, r.raw)
	}
}

// lockedBuffer collects log output from server goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// dropTime keeps wall-clock digits out of the log so a six-digit code
// cannot match them by chance.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestLogsCarryNoSecrets(t *testing.T) {
	var logs lockedBuffer
	clk := clock.NewFake(t0)
	srv := httptest.NewUnstartedServer(nil)
	o, err := New(testConfig(), Options{Clock: clk, BaseURL: "http://" + srv.Listener.Addr().String(), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime}))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	o.Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	h := &harness{t: t, org: o, clk: clk, srv: srv, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	secrets := []string{testPassword, "Wrong-Password-9"}
	h.primary("totp@example.com", "Wrong-Password-9")
	r := h.primary("totp@example.com", testPassword)
	secrets = append(secrets, r.str("stateToken"))
	code := h.totp(clk.Now())
	v := h.post(verifyHref(t, r, "osttotp"), map[string]any{"stateToken": r.str("stateToken"), "passCode": code})
	secrets = append(secrets, code, v.str("sessionToken"))
	ssoPage(t, h, v.str("sessionToken"))
	secrets = append(secrets, h.sidCookie())
	s := h.primary("sms@example.com", testPassword)
	h.post(verifyHref(t, s, "smssms"), map[string]any{"stateToken": s.str("stateToken")})
	sent, _ := o.LastCode("sms@example.com")
	secrets = append(secrets, sent.Code, s.str("stateToken"))

	out := logs.String()
	if !strings.Contains(out, "totp@example.com") {
		t.Fatalf("expected activity logs, got %q", out)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(out, sec) {
			t.Fatalf("log output contains a secret %q:\n%s", sec, out)
		}
	}
}
