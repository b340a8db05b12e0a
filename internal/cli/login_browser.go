package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/config"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/okta"
)

// browserFlags are login's flags for signing in in the person's browser.
type browserFlags struct {
	browser bool
	path    string
	timeout time.Duration
}

func (f *browserFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.browser, "browser", false, "sign in in your browser (Chrome, Chromium, Edge or Brave), for security keys, Touch ID, Windows Hello, FastPass and every other Okta authenticator")
	fl.StringVar(&f.path, "browser-path", "", "the browser program for --browser (default: $"+federation.BrowserEnv+", else Chrome, Chromium, Edge or Brave)")
	fl.DurationVar(&f.timeout, "browser-timeout", federation.DefaultBrowserTimeout, "how long to wait for the sign-in in the browser")
}

// browserTestHook, when set, adjusts every browser sign-in: tests run the
// browser headless and act as the person through Prepare.
var browserTestHook func(*federation.BrowserSignIn)

// loginRunner is what login runs: a Login, DeviceLogin or BrowserLogin.
type loginRunner interface {
	Run(context.Context, string, federation.Chooser, time.Duration) (*federation.Outcome, error)
}

// wantBrowserLogin reports whether this login signs in in the browser.
func wantBrowserLogin(p *config.Profile, f *browserFlags, device bool) (bool, error) {
	if f.browser && device {
		return false, errors.New("--browser and --device are two ways to sign in: choose one")
	}
	if f.timeout <= 0 {
		return false, fmt.Errorf("--browser-timeout %s: give a positive duration such as 5m", f.timeout)
	}
	return f.browser || (!device && p.SignIn == "browser"), nil
}

// browserLogin wraps l in a browser sign-in that talks to the person on
// d.ios.
func browserLogin(l *federation.Login, d loginDeps, f *browserFlags) *federation.BrowserLogin {
	b := &federation.BrowserSignIn{
		Browser: f.path,
		Timeout: f.timeout,
		Getenv:  d.ios.getenv,
		Show: func(u string) {
			if d.waiting != nil {
				d.waiting.stop()
			}
			fmt.Fprintf(d.ios.ErrOut, "Finish signing in in the browser window: %s\n", colorize(d.ios, bold, u))
			fmt.Fprintf(d.ios.ErrOut, "Waiting for the sign-in (up to %s)…\n", f.timeout)
		},
	}
	if browserTestHook != nil {
		browserTestHook(b)
	}
	return &federation.BrowserLogin{Login: l, Browser: b}
}

// browserFallback runs a password login and, when Okta answers that the
// user's only factors need a browser (security keys and the like), offers
// to finish the sign-in in the browser instead.
type browserFallback struct {
	inner loginRunner
	login *federation.Login
	deps  loginDeps
	flags *browserFlags
}

func (b browserFallback) Run(ctx context.Context, selector string, choose federation.Chooser, d time.Duration) (*federation.Outcome, error) {
	out, err := b.inner.Run(ctx, selector, choose, d)
	if err == nil || !(errors.Is(err, okta.ErrNoUsableFactor) || errors.Is(err, okta.ErrFactorUnusable)) {
		return out, err
	}
	ios := b.deps.ios
	if !b.deps.interactive {
		return nil, fmt.Errorf("%w\nSign in in your browser instead: oktafed login --browser (or make it the profile's way with `oktafed init --browser`)", err)
	}
	fmt.Fprintf(ios.ErrOut, "%s %v\n", colorize(ios, cyan, "!"), err)
	idx, perr := newPrompter(ios).Select("Your Okta factors need a browser. Sign in in your browser now?", []string{"Yes, open the browser", "No"})
	if perr != nil || idx != 0 {
		return nil, err
	}
	return browserLogin(b.login, b.deps, b.flags).Run(ctx, selector, choose, d)
}
