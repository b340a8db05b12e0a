package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/oktafed/oktafed/cmd/internal/buildinfo"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/keystore"
	"github.com/oktafed/oktafed/ledger"
	"github.com/oktafed/oktafed/okta"
)

// Kinds of secrets the CLI keeps per profile in the keystore.
const (
	secretPassword = string(keystore.KindPassword)
	secretTOTP     = string(keystore.KindTOTPSeed)
	secretSession  = string(keystore.KindOktaSession)
)

// secretStore is where the CLI keeps a profile's secrets: the library's
// Keyring, which awsauth.KeyringSessions (the refresh path) also reads.
type secretStore = awsauth.Keyring

// profileFlags are the flags every profile-using command shares.
type profileFlags struct {
	profile        string
	nonInteractive bool
	output         string
}

func (f *profileFlags) register(cmd *cobra.Command, profileHelp string) {
	cmd.Flags().StringVarP(&f.profile, "profile", "p", "", profileHelp)
	cmd.Flags().BoolVar(&f.nonInteractive, "non-interactive", false, "never prompt; fail with a message naming the flag or variable to set (also OKTAFED_NON_INTERACTIVE=1)")
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles)
}

func (f *profileFlags) registerOutput(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

func (f *profileFlags) checkOutput() error {
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("--output %q: choose text or json", f.output)
	}
	return nil
}

// oktafedProfileName resolves the oktafed profile: the flag, else
// OKTAFED_PROFILE, else "default".
func oktafedProfileName(ios *IOStreams, flag string) string {
	if flag != "" {
		return flag
	}
	if v := ios.getenv("OKTAFED_PROFILE"); v != "" {
		return v
	}
	return config.DefaultProfile
}

func interactiveAllowed(ios *IOStreams, f *profileFlags) bool {
	return !f.nonInteractive && ios.getenv("OKTAFED_NON_INTERACTIVE") == "" && ios.InTTY && ios.ErrTTY
}

// loadConfig reads the oktafed config file.
func loadConfig(ios *IOStreams) (*config.File, string, error) {
	path, err := config.Path(ios.getenv)
	if err != nil {
		return nil, "", err
	}
	f, err := config.Load(path)
	return f, path, err
}

// profileSetup is what commands that act for one oktafed profile load.
type profileSetup struct {
	cfg     *config.File
	cfgPath string
	profile *config.Profile
	secrets secretStore
}

// loadProfile reads the oktafed config, picks the named profile (flag,
// OKTAFED_PROFILE, default) and opens the keyring.
func loadProfile(ios *IOStreams, flag string) (*profileSetup, error) {
	cfg, path, err := loadConfig(ios)
	if err != nil {
		return nil, err
	}
	p, err := cfg.Profile(oktafedProfileName(ios, flag))
	if err != nil {
		return nil, err
	}
	secrets, err := openSecrets(ios)
	if err != nil {
		return nil, err
	}
	return &profileSetup{cfg: cfg, cfgPath: path, profile: p, secrets: secrets}, nil
}

// factory builds what the commands of one run share: one HTTP client,
// one keyring opened on first need, and the library's resolver over both.
// NewRootCmd makes one per command tree; every command reaches it through
// its IOStreams.
type factory struct {
	ios *IOStreams
	// waiting is the one spinner of the run: a pending push, a countdown,
	// or (on a terminal) a call that takes long.
	waiting *waitIndicator
	hc      *http.Client
	res     *awsauth.Resolver

	keyOnce sync.Once
	keys    secretStore
	keyErr  error
}

// newFactory is the factory of a run whose calls have deadlines d.
func newFactory(ios *IOStreams, d federation.Deadlines) *factory {
	f := &factory{ios: ios, waiting: &waitIndicator{}}
	f.hc = d.HTTPClient()
	if ios.ErrTTY {
		f.hc = waitingClient(ios, f.hc, f.waiting)
	}
	// The resolver reads the environment through ios and the Okta session
	// from this keyring, so the CLI and Go programs using awsauth resolve
	// and refresh profiles the same way.
	// A refresh never signs in with a password; its warnings (e.g.
	// credentials that could not be cached) are shown.
	f.res = &awsauth.Resolver{Getenv: ios.getenv, HTTPClient: f.hc, UserAgent: "oktafed/" + buildinfo.Version(), Clock: ios.Clock,
		Sessions: awsauth.KeyringSessions{Keyring: lazyKeyring{f}},
		Events: func(e federation.Event) {
			if e.Step == "warning" {
				fmt.Fprintf(ios.ErrOut, "%s %s\n", colorize(ios, cyan, "!"), e.Detail)
			}
		}}
	return f
}

