package org

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/internal/clock"
)

// hosted posts JSON to a /login/hosted/ endpoint of h.
func (h *harness) hosted(path string, body any) reply {
	h.t.Helper()
	return h.post("/login/hosted/"+path, body)
}

func TestHostedSignInTOTP(t *testing.T) {
	h := newHarness(t, testConfig())
	if r := h.hosted("authn", map[string]string{"username": "totp@example.com", "password": "wrong"}); r.code != http.StatusUnauthorized || !strings.Contains(r.str("error"), "wrong") {
		t.Fatalf("wrong password: %d %s", r.code, r.raw)
	}
	r := h.hosted("authn", map[string]string{"username": "totp@example.com", "password": testPassword, "fromURI": "/app/amazon_aws/exktestapp/sso/saml"})
	if r.code != http.StatusOK || r.str("status") != "MFA_REQUIRED" {
		t.Fatalf("password: %d %s", r.code, r.raw)
	}
	st := r.str("stateToken")
	if r := h.hosted("totp", map[string]string{"stateToken": st, "passCode": "000000"}); r.code != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d %s", r.code, r.raw)
	}
	code := h.totp(h.clk.Now())
	r = h.hosted("totp", map[string]string{"stateToken": st, "passCode": code})
	if r.code != http.StatusOK || r.str("status") != "SUCCESS" || r.str("redirect") != "/app/amazon_aws/exktestapp/sso/saml" {
		t.Fatalf("code: %d %s", r.code, r.raw)
	}
	if !strings.Contains(r.header.Get("Set-Cookie"), "sid=") {
		t.Fatal("no session cookie")
	}
	// The transaction ended with the session: the same token is dead.
	if r := h.hosted("totp", map[string]string{"stateToken": st, "passCode": code}); r.code != http.StatusUnauthorized {
		t.Fatalf("reused state token: %d %s", r.code, r.raw)
	}
	// A code is spent once, also across transactions.
	r = h.hosted("authn", map[string]string{"username": "totp@example.com", "password": testPassword})
	if r := h.hosted("totp", map[string]string{"stateToken": r.str("stateToken"), "passCode": code}); r.code != http.StatusUnauthorized || !strings.Contains(r.str("error"), "once") {
		t.Fatalf("replayed code: %d %s", r.code, r.raw)
	}
}

func TestHostedSignInRefusals(t *testing.T) {
	h := newHarness(t, testConfig())
	// A cross-site form post cannot carry JSON: refused.
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/login/hosted/authn", strings.NewReader("username=totp%40example.com&password="+testPassword))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post: %d", resp.StatusCode)
	}
	// An open redirect is not honoured.
	r := h.hosted("authn", map[string]string{"username": "nofactor@example.com", "password": testPassword, "fromURI": "https://evil.example/"})
	if r.code != http.StatusOK || r.str("redirect") != "" {
		t.Fatalf("foreign fromURI: %d %s", r.code, r.raw)
	}
	// Security keys on an IP-address origin: a clear error, not a 500 later.
	h.org.mu.Lock()
	h.org.users[0].factors = append(h.org.users[0].factors, &factor{id: "fwfkey", kind: "webauthn", userVerification: "required"})
	h.org.mu.Unlock()
	r = h.hosted("authn", map[string]string{"username": "totp@example.com", "password": testPassword})
	if r := h.hosted("webauthn/begin", map[string]string{"stateToken": r.str("stateToken")}); !strings.Contains(r.str("error"), "host: localhost") {
		t.Fatalf("begin on an IP origin: %d %s", r.code, r.raw)
	}
	// The page itself escapes fromURI into its script.
	page, err := h.client.Get(h.srv.URL + "/login/login.htm?fromURI=" + "%2Fx%22%3C%2Fscript%3E")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	if page.StatusCode != http.StatusOK || page.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("page: %d %v", page.StatusCode, page.Header)
	}
}

func TestWebAuthnFactorConfig(t *testing.T) {
	for _, tc := range []struct {
		fc   FactorConfig
		want string
	}{
		{FactorConfig{Type: "webauthn", UserVerification: "always"}, "user_verification"},
		{FactorConfig{Type: "totp", Secret: testSecret, UserVerification: "required"}, "only applies to webauthn"},
		{FactorConfig{Type: "u2f"}, "webauthn"},
	} {
		cfg := Config{Users: []UserConfig{{Login: "a@example.com", Password: "p", Factors: []FactorConfig{tc.fc}}}}
		_, err := New(cfg, Options{BaseURL: "http://localhost:1"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.fc, err, tc.want)
		}
	}
}

