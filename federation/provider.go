package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/okta"
)

// SAMLConfig configures a SAMLProvider: one role reached through Okta's AWS
// app, for programs rather than people (database connectors, services).
type SAMLConfig struct {
	// OrgURL is the Okta org, e.g. https://example.okta.com.
	OrgURL string
	// AppURL is the AWS app's embed link or SSO URL. When empty it is built
	// from AppID as OrgURL/app/amazon_aws/AppID/sso/saml.
	AppURL string
	AppID  string
	// Username and Password sign in to Okta when there is no live session.
	Username string
	Password func(ctx context.Context) (string, error)
	// MFA answers second-factor questions; nil signs in without MFA, which
	// only works where Okta's policy allows it.
	MFA *okta.MFA
	// RoleARN and PrincipalARN (the IAM SAML provider) pick the role; an
	// empty PrincipalARN takes the one the assertion pairs with RoleARN.
	RoleARN      string
	PrincipalARN string
	// Region and STSEndpoint address STS; AWS_ENDPOINT_URL_STS is not read
	// here, so callers decide.
	Region      string
	STSEndpoint string
	// Duration asks for a session length (capped by the app's
	// SessionDuration); zero takes the app's.
	Duration   time.Duration
	HTTPClient *http.Client
	// STSHTTPClient, when set, talks to STS instead of HTTPClient, so
	// that STS calls have a deadline of their own.
	STSHTTPClient *http.Client
	// Sessions keeps the Okta session between refreshes; nil keeps it in
	// memory, so a refresh reuses the session instead of signing in again.
	Sessions SessionCache
	// Clock decides freshness (any value with a Now method); the wall
	// clock when nil.
	Clock interface{ Now() time.Time }
}

// SAMLProvider is an aws.CredentialsProvider that assumes one role with a
// SAML assertion from Okta, reusing the Okta session across refreshes.
// Wrap it in aws.NewCredentialsCache to reuse credentials until they near
// expiry.
type SAMLProvider struct {
	cfg   SAMLConfig
	login *Login
}

// NewSAMLProvider checks cfg and returns the provider.
func NewSAMLProvider(cfg SAMLConfig) (*SAMLProvider, error) {
	if cfg.OrgURL == "" {
		return nil, errors.New("federation: SAMLConfig.OrgURL is required (the Okta org URL, idp_endpoint)")
	}
	if cfg.AppURL == "" {
		if cfg.AppID == "" {
			return nil, errors.New("federation: set SAMLConfig.AppURL or AppID (the Okta AWS app, app_id)")
		}
		cfg.AppURL = strings.TrimRight(cfg.OrgURL, "/") + "/app/amazon_aws/" + url.PathEscape(cfg.AppID) + "/sso/saml"
	}
	if cfg.RoleARN == "" {
		return nil, errors.New("federation: SAMLConfig.RoleARN is required (iam_role_arn)")
	}
	if cfg.Username == "" || cfg.Password == nil {
		return nil, errors.New("federation: SAMLConfig.Username and Password are required (idp_username, idp_password)")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient(60 * time.Second)
	}
	sessions := cfg.Sessions
	if sessions == nil {
		sessions = NewMemorySessions()
	}
	name := "saml:" + cfg.Username + "@" + cfg.OrgURL
	app := &App{
		Profile:  &config.Profile{Name: name, OrgURL: cfg.OrgURL, AppURL: cfg.AppURL, Username: cfg.Username, Duration: config.Duration(cfg.Duration)},
		Okta:     &okta.Client{BaseURL: cfg.OrgURL, HTTPClient: hc, Clock: cfg.Clock},
		Sessions: sessions,
		Clock:    cfg.Clock,
	}
	source := &Session{App: app, SignIn: &Password{App: app, Password: cfg.Password, MFA: cfg.MFA}}
	stsHC := cfg.STSHTTPClient
	if stsHC == nil {
		stsHC = hc
	}
	l := &Login{Profile: app.Profile, Source: source, STS: NewSTSClient(cfg.Region, cfg.STSEndpoint, stsHC)}
	return &SAMLProvider{cfg: cfg, login: l}, nil
}

// Retrieve signs in (or reuses the Okta session), gets an assertion and
// assumes the role.
func (p *SAMLProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	a, err := p.login.Source.Assertion(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	r, ok := a.Role(p.cfg.RoleARN)
	if !ok {
		return aws.Credentials{}, fmt.Errorf("the Okta AWS app does not grant %s to %s; it grants: %s", p.cfg.RoleARN, p.cfg.Username, roleList(a.Roles))
	}
	if p.cfg.PrincipalARN != "" && r.PrincipalARN != p.cfg.PrincipalARN {
		return aws.Credentials{}, fmt.Errorf("the Okta AWS app pairs %s with SAML provider %s, not %s (iam_idp_arn)", p.cfg.RoleARN, r.PrincipalARN, p.cfg.PrincipalARN)
	}
	d := sessionLength(p.cfg.Duration, a.SessionDuration)
	res, _ := p.login.assume(ctx, a, []Role{r}, d, 1)
	return res[0].Credentials, res[0].Err
}

// MemorySessions is a SessionCache in process memory.
type MemorySessions struct {
	mu  sync.Mutex
	sid map[string]string
	exp map[string]time.Time
}

// NewMemorySessions returns an empty MemorySessions.
func NewMemorySessions() *MemorySessions {
	return &MemorySessions{sid: map[string]string{}, exp: map[string]time.Time{}}
}

// LoadSession implements SessionCache.
func (m *MemorySessions) LoadSession(_ context.Context, p string) (string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sid[p], m.exp[p], nil
}

// SaveSession implements SessionCache.
func (m *MemorySessions) SaveSession(_ context.Context, p, sid string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sid[p], m.exp[p] = sid, exp
	return nil
}

// DeleteSession implements SessionCache.
func (m *MemorySessions) DeleteSession(_ context.Context, p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sid, p)
	delete(m.exp, p)
	return nil
}
