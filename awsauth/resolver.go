package awsauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/keystore"
	"github.com/oktafed/oktafed/internal/owned"
	"github.com/oktafed/oktafed/okta"
)

// ErrLoginRequired matches every error that means a person must run
// `oktafed login` again. It is federation.ErrLoginRequired, so either name
// works with errors.Is.
var ErrLoginRequired = federation.ErrLoginRequired

// LoginRequiredError names the oktafed profile that needs a login; its
// message is the command to run.
type LoginRequiredError = federation.LoginRequiredError

// ErrNoCredentials means no AWS profile written by oktafed matches the name
// asked for. LoadConfig then falls back to the AWS SDK's own chain.
var ErrNoCredentials = errors.New("no AWS credentials from oktafed")

// DefaultRefreshWindow is how long before expiry credentials are refreshed:
// the same window the oktafed CLI and its credential_process use.
const DefaultRefreshWindow = owned.RefreshWindow

// Resolver finds AWS profiles written by oktafed and refreshes their
// credentials through the Okta session. The zero value reads the process
// environment, the AWS CLI's files and the OS keyring. It is safe for
// concurrent use once its fields are set.
type Resolver struct {
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Files are the AWS shared files; federation.DefaultFiles when nil.
	Files *federation.Files
	// Sessions holds the Okta session cookies. nil opens the OS keyring
	// (or the encrypted-file keyring, with OKTAFED_KEYRING_PASSWORD) on
	// first need, never asking for a passphrase.
	Sessions federation.SessionCache
	// HTTPClient makes the Okta and STS calls; nil means one with the
	// connect and response deadlines of federation.DeadlinesFromEnv
	// (OKTAFED_CONNECT_TIMEOUT, OKTAFED_RESPONSE_TIMEOUT).
	HTTPClient *http.Client
	// Clock decides freshness (any value with a Now method; one with
	// After(time.Duration) <-chan time.Time also paces the Okta client's
	// waits); the wall clock when nil.
	Clock interface{ Now() time.Time }
	// RefreshWindow is how long before expiry credentials count as stale;
	// DefaultRefreshWindow when zero.
	RefreshWindow time.Duration
	// UserAgent is sent to Okta.
	UserAgent string
	// Events, when set, is told about each step of a refresh; Step
	// "warning" carries what a person should see (e.g. credentials that
	// could not be cached).
	Events func(federation.Event)
	// Passphrase asks for the encrypted-file keyring's passphrase when
	// OKTAFED_KEYRING_PASSWORD is not set and the keyring is opened
	// because Sessions is nil. nil never asks (programs, credential_process).
	Passphrase func(prompt string) (string, error)

	mu       sync.Mutex
	keyring  federation.SessionCache
	keyErr   error
	keyTried bool
}

func (r *Resolver) getenv(k string) string {
	if r.Getenv != nil {
		return r.Getenv(k)
	}
	return os.Getenv(k)
}

func (r *Resolver) window() time.Duration {
	if r.RefreshWindow > 0 {
		return r.RefreshWindow
	}
	return DefaultRefreshWindow
}

// Owned lists the AWS profiles oktafed wrote in the credentials file.
func (r *Resolver) Owned() ([]federation.Owned, error) {
	files, err := r.AWSFiles()
	if err != nil {
		return nil, err
	}
	return federation.OwnedProfiles(files)
}

// AWSFiles returns the AWS shared files the resolver reads and writes.
func (r *Resolver) AWSFiles() (federation.Files, error) {
	if r.Files != nil {
		return *r.Files, nil
	}
	return federation.DefaultFiles(r.getenv)
}

// oktafedConfig reads oktafed's own configuration ($OKTAFED_CONFIG, else
// the XDG path).
func (r *Resolver) oktafedConfig() (*config.File, error) {
	path, err := config.Path(r.getenv)
	if err != nil {
		return nil, err
	}
	return config.Load(path)
}

