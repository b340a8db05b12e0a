package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/federation/browser"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/keystore"
	"github.com/oktafed/oktafed/okta"
)

type check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
}

func newDoctorCmd(ios *IOStreams) *cobra.Command {
	var opts profileFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the configuration, keyring, clock and network for a profile",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkOutput(); err != nil {
				return err
			}
			checks := runDoctor(cmd.Context(), ios, oktafedProfileName(ios, opts.profile))
			failed := 0
			for _, c := range checks {
				if c.Status == "fail" {
					failed++
				}
			}
			if opts.output == "json" {
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(checks); err != nil {
					return err
				}
			} else {
				for _, c := range checks {
					mark := map[string]string{"ok": colorize(ios, green, "✓"), "warn": colorize(ios, cyan, "!"), "fail": colorize(ios, red, "✗")}[c.Status]
					fmt.Fprintf(ios.Out, "%s %-16s %s\n", mark, c.Name, c.Detail)
				}
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d check(s) failed", failed)}
			}
			return nil
		},
	}
	opts.register(cmd, "oktafed profile to check (default: $OKTAFED_PROFILE or default)")
	opts.registerOutput(cmd)
	return cmd
}

func runDoctor(ctx context.Context, ios *IOStreams, name string) []check {
	var out []check
	add := func(n, status, format string, args ...any) {
		out = append(out, check{Name: n, Status: status, Detail: fmt.Sprintf(format, args...)})
	}
	cfg, path, err := loadConfig(ios)
	if err != nil {
		add("config", "fail", "%v", err)
		return out
	}
	p, err := cfg.Profile(name)
	if err != nil {
		add("config", "fail", "%s: %v", path, err)
		return out
	}
	add("config", "ok", "profile %s in %s", name, path)

	if secrets, err := openSecrets(ios); err != nil {
		add("keyring", "fail", "%v", err)
	} else {
		n, err := readAllSecrets(ctx, secrets)
		if err != nil {
			add("keyring", "fail", "cannot read: %v", err)
		} else {
			add("keyring", "ok", "%s", n)
			if sid, _, _ := (awsauth.KeyringSessions{Keyring: secrets}).LoadSession(ctx, name); sid == "" {
				add("okta session", "warn", "none saved: the next login asks for your password and MFA")
			} else if s, err := (&okta.Client{BaseURL: p.OrgURL, HTTPClient: httpClientFor(ios)}).Session(ctx, sid); err != nil {
				add("okta session", "warn", "saved session is not valid any more (%v): run `oktafed login --profile %s`", err, name)
			} else {
				add("okta session", "ok", "active until %s", s.ExpiresAt.Local().Format(time.RFC1123))
			}
			status, detail := signInCheck(ctx, ios, p, secrets)
			add("sign-in", status, "%s", detail)
		}
	}

	// The run's client; each reachability check is bounded to 10 s.
	hc := httpClientFor(ios)
	if p.OrgURL != "" {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(octx, http.MethodGet, strings.TrimRight(p.OrgURL, "/")+"/.well-known/okta-organization", nil)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			add("okta", "fail", "%s unreachable: %v (check the URL, proxy and network)", p.OrgURL, err)
		} else {
			var org struct {
				Pipeline string `json:"pipeline"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&org)
			resp.Body.Close()
			rtt := time.Since(start)
			if org.Pipeline == "idx" {
				add("okta", "warn", "%s uses Okta Identity Engine; if password sign-in is refused, ask your admin about the Classic authentication API", p.OrgURL)
			} else {
				add("okta", "ok", "%s reachable (%s, pipeline %s)", p.OrgURL, rtt.Round(time.Millisecond), firstNonEmpty(org.Pipeline, "unknown"))
			}
			if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				skew := time.Until(d) + rtt/2
				if skew < 0 {
					skew = -skew
				}
				if skew > 30*time.Second {
					add("clock", "fail", "this machine's clock is %s off Okta's: TOTP codes and SAML assertions will fail; sync the clock (e.g. timedatectl set-ntp true)", skew.Round(time.Second))
				} else {
					add("clock", "ok", "within %s of Okta's", max(skew.Round(time.Second), time.Second))
				}
			}
		}
	}
	if ep := stsEndpoint(ios, p); ep != "" {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, ep, nil)
		if resp, err := hc.Do(req); err != nil {
			add("sts", "fail", "%s unreachable: %v", ep, err)
		} else {
			resp.Body.Close()
			add("sts", "ok", "%s reachable", ep)
		}
	}

	r := resolverFor(ios)
	files, err := r.AWSFiles()
	if err == nil {
		for _, f := range []string{files.Credentials, files.Config} {
			st, err := os.Stat(f)
			switch {
			case os.IsNotExist(err):
				add("aws files", "ok", "%s does not exist yet (login creates it)", f)
			case err != nil:
				add("aws files", "fail", "%s: %v", f, err)
			case st.Mode().Perm()&0o077 != 0:
				add("aws files", "warn", "%s has mode %v: others can read it; run chmod 600 %s", f, st.Mode().Perm(), f)
			default:
				add("aws files", "ok", "%s (mode %v)", f, st.Mode().Perm())
			}
		}
		if owned, err := r.Owned(); err == nil {
			for _, o := range owned {
				if o.OktafedProfile != name {
					continue
				}
				if time.Now().After(o.Expires) {
					add("aws profile", "warn", "%s expired at %s", o.AWSProfile, o.Expires.Local().Format(federation.TimeLayout))
				} else {
					add("aws profile", "ok", "%s valid until %s", o.AWSProfile, o.Expires.Local().Format(federation.TimeLayout))
				}
			}
		}
	}
	if p.Username == "" || p.AppURL == "" {
		add("profile", "fail", "missing username or app_url: run `oktafed init --profile %s`", name)
	}
	// The browser as login would start it: a program and a display to
	// show its window on (the same check, so the two cannot disagree).
	bin, berr := browserProgram(loginDeps{ios: ios}, &browserFlags{timeout: browser.DefaultTimeout}).Check()
	berr = browserHint(berr)
	instead := "sign in without a browser window: `oktafed login " + profileArg(name) + "--device` or `--direct` (both need oidc_client_id), or `--sign-in password`"
	switch {
	case p.SignIn == "browser" && berr != nil:
		add("browser", "fail", "%v; %s", berr, instead)
	case p.SignIn == "browser":
		add("browser", "ok", "%s signs you in (sign_in: browser)", bin)
	case berr != nil && errors.Is(berr, browser.ErrNoDisplay):
		add("browser", "warn", "%v: `oktafed login --browser` cannot work here; %s", berr, instead)
	}
	return out
}

// readAllSecrets reads every oktafed item in the keyring, so "readable"
// means each one decrypts (one passphrase opens them all), not only that
// the keyring opens.
func readAllSecrets(ctx context.Context, secrets secretStore) (string, error) {
	ks, ok := secrets.(keyringStore)
	if !ok {
		return "readable", nil
	}
	lister, ok := ks.s.(interface {
		Keys() ([]keystore.Key, error)
	})
	if !ok {
		return "readable", nil
	}
	if u, ok := ks.s.(interface{ Unlock() error }); ok {
		if err := u.Unlock(); err != nil {
			return "", err
		}
	}
	keys, err := lister.Keys()
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if _, err := secrets.Get(ctx, k.Profile, string(k.Kind)); err != nil {
			return "", err
		}
	}
	backend := ""
	if b, ok := ks.s.(interface{ Backend() string }); ok {
		backend = b.Backend() + " keyring: "
	}
	return fmt.Sprintf("%sall %d item(s) readable", backend, len(keys)), nil
}

// signInCheck says how the next login would sign in (the same choice
// login makes) and whether that can work here, with the ways that can.
func signInCheck(ctx context.Context, ios *IOStreams, p *config.Profile, secrets secretStore) (status, detail string) {
	d := loginDeps{ios: ios, secrets: secrets}
	app, err := resolverFor(ios).App(p)
	if err != nil {
		return "fail", err.Error()
	}
	f := &browserFlags{timeout: browser.DefaultTimeout}
	c, err := federation.CheckSignIn(ctx, app, federation.SignInOptions{Browser: browserProgram(d, f)})
	var ue *federation.SignInUnavailableError
	switch {
	case errors.As(err, &ue):
		detail := fmt.Sprintf("%s %v", c, browserHint(ue.Err))
		if alt := signInAlternatives(p, c.Method, ue.Alternatives); len(alt) > 0 {
			detail += "; ways that work here: " + strings.Join(alt, "; ")
		}
		return "fail", detail
	case err != nil:
		return "fail", err.Error()
	}
	return "ok", c.String()
}