// deadlinesFor are the network deadlines of a run of cmd:
// OKTAFED_CONNECT_TIMEOUT and OKTAFED_RESPONSE_TIMEOUT (checked before any
// command runs), else the command's defaults.
func deadlinesFor(ios *IOStreams, cmd *cobra.Command) federation.Deadlines {
	if cmd != nil && cmd.Name() == "credential-process" {
		return credentialProcessDeadlines(ios)
	}
	d, err := federation.DeadlinesFromEnv(ios.getenv)
	if err != nil {
		return federation.Deadlines{}
	}
	return d
}

// keyring opens the OS keyring, or the encrypted-file keyring where there
// is none, once; on a terminal it may ask for the file's passphrase when
// OKTAFED_KEYRING_PASSWORD is not set.
func (f *factory) keyring() (secretStore, error) {
	f.keyOnce.Do(func() {
		ios := f.ios
		opts := keystore.Options{Getenv: ios.getenv}
		if ios.InTTY && ios.ErrTTY {
			opts.Passphrase = func(prompt string) (string, error) { return newPrompter(ios).Password(prompt) }
		}
		kr, err := keystore.Open(opts)
		if err != nil {
			f.keyErr = fmt.Errorf("open the keyring: %w", err)
			return
		}
		f.keys = keyringStore{kr}
	})
	return f.keys, f.keyErr
}

// lazyKeyring is the factory's keyring, opened when first read.
type lazyKeyring struct{ f *factory }

func (k lazyKeyring) Get(ctx context.Context, profile, kind string) (string, error) {
	s, err := k.f.keyring()
	if err != nil {
		return "", err
	}
	return s.Get(ctx, profile, kind)
}

func (k lazyKeyring) Set(ctx context.Context, profile, kind, value string) error {
	s, err := k.f.keyring()
	if err != nil {
		return err
	}
	return s.Set(ctx, profile, kind, value)
}

func (k lazyKeyring) Remove(ctx context.Context, profile, kind string) error {
	s, err := k.f.keyring()
	if err != nil {
		return err
	}
	return s.Remove(ctx, profile, kind)
}

// httpClientFor is the client every network call of the run makes.
func httpClientFor(ios *IOStreams) *http.Client { return ios.factory().hc }

// resolverFor is the library's resolver of oktafed-written AWS profiles.
func resolverFor(ios *IOStreams) *awsauth.Resolver { return ios.factory().res }

// stsEndpoint honours AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, then the
// profile's sts_endpoint.
func stsEndpoint(ios *IOStreams, p *config.Profile) string {
	return resolverFor(ios).STSEndpoint(p)
}

func profileRegion(ios *IOStreams, p *config.Profile) string {
	return resolverFor(ios).Region(p)
}

// ownedRegion is the region a program using owned should call: the region
// of the oktafed profile that wrote it, else AWS_REGION, else
// AWS_DEFAULT_REGION. env and exec both pass it on, so a child never falls
// back to another profile's region (and a signature for the wrong one).
func ownedRegion(ios *IOStreams, owned federation.Owned) string {
	if cfg, _, err := loadConfig(ios); err == nil {
		if p, ok := cfg.Profiles[owned.OktafedProfile]; ok {
			return profileRegion(ios, p)
		}
	}
	return firstNonEmpty(ios.getenv("AWS_REGION"), ios.getenv("AWS_DEFAULT_REGION"))
}

// loginDeps are what building a profile's sign-in needs beyond the profile.
type loginDeps struct {
	ios         *IOStreams
	secrets     secretStore
	interactive bool
	mfa         string // preferred factor override
	events      func(federation.Event)
	// waiting is the spinner shown while a push is pending; every later
	// step stops it so the next prompt is not drawn over.
	waiting *waitIndicator
}

// waitIndicator holds the spinner of a pending push.
type waitIndicator struct {
	mu sync.Mutex
	sp *spinner
	// clock paces countdowns; the wall clock when nil.
	clock clock.Clock
}

func (w *waitIndicator) start(ios *IOStreams, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sp.Stop()
	w.sp = startSpinner(ios, msg)
}

// tick refreshes the spinner's message every second until deadline or
// until the spinner is stopped, for countdowns.
func (w *waitIndicator) tick(msg func() string, deadline time.Time) {
	w.mu.Lock()
	sp := w.sp
	w.mu.Unlock()
	if sp == nil {
		return
	}
	c := clock.Or(w.clock)
	go func() {
		for c.Now().Before(deadline) {
			select {
			case <-sp.stop:
				return
			case <-clock.After(c, time.Second):
				sp.Update(msg())
			}
		}
	}()
}

