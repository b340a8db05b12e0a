package org

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/internal/clock"
)

// fuzzOrg is an org with generous limits so fuzzing explores parsing, not
// rate limiting or lockout.
func fuzzOrg(f *testing.F) (*Org, http.Handler) {
	f.Helper()
	cfg := testConfig()
	cfg.Policy.RateLimit = 1 << 30
	cfg.Policy.APIRateLimit = 1 << 30
	cfg.Policy.LockoutAttempts = 1 << 30
	o, err := New(cfg, Options{Clock: clock.NewFake(t0), BaseURL: "http://127.0.0.1:8443"})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	o.Register(mux)
	return o, mux
}

// checkAPIAnswer asserts what every /api/v1 answer must be: JSON with the
// rate-limit headers, and an Okta error body whenever it is not a success.
func checkAPIAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("server error %d: %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Rate-Limit-Remaining") == "" {
		t.Fatalf("no rate-limit headers (status %d)", rec.Code)
	}
	if rec.Code == http.StatusNoContent {
		return
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %q", err, rec.Body)
	}
	if rec.Code >= 400 {
		if code, _ := body["errorCode"].(string); !strings.HasPrefix(code, "E0000") {
			t.Fatalf("error without an Okta error code: %d %s", rec.Code, rec.Body)
		}
	}
	if _, ok := body["sessionToken"]; ok && body["status"] != stateSuccess {
		t.Fatalf("sessionToken outside SUCCESS: %s", rec.Body)
	}
}

func serve(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func FuzzAuthnBody(f *testing.F) {
	_, h := fuzzOrg(f)
	for _, s := range []string{
		`{"username":"nofactor@example.com","password":"Correct-Horse-1"}`,
		`{"username":"totp@example.com","password":"Correct-Horse-1","options":{"warnBeforePasswordExpired":true}}`,
		`{"stateToken":"00abc"}`, `{"username":1}`, `[]`, `null`, ``, `{"username":"a","password":"b","relayState":"\u0000"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(h, http.MethodPost, "/api/v1/authn", body)
		checkAPIAnswer(t, rec)
		// A password the org never configured can never succeed.
		var req authnRequest
		if json.Unmarshal([]byte(body), &req) == nil && req.Password != testPassword && strings.Contains(rec.Body.String(), `"SUCCESS"`) {
			t.Fatalf("success with password %q", req.Password)
		}
	})
}

func FuzzFactorVerifyBody(f *testing.F) {
	o, h := fuzzOrg(f)
	// A live transaction for the fuzzer to poke at.
	start := serve(h, http.MethodPost, "/api/v1/authn", `{"username":"sms@example.com","password":"Correct-Horse-1"}`)
	var tx map[string]any
	_ = json.Unmarshal(start.Body.Bytes(), &tx)
	state, _ := tx["stateToken"].(string)
	for _, s := range []string{`{"stateToken":"` + state + `"}`, `{"stateToken":"` + state + `","passCode":"123456"}`, `{"passCode":123}`, `{`} {
		f.Add("smssms", s)
		f.Add("osttotp", s)
	}
	f.Add("../../x", `{}`)
	f.Fuzz(func(t *testing.T, factorID, body string) {
		for _, suffix := range []string{"/verify", "/verify/resend"} {
			target := "/api/v1/authn/factors/" + url.PathEscape(factorID) + suffix
			rec := serve(h, http.MethodPost, target, body)
			if rec.Header().Get("X-Rate-Limit-Remaining") == "" && (rec.Code == http.StatusNotFound || rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusMovedPermanently) {
				continue // the mux cleaned or refused the path before any handler ran
			}
			checkAPIAnswer(t, rec)
			if strings.Contains(rec.Body.String(), `"SUCCESS"`) {
				// Only the code the org sent can finish an SMS challenge.
				c, err := o.LastCode("sms@example.com")
				if err != nil || !strings.Contains(body, c.Code) {
					t.Fatalf("verified without the sent code: %s", body)
				}
			}
		}
	})
}

func FuzzStateTokenBodies(f *testing.F) {
	_, h := fuzzOrg(f)
	for _, s := range []string{`{"stateToken":"x"}`, `{"stateToken":"x","oldPassword":"a","newPassword":"b"}`, `1`, `"s"`, `{"stateToken":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range []string{"/api/v1/authn/cancel", "/api/v1/authn/previous", "/api/v1/authn/skip", "/api/v1/authn/credentials/change_password", "/api/v1/sessions"} {
			checkAPIAnswer(t, serve(h, http.MethodPost, p, body))
		}
	})
}

func FuzzSessionCookieRedirectQuery(f *testing.F) {
	o, h := fuzzOrg(f)
	for _, s := range []string{"token=abc&redirectUrl=%2F", "token=&redirectUrl=http%3A%2F%2F127.0.0.1%3A8443%2Fx", "redirectUrl=%2F%2Fevil", "redirectUrl=%5C%5Cevil", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/login/sessionCookieRedirect", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusFound {
			t.Fatalf("redirected without a valid session token: %q", query)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			if _, ok := o.sameOriginRedirect(loc); !ok {
				t.Fatalf("redirect off the org: %q", loc)
			}
		}
	})
}