// Resolve finds the oktafed-written AWS profile that name means: an AWS
// profile oktafed wrote, or an oktafed profile whose role selects exactly
// one written profile (role, an ARN, overrides the selection). An empty
// name means $AWS_PROFILE, else $OKTAFED_PROFILE, else "default". When
// nothing matches the error wraps ErrNoCredentials.
func (r *Resolver) Resolve(name, role string) (federation.Owned, error) {
	files, err := r.AWSFiles()
	if err != nil {
		return federation.Owned{}, err
	}
	owned, err := federation.OwnedProfiles(files)
	if err != nil {
		return federation.Owned{}, err
	}
	if name == "" {
		name = r.getenv("AWS_PROFILE")
	}
	if name == "" {
		name = r.getenv("OKTAFED_PROFILE")
	}
	if name == "" {
		name = config.DefaultProfile
	}
	for _, o := range owned {
		// An AWS profile oktafed wrote, named directly; a role given with
		// it must be that profile's role.
		if o.AWSProfile == name && (role == "" || o.RoleARN == role) {
			return o, nil
		}
	}
	configured := false
	var oktafedProfiles []string
	if cfg, err := r.oktafedConfig(); err == nil {
		oktafedProfiles = cfg.Names()
		p, ok := cfg.Profiles[name]
		configured = ok
		if ok && role == "" && strings.HasPrefix(p.Role, "arn:") {
			// An oktafed profile pinned to one role ARN picks that role
			// even when it once wrote several.
			role = p.Role
		}
	}
	var candidates []federation.Owned
	for _, o := range owned {
		if o.OktafedProfile == name && (role == "" || o.RoleARN == role) {
			candidates = append(candidates, o)
		}
	}
	switch len(candidates) {
	case 1:
		return candidates[0], nil
	case 0:
		if !configured && len(oktafedProfiles) > 0 && inAWSConfig(files.Config, name) {
			// An AWS profile the person's AWS config names (its
			// credential_process runs oktafed) but oktafed holds no
			// credentials for, with oktafed set up: a logout removed them,
			// or no login wrote them yet. That is a login to do (exit 3
			// in credential_process), not a configuration to make.
			lr := &federation.LoginRequiredError{Profile: oktafedProfiles[0], Reason: fmt.Sprintf("no credentials for AWS profile %q (logged out, or not written yet)", name)}
			if len(oktafedProfiles) > 1 {
				return federation.Owned{}, fmt.Errorf("%w: %w; the oktafed profile that writes it is one of: %s", ErrNoCredentials, lr, strings.Join(oktafedProfiles, ", "))
			}
			return federation.Owned{}, fmt.Errorf("%w: %w", ErrNoCredentials, lr)
		}
		if !configured {
			return federation.Owned{}, fmt.Errorf("%w: %q is neither an AWS profile oktafed wrote nor an oktafed profile: configure it with `oktafed init --profile %s`, then run `oktafed login --profile %s` (or name one of the profiles `oktafed roles` lists)", ErrNoCredentials, name, name, name)
		}
		return federation.Owned{}, fmt.Errorf("%w for %q: run `oktafed login --profile %s` (or name one of the profiles `oktafed roles` lists)", ErrNoCredentials, name, name)
	default:
		names := make([]string, len(candidates))
		for i, c := range candidates {
			names[i] = c.AWSProfile
		}
		return federation.Owned{}, fmt.Errorf("profile %s has credentials for %d roles: name one with --profile (%s) or pass --role ARN", name, len(candidates), strings.Join(names, ", "))
	}
}

// Cached returns the credentials stored for owned while they are fresh. It
// reads one file and touches neither the keyring nor the network, which
// keeps credential_process and program start-up fast.
func (r *Resolver) Cached(owned federation.Owned) (aws.Credentials, bool, error) {
	files, err := r.AWSFiles()
	if err != nil {
		return aws.Credentials{}, false, err
	}
	c := &federation.Cache{Files: files, Clock: r.Clock, Window: r.window()}
	creds, _, ok, err := c.Fresh(owned.AWSProfile)
	return creds, ok, err
}

// Credentials returns fresh credentials for owned: the cached ones, else
// new ones through the Okta session (stored back for the next caller). It
// never signs in with a password; when the session has ended the error
// matches ErrLoginRequired.
func (r *Resolver) Credentials(ctx context.Context, owned federation.Owned) (aws.Credentials, error) {
	creds, ok, err := r.Cached(owned)
	if err != nil || ok {
		return creds, err
	}
	c, err := r.refresher(owned)
	if err != nil {
		return aws.Credentials{}, err
	}
	return c.Credentials(ctx, owned.AWSProfile)
}

// Provider is an aws.CredentialsProvider for owned, cached in-process and
// refreshed ahead of expiry by the refresh window.
func (r *Resolver) Provider(owned federation.Owned) *aws.CredentialsCache {
	return aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		return r.Credentials(ctx, owned)
	}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = r.window() })
}

// refresher is the refresh path of owned, from the oktafed profile that
// wrote it: the file cache in front of the saved Okta session alone.
func (r *Resolver) refresher(owned federation.Owned) (*federation.Cache, error) {
	cfg, err := r.oktafedConfig()
	if err != nil {
		return nil, err
	}
	p, err := cfg.Profile(owned.OktafedProfile)
	if err != nil {
		return nil, fmt.Errorf("AWS profile %s was written for oktafed profile %q, which is no longer configured: %w", owned.AWSProfile, owned.OktafedProfile, err)
	}
	app, err := r.App(p)
	if err != nil {
		return nil, err
	}
	l, err := r.login(p, &federation.Session{App: app}, r.Events)
	if err != nil {
		return nil, err
	}
	return &federation.Cache{Files: l.Files, Refresh: l.Reassume, Clock: r.Clock, Window: r.window(), Events: r.Events}, nil
}

// App builds the Okta side of oktafed profile p: its org's client, the
// session cache, the clock and events. Sources of assertions (the saved
// session, a password sign-in, the device flow) are built on it.
func (r *Resolver) App(p *federation.Profile) (*federation.App, error) {
	return r.app(p, r.Events)
}

