package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oktafed/oktafed/saml"
)

// AssertionSource yields a SAML assertion of a profile's AWS app: the
// saved Okta session, a password and MFA sign-in, the device flow, a
// browser. Login, DeviceLogin and BrowserLogin are assertion sources.
type AssertionSource interface {
	Assertion(ctx context.Context) (*saml.Assertion, error)
}

// BrowserLogin is a login whose new sign-ins happen in the person's
// browser (BrowserSignIn), for orgs and factors the Authentication API
// cannot serve: security keys, Touch ID, Windows Hello, FastPass, Duo,
// any sign-on policy. The Okta session the browser ends up with is saved
// like Login's, so credential refreshes (credential_process, exec) go
// through Login unchanged and stay silent until Okta ends the session.
type BrowserLogin struct {
	// Login supplies the profile, Okta client, session cache, STS, files,
	// clock, events and sign-in lock. Its Password and MFA are not used.
	Login   *Login
	Browser *BrowserSignIn
}

var _ AssertionSource = (*BrowserLogin)(nil)

// Assertion returns a SAML assertion through the saved Okta session, or
// else a new sign-in in the browser.
func (b *BrowserLogin) Assertion(ctx context.Context) (*saml.Assertion, error) {
	l := b.Login
	v, err, _ := l.flight.Do("browser-assertion", func() (any, error) { return b.assertion(ctx) })
	if err != nil {
		return nil, explainUnreachable(err, "Okta", fmt.Sprintf(oktaHint, l.Profile.Name))
	}
	return v.(*saml.Assertion), nil
}

func (b *BrowserLogin) assertion(ctx context.Context) (*saml.Assertion, error) {
	l := b.Login
	p := l.Profile
	if p.AppURL == "" {
		return nil, fmt.Errorf("profile %s has no app_url: run `oktafed init --profile %s` and give the AWS app's embed link", p.Name, p.Name)
	}
	saved := &Login{Profile: p, Okta: l.Okta, Sessions: l.Sessions, Clock: l.Clock, Events: l.Events, Force: l.Force}
	if a, err := saved.assertion(ctx); err == nil || !errors.Is(err, ErrLoginRequired) {
		return a, err
	}
	if b.Browser == nil {
		return nil, l.loginRequired("Okta sign-in needed")
	}
	if l.SignInLock != nil {
		unlock, err := l.SignInLock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	l.emit("okta-browser", "signing in to %s in the browser", p.AppURL)
	res, err := b.Browser.SignIn(ctx, p.AppURL)
	if err != nil {
		return nil, err
	}
	l.emit("okta-browser", "captured the SAML response posted to %s", res.PostedTo)
	a, err := saml.Decode(res.SAMLResponse)
	if err != nil {
		return nil, err
	}
	a.RelayState = res.RelayState
	if len(a.Roles) == 0 {
		return nil, saml.ErrNoRoles
	}
	if l.Sessions != nil && res.SID != "" {
		exp := res.SIDExpires
		if s, err := l.Okta.Session(ctx, res.SID); err == nil {
			exp = s.ExpiresAt
		}
		if exp.IsZero() || l.now().Before(exp) {
			if err := l.Sessions.SaveSession(ctx, p.Name, res.SID, exp); err != nil {
				return nil, fmt.Errorf("save the Okta session in the keyring: %w", err)
			}
			l.emit("okta-session", "Okta session saved for reuse (expires %s)", fmtTime(exp))
		}
	}
	l.emit("saml", "SAML assertion for %s with %d role(s), session duration %s", a.NameID, len(a.Roles), a.SessionDuration)
	return a, nil
}

// Run is Login.Run with the browser as the assertion source.
func (b *BrowserLogin) Run(ctx context.Context, selector string, choose Chooser, duration time.Duration) (*Outcome, error) {
	a, err := b.Assertion(ctx)
	if err != nil {
		return nil, err
	}
	return b.Login.assumeAndWrite(ctx, a, selector, choose, duration)
}
