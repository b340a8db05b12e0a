package conformance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/internal/conformance"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// The sandbox side: its live answers are held to the same shapes.

type live struct {
	t   *testing.T
	srv *sandbox.Server
	hc  *http.Client
}

func (l live) do(method, path, contentType, body, sid string) (int, []byte) {
	l.t.Helper()
	req, err := http.NewRequest(method, l.srv.URL+path, strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (l live) conforms(shape string, doc []byte) {
	l.t.Helper()
	if problems := conformance.MatchJSON(shape, l.srv.URL, doc); len(problems) > 0 {
		l.t.Errorf("the sandbox's answer does not conform to %s:\n  %s\nanswer: %s", shape, strings.Join(problems, "\n  "), doc)
	}
}

func newLive(t *testing.T, cfg sandbox.Config) live {
	srv := sandbox.Start(t, cfg)
	return live{t: t, srv: srv, hc: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// The demo user's push sign-in, step by step, then the session and the
// AWS app page it opens.
func TestSandboxSignInConforms(t *testing.T) {
	l := newLive(t, sandbox.DefaultConfig())
	const jsonType = "application/json"
	code, body := l.do(http.MethodPost, "/api/v1/authn", jsonType, `{"username":"demo@example.com","password":"Sandbox-Demo-1"}`, "")
	if code != 200 {
		t.Fatalf("authn: %d %s", code, body)
	}
	l.conforms("okta/authn-mfa-required.json", body)
	var txn struct {
		StateToken string `json:"stateToken"`
		Embedded   struct {
			Factors []struct {
				FactorType string `json:"factorType"`
				Links      struct {
					Verify struct{ Href string } `json:"verify"`
				} `json:"_links"`
			} `json:"factors"`
		} `json:"_embedded"`
	}
	if err := json.Unmarshal(body, &txn); err != nil {
		t.Fatal(err)
	}
	verify := ""
	for _, f := range txn.Embedded.Factors {
		if f.FactorType == "push" {
			verify = strings.TrimPrefix(f.Links.Verify.Href, l.srv.URL)
		}
	}
	state := `{"stateToken":"` + txn.StateToken + `"}`
	_, sent := l.do(http.MethodPost, verify, jsonType, state, "")
	l.conforms("okta/authn-push-sent.json", sent)
	_, poll := l.do(http.MethodPost, verify, jsonType, state, "")
	l.conforms("okta/authn-push-number.json", poll)

	var challenge struct {
		Embedded struct {
			Factor struct {
				Embedded struct {
					Challenge struct {
						CorrectAnswer int `json:"correctAnswer"`
					} `json:"challenge"`
				} `json:"_embedded"`
			} `json:"factor"`
		} `json:"_embedded"`
	}
	_ = json.Unmarshal(poll, &challenge)
	n := challenge.Embedded.Factor.Embedded.Challenge.CorrectAnswer
	if code, b := l.do(http.MethodPost, "/sandbox/admin/org/users/demo@example.com/push/approve", jsonType, `{"answer":`+itoa(n)+`}`, ""); code != 200 {
		t.Fatalf("approve: %d %s", code, b)
	}
	_, done := l.do(http.MethodPost, verify, jsonType, state, "")
	l.conforms("okta/authn-success.json", done)

	var success struct {
		SessionToken string `json:"sessionToken"`
	}
	_ = json.Unmarshal(done, &success)
	s, err := (&okta.Client{BaseURL: l.srv.URL}).CreateSession(context.Background(), success.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	_, me := l.do(http.MethodGet, "/api/v1/sessions/me", "", "", s.ID)
	l.conforms("okta/session-me.json", me)

	code, page := l.do(http.MethodGet, "/app/amazon_aws/0oa1demoawsapp0000001/sso/saml", "", "", s.ID)
	if code != 200 {
		t.Fatalf("app page: %d %s", code, page)
	}
	if problems := conformance.CheckAppPage(page); len(problems) > 0 {
		t.Errorf("the app page does not conform: %s", strings.Join(problems, "; "))
	}
	m := regexp.MustCompile(`name="SAMLResponse" type="hidden" value="([^"]*)"`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no SAMLResponse")
	}
	xml, err := base64.StdEncoding.DecodeString(htmlUnescape(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	if problems := conformance.CheckOktaSAML(xml); len(problems) > 0 {
		t.Errorf("the SAML response does not conform:\n  %s", strings.Join(problems, "\n  "))
	}
}

// STS: a DurationSeconds above the role's maximum (IAM's default, 1h)
// gets the reference's ValidationError; within it, the result elements.
func TestSandboxSTSConforms(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	cfg.Org.Apps[0].SessionDuration = 12 * 3600
	cfg.AWS.Roles[0].MaxSessionDuration = 0 // Admin: IAM's default maximum
	if cfg.AWS.Roles[0].ARN != "arn:aws:iam::123456789012:role/Admin" {
		t.Fatalf("the demo config's first role is %s", cfg.AWS.Roles[0].ARN)
	}
	l := newLive(t, cfg)
	c := &okta.Client{BaseURL: l.srv.URL}
	ctx := context.Background()
	res, err := c.Authenticate(ctx, "demo@example.com", "Sandbox-Demo-1", &okta.MFA{Preferred: "totp", TOTPSeed: secret.New("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")})
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.SAMLResponse(ctx, l.srv.URL+"/app/amazon_aws/0oa1demoawsapp0000001/sso/saml", okta.AppAuth{SessionToken: res.SessionToken})
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name="SAMLResponse" type="hidden" value="([^"]*)"`).FindSubmatch(page.HTML)
	assertion := htmlUnescape(string(m[1]))
	call := func(d string) (int, []byte) {
		form := url.Values{"Action": {"AssumeRoleWithSAML"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::123456789012:role/Admin"},
			"PrincipalArn": {"arn:aws:iam::123456789012:saml-provider/okta"}, "SAMLAssertion": {assertion}, "DurationSeconds": {d}}
		return l.do(http.MethodPost, "/", "application/x-www-form-urlencoded", form.Encode(), "")
	}
	code, body := call("43200")
	if code != http.StatusBadRequest {
		t.Fatalf("12h for a 1h role: HTTP %d %s", code, body)
	}
	want := conformance.Shape("aws/sts-error-duration.xml")
	for _, p := range []string{"ErrorResponse/Error/Type", "ErrorResponse/Error/Code", "ErrorResponse/Error/Message"} {
		if got, w := conformance.XMLText(body, p), conformance.XMLText(want, p); got != w {
			t.Errorf("%s = %q, the reference has %q", p, got, w)
		}
	}
	if missing := conformance.MissingXMLPaths("aws/sts-error-duration.xml", body); len(missing) > 0 {
		t.Errorf("error response: %v", missing)
	}
	code, body = call("3600")
	if code != 200 {
		t.Fatalf("1h: HTTP %d %s", code, body)
	}
	if missing := conformance.MissingXMLPaths("aws/sts-assume-role-with-saml.xml", body); len(missing) > 0 {
		t.Errorf("AssumeRoleWithSAML result: %v", missing)
	}
}

// /login/token/sso takes the token in a POST body only.
func TestSandboxWebSSOConforms(t *testing.T) {
	l := newLive(t, sandbox.DefaultConfig())
	if code, _ := l.do(http.MethodGet, "/login/token/sso?token=x", "", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("a token in the URL: HTTP %d, want 405", code)
	}
	if code, body := l.do(http.MethodPost, "/login/token/sso", "application/x-www-form-urlencoded", "token=not-a-token", ""); code != http.StatusForbidden || bytes.Contains(body, []byte("not-a-token")) {
		t.Errorf("an unknown token: HTTP %d", code)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// htmlUnescape decodes the character references of an attribute value.
func htmlUnescape(s string) string {
	return regexp.MustCompile(`&#x([0-9a-fA-F]+);`).ReplaceAllStringFunc(s, func(ref string) string {
		var r rune
		for _, c := range strings.ToLower(ref[3 : len(ref)-1]) {
			r = r*16 + rune(strings.IndexRune("0123456789abcdef", c))
		}
		return string(r)
	})
}

// A web SSO token posted to /login/token/sso by a client that keeps
// cookies and follows redirects, as Okta's own CLI does, ends in 200 and
// the AWS app page.
func TestSandboxWebSSOFollowedToThePage(t *testing.T) {
	l := newLive(t, sandbox.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &okta.Client{BaseURL: l.srv.URL}
	const clientID = "0oa1demodevice000001"
	d, err := c.AuthorizeDevice(ctx, clientID, okta.DeviceScopes)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.ActivateDevice(ctx, "demo@example.com", "Sandbox-Demo-1", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", d.UserCode, true); err != nil {
		t.Fatal(err)
	}
	tokens, err := c.PollDeviceToken(ctx, clientID, d)
	if err != nil {
		t.Fatal(err)
	}
	sso, err := c.WebSSOToken(ctx, clientID, tokens, "0oa1demoawsapp0000001")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := browser.PostForm(l.srv.URL+"/login/token/sso", url.Values{"token": {sso}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after redirects: HTTP %d", resp.StatusCode)
	}
	if problems := conformance.CheckAppPage(page); len(problems) > 0 {
		t.Errorf("the page does not conform: %v", problems)
	}
	// The token was spent.
	resp, err = browser.PostForm(l.srv.URL+"/login/token/sso", url.Values{"token": {sso}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a spent token: HTTP %d", resp.StatusCode)
	}
}