// running reports whether a spinner is shown.
func (w *waitIndicator) running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sp != nil
}

func (w *waitIndicator) stop() {
	w.mu.Lock()
	sp := w.sp
	w.sp = nil
	w.mu.Unlock()
	sp.Stop()
}

// eventsFor is what a login of the CLI reports: every event first stops a
// pending spinner so the next line is not drawn over.
func eventsFor(d loginDeps) func(federation.Event) {
	return func(e federation.Event) {
		d.waiting.stop()
		if d.events != nil {
			d.events(e)
		}
	}
}

// newLogin builds the whole login of p in one library call
// (awsauth.Resolver.NewLogin): the saved Okta session, the sign-in of
// choice behind it with the prompts, the keyring, the browser and the
// sign-in lock of this run, STS and the AWS files.
func newLogin(ctx context.Context, p *config.Profile, d loginDeps, s signInFlags) (*federation.Login, error) {
	o, err := signInOptions(ctx, p, d, s)
	if err != nil {
		return nil, err
	}
	return resolverFor(d.ios).NewLogin(ctx, p, awsauth.LoginOptions{SignIn: o, LookupAliases: s.aliases, Events: eventsFor(d)})
}

// signInLedger opens the record that lets concurrent logins of p's user
// take turns and spend each TOTP code once. Without one (no writable state
// directory) logins still work, only without that coordination.
func signInLedger(ios *IOStreams, p *config.Profile) *ledger.Ledger {
	dir, err := ledger.DefaultDir(ios.getenv)
	if err == nil {
		var lg *ledger.Ledger
		if lg, err = ledger.Open(dir, p.OrgURL, p.Username); err == nil {
			return lg
		}
	}
	fmt.Fprintf(ios.ErrOut, "%s concurrent logins cannot coordinate: %v (set XDG_STATE_HOME to a writable directory)\n", colorize(ios, cyan, "!"), err)
	return nil
}

// passwordSource finds the Okta password: OKTA_PASSWORD, the keyring, or a
// prompt.
func passwordSource(d loginDeps, p *config.Profile) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if v := d.ios.getenv("OKTA_PASSWORD"); v != "" {
			return v, nil
		}
		v, err := d.secrets.Get(ctx, p.Name, secretPassword)
		if err != nil {
			// A keyring that cannot be read (a wrong passphrase) is said
			// so, never passed over: the session this sign-in saves would
			// land where the saved password cannot be read.
			return "", err
		}
		if v != "" {
			return v, nil
		}
		if !d.interactive {
			return "", needInteractive("the Okta password for "+p.Username, "OKTA_PASSWORD in the environment", "")
		}
		return newPrompter(d.ios).Password(fmt.Sprintf("Okta password for %s", p.Username))
	}
}

// mfaFor answers Okta's MFA questions: a TOTP seed from the environment or
// keyring, the preferred factor, and prompts on a terminal.
func mfaFor(ctx context.Context, d loginDeps, p *config.Profile, lg *ledger.Ledger) (*okta.MFA, error) {
	m := &okta.MFA{Preferred: p.MFA}
	if d.mfa != "" {
		m.Preferred = d.mfa
	}
	seed := d.ios.getenv("OKTAFED_TOTP_SECRET")
	if seed == "" {
		var err error
		if seed, err = d.secrets.Get(ctx, p.Name, secretTOTP); err != nil {
			return nil, err
		}
	}
	var codes *ledger.TOTP
	if seed != "" {
		// Codes come from the ledger, so no two logins on this machine
		// send the same one (with no ledger, at least not this one twice).
		codes = &ledger.TOTP{Seed: seed, Ledger: lg, Clock: d.ios.Clock, Waiting: func(until time.Time) { waitForWindow(d, until) }}
	}
	pr := newPrompter(d.ios)
	m.PushNumber = func(n int) {
		// The number gets a line of its own: a spinner drawn on the
		// current line is stopped first and started again below it.
		restart := d.waiting.running()
		d.waiting.stop()
		fmt.Fprintf(d.ios.ErrOut, "%s Okta Verify: tap %s on your phone\n", colorize(d.ios, cyan, "!"), colorize(d.ios, bold, fmt.Sprint(n)))
		if restart {
			d.waiting.start(d.ios, fmt.Sprintf("Waiting for you to approve the Okta Verify push (tap %d)…", n))
		}
	}
	m.Waiting = func(f okta.Factor) {
		if d.interactive {
			d.waiting.start(d.ios, "Waiting for you to approve the Okta Verify push…")
		} else {
			fmt.Fprintln(d.ios.ErrOut, "Waiting for the Okta Verify push to be approved…")
		}
	}
	m.Code = func(ctx context.Context, cp okta.CodePrompt) (string, error) {
		d.waiting.stop()
		if codes != nil && cp.Factor.Kind == okta.KindTOTP {
			return codes.Answer(ctx, cp)
		}
		if !d.interactive {
			return "", needInteractive("a code for "+cp.Factor.String(), "OKTAFED_TOTP_SECRET (for TOTP) or run in a terminal", "")
		}
		q := fmt.Sprintf("Code from %s", cp.Factor)
		if cp.Attempt > 1 {
			q = "That code was not accepted; " + q
		}
		return pr.Input(q, "")
	}
	if codes != nil && m.Preferred == "" {
		// With a seed at hand, TOTP needs nobody, as okta.MFA.TOTPSeed
		// would have it.
		m.Choose = func(ctx context.Context, fs []okta.Factor) (okta.Factor, error) {
			for _, f := range fs {
				if f.Kind == okta.KindTOTP {
					return f, nil
				}
			}
			return fs[0], nil
		}
	} else if d.interactive {
		m.Choose = func(ctx context.Context, fs []okta.Factor) (okta.Factor, error) {
			names := make([]string, len(fs))
			for i, f := range fs {
				names[i] = f.String()
			}
			i, err := pr.Select("Which factor?", names)
			if err != nil {
				return okta.Factor{}, err
			}
			return fs[i], nil
		}
	}
	return m, nil
}

