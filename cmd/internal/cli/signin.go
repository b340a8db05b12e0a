package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/saml"
	"github.com/oktafed/oktafed/okta"
)

// The one place that decides how a login signs in to Okta when the saved
// session cannot serve it. The order: a flag of this run (--sign-in,
// --browser, --direct, --device), else the profile's sign_in, else the
// org's kind (Classic: password and MFA; Identity Engine: the device flow
// when the profile has oidc_client_id). Whatever is chosen is checked
// before any secret is asked for; when it cannot work here, the error
// names the ways that can, those needing no setup first.

// signInChoice is a sign-in method and why it was chosen.
type signInChoice struct {
	method string // one of config.SignInMethods
	why    string // e.g. "--device", "sign_in: password in the profile"
}

// chooseSignIn picks the sign-in method of a login of app's profile.
func chooseSignIn(ctx context.Context, app *federation.App, f *browserFlags, flag string, device bool) (signInChoice, error) {
	var set []signInChoice
	if flag != "" {
		if !slices.Contains(config.SignInMethods, flag) {
			return signInChoice{}, fmt.Errorf("--sign-in %q: choose one of %s", flag, strings.Join(config.SignInMethods, ", "))
		}
		set = append(set, signInChoice{flag, "--sign-in " + flag})
	}
	for _, c := range []struct {
		on     bool
		method string
	}{{f.browser, "browser"}, {f.direct, "direct"}, {device, "device"}} {
		if c.on {
			set = append(set, signInChoice{c.method, "--" + c.method})
		}
	}
	if len(set) > 1 {
		return signInChoice{}, errors.New("--sign-in, --browser, --direct and --device are different ways to sign in: choose one")
	}
	if f.timeout <= 0 {
		return signInChoice{}, fmt.Errorf("--browser-timeout %s: give a positive duration such as 5m", f.timeout)
	}
	p := app.Profile
	switch {
	case len(set) == 1:
		return set[0], nil
	case p.SignIn != "":
		return signInChoice{p.SignIn, "sign_in: " + p.SignIn + " in profile " + p.Name}, nil
	}
	org, err := app.Okta.Organization(ctx)
	if err != nil || !org.IdentityEngine() {
		// Orgs that do not say are treated as Classic.
		return signInChoice{"password", "the org uses the Classic Engine"}, nil
	}
	// Without oidc_client_id the device flow's check fails, and the error
	// names the ways that work (the browser first).
	return signInChoice{"device", "the org uses Okta Identity Engine"}, nil
}

// signInProblem says why method cannot work for app's profile here, or
// nil when nothing stands in its way.
func signInProblem(app *federation.App, method string, d loginDeps, f *browserFlags) error {
	p := app.Profile
	switch method {
	case "device":
		if p.OIDCClientID == "" {
			return errors.New("needs oidc_client_id: the client id of a native OIDC app with the Device Authorization and Token Exchange grants, which an Okta admin creates")
		}
		return (&federation.Device{App: app}).Check()
	case "direct":
		if p.OIDCClientID == "" {
			return errors.New("needs oidc_client_id: the client id of a native OIDC app with the Resource Owner Password, MFA OOB, MFA OTP and Token Exchange grants, which an Okta admin creates")
		}
		if _, err := okta.AppIDFromURL(p.AppURL); err != nil {
			return err
		}
	case "browser":
		_, err := browserProgram(d, f).Check()
		return browserHint(err)
	}
	return nil
}

// signInAlternatives lists, as commands, the ways other than skip that can
// sign app's profile in here: the browser first when it needs no setup,
// then the password, then the OIDC ways when the profile has a client id.
func signInAlternatives(app *federation.App, skip string, d loginDeps, f *browserFlags) []string {
	p := app.Profile
	var out []string
	for _, m := range []string{"browser", "password", "device", "direct"} {
		if m == skip || signInProblem(app, m, d, f) != nil {
			continue
		}
		cmd := "oktafed login " + profileArg(p.Name)
		switch m {
		case "browser":
			cmd += "--browser` (your browser, every Okta authenticator; no setup)"
		case "password":
			cmd += "--sign-in password` (password and MFA through Okta's authentication API, if the org allows it)"
		default:
			cmd += "--" + m + "`"
		}
		out = append(out, "`"+cmd)
	}
	if p.OIDCClientID == "" && skip != "device" && skip != "direct" {
		out = append(out, fmt.Sprintf("the device flow or Direct Authentication, once an Okta admin gives you a native OIDC app's client id: `oktafed init --profile %s --oidc-client-id …`", shellQuote(p.Name)))
	}
	return out
}

// profileArg is "--profile NAME " for a profile other than the default,
// shell-quoted; "" for the default.
func profileArg(name string) string {
	if name == config.DefaultProfile {
		return ""
	}
	return "--profile " + shellQuote(name) + " "
}

// useSignIn puts the sign-in of choice behind the saved session s, after
// checking that it can work here.
func useSignIn(s *federation.Session, c signInChoice, d loginDeps, f *browserFlags, open bool) error {
	app := s.App
	p := app.Profile
	defer func() {
		// Checked when a sign-in is needed, before it asks for anything:
		// a saved session serves a login whatever the way to sign in.
		s.SignIn = &checkedSignIn{AssertionSource: s.SignIn, check: func() error {
			err := signInProblem(app, c.method, d, f)
			if err == nil {
				return nil
			}
			msg := fmt.Sprintf("profile %s signs in with %s (%s), which %v", p.Name, methodName(c.method), c.why, err)
			if alt := signInAlternatives(app, c.method, d, f); len(alt) > 0 {
				msg += "\nWays that work here:\n  " + strings.Join(alt, "\n  ")
			}
			return errors.New(msg)
		}}
	}()
	switch c.method {
	case "password":
		// A password sign-in whose factors all need a browser offers one.
		s.SignIn = &browserFallback{password: s.SignIn, app: app, deps: d, flags: f}
	case "device":
		// The device flow needs no password, and a person confirming a
		// code must not hold other logins' turn.
		dev := deviceSignIn(app, d, open)
		dev.Force = s.Force // --force: a new device sign-in, not the refresh token
		s.SignIn, s.Lock = dev, nil
	case "direct":
		pw, _ := s.SignIn.(*federation.Password)
		if pw == nil {
			return fmt.Errorf("profile %s: Okta Direct Authentication needs a password", p.Name)
		}
		s.SignIn = &federation.Direct{App: app, Password: pw.Password, MFA: pw.MFA}
	case "browser":
		s.SignIn = newBrowserSignIn(app, d, f)
	}
	return nil
}

func methodName(m string) string {
	switch m {
	case "password":
		return "the password and MFA"
	case "device":
		return "the OIDC device flow"
	case "direct":
		return "Okta Direct Authentication"
	case "browser":
		return "the browser"
	}
	return m
}

// checkedSignIn is a sign-in source that first checks that its way of
// signing in can work here.
type checkedSignIn struct {
	federation.AssertionSource
	check func() error
}

// Assertion checks, then signs in.
func (c *checkedSignIn) Assertion(ctx context.Context) (*saml.Assertion, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.AssertionSource.Assertion(ctx)
}
