package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oktafed/oktafed/secret"

	"golang.org/x/sync/singleflight"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/saml"
	"github.com/oktafed/oktafed/okta"
)

// AssertionSource yields a SAML assertion from a profile's AWS app. Each
// way of signing in to Okta is one source (Password, Device, a browser);
// Session puts the saved Okta session in front of one. Login, the refresh
// path and SAMLProvider take any source, as x/oauth2 takes a TokenSource.
type AssertionSource interface {
	Assertion(ctx context.Context) (*Assertion, error)
}

// App is what every source shares: the profile's Okta org and AWS app, the
// cache of its Okta session, the clock and the event sink. Sources read
// the profile and never change it.
type App struct {
	Profile  *Profile
	Okta     *okta.Client
	Sessions SessionCache // nil: sessions are neither reused nor saved
	// Clock tells time (any value with a Now method); the wall clock
	// when nil.
	Clock  interface{ Now() time.Time }
	Events func(Event)
}

func (a *App) now() time.Time { return clock.Or(a.Clock).Now() }

func (a *App) emit(step, format string, args ...any) {
	if a.Events != nil {
		a.Events(Event{Step: step, Detail: fmt.Sprintf(format, args...)})
	}
}

func (a *App) loginRequired(reason string) error {
	return &LoginRequiredError{Profile: a.Profile.Name, Reason: reason}
}

// loadSession reads the saved session ("" when there is no cache).
func (a *App) loadSession(ctx context.Context) (string, time.Time, error) {
	if a.Sessions == nil {
		return "", time.Time{}, nil
	}
	sid, exp, err := a.Sessions.LoadSession(ctx, a.Profile.Name)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read the Okta session from the keyring: %w", err)
	}
	return sid, exp, nil
}

// keep saves the session a sign-in opened, so later logins and refreshes
// reuse it, then reads the app's page.
func (a *App) keep(ctx context.Context, page *okta.AppPage) (*saml.Assertion, error) {
	if err := a.saveSession(ctx, page.SID.Reveal(), time.Time{}); err != nil {
		return nil, err
	}
	return a.readPage(page)
}

// saveSession keeps the Okta session sid that a sign-in source opened (a
// page's cookie, or a browser's), with the expiry Okta states, else exp.
func (a *App) saveSession(ctx context.Context, sid string, exp time.Time) error {
	if a.Sessions == nil || sid == "" {
		return nil
	}
	if s, err := a.Okta.Session(ctx, sid); err == nil {
		exp = s.ExpiresAt
	}
	if err := a.Sessions.SaveSession(ctx, a.Profile.Name, sid, exp); err != nil {
		return fmt.Errorf("save the Okta session in the keyring: %w", err)
	}
	a.emit("okta-session", "Okta session saved for reuse (expires %s)", fmtTime(exp))
	return nil
}

// reuse gets the assertion through a saved session while it lives; ok is
// false when there is none or Okta has ended it (then it is forgotten).
func (a *App) reuse(ctx context.Context, sid string, exp time.Time, msg string) (*saml.Assertion, bool, error) {
	if sid == "" || (!exp.IsZero() && !a.now().Before(exp)) {
		return nil, false, nil
	}
	a.emit("okta-session", msg, fmtTime(exp))
	page, err := a.Okta.SAMLResponse(ctx, a.Profile.AppURL, okta.AppAuth{SID: secret.New(sid)})
	switch {
	case err == nil:
		as, err := a.readPage(page)
		if errors.Is(err, ErrLoginRequired) {
			return nil, false, nil
		}
		return as, err == nil, err
	case errors.Is(err, okta.ErrSessionExpired):
		a.emit("okta-session", "the Okta session has ended")
		_ = a.Sessions.DeleteSession(ctx, a.Profile.Name)
		return nil, false, nil
	default:
		return nil, false, err
	}
}

func (a *App) readPage(page *okta.AppPage) (*saml.Assertion, error) {
	as, err := saml.FromPage(page.HTML)
	if err != nil {
		if errors.Is(err, saml.ErrSignInPage) {
			return nil, a.loginRequired("Okta session expired")
		}
		return nil, err
	}
	if len(as.Roles) == 0 {
		return nil, saml.ErrNoRoles
	}
	a.emit("saml", "SAML assertion for %s with %d role(s), session duration %s", as.NameID, len(as.Roles), as.SessionDuration)
	return as, nil
}