func FuzzSameOriginRedirect(f *testing.F) {
	o, _ := fuzzOrg(f)
	for _, s := range []string{"/", "/app/x", "http://127.0.0.1:8443/a", "https://127.0.0.1:8443/a", "//evil/x", "/\\evil", "http://127.0.0.1:8443@evil/", "HTTP://127.0.0.1:8443/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := o.sameOriginRedirect(raw)
		if !ok {
			return
		}
		// Resolved against the org, an accepted target must stay on it.
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted unparsable %q", raw)
		}
		abs := o.baseURL.ResolveReference(ref)
		if abs.Host != o.baseURL.Host || abs.Scheme != o.baseURL.Scheme || abs.User != nil {
			t.Fatalf("accepted %q, which resolves to %s", raw, abs)
		}
	})
}

func FuzzSessionCookie(f *testing.F) {
	o, h := fuzzOrg(f)
	for _, s := range []string{"sid=abc", "sid=", "sid=102x; sid=102y", "other=1", "sid=\"quoted\"", ";;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		for _, target := range []string{"/api/v1/sessions/me", "/app/amazon_aws/exktestapp/sso/saml"} {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			req.Header.Set("Cookie", cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code == http.StatusOK {
				t.Fatalf("%s accepted forged cookie %q", target, cookie)
			}
			if _, ok := o.SessionUser(req); ok {
				t.Fatalf("SessionUser accepted forged cookie %q", cookie)
			}
		}
		checkAPIAnswer(t, serve(h, http.MethodDelete, "/api/v1/sessions/me", ""))
	})
}

func FuzzSSOQuery(f *testing.F) {
	_, h := fuzzOrg(f)
	for _, s := range []string{"onetimetoken=abc", "onetimetoken=&x=1", "fromURI=%2F", "%"} {
		f.Add("exktestapp", s)
		f.Add("0oatestapp", s)
	}
	f.Fuzz(func(t *testing.T, appID, query string) {
		req := httptest.NewRequest(http.MethodGet, "/app/amazon_aws/x/sso/saml", nil)
		req.URL.Path = "/app/amazon_aws/" + appID + "/sso/saml"
		req.URL.RawPath = ""
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			t.Fatalf("SAML form without a session: %q %q", appID, query)
		}
		if loc := rec.Header().Get("Location"); rec.Code == http.StatusFound && !strings.HasPrefix(loc, "http://127.0.0.1:8443/login/login.htm?fromURI=") && !strings.HasPrefix(loc, "/") {
			t.Fatalf("redirect to %q", loc)
		}
	})
}

func FuzzAdminDecideBody(f *testing.F) {
	o, h := fuzzOrg(f)
	for _, s := range []string{`{"answer":42}`, `{}`, ``, `{"answer":"x"}`, `[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		// Start a fresh push so there is something to decide.
		start := serve(h, http.MethodPost, "/api/v1/authn", `{"username":"wait@example.com","password":"Correct-Horse-1"}`)
		var tx map[string]any
		_ = json.Unmarshal(start.Body.Bytes(), &tx)
		state, _ := tx["stateToken"].(string)
		serve(h, http.MethodPost, "/api/v1/authn/factors/opfwait/verify", `{"stateToken":"`+state+`"}`)
		p, _ := o.PendingPush("wait@example.com")
		rec := serve(h, http.MethodPost, "/sandbox/admin/org/users/wait@example.com/push/approve", body)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("admin answer is not JSON: %q", rec.Body)
		}
		if out["factorResult"] == resultSuccess {
			var req struct {
				Answer int `json:"answer"`
			}
			if json.Unmarshal([]byte(body), &req) != nil || req.Answer != p.CorrectAnswer {
				t.Fatalf("approved with %q, correct answer %d", body, p.CorrectAnswer)
			}
		}
		serve(h, http.MethodPost, "/api/v1/authn/cancel", `{"stateToken":"`+state+`"}`)
	})
}
