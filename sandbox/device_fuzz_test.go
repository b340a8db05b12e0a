package sandbox

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDeviceRequests posts arbitrary bodies to the device flow's and web
// SSO's endpoints (authorization server forms, the org's HTML forms, the
// web SSO token form): no panic, no 5xx.
func FuzzDeviceRequests(f *testing.F) {
	s := Start(f, DefaultConfig())
	h := s.srv.Handler
	f.Add(0, "client_id=0oa1demodevice000001&scope=openid+okta.apps.sso", "")
	f.Add(1, "client_id=0oa1demodevice000001&grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=x", "")
	f.Add(1, "client_id=0oa1demodevice000001&grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=a.b.c&subject_token_type=urn:ietf:params:oauth:token-type:id_token&actor_token=x&actor_token_type=urn:x-oath:params:oauth:token-type:device-secret&audience=urn:okta:apps:0oa1demoawsapp0000001", "")
	f.Add(2, "username=demo@example.com&password=x&fromURI=//evil", "")
	f.Add(3, "stateToken=x&passcode=123456", "")
	f.Add(4, "user_code=BCDF-GHJK&action=approve", "sid=x")
	f.Add(5, "", "")
	f.Add(5, "token=not-a-token&token=second", "")
	targets := []struct{ method, path string }{
		{"POST", "/oauth2/v1/device/authorize"}, {"POST", "/oauth2/v1/token"}, {"POST", "/login/signin"},
		{"POST", "/login/signin/verify"}, {"POST", "/activate"}, {"POST", "/login/token/sso"},
	}
	f.Fuzz(func(t *testing.T, which int, body, cookie string) {
		if which < 0 {
			which = -which
		}
		tg := targets[which%len(targets)]
		req := httptest.NewRequest(tg.method, tg.path, bytes.NewReader([]byte(body)))
		if tg.method == "GET" {
			req.URL.RawQuery = "token=" + strings.ReplaceAll(body, "&", "%26")
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", tg.method, tg.path, rec.Code, rec.Body.String())
		}
		if loc := rec.Header().Get("Location"); loc != "" && (strings.HasPrefix(loc, "//") || !strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, s.URL+"/")) {
			t.Fatalf("%s redirects off the org to %q", tg.path, loc)
		}
	})
}
