package federation

import (
	"context"

	"github.com/oktafed/oktafed/internal/saml"
)

// Browser is the sign-in source for orgs and factors the Authentication
// API cannot serve (security keys, Touch ID, Windows Hello, FastPass, Duo,
// any sign-on policy): the person signs in in their browser
// (BrowserSignIn), which yields the assertion. The Okta session the
// browser ends up with is saved like Password's, so refreshes stay silent
// until Okta ends it. Put it behind a Session so the saved session is
// tried first.
type Browser struct {
	App    *App
	SignIn *BrowserSignIn
}

var _ AssertionSource = (*Browser)(nil)

// Assertion signs in in the browser.
func (b *Browser) Assertion(ctx context.Context) (*saml.Assertion, error) {
	a, p := b.App, b.App.Profile
	if b.SignIn == nil {
		return nil, a.loginRequired("Okta sign-in needed")
	}
	a.emit("okta-browser", "signing in to %s in the browser", p.AppURL)
	res, err := b.SignIn.SignIn(ctx, p.AppURL)
	if err != nil {
		return nil, err
	}
	a.emit("okta-browser", "captured the SAML response posted to %s", res.PostedTo)
	as, err := saml.Decode(res.SAMLResponse.Reveal())
	if err != nil {
		return nil, err
	}
	as.RelayState = res.RelayState
	if len(as.Roles) == 0 {
		return nil, saml.ErrNoRoles
	}
	if !res.SID.IsZero() && (res.SIDExpires.IsZero() || a.now().Before(res.SIDExpires)) {
		if err := a.saveSession(ctx, res.SID.Reveal(), res.SIDExpires); err != nil {
			return nil, err
		}
	}
	a.emit("saml", "SAML assertion for %s with %d role(s), session duration %s", as.NameID, len(as.Roles), as.SessionDuration)
	return as, nil
}
