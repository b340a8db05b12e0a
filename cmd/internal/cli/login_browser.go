package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/federation/browser"
)

// browserFlags are login's flags for the sign-in methods beside the
// password and the device flow: the person's browser and Okta Direct
// Authentication.
type browserFlags struct {
	browser bool
	path    string
	timeout time.Duration
	direct  bool
}

func (f *browserFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.browser, "browser", false, "sign in in your browser (Chrome, Chromium, Edge or Brave), for security keys, Touch ID, Windows Hello, FastPass and every other Okta authenticator")
	fl.StringVar(&f.path, "browser-path", "", "the browser program for --browser (default: $"+browser.Env+", else Chrome, Chromium, Edge or Brave)")
	fl.DurationVar(&f.timeout, "browser-timeout", browser.DefaultTimeout, "how long to wait for the sign-in in the browser")
	fl.BoolVar(&f.direct, "direct", false, "sign in with Okta Direct Authentication: password, then an Okta Verify push or a TOTP code, no browser (Identity Engine orgs that enabled it; needs oidc_client_id)")
}

// browserTestHook, when set, adjusts every browser sign-in: tests run the
// browser headless and act as the person through Prepare.
var browserTestHook func(*browser.SignIn)

// browserProgram is the browser a sign-in would start, with the test hook
// applied (tests run it headless).
func browserProgram(d loginDeps, f *browserFlags) *browser.SignIn {
	b := &browser.SignIn{
		Program: f.path,
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
	return b
}

// browserHint adds the command-line advice to a browser sign-in's error.
func browserHint(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, browser.ErrNoBrowser):
		return fmt.Errorf("%w (name the program with --browser-path or %s)", err, browser.Env)
	case errors.Is(err, browser.ErrTimeout):
		return fmt.Errorf("%w (run `oktafed login --browser` again, or give it longer with --browser-timeout)", err)
	case errors.Is(err, browser.ErrClosed):
		return fmt.Errorf("%w (run `oktafed login --browser` again)", err)
	}
	return err
}
