package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/saml"
)

// DirectLogin is a login for Okta Identity Engine orgs whose admins
// enabled Okta Direct Authentication: the password and an Okta Verify push
// or a TOTP code go to the org authorization server (okta.DirectSignIn),
// with no browser; the tokens become a web SSO token for the AWS app and
// /login/token/sso yields its SAML assertion, as after the device flow.
// The Okta session it opens is saved like Login's, so refreshes stay
// silent while it lives.
type DirectLogin struct {
	// Login supplies the profile (with oidc_client_id), Okta client,
	// session cache, password, MFA answers, STS, files, clock, events and
	// sign-in lock.
	Login *Login
}

var _ AssertionSource = (*DirectLogin)(nil)

// Assertion returns a SAML assertion through the saved Okta session, or
// else a direct sign-in.
func (d *DirectLogin) Assertion(ctx context.Context) (*saml.Assertion, error) {
	l := d.Login
	v, err, _ := l.flight.Do("direct-assertion", func() (any, error) { return d.assertion(ctx) })
	if err != nil {
		return nil, explainUnreachable(err, "Okta", fmt.Sprintf(oktaHint, l.Profile.Name))
	}
	return v.(*saml.Assertion), nil
}

func (d *DirectLogin) assertion(ctx context.Context) (*saml.Assertion, error) {
	l := d.Login
	p := l.Profile
	if p.OIDCClientID == "" {
		return nil, fmt.Errorf("profile %s has no oidc_client_id: set it to the client id of a native OIDC app with the Direct Authentication grants (password, MFA OOB, MFA OTP) and Token Exchange", p.Name)
	}
	appID, err := okta.AppIDFromURL(p.AppURL)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	saved := &Login{Profile: p, Okta: l.Okta, Sessions: l.Sessions, Clock: l.Clock, Events: l.Events, Force: l.Force}
	if a, err := saved.assertion(ctx); err == nil || !errors.Is(err, ErrLoginRequired) {
		return a, err
	}
	if l.Password == nil {
		return nil, l.loginRequired("Okta session expired")
	}
	if p.Username == "" {
		return nil, fmt.Errorf("profile %s has no username: run `oktafed init --profile %s`", p.Name, p.Name)
	}
	if l.SignInLock != nil {
		unlock, err := l.SignInLock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	password, err := l.Password(ctx)
	if err != nil {
		return nil, err
	}
	l.emit("okta-direct", "signing in to %s as %s with Okta Direct Authentication", l.Okta.BaseURL, p.Username)
	tokens, err := l.Okta.DirectSignIn(ctx, p.OIDCClientID, p.Username, password, l.MFA)
	if err != nil {
		return nil, err
	}
	wst, err := l.Okta.WebSSOToken(ctx, p.OIDCClientID, tokens, appID)
	if err != nil {
		return nil, err
	}
	page, err := l.Okta.WebSSO(ctx, wst)
	if err != nil {
		return nil, err
	}
	a, err := l.readPage(page)
	if err != nil {
		return nil, err
	}
	if l.Sessions != nil && page.SID != "" {
		exp := time.Time{}
		if s, err := l.Okta.Session(ctx, page.SID); err == nil {
			exp = s.ExpiresAt
		}
		if err := l.Sessions.SaveSession(ctx, p.Name, page.SID, exp); err != nil {
			return nil, fmt.Errorf("save the Okta session in the keyring: %w", err)
		}
		l.emit("okta-session", "Okta session saved for reuse (expires %s)", fmtTime(exp))
	}
	return a, nil
}

// Run is Login.Run with the direct sign-in as the assertion source.
func (d *DirectLogin) Run(ctx context.Context, selector string, choose Chooser, duration time.Duration) (*Outcome, error) {
	a, err := d.Assertion(ctx)
	if err != nil {
		return nil, err
	}
	return d.Login.assumeAndWrite(ctx, a, selector, choose, duration)
}
