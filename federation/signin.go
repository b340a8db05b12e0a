package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/okta"
)

// The one place that decides how a profile signs in to Okta when the saved
// session cannot serve it, and that builds that sign-in. The order: the
// caller's Method (a flag of this run), else the profile's sign_in, else
// the org's kind (Classic: password and MFA; Identity Engine: the device
// flow). Whatever is chosen is checked when a sign-in is needed, before any
// secret is asked for; when it cannot work here the error names the ways
// that can, those needing no setup first.

// BrowserSignIn is a sign-in in the person's browser. Package
// federation/browser implements it (browser.SignIn); it is an interface so
// that libraries taking it do not link a browser.
type BrowserSignIn interface {
	// Available reports why no browser sign-in can start here (no
	// browser program, no display), or nil.
	Available() error
	// Source is the browser sign-in of app's profile.
	Source(app *App) AssertionSource
}

// SignInOptions are what a sign-in needs beyond the profile: how it talks
// to the person, where it keeps tokens, how concurrent sign-ins take turns.
// Every field may be left empty; what is missing limits the ways that work.
type SignInOptions struct {
	// Method is how to sign in when the saved session cannot serve:
	// "password", "browser", "device" or "direct". Empty picks the
	// profile's sign_in, else the org's kind.
	Method string
	// Reason says why Method was picked (e.g. "--device"), for errors.
	Reason string
	// Force signs in again rather than reuse the saved session (see
	// Session.Force and Device.Force).
	Force bool
	// Password returns the Okta password (password and direct sign-ins).
	// nil means no password sign-in: the saved session alone serves, and
	// when it has ended the error matches ErrLoginRequired.
	Password func(ctx context.Context) (string, error)
	// MFA answers Okta's second-factor questions (password and direct).
	MFA *okta.MFA
	// Tokens keeps the device flow's refresh token; nil keeps none.
	Tokens TokenCache
	// ShowDeviceCode presents the device flow's link and code; nil means
	// nobody can confirm one (see Device.Show).
	ShowDeviceCode func(ctx context.Context, d *okta.DeviceAuthorization) error
	// Browser signs in in the person's browser; nil offers no browser.
	Browser BrowserSignIn
	// OfferBrowser, when a password sign-in finds that every factor of
	// the user needs a browser, asks whether to sign in with Browser
	// instead. nil never asks: the error is returned.
	OfferBrowser func(ctx context.Context, err error) (bool, error)
	// Lock, when set, is held around a new sign-in (Session.Lock); the
	// device flow does not take it: a person confirming a code must not
	// hold other logins' turn.
	Lock func(ctx context.Context) (unlock func(), err error)
}

// SignInChoice is a way of signing in and why it was chosen.
type SignInChoice struct {
	Method string // one of "password", "browser", "device", "direct"
	Reason string // e.g. "sign_in: browser in profile work"
}

// String names the way and the reason, e.g. "the browser (--browser)".
func (c SignInChoice) String() string {
	name := c.Method
	switch c.Method {
	case "password":
		name = "the password and MFA"
	case "device":
		name = "the OIDC device flow"
	case "direct":
		name = "Okta Direct Authentication"
	case "browser":
		name = "the browser"
	}
	return name + " (" + c.Reason + ")"
}

// SignInUnavailableError says that the chosen way of signing in cannot
// work here, and which ways can.
type SignInUnavailableError struct {
	Profile string
	Choice  SignInChoice
	// Err is what stands in the way.
	Err error
	// Alternatives are the other methods that can work here: the browser
	// first (it needs no setup), then the password, the device flow and
	// Direct Authentication.
	Alternatives []string
}

func (e *SignInUnavailableError) Error() string {
	return fmt.Sprintf("profile %s signs in with %s, which %v", e.Profile, e.Choice, e.Err)
}

func (e *SignInUnavailableError) Unwrap() error { return e.Err }

// chooseSignIn picks the way app's profile signs in.
func chooseSignIn(ctx context.Context, app *App, o SignInOptions) (SignInChoice, error) {
	p := app.Profile
	switch {
	case o.Method != "":
		if !slices.Contains(config.SignInMethods, o.Method) {
			return SignInChoice{}, fmt.Errorf("sign-in method %q: choose one of %s", o.Method, strings.Join(config.SignInMethods, ", "))
		}
		reason := o.Reason
		if reason == "" {
			reason = "chosen by the caller"
		}
		return SignInChoice{o.Method, reason}, nil
	case p.SignIn != "":
		return SignInChoice{p.SignIn, "sign_in: " + p.SignIn + " in profile " + p.Name}, nil
	}
	org, err := app.Okta.Organization(ctx)
	if err != nil || !org.IdentityEngine() {
		// Orgs that do not say are treated as Classic.
		return SignInChoice{"password", "the org uses the Classic Engine"}, nil
	}
	// Without oidc_client_id the device flow's check fails, and the error
	// names the ways that work (the browser first).
	return SignInChoice{"device", "the org uses Okta Identity Engine"}, nil
}

