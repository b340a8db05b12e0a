package okta_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/internal/saml"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// The demo org's published credentials (sandbox/default.yaml).
const (
	demoUser     = "demo@example.com"
	demoPassword = "Sandbox-Demo-1"
	demoSeed     = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	demoApp      = "0oa1demoawsapp0000001"
	smsUser      = "sms-user@example.com"
	smsPassword  = "Sandbox-Sms-1"
)

func startSandbox(t *testing.T) (*sandbox.Server, *okta.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("sandbox integration test")
	}
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	return srv, &okta.Client{BaseURL: srv.URL, UserAgent: "oktafed-okta-test", PollInterval: 100 * time.Millisecond}
}

func appURL(srv *sandbox.Server) string {
	return srv.URL + "/app/amazon_aws/" + demoApp + "/sso/saml"
}

func TestSandboxTOTPLoginToRoles(t *testing.T) {
	srv, c := startSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := c.Authenticate(ctx, demoUser, demoPassword, &okta.MFA{Preferred: "totp", TOTPSeed: secret.New(demoSeed)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Factor == nil || res.Factor.Kind != okta.KindTOTP || res.User.Login != demoUser {
		t.Fatalf("result = %v, factor %v", res, res.Factor)
	}

	// The one-time token opens the app and leaves a session behind.
	page, err := c.SAMLResponse(ctx, appURL(srv), okta.AppAuth{SessionToken: res.SessionToken})
	if err != nil {
		t.Fatal(err)
	}
	if page.SID.IsZero() {
		t.Fatal("redeeming the session token set no sid cookie")
	}
	a, err := saml.FromPage(page.HTML)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range a.Roles {
		names[r.AccountID+"/"+r.RoleName] = true
	}
	for _, want := range []string{"123456789012/Admin", "123456789012/ReadOnly", "210987654321/Developer"} {
		if !names[want] {
			t.Errorf("role %s missing from %v", want, a.Roles)
		}
	}
	if a.NameID != demoUser || a.SessionDuration != time.Hour || a.Expired(time.Now()) {
		t.Errorf("assertion: NameID %q, SessionDuration %v, NotOnOrAfter %v", a.NameID, a.SessionDuration, a.NotOnOrAfter)
	}

	// The session is reusable: read, refresh, open the app again (through
	// the embed link), then close it.
	s, err := c.Session(ctx, page.SID.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if s.Login != demoUser || s.ExpiresAt.Before(time.Now()) {
		t.Errorf("session = %v", s)
	}
	if _, err := c.RefreshSession(ctx, page.SID.Reveal()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SAMLResponse(ctx, srv.URL+"/home/amazon_aws/"+demoApp+"/272", okta.AppAuth{SID: page.SID}); err != nil {
		t.Fatalf("embed link with sid: %v", err)
	}
	if err := c.CloseSession(ctx, page.SID.Reveal()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Session(ctx, page.SID.Reveal()); !errors.Is(err, okta.ErrSessionExpired) {
		t.Errorf("closed session: err = %v, want ErrSessionExpired", err)
	}
	if _, err := c.SAMLResponse(ctx, appURL(srv), okta.AppAuth{SID: page.SID}); !errors.Is(err, okta.ErrSessionExpired) {
		t.Errorf("app with a closed session: err = %v, want ErrSessionExpired", err)
	}
	// A session token works once.
	if _, err := c.SAMLResponse(ctx, appURL(srv), okta.AppAuth{SessionToken: res.SessionToken}); !errors.Is(err, okta.ErrSessionExpired) {
		t.Errorf("reused session token: err = %v, want ErrSessionExpired", err)
	}
}

func TestSandboxPushWithNumberChallenge(t *testing.T) {
	srv, c := startSandbox(t)
	_ = srv
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var number int
	waiting := false
	s, res, err := c.Login(ctx, demoUser, demoPassword, &okta.MFA{
		Preferred:  "push",
		Waiting:    func(okta.Factor) { waiting = true },
		PushNumber: func(n int) { number = n },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !waiting || number < 10 || number > 99 {
		t.Errorf("Waiting called %v, number %d", waiting, number)
	}
	if res.Factor.Kind != okta.KindPush || s.Login != demoUser || s.ID == "" || !s.MFAActive {
		t.Errorf("factor %v, session %v", res.Factor, s)
	}
}

func TestSandboxSMSCode(t *testing.T) {
	srv, c := startSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resent := false
	res, err := c.Authenticate(ctx, smsUser, smsPassword, &okta.MFA{
		Preferred: "sms",
		Code: func(_ context.Context, p okta.CodePrompt) (string, error) {
			if !p.Sent {
				t.Errorf("SMS prompt without Sent")
			}
			if !resent {
				resent = true
				return "", okta.ErrResend
			}
			if p.Attempt == 1 {
				return "000000", nil // wrong on purpose
			}
			sent, err := srv.LastCode(smsUser)
			if err != nil {
				return "", err
			}
			return sent.Code, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Factor.Kind != okta.KindSMS || res.SessionToken.IsZero() {
		t.Fatalf("result = %v", res)
	}
}

func TestSandboxFailures(t *testing.T) {
	srv, c := startSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Authenticate(ctx, demoUser, "wrong-password", &okta.MFA{TOTPSeed: secret.New(demoSeed)})
	if !errors.Is(err, okta.ErrInvalidCredentials) || !strings.Contains(err.Error(), "invalid username or password") {
		t.Errorf("wrong password: %v", err)
	}
	_, err = c.Authenticate(ctx, demoUser, demoPassword, &okta.MFA{Preferred: "totp", TOTPSeed: secret.New("AAAAAAAAAAAAAAAA")})
	if !errors.Is(err, okta.ErrInvalidCode) || !strings.Contains(err.Error(), "seed") {
		t.Errorf("wrong seed: %v", err)
	}
	_, err = c.Authenticate(ctx, demoUser, demoPassword, &okta.MFA{Preferred: "sms"})
	if err == nil || !strings.Contains(err.Error(), "you have: push, totp") {
		t.Errorf("factor not enrolled: %v", err)
	}
	if _, err := c.SAMLResponse(ctx, srv.URL+"/app/amazon_aws/0oanoapp/sso/saml", okta.AppAuth{SID: secret.New("x")}); err == nil {
		t.Errorf("unknown app: no error")
	}
}

func TestSandboxUserWithoutRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("sandbox integration test")
	}
	cfg := sandbox.DefaultConfig()
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{Login: "norole@example.com", Password: "Sandbox-NoRole-1"})
	srv := sandbox.Start(t, cfg)
	c := &okta.Client{BaseURL: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Authenticate(ctx, "norole@example.com", "Sandbox-NoRole-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SAMLResponse(ctx, appURL(srv), okta.AppAuth{SessionToken: res.SessionToken})
	if err == nil || !strings.Contains(err.Error(), "no AWS role is assigned") {
		t.Fatalf("err = %v, want the org's explanation", err)
	}
}