func (r *Resolver) app(p *federation.Profile, events func(federation.Event)) (*federation.App, error) {
	if p.OrgURL == "" {
		return nil, fmt.Errorf("profile %s has no org_url: run `oktafed init --profile %s`", p.Name, p.Name)
	}
	sessions, err := r.sessions()
	if err != nil {
		return nil, err
	}
	ua := r.UserAgent
	if ua == "" {
		ua = "oktafed-awsauth"
	}
	return &federation.App{
		Profile:  p,
		Okta:     &okta.Client{BaseURL: p.OrgURL, HTTPClient: r.httpClient(), UserAgent: ua, Clock: r.Clock},
		Sessions: sessions,
		Clock:    r.Clock,
		Events:   events,
	}, nil
}

// LoginOptions are what a login needs beyond the oktafed profile.
type LoginOptions struct {
	// SignIn is how a new Okta sign-in happens when the saved session
	// cannot serve: the way, the password, the MFA, the browser… With
	// the zero value only the saved session is used.
	SignIn federation.SignInOptions
	// LookupAliases names AWS profiles by account alias (IAM
	// ListAccountAliases, at AWS_ENDPOINT_URL_IAM or AWS_ENDPOINT_URL
	// when set); found aliases come back in the Outcome's Changes.
	LookupAliases bool
	// Events, when set, is told about each step instead of r.Events.
	Events func(federation.Event)
}

// NewLogin builds the whole login of oktafed profile p, once: the Okta
// side (App), the saved Okta session with the sign-in of
// federation.NewSignIn behind it, the STS client (endpoint and region as
// STSEndpoint and Region say) and the AWS files. Nothing is set on it
// afterwards: run it with its Run method. ctx bounds the one call the
// choice of sign-in may make (which kind of org it is).
func (r *Resolver) NewLogin(ctx context.Context, p *federation.Profile, o LoginOptions) (*federation.Login, error) {
	events := o.Events
	if events == nil {
		events = r.Events
	}
	app, err := r.app(p, events)
	if err != nil {
		return nil, err
	}
	source, err := federation.NewSignIn(ctx, app, o.SignIn)
	if err != nil {
		return nil, err
	}
	l, err := r.login(p, source, events)
	if err != nil {
		return nil, err
	}
	if o.LookupAliases {
		l.Aliases = federation.NewAliasLookup(r.httpClient(), firstNonEmpty(r.getenv("AWS_ENDPOINT_URL_IAM"), r.getenv("AWS_ENDPOINT_URL")))
	}
	return l, nil
}

// login is the login pipeline of p around source.
func (r *Resolver) login(p *federation.Profile, source federation.AssertionSource, events func(federation.Event)) (*federation.Login, error) {
	files, err := r.AWSFiles()
	if err != nil {
		return nil, err
	}
	return &federation.Login{
		Profile: p,
		Source:  source,
		STS:     federation.NewSTSClient(r.Region(p), r.STSEndpoint(p), r.httpClient()),
		Files:   files,
		Events:  events,
	}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func (r *Resolver) httpClient() *http.Client {
	if r.HTTPClient != nil {
		return r.HTTPClient
	}
	// Connect and response deadlines from OKTAFED_CONNECT_TIMEOUT and
	// OKTAFED_RESPONSE_TIMEOUT, as the CLI's; the defaults when unset or
	// unreadable.
	d, err := federation.DeadlinesFromEnv(r.getenv)
	if err != nil {
		d = federation.Deadlines{}
	}
	return d.HTTPClient()
}

// sessions returns the configured session cache, or opens the keyring once.
func (r *Resolver) sessions() (federation.SessionCache, error) {
	if r.Sessions != nil {
		return r.Sessions, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.keyTried {
		r.keyTried = true
		kr, err := keystore.Open(keystore.Options{Getenv: r.getenv, Passphrase: r.Passphrase})
		if err != nil {
			r.keyErr = fmt.Errorf("open the keyring that holds the Okta session: %w", err)
		} else {
			r.keyring = KeyringSessions{Keyring: keystore.Strings{Store: kr}}
		}
	}
	return r.keyring, r.keyErr
}

// STSEndpoint is where refreshes call STS: AWS_ENDPOINT_URL_STS, then
// AWS_ENDPOINT_URL, then the profile's sts_endpoint ("" for AWS's own).
func (r *Resolver) STSEndpoint(p *federation.Profile) string {
	if v := r.getenv("AWS_ENDPOINT_URL_STS"); v != "" {
		return v
	}
	if v := r.getenv("AWS_ENDPOINT_URL"); v != "" {
		return v
	}
	return p.STSEndpoint
}

// Region is the region of STS calls for p: its own region, then
// AWS_REGION, then AWS_DEFAULT_REGION.
func (r *Resolver) Region(p *federation.Profile) string {
	if p.Region != "" {
		return p.Region
	}
	if v := r.getenv("AWS_REGION"); v != "" {
		return v
	}
	return r.getenv("AWS_DEFAULT_REGION")
}

// inAWSConfig reports whether the AWS config file has a profile section
// for name.
func inAWSConfig(path, name string) bool {
	if path == "" {
		return false
	}
	f, err := awsfile.Load(path)
	return err == nil && f.Profile(awsfile.Config, name) != nil
}