func TestDirectFactorChecks(t *testing.T) {
	h := newHarness(t, testConfig())
	ctx := context.Background()
	if err := h.org.VerifyOTP(ctx, "totp@example.com", "000000"); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("wrong code: %v", err)
	}
	code := h.totp(h.clk.Now())
	if err := h.org.VerifyOTP(ctx, "totp@example.com", code); err != nil {
		t.Fatalf("right code: %v", err)
	}
	if err := h.org.VerifyOTP(ctx, "totp@example.com", code); !errors.Is(err, ErrCodeReused) {
		t.Fatalf("replayed code: %v", err)
	}
	if _, err := h.org.StartPush(ctx, "totp@example.com"); !errors.Is(err, ErrNoFactor) {
		t.Fatalf("push without a push factor: %v", err)
	}
	p, err := h.org.StartPush(ctx, "push@example.com")
	if err != nil || p.BindingCode() == "" {
		t.Fatalf("push: %v %q", err, p.BindingCode())
	}
	if s := p.Status(); s != resultWaiting {
		t.Fatalf("status before the delay: %s", s)
	}
	h.clk.Advance(3e9)
	if s := p.Status(); s != resultSuccess {
		t.Fatalf("status after the delay: %s", s)
	}
	r, _ := h.org.StartPush(ctx, "reject@example.com")
	if s := r.Status(); s != resultRejected {
		t.Fatalf("rejecting phone: %s", s)
	}
}

// FuzzHostedSignIn posts arbitrary bodies to every hosted sign-in
// endpoint, with a live transaction of a security-key user: nothing may
// panic or answer 5xx, and no body may open a session.
func FuzzHostedSignIn(f *testing.F) {
	cfg := testConfig()
	cfg.Policy.RateLimit = 1 << 30
	cfg.Policy.LockoutAttempts = 1 << 30
	cfg.Users = append(cfg.Users, UserConfig{Login: "key@example.com", Password: testPassword, Groups: []string{"admins"}, Factors: []FactorConfig{{Type: "webauthn", UserVerification: "required"}}})
	o, err := New(cfg, Options{Clock: clock.NewFake(t0), BaseURL: "http://localhost:8443"})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	o.Register(mux)
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://localhost:8443"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	endpoints := []string{"webauthn/finish", "totp", "webauthn/begin"}
	f.Add(uint8(0), `{"credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}}`)
	f.Add(uint8(0), `{"credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}}`)
	f.Add(uint8(1), `{"passCode":"123456"}`)
	f.Add(uint8(2), `{}`)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		endpoint := endpoints[int(which)%len(endpoints)]
		rec := post("/login/hosted/authn", `{"username":"key@example.com","password":"`+testPassword+`"}`)
		var st struct {
			StateToken string `json:"stateToken"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.StateToken == "" {
			t.Fatalf("authn: %s", rec.Body)
		}
		post("/login/hosted/webauthn/begin", `{"stateToken":"`+st.StateToken+`"}`)
		body = strings.Replace(body, "{", `{"stateToken":"`+st.StateToken+`",`, 1)
		rec = post("/login/hosted/"+endpoint, body)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", endpoint, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Header().Get("Set-Cookie"), "sid=") {
			t.Fatalf("%s opened a session with %q", endpoint, body)
		}
	})
}

func TestHostedSignInPushAndSMS(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.hosted("authn", map[string]string{"username": "push@example.com", "password": testPassword})
	st := r.str("stateToken")
	r = h.hosted("push", map[string]string{"stateToken": st})
	if r.code != http.StatusOK || r.str("status") != "MFA_CHALLENGE" || dig(r.body, "correctAnswer") == nil {
		t.Fatalf("push sent: %d %s", r.code, r.raw)
	}
	h.clk.Advance(3e9)
	if r = h.hosted("push", map[string]string{"stateToken": st}); r.str("status") != "SUCCESS" {
		t.Fatalf("push approved: %d %s", r.code, r.raw)
	}
	r = h.hosted("authn", map[string]string{"username": "reject@example.com", "password": testPassword})
	st = r.str("stateToken")
	h.hosted("push", map[string]string{"stateToken": st})
	if r = h.hosted("push", map[string]string{"stateToken": st}); r.code != http.StatusForbidden || !strings.Contains(r.str("error"), "rejected") {
		t.Fatalf("push rejected: %d %s", r.code, r.raw)
	}

	r = h.hosted("authn", map[string]string{"username": "sms@example.com", "password": testPassword})
	st = r.str("stateToken")
	if r = h.hosted("code", map[string]string{"stateToken": st, "factorId": "smssms", "passCode": "123456"}); r.code != http.StatusUnauthorized {
		t.Fatalf("code before one was sent: %d %s", r.code, r.raw)
	}
	if r = h.hosted("code/send", map[string]string{"stateToken": st, "factorId": "smssms"}); r.code != http.StatusOK {
		t.Fatalf("send: %d %s", r.code, r.raw)
	}
	h.org.mu.Lock()
	code := h.org.usersByLogin["sms@example.com"].lastCode.code
	h.org.mu.Unlock()
	if r = h.hosted("code", map[string]string{"stateToken": st, "factorId": "emfemail", "passCode": code}); r.code != http.StatusUnauthorized {
		t.Fatalf("SMS code for the email factor: %d %s", r.code, r.raw)
	}
	if r = h.hosted("code", map[string]string{"stateToken": st, "factorId": "smssms", "passCode": code}); r.str("status") != "SUCCESS" {
		t.Fatalf("SMS code: %d %s", r.code, r.raw)
	}
}
