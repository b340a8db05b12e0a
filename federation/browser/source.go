package browser

import (
	"context"
	"fmt"

	"github.com/oktafed/oktafed/federation"
)

// Source is the sign-in source for orgs and factors the Authentication
// API cannot serve (security keys, Touch ID, Windows Hello, FastPass, Duo,
// any sign-on policy): the person signs in in their browser (SignIn),
// which yields the assertion. The Okta session the browser ends up with is
// saved like federation.Password's, so refreshes stay silent until Okta
// ends it. Put it behind a federation.Session so the saved session is
// tried first.
type Source struct {
	App    *federation.App
	SignIn *SignIn
}

var _ federation.AssertionSource = (*Source)(nil)

// Assertion signs in in the browser.
func (s *Source) Assertion(ctx context.Context) (*federation.Assertion, error) {
	a := s.App
	if s.SignIn == nil {
		return nil, &federation.LoginRequiredError{Profile: a.Profile.Name, Reason: "Okta sign-in needed"}
	}
	appURL := a.Profile.AppURL
	emit(a, "signing in to %s in the browser", appURL)
	res, err := s.SignIn.Run(ctx, appURL)
	if err != nil {
		return nil, err
	}
	emit(a, "captured the SAML response posted to %s", res.PostedTo)
	return a.FromCaptured(ctx, res.Captured)
}

func emit(a *federation.App, format string, args ...any) {
	if a.Events != nil {
		a.Events(federation.Event{Step: "okta-browser", Detail: fmt.Sprintf(format, args...)})
	}
}

var _ federation.BrowserSignIn = (*SignIn)(nil)

// Available reports why this sign-in cannot start here (no browser
// program, no display), or nil: SignIn is a federation.BrowserSignIn.
func (b *SignIn) Available() error {
	_, err := b.Check()
	return err
}

// Source is the browser sign-in of app's profile.
func (b *SignIn) Source(app *federation.App) federation.AssertionSource {
	return &Source{App: app, SignIn: b}
}
