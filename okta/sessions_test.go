package okta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/secret"
)

func sessionDoc() map[string]any {
	return map[string]any{"id": testSID, "userId": "00u1", "login": "demo@example.com", "status": "ACTIVE",
		"createdAt": "2026-03-04T05:06:10.000Z", "expiresAt": "2026-03-04T07:06:10.000Z",
		"lastPasswordVerification": "2026-03-04T05:06:10.000Z", "lastFactorVerification": "2026-03-04T05:06:11.000Z",
		"amr": []string{"pwd", "mfa", "swk"}, "mfaActive": true}
}

// sessionRoutes serves the session API for the sid testSID only.
func sessionRoutes(f *fakeOrg) {
	mine := func(r *http.Request) bool {
		ck, err := r.Cookie("sid")
		return err == nil && ck.Value == testSID
	}
	for _, route := range []string{"GET /api/v1/sessions/me", "POST /api/v1/sessions/me/lifecycle/refresh"} {
		f.handle(route, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			if !mine(r) {
				writeJSON(w, 404, oktaError("E0000007", "Not found: Resource not found: me (Session)"))
				return
			}
			writeJSON(w, 200, sessionDoc())
		})
	}
	f.handle("DELETE /api/v1/sessions/me", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if !mine(r) {
			writeJSON(w, 404, oktaError("E0000007", "Not found"))
			return
		}
		w.WriteHeader(204)
	})
	f.handle("GET /login/sessionCookieRedirect", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if r.URL.Query().Get("token") != testSessionToken {
			w.WriteHeader(403)
			fmt.Fprint(w, "<html><title>Sign-in link expired</title></html>")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: testSID, Path: "/"})
		http.Redirect(w, r, r.URL.Query().Get("redirectUrl"), http.StatusFound)
	})
}

func TestSessionLifecycle(t *testing.T) {
	f := newFakeOrg(t)
	sessionRoutes(f)
	c, _ := newClient(t, f)
	ctx := context.Background()

	s, err := c.CreateSession(ctx, testSessionToken)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != testSID || s.Login != "demo@example.com" || !s.MFAActive || s.ExpiresAt.IsZero() || len(s.AMR) != 3 {
		t.Fatalf("session = %+v", *s)
	}
	redirect := f.callsTo("/login/sessionCookieRedirect")[0]
	q, _ := url.ParseQuery(redirect.query)
	if q.Get("redirectUrl") != f.srv.URL+"/api/v1/sessions/me" {
		t.Errorf("redirectUrl = %q", q.Get("redirectUrl"))
	}
	if got := f.callsTo("/api/v1/sessions/me"); len(got) != 1 || got[0].sid != testSID {
		t.Errorf("session read-back = %+v", got)
	}

	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("session", "s", s)
	for _, shown := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), logged.String()} {
		if strings.Contains(shown, testSID) {
			t.Errorf("session ID shown: %s", shown)
		}
	}

	if _, err := c.RefreshSession(ctx, testSID); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseSession(ctx, testSID); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseSession(ctx, "gone"); err != nil {
		t.Errorf("closing an ended session: %v", err)
	}
	for name, fn := range map[string]func() error{
		"Session":        func() error { _, err := c.Session(ctx, "gone"); return err },
		"RefreshSession": func() error { _, err := c.RefreshSession(ctx, "gone"); return err },
		"empty sid":      func() error { _, err := c.Session(ctx, ""); return err },
	} {
		if err := fn(); !errors.Is(err, ErrSessionExpired) {
			t.Errorf("%s on an ended session: err = %v, want ErrSessionExpired", name, err)
		}
	}
	_, err = c.CreateSession(ctx, "used-token")
	if err == nil || !strings.Contains(err.Error(), "single-use") {
		t.Errorf("spent token: err = %v", err)
	}
}

func TestLoginInOneCall(t *testing.T) {
	f := newFakeOrg(t)
	sessionRoutes(f)
	f.reply("POST /api/v1/authn", 200, success())
	c, _ := newClient(t, f)
	s, res, err := c.Login(context.Background(), "demo@example.com", testPassword, nil)
	if err != nil || s.ID != testSID || res.SessionToken.Reveal() != testSessionToken {
		t.Fatalf("Login = %v, %v, %v", s, res, err)
	}
}

const samlPage = `<html><body><form method="post" action="https://signin.aws.amazon.com/saml"><input type="hidden" name="SAMLResponse" value="PHNhbWw+"/></form></body></html>`

func TestSAMLResponse(t *testing.T) {
	const app = "/app/amazon_aws/0oa1demo/sso/saml"
	f := newFakeOrg(t)
	f.handle("GET /home/amazon_aws/0oa1demo/272", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		http.Redirect(w, r, app+"?"+r.URL.RawQuery, http.StatusFound)
	})
	f.handle("GET "+app, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if r.URL.Query().Get("onetimetoken") == testSessionToken {
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: testSID, Path: "/"})
			fmt.Fprint(w, samlPage)
			return
		}
		if ck, err := r.Cookie("sid"); err == nil && ck.Value == testSID {
			fmt.Fprint(w, samlPage)
			return
		}
		if ck, err := r.Cookie("sid"); err == nil && ck.Value == "signin-page" {
			fmt.Fprint(w, `<html><form id="form19"><input name="username"><input type="password" name="password"></form></html>`)
			return
		}
		http.Redirect(w, r, "/login/login.htm?fromURI="+url.QueryEscape(app), http.StatusFound)
	})
	f.handle("GET /app/amazon_aws/0oa1other/sso/saml", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		w.WriteHeader(403)
		fmt.Fprint(w, `<html><head><title>403 - Forbidden - Org</title></head><body><h1>403 - Forbidden</h1><p>You do not have permission to access this application.</p></body></html>`)
	})
	f.handle("GET /app/amazon_aws/offsite/sso/saml", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		http.Redirect(w, r, "https://evil.example/steal", http.StatusFound)
	})
	c, _ := newClient(t, f)
	ctx := context.Background()

	tests := []struct {
		name    string
		url     string
		auth    AppAuth
		wantSID string
		is      error
		want    string
	}{
		{"session token", app, AppAuth{SessionToken: secret.New(testSessionToken)}, testSID, nil, ""},
		{"sid cookie via embed link", f.srv.URL + "/home/amazon_aws/0oa1demo/272", AppAuth{SID: secret.New(testSID)}, testSID, nil, ""},
		{"ended session redirects to sign-in", app, AppAuth{SID: secret.New("gone")}, "", ErrSessionExpired, ""},
		{"sign-in page served in place", app, AppAuth{SID: secret.New("signin-page")}, "", ErrSessionExpired, ""},
		{"no credentials", app, AppAuth{}, "", ErrSessionExpired, ""},
		{"error page", "/app/amazon_aws/0oa1other/sso/saml", AppAuth{SID: secret.New(testSID)}, "", nil, "HTTP 403): 403 - Forbidden"},
		{"redirect off the org", "/app/amazon_aws/offsite/sso/saml", AppAuth{SID: secret.New(testSID)}, "", nil, "off the org"},
		{"app URL off the org", "https://evil.example/app", AppAuth{SID: secret.New(testSID)}, "", nil, "not the org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := c.SAMLResponse(ctx, tt.url, tt.auth)
			if tt.is == nil && tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if string(page.HTML) != samlPage || page.SID.Reveal() != tt.wantSID {
					t.Fatalf("page = %q, sid = %q", page.HTML, page.SID)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			checkNoSecrets(t, err)
		})
	}
}
