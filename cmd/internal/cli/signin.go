package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/okta"
)

// The library chooses and builds a login's sign-in (federation.NewSignIn,
// through awsauth.Resolver.NewLogin): a flag of this run, else the
// profile's sign_in, else the org's kind. This file turns login's flags
// into that choice, gives the library the parts that talk to the person
// (prompts, the browser, the device code), and words the library's typed
// errors as commands to run.

// signInFlags are login's flags that shape its sign-in.
type signInFlags struct {
	method  string // --sign-in
	device  bool   // --device
	open    bool   // --open: the device sign-in page in the browser
	force   bool   // --force
	aliases bool   // --lookup-aliases
	browser *browserFlags
}

// signInMethod is the way of signing in the flags ask for ("" when they
// leave it to the profile and the org) and which flag asks for it.
func signInMethod(s signInFlags) (method, reason string, err error) {
	f := s.browser
	var set []string
	if s.method != "" {
		if !slices.Contains(config.SignInMethods, s.method) {
			return "", "", fmt.Errorf("--sign-in %q: choose one of %s", s.method, strings.Join(config.SignInMethods, ", "))
		}
		set = append(set, s.method)
		reason = "--sign-in " + s.method
	}
	for _, c := range []struct {
		on     bool
		method string
	}{{f.browser, "browser"}, {f.direct, "direct"}, {s.device, "device"}} {
		if c.on {
			set = append(set, c.method)
			reason = "--" + c.method
		}
	}
	if len(set) > 1 {
		return "", "", errors.New("--sign-in, --browser, --direct and --device are different ways to sign in: choose one")
	}
	if f.timeout <= 0 {
		return "", "", fmt.Errorf("--browser-timeout %s: give a positive duration such as 5m", f.timeout)
	}
	if len(set) == 0 {
		return "", "", nil
	}
	return set[0], reason, nil
}

// signInOptions are the parts of p's sign-in that belong to this run: the
// password (environment, keyring, prompt), the MFA answers, the device
// flow's tokens and code, the browser, and the ledger's lock that lets
// concurrent logins of one user take turns.
func signInOptions(ctx context.Context, p *config.Profile, d loginDeps, s signInFlags) (federation.SignInOptions, error) {
	method, reason, err := signInMethod(s)
	if err != nil {
		return federation.SignInOptions{}, err
	}
	lg := signInLedger(d.ios, p)
	mfa, err := mfaFor(ctx, d, p, lg)
	if err != nil {
		return federation.SignInOptions{}, err
	}
	o := federation.SignInOptions{
		Method: method, Reason: reason, Force: s.force,
		Password: passwordSource(d, p),
		MFA:      mfa,
		Tokens:   storeTokens{d.secrets},
		ShowDeviceCode: func(ctx context.Context, da *okta.DeviceAuthorization) error {
			showDeviceCode(d.ios, da.VerificationURI, da.VerificationURIComplete, da.UserCode, s.open)
			return nil
		},
		Browser: browserProgram(d, s.browser),
	}
	if d.interactive {
		o.OfferBrowser = func(ctx context.Context, err error) (bool, error) {
			fmt.Fprintf(d.ios.ErrOut, "%s %v\n", colorize(d.ios, cyan, "!"), err)
			idx, perr := newPrompter(d.ios).Select("Your Okta factors need a browser. Sign in in your browser now?", []string{"Yes, open the browser", "No"})
			return perr == nil && idx == 0, perr
		}
	}
	if lg != nil {
		o.Lock = func(ctx context.Context) (func(), error) {
			return lg.Lock(ctx, func() {
				d.waiting.stop()
				fmt.Fprintf(d.ios.ErrOut, "Another oktafed login for %s is signing in; waiting to reuse its Okta session…\n", p.Username)
			})
		}
	}
	return o, nil
}

// signInAdvice words a sign-in's error for the command line: the library
// names what failed, the CLI the flag or command that helps.
func signInAdvice(err error, p *config.Profile, d loginDeps) error {
	var ue *federation.SignInUnavailableError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue):
		msg := fmt.Sprintf("profile %s signs in with %s, which %v", p.Name, ue.Choice, browserHint(ue.Err))
		if alt := signInAlternatives(p, ue.Choice.Method, ue.Alternatives); len(alt) > 0 {
			msg += "\nWays that work here:\n  " + strings.Join(alt, "\n  ")
		}
		return errors.New(msg)
	case !d.interactive && (errors.Is(err, okta.ErrNoUsableFactor) || errors.Is(err, okta.ErrFactorUnusable)):
		return fmt.Errorf("%w\nSign in in your browser instead: oktafed login --browser (or make it the profile's way with `oktafed init --browser`)", err)
	}
	return browserHint(err)
}

// signInAlternatives lists, as commands, the ways that can sign p in
// here (methods, in the library's order), and how to get the OIDC ways
// when the profile lacks a client id.
func signInAlternatives(p *config.Profile, skip string, methods []string) []string {
	var out []string
	for _, m := range methods {
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