// Captured is what a sign-in outside Okta's APIs (the person's browser)
// captured: the SAML form the AWS app's page posted and the Okta session
// cookie the sign-in left.
type Captured struct {
	// SAMLResponse is the base64 SAML response, as the page posted it.
	SAMLResponse secret.String
	RelayState   string
	// SID is the Okta session cookie ("" when there was none), and
	// SIDExpires its expiry (zero for a cookie without one).
	SID        secret.String
	SIDExpires time.Time
}

// FromCaptured reads the assertion of a sign-in outside Okta's APIs and
// keeps the Okta session it opened, as Password keeps its own, so later
// logins and refreshes reuse it.
func (a *App) FromCaptured(ctx context.Context, c Captured) (*Assertion, error) {
	as, err := saml.Decode(c.SAMLResponse.Reveal())
	if err != nil {
		return nil, err
	}
	as.RelayState = c.RelayState
	if len(as.Roles) == 0 {
		return nil, saml.ErrNoRoles
	}
	if !c.SID.IsZero() && (c.SIDExpires.IsZero() || a.now().Before(c.SIDExpires)) {
		if err := a.saveSession(ctx, c.SID.Reveal(), c.SIDExpires); err != nil {
			return nil, err
		}
	}
	a.emit("saml", "SAML assertion for %s with %d role(s), session duration %s", as.NameID, len(as.Roles), as.SessionDuration)
	return as, nil
}

// Session is the saved Okta session as an assertion source, with a
// sign-in source behind it for when the session is missing or has ended.
// Many callers at once share one sign-in.
type Session struct {
	App *App
	// SignIn opens a new Okta session (Password, Device). nil means only
	// the saved session may be used: when it has ended, the error matches
	// ErrLoginRequired and names the command to run.
	SignIn AssertionSource
	// Force signs in again rather than reuse the session saved when the
	// call started. That session (and the credentials it wrote) stays
	// until the new sign-in has succeeded, so a mistyped password or an
	// unreachable Okta leaves the user with what they had. A session that
	// another login saved meanwhile is reused: it is as new as this one
	// would be.
	Force bool
	// Lock, when set, is held around a new sign-in so that concurrent
	// logins of the same user (several processes started at once) take
	// turns; after waiting, a login reuses the session the one before it
	// saved instead of signing in again. unlock is called when the
	// sign-in is over.
	Lock func(ctx context.Context) (unlock func(), err error)

	flight singleflight.Group
}

// Assertion returns an assertion through the saved session while it lives,
// else through SignIn.
func (s *Session) Assertion(ctx context.Context) (*Assertion, error) {
	v, err, _ := s.flight.Do("assertion", func() (any, error) { return s.assertion(ctx) })
	if err != nil {
		return nil, explainUnreachable(err, "Okta", fmt.Sprintf(oktaHint, s.App.Profile.Name))
	}
	return v.(*saml.Assertion), nil
}

func (s *Session) assertion(ctx context.Context) (*saml.Assertion, error) {
	a := s.App
	if a.Profile.AppURL == "" {
		return nil, fmt.Errorf("profile %s has no app_url: set it to the AWS app's embed link", a.Profile.Name)
	}
	// seen is the session saved when this call started: Force does not
	// reuse it, but a different one saved while this call waited is new.
	seen, exp, err := a.loadSession(ctx)
	if err != nil {
		return nil, err
	}
	if !s.Force {
		if as, ok, err := a.reuse(ctx, seen, exp, "reusing the Okta session (expires %s)"); ok || err != nil {
			return as, err
		}
	}
	if s.SignIn == nil {
		return nil, a.loginRequired("Okta session expired")
	}
	if s.Lock != nil {
		unlock, err := s.Lock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		sid, exp, err := a.loadSession(ctx)
		if err != nil {
			return nil, err
		}
		if sid != seen {
			if as, ok, err := a.reuse(ctx, sid, exp, "reusing the Okta session another login just saved (expires %s)"); ok || err != nil {
				return as, err
			}
		}
	}
	return s.SignIn.Assertion(ctx)
}

// Password signs in to Okta with a password and MFA (the Classic
// authentication API) and redeems the session token at the AWS app,
// keeping the session cookie Okta sets.
type Password struct {
	App *App
	// Password returns the Okta password; it is asked only when a sign-in
	// is needed.
	Password func(ctx context.Context) (string, error)
	// MFA answers Okta's second-factor questions.
	MFA *okta.MFA
}

