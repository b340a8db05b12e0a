// Package sandboxlogin signs the sandbox's demo user in through the real
// federation pipeline and points the AWS SDK's environment at the sandbox,
// so runnable examples and tests of the library packages start from what a
// person has after `oktafed login`. It is for examples and tests only.
package sandboxlogin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/oktafed/oktafed/internal/secret"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/config"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/keystore"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// The demo user of the sandbox's built-in org (sandbox/default.yaml).
const (
	DemoUser = "demo@example.com"
	DemoPass = "Sandbox-Demo-1"
	DemoSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	AppPath  = "/home/amazon_aws/0oa1demoawsapp0000001/272"
	// Profile is the oktafed profile the helper configures.
	Profile = "default"
)

// Env is a sandbox with a temporary home for the AWS files, oktafed's
// config and an in-memory keyring.
type Env struct {
	Server   *sandbox.Server
	Dir      string
	Files    federation.Files
	Config   string // path of the oktafed config file
	Sessions awsauth.KeyringSessions
	Profile  *config.Profile
	// HTTPClient is used for every call the helper makes.
	HTTPClient *http.Client

	ownServer bool
}

// New prepares an Env around srv (a new default sandbox when nil): it
// writes the oktafed config for the demo user and signs nobody in yet.
func New(srv *sandbox.Server) (*Env, error) {
	e := &Env{Server: srv, HTTPClient: &http.Client{Timeout: 30 * time.Second}}
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
	e.Dir = dir
	e.Files = federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")}
	e.Config = filepath.Join(dir, "oktafed.yaml")
	e.Sessions = awsauth.KeyringSessions{Store: keystore.NewMemory()}
	e.Profile = &config.Profile{Name: Profile, OrgURL: e.Server.URL, AppURL: e.Server.URL + AppPath, Username: DemoUser,
		Region: "us-east-1", AccountAliases: map[string]string{"123456789012": "prod"}}
	cfg := &config.File{Profiles: map[string]*config.Profile{Profile: e.Profile}}
	if err := cfg.Save(e.Config); err != nil {
		e.Close()
		return nil, fmt.Errorf("write the oktafed config: %w", err)
	}
	return e, nil
}

// Login signs the demo user in with password and TOTP and writes the AWS
// profiles of the roles selector picks ("all", an ARN or /regex/).
func (e *Env) Login(ctx context.Context, selector string) (*federation.Outcome, error) {
	app := &federation.App{Profile: e.Profile, Okta: &okta.Client{BaseURL: e.Server.URL, HTTPClient: e.HTTPClient}, Sessions: e.Sessions}
	signIn := &federation.Password{App: app, Password: func(context.Context) (string, error) { return DemoPass, nil }, MFA: &okta.MFA{Preferred: "totp", TOTPSeed: secret.New(DemoSeed)}}
	l := &federation.Login{
		Profile: e.Profile,
		Source:  &federation.Session{App: app, SignIn: signIn},
		STS:     federation.NewSTSClient("us-east-1", e.Server.URL, e.HTTPClient),
		Files:   e.Files,
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
		"OKTAFED_CONFIG":              e.Config,
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
	if e.Dir != "" {
		os.RemoveAll(e.Dir)
	}
}
