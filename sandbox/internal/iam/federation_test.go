package iam

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestFederationEndpoint(t *testing.T) {
	e := newEnv(t)
	creds, err := e.svc.IssueCredentials(devRole, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.svc.FederationHandler())
	defer srv.Close()
	session := func(id, key, tok string) url.Values {
		return url.Values{"Action": {"getSigninToken"}, "Session": {`{"sessionId":"` + id + `","sessionKey":"` + key + `","sessionToken":"` + tok + `"}`}}
	}
	post := func(v url.Values) (int, string) {
		resp, err := http.PostForm(srv.URL, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for name, v := range map[string]url.Values{
		"wrong secret": session(creds.AccessKeyID, "nope", creds.SessionToken),
		"wrong token":  session(creds.AccessKeyID, creds.SecretAccessKey, "nope"),
		"no token":     session(creds.AccessKeyID, creds.SecretAccessKey, ""),
		"unknown key":  session("ASIAUNKNOWNUNKNOWN00", creds.SecretAccessKey, creds.SessionToken),
		"garbage":      {"Action": {"getSigninToken"}, "Session": {"{"}},
		"bad duration": func() url.Values {
			v := session(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
			v.Set("SessionDuration", "60")
			return v
		}(),
		"unknown action": {"Action": {"frobnicate"}},
	} {
		if code, _ := post(v); code == http.StatusOK {
			t.Errorf("%s: accepted", name)
		}
	}
	if code, _ := post(session(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)); code != http.StatusOK {
		t.Fatalf("valid credentials refused: %d", code)
	}
	e.clk.Advance(2 * time.Hour)
	if code, _ := post(session(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)); code == http.StatusOK {
		t.Fatal("expired credentials accepted")
	}
}
