package awsauth

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/clock"
)

// Option changes how LoadConfig finds credentials.
type Option func(*options)

type options struct {
	profile  string
	role     string
	files    *federation.Files
	sessions federation.SessionCache
	hc       *http.Client
	clock    clock.Clock
	window   time.Duration
	getenv   func(string) string
	sdk      []func(*awsconfig.LoadOptions) error
}

// env is how these options read the environment.
func (o *options) env() func(string) string {
	if o.getenv != nil {
		return o.getenv
	}
	return os.Getenv
}

// WithProfile names the AWS profile (or an oktafed profile with one role).
// Without it LoadConfig uses $AWS_PROFILE, so one binary switches between
// environments with the variable alone.
func WithProfile(name string) Option { return func(o *options) { o.profile = name } }

// WithRole picks a role ARN when the oktafed profile wrote several.
func WithRole(arn string) Option { return func(o *options) { o.role = arn } }

// WithFiles uses these AWS shared files instead of the SDK's defaults
// (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, ~/.aws).
func WithFiles(f federation.Files) Option { return func(o *options) { o.files = &f } }

// WithSessions supplies the Okta session cache instead of the OS keyring.
func WithSessions(s federation.SessionCache) Option { return func(o *options) { o.sessions = s } }

// WithHTTPClient makes the Okta and STS calls of refreshes with hc. The
// SDK's own calls keep the SDK's client (which honours AWS_CA_BUNDLE); pass
// config.WithHTTPClient through WithSDKOptions to change that.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.hc = hc } }

// WithClock decides when stored credentials are stale, for tests.
func WithClock(c interface{ Now() time.Time }) Option { return func(o *options) { o.clock = c } }

// WithRefreshWindow sets how long before expiry credentials are refreshed
// (DefaultRefreshWindow by default).
func WithRefreshWindow(d time.Duration) Option { return func(o *options) { o.window = d } }

// WithGetenv reads oktafed's and the AWS tools' variables (AWS_PROFILE,
// OKTAFED_PROFILE, OKTAFED_CONFIG, AWS_SHARED_CREDENTIALS_FILE, …) with
// getenv instead of os.Getenv, so a program (or a parallel test) can give
// each configuration an environment of its own. The SDK's own loading
// still reads the process environment for what it resolves (region,
// endpoints); pass its options through WithSDKOptions to set those.
func WithGetenv(getenv func(string) string) Option { return func(o *options) { o.getenv = getenv } }

// WithSDKOptions passes options through to the SDK's LoadDefaultConfig,
// e.g. config.WithRetryMaxAttempts.
func WithSDKOptions(fns ...func(*awsconfig.LoadOptions) error) Option {
	return func(o *options) { o.sdk = append(o.sdk, fns...) }
}

// LoadConfig returns an aws.Config for a profile. For an AWS profile that
// oktafed wrote (or an oktafed profile with one role) the credentials come
// from oktafed's cache and refresh through the Okta session, in-process
// ahead of expiry; everything else (region from AWS_REGION or the profile,
// endpoints from AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, retries)
// is the SDK's. A profile oktafed did not write is left to the SDK's own
// credential chain, as is the default chain when no profile is named and
// AWS_ACCESS_KEY_ID is set.
//
// A profile oktafed manages never falls back to the SDK's chain (and so
// never to instance metadata): with no credentials from oktafed — after
// `oktafed logout`, before the first login, or with only OKTAFED_PROFILE
// set — LoadConfig returns an error matching ErrLoginRequired that names
// `oktafed login --profile …`. oktafed manages a name when it is the
// OKTAFED_PROFILE in use (no AWS_PROFILE or WithProfile given), an oktafed
// profile, or an AWS profile name an oktafed profile's template writes,
// unless the AWS files hold a section of that name oktafed did not write.
//
// LoadConfig retrieves the credentials once, so a login that is needed is
// reported now rather than at the first AWS call: the error matches
// ErrLoginRequired and says which `oktafed login` to run. It never
// prompts, and the returned config is safe for concurrent use.
func LoadConfig(ctx context.Context, opts ...Option) (aws.Config, error) {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	sdk := append([]func(*awsconfig.LoadOptions) error(nil), o.sdk...)
	if o.files == nil && o.getenv != nil {
		// The SDK reads the process environment; point it at the files
		// this environment names.
		files, err := federation.DefaultFiles(o.getenv)
		if err != nil {
			return aws.Config{}, err
		}
		o.files = &files
	}
	if o.files != nil {
		sdk = append(sdk, awsconfig.WithSharedCredentialsFiles([]string{o.files.Credentials}))
		if o.files.Config != "" {
			sdk = append(sdk, awsconfig.WithSharedConfigFiles([]string{o.files.Config}))
		}
	}
	getenv := o.env()
	name := o.profile
	if name == "" {
		name = getenv("AWS_PROFILE")
	}
	if name == "" && o.role == "" && getenv("AWS_ACCESS_KEY_ID") != "" {
		// Static keys in the environment are the SDK's first choice.
		return awsconfig.LoadDefaultConfig(ctx, sdk...)
	}
	r := &Resolver{Getenv: o.getenv, Files: o.files, Sessions: o.sessions, HTTPClient: o.hc, Clock: o.clock, RefreshWindow: o.window}
	owned, err := r.Resolve(name, o.role)
	if errors.Is(err, ErrNoCredentials) {
		if lr := r.loginRequiredFor(name, o.role); lr != nil {
			return aws.Config{}, lr
		}
		if name != "" {
			sdk = append(sdk, awsconfig.WithSharedConfigProfile(name))
		}
		return awsconfig.LoadDefaultConfig(ctx, sdk...)
	}
	if err != nil {
		return aws.Config{}, err
	}
	provider := r.Provider(owned)
	sdk = append(sdk, awsconfig.WithSharedConfigProfile(owned.AWSProfile), awsconfig.WithCredentialsProvider(provider))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, sdk...)
	if err != nil {
		return aws.Config{}, err
	}
	if _, err := provider.Retrieve(ctx); err != nil {
		return aws.Config{}, unwrapCache(err)
	}
	return cfg, nil
}

// unwrapCache drops the cache's "failed to refresh cached credentials"
// prefix so the error reads as what to do.
func unwrapCache(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