// waitForWindow tells the person that the TOTP code must wait for the next
// window: a countdown on a terminal, one plain line otherwise.
func waitForWindow(d loginDeps, until time.Time) {
	msg := func() string {
		left := until.Sub(clock.Or(d.waiting.clock).Now()).Round(time.Second)
		if left < 0 {
			left = 0
		}
		return fmt.Sprintf("Waiting %d s for the next TOTP code (this window's code was used by another sign-in, or is about to expire)…", int(left/time.Second))
	}
	if !d.ios.ErrTTY {
		fmt.Fprintln(d.ios.ErrOut, msg())
		return
	}
	d.waiting.start(d.ios, msg())
	d.waiting.tick(msg, until)
}

// resolveAWSProfile finds the oktafed-owned AWS profile a command acts on:
// name may be an AWS profile that oktafed wrote, or an oktafed profile whose
// role selects exactly one written profile (role overrides it).
func resolveAWSProfile(ios *IOStreams, name, role string) (federation.Owned, error) {
	return resolverFor(ios).Resolve(name, role)
}

// exitCodeLoginRequired is credential-process's and exec's exit code when a
// person must log in; scripts can tell it from other failures.
const exitCodeLoginRequired = 3

func withExitCode(err error) error {
	if errors.Is(err, federation.ErrLoginRequired) {
		return &exitError{code: exitCodeLoginRequired, err: err}
	}
	return err
}

func completeProfiles(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var names []string
	ios := System()
	if cfg, _, err := loadConfig(ios); err == nil {
		names = append(names, cfg.Names()...)
	}
	if owned, err := resolverFor(ios).Owned(); err == nil {
		for _, o := range owned {
			names = append(names, o.AWSProfile)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// waitNoticeAfter is how long a call runs before a terminal is told what
// it waits for.
const waitNoticeAfter = time.Second

// waitingTransport shows, on a terminal, which host a call waits for once
// it has taken waitNoticeAfter: a firewall that holds the connection, or
// a slow Okta, is then visible rather than a blank screen. It draws only
// when no other wait (a push) is shown.
type waitingTransport struct {
	base http.RoundTripper
	ios  *IOStreams
	w    *waitIndicator
}

func (t *waitingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var mu sync.Mutex
	done, shown := false, false
	timer := time.AfterFunc(waitNoticeAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if !done && !t.w.running() {
			t.w.start(t.ios, fmt.Sprintf("Waiting for %s to answer (%s %s)…", r.URL.Host, r.Method, r.URL.Path))
			shown = true
		}
	})
	resp, err := t.base.RoundTrip(r)
	timer.Stop()
	mu.Lock()
	done = true
	if shown {
		t.w.stop()
	}
	mu.Unlock()
	return resp, err
}

// waitingClient is hc with waitingTransport around its transport.
func waitingClient(ios *IOStreams, hc *http.Client, w *waitIndicator) *http.Client {
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &waitingTransport{base: base, ios: ios, w: w}
	return &c
}
