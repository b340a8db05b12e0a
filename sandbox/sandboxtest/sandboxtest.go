// Package sandboxtest is a helper for tests of programs that use the
// oktafed libraries: it logs the sandbox's demo user in through the real
// federation pipeline and points the AWS SDK at the sandbox, so a test
// starts from what a person has after `oktafed login`:
//
//	env, err := sandboxtest.New(nil) // or New(srv) for a sandbox of your own
//	defer env.Close()
//	_, err = env.Login(ctx, "all")
//	for k, v := range env.Environ() {
//		t.Setenv(k, v)
//	}
//	cfg, err := awsauth.LoadConfig(ctx)
//
// Everything it writes lives in a temporary directory that Close removes; it
// reads nothing of the user's own files or keyring. It is for tests and
// examples only.
package sandboxtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/keystore"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// The demo user of the sandbox's built-in org (sandbox/default.yaml).
const (
	demoUser = "demo@example.com"
	demoPass = "Sandbox-Demo-1"
	demoSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	appPath  = "/home/amazon_aws/0oa1demoawsapp0000001/272"
)

// Profile is the oktafed profile, and the AWS profile, the helper writes.
const Profile = "default"

// Env is a sandbox with a temporary home for the AWS files, oktafed's
// config and an in-memory keyring.
type Env struct {
	// Server is the sandbox the AWS SDK and oktafed are pointed at.
	Server *sandbox.Server
	// Files are the AWS CLI files Login writes the profiles to.
	Files federation.Files
	// Sessions holds the Okta session Login saves, as the CLI's keyring does.
	Sessions awsauth.KeyringSessions

	dir        string
	config     string // path of the oktafed config file
	profile    *config.Profile
	httpClient *http.Client // for every call the helper makes
	ownServer  bool
}

// New prepares an Env around srv (a new default sandbox when nil): it
// writes the oktafed config for the demo user and signs nobody in yet.
func New(srv *sandbox.Server) (*Env, error) {
	e := &Env{Server: srv, httpClient: &http.Client{Timeout: 30 * time.Second}}
	if srv == nil {
		s, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
		if err != nil {
			return nil, err
		}
		e.Server, e.ownServer = s, true
	}
	dir, err := os.MkdirTemp("", "oktafed-example-")
	if err != nil {
		e.Close()
		return nil, err
	}
	e.dir = dir
	e.Files = federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")}
	e.config = filepath.Join(dir, "oktafed.yaml")
	e.Sessions = awsauth.KeyringSessions{Keyring: keystore.Strings{Store: keystore.NewMemory()}}
	e.profile = &config.Profile{Name: Profile, OrgURL: e.Server.URL, AppURL: e.Server.URL + appPath, Username: demoUser,
		Region: "us-east-1", STSEndpoint: e.Server.URL, AccountAliases: map[string]string{"123456789012": "prod"}}
	cfg := &config.File{Profiles: map[string]*config.Profile{Profile: e.profile}}
	if err := cfg.Save(e.config); err != nil {
		e.Close()
		return nil, fmt.Errorf("write the oktafed config: %w", err)
	}
	return e, nil
}

// Login signs the demo user in with password and TOTP and writes the AWS
// profiles of the roles selector picks ("all", an ARN or /regex/).
func (e *Env) Login(ctx context.Context, selector string) (*federation.Outcome, error) {
	// The library's one call that builds a login, as `oktafed login`
	// makes it, reading nothing of the process environment.
	r := &awsauth.Resolver{Getenv: func(string) string { return "" }, Files: &e.Files, Sessions: e.Sessions, HTTPClient: e.httpClient}
	l, err := r.NewLogin(ctx, e.profile, awsauth.LoginOptions{SignIn: federation.SignInOptions{
		Method:   "password",
		Password: func(context.Context) (string, error) { return demoPass, nil },
		MFA:      &okta.MFA{Preferred: "totp", TOTPSeed: secret.New(demoSeed)},
	}})
	if err != nil {
		return nil, err
	}
	return l.Run(ctx, selector, nil, 0)
}

// Environ is the environment that points the AWS SDK and oktafed at the
// sandbox and the temporary files. Tests pass each pair to t.Setenv.
func (e *Env) Environ() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":            e.Server.URL,
		"AWS_ENDPOINT_URL_STS":        "",
		"AWS_REGION":                  "us-east-1",
		"AWS_SHARED_CREDENTIALS_FILE": e.Files.Credentials,
		"AWS_CONFIG_FILE":             e.Files.Config,
		"OKTAFED_CONFIG":              e.config,
		"AWS_PROFILE":                 "",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// Setenv applies Environ to the process and returns a function that puts
// the previous values back. Examples use it; tests use t.Setenv.
func (e *Env) Setenv() (restore func()) {
	type old struct {
		v  string
		ok bool
	}
	saved := map[string]old{}
	for k, v := range e.Environ() {
		pv, ok := os.LookupEnv(k)
		saved[k] = old{pv, ok}
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// Close stops a sandbox New started and removes the temporary files.
func (e *Env) Close() {
	if e.ownServer && e.Server != nil {
		e.Server.Close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}