// problem says why method cannot work for app's profile here, or nil.
func (o SignInOptions) problem(app *App, method string) error {
	p := app.Profile
	switch method {
	case "device":
		if p.OIDCClientID == "" {
			return errors.New("needs oidc_client_id: the client id of a native OIDC app with the Device Authorization and Token Exchange grants, which an Okta admin creates")
		}
		return (&Device{App: app}).Check()
	case "direct":
		if p.OIDCClientID == "" {
			return errors.New("needs oidc_client_id: the client id of a native OIDC app with the Resource Owner Password, MFA OOB, MFA OTP and Token Exchange grants, which an Okta admin creates")
		}
		if _, err := okta.AppIDFromURL(p.AppURL); err != nil {
			return err
		}
	case "browser":
		if o.Browser == nil {
			return errors.New("needs a browser sign-in, and this program offers none")
		}
		return o.Browser.Available()
	}
	return nil
}

// unavailable is the SignInUnavailableError of choice c, or nil when it
// can work here.
func (o SignInOptions) unavailable(app *App, c SignInChoice) error {
	err := o.problem(app, c.Method)
	if err == nil {
		return nil
	}
	e := &SignInUnavailableError{Profile: app.Profile.Name, Choice: c, Err: err}
	for _, m := range []string{"browser", "password", "device", "direct"} {
		if m != c.Method && o.problem(app, m) == nil {
			e.Alternatives = append(e.Alternatives, m)
		}
	}
	return e
}

// CheckSignIn says how a sign-in of app's profile with o would happen
// and, as a *SignInUnavailableError, why that cannot work here. It asks
// nothing of the person; NewSignIn makes the same choice.
func CheckSignIn(ctx context.Context, app *App, o SignInOptions) (SignInChoice, error) {
	c, err := chooseSignIn(ctx, app, o)
	if err != nil {
		return c, err
	}
	return c, o.unavailable(app, c)
}

// NewSignIn builds the whole sign-in of app's profile: the saved Okta
// session, and behind it the way of signing in chosen as CheckSignIn says
// (checked when a sign-in is needed, so a saved session serves whatever
// the way). The result is complete; nothing is set on it afterwards.
func NewSignIn(ctx context.Context, app *App, o SignInOptions) (*Session, error) {
	c, err := chooseSignIn(ctx, app, o)
	if err != nil {
		return nil, err
	}
	var src AssertionSource
	lock := o.Lock
	switch c.Method {
	case "password":
		if o.Password != nil {
			src = &Password{App: app, Password: o.Password, MFA: o.MFA}
			if o.Browser != nil && o.OfferBrowser != nil {
				src = &browserFallback{password: src, browser: o.Browser, app: app, offer: o.OfferBrowser}
			}
		}
	case "device":
		src = &Device{App: app, Tokens: o.Tokens, Show: o.ShowDeviceCode, Force: o.Force}
		lock = nil
	case "direct":
		src = &Direct{App: app, Password: o.Password, MFA: o.MFA}
	case "browser":
		if o.Browser != nil {
			src = o.Browser.Source(app)
		}
	}
	if c.Method != "password" {
		// A password sign-in needs nothing this machine may lack.
		src = &checkedSignIn{src: src, check: func() error { return o.unavailable(app, c) }}
	}
	return &Session{App: app, SignIn: src, Force: o.Force, Lock: lock}, nil
}

// checkedSignIn is a sign-in source that first checks that its way of
// signing in can work here.
type checkedSignIn struct {
	src   AssertionSource
	check func() error
}

func (c *checkedSignIn) Assertion(ctx context.Context) (*Assertion, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.src.Assertion(ctx)
}

// browserFallback is a password sign-in that, when Okta answers that the
// user's only factors need a browser (security keys and the like), offers
// to finish the sign-in in the browser instead.
type browserFallback struct {
	password AssertionSource
	browser  BrowserSignIn
	app      *App
	offer    func(ctx context.Context, err error) (bool, error)
}

func (b *browserFallback) Assertion(ctx context.Context) (*Assertion, error) {
	a, err := b.password.Assertion(ctx)
	if err == nil || !(errors.Is(err, okta.ErrNoUsableFactor) || errors.Is(err, okta.ErrFactorUnusable)) {
		return a, err
	}
	if ok, perr := b.offer(ctx, err); perr != nil || !ok {
		return nil, err
	}
	return b.browser.Source(b.app).Assertion(ctx)
}