// Assertion signs in and returns the app's assertion.
func (p *Password) Assertion(ctx context.Context) (*Assertion, error) {
	a := p.App
	if a.Profile.Username == "" {
		return nil, fmt.Errorf("profile %s has no username: set the Okta user name", a.Profile.Name)
	}
	if p.Password == nil {
		return nil, a.loginRequired("Okta sign-in needed")
	}
	password, err := p.Password(ctx)
	if err != nil {
		return nil, err
	}
	a.emit("okta-authn", "signing in to %s as %s", a.Okta.BaseURL, a.Profile.Username)
	res, err := a.Okta.Authenticate(ctx, a.Profile.Username, password, p.MFA)
	if err != nil {
		return nil, err
	}
	if res.Factor != nil {
		a.emit("okta-authn", "verified %s", res.Factor)
	}
	for _, w := range res.Warnings {
		a.emit("warning", "%s", w)
	}
	// The session Okta granted is saved before the AWS app is asked, so a
	// refusal there (a 403, an app not assigned) costs no second MFA on
	// the next try.
	sess, err := a.Okta.CreateSession(ctx, res.SessionToken.Reveal())
	if err != nil {
		return nil, err
	}
	if a.Sessions != nil {
		if err := a.Sessions.SaveSession(ctx, a.Profile.Name, sess.ID, sess.ExpiresAt); err != nil {
			return nil, fmt.Errorf("save the Okta session in the keyring: %w", err)
		}
		a.emit("okta-session", "Okta session saved for reuse (expires %s)", fmtTime(sess.ExpiresAt))
	}
	page, err := a.Okta.SAMLResponse(ctx, a.Profile.AppURL, okta.AppAuth{SID: secret.New(sess.ID)})
	if err != nil {
		return nil, err
	}
	if !page.SID.IsZero() && page.SID.Reveal() != sess.ID {
		return a.keep(ctx, page)
	}
	return a.readPage(page)
}

// Logout closes the saved Okta session and forgets it; tokens, when set,
// forgets the OIDC refresh token and device secret too, so no later login
// skips the browser. Then it removes the profile's AWS profiles from files
// and returns their names.
func Logout(ctx context.Context, app *App, tokens TokenCache, files Files) ([]string, error) {
	// The refresh token is revoked at Okta before it is forgotten, so a
	// copy of the keyring taken earlier cannot sign in afterwards. When
	// Okta cannot be reached the rest of the logout still happens, and the
	// token stays in the keyring for the next logout to revoke.
	var revokeErr error
	if tokens != nil {
		refresh, _, err := tokens.LoadTokens(ctx, app.Profile.Name)
		if err != nil {
			return nil, fmt.Errorf("read the Okta tokens from the keyring: %w", err)
		}
		if refresh != "" {
			revokeErr = app.Okta.RevokeToken(ctx, app.Profile.OIDCClientID, refresh)
		}
		if revokeErr == nil {
			if refresh != "" {
				app.emit("okta-token", "revoked the refresh token at Okta")
			}
			if err := tokens.DeleteTokens(ctx, app.Profile.Name); err != nil {
				return nil, fmt.Errorf("remove the Okta tokens from the keyring: %w", err)
			}
		}
	}
	if app.Sessions != nil {
		sid, _, err := app.Sessions.LoadSession(ctx, app.Profile.Name)
		if err == nil && sid != "" {
			// The session may already be gone; forgetting it is what matters.
			_ = app.Okta.CloseSession(ctx, sid)
		}
		if err := app.Sessions.DeleteSession(ctx, app.Profile.Name); err != nil {
			return nil, fmt.Errorf("remove the Okta session from the keyring: %w", err)
		}
	}
	removed, err := RemoveProfiles(files, app.Profile.Name)
	if err == nil && revokeErr != nil {
		err = fmt.Errorf("logged out here, but the OIDC refresh token could not be revoked at Okta (%w); it stays in the keyring so that running `oktafed logout --profile %s` again, once Okta can be reached, revokes it", revokeErr, app.Profile.Name)
	}
	return removed, err
}

// TimeLayout is how times are shown to people: with the date, since an
// Okta session or a role's credentials may last past midnight.
const TimeLayout = "2006-01-02 15:04 MST"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "when Okta ends it"
	}
	return t.Local().Format(TimeLayout)
}

// appFromTokens trades an Identity Engine sign-in's OIDC tokens for a web
// SSO token for the AWS app, opens the app with it and keeps the Okta
// session its page sets: where the device flow and Direct Authentication
// end alike.
func (a *App) appFromTokens(ctx context.Context, tokens *okta.Tokens, appID string) (*saml.Assertion, error) {
	wst, err := a.Okta.WebSSOToken(ctx, a.Profile.OIDCClientID, tokens, appID)
	if err != nil {
		return nil, err
	}
	page, err := a.Okta.WebSSO(ctx, wst)
	if err != nil {
		return nil, err
	}
	return a.keep(ctx, page)
}
