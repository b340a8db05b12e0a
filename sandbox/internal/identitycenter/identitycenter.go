// Package identitycenter holds the sandbox's IAM Identity Center: the SSO
// OIDC service (client registration, device authorization, tokens) and the
// AWS access portal API (accounts, roles, role credentials, logout) that
// the AWS CLI's `aws sso login` and the SDKs' SSO credential providers use.
//
// Paths, JSON field names, error types (the X-Amzn-ErrorType header) and
// the x-amz-sso_bearer_token header are those of the services' REST-JSON
// protocol, so the AWS SDK for Go v2 talks to it unchanged. People prove
// who they are on the org's device page (/activate), which calls
// ApproveDevice: Identity Center here trusts the Okta org as its identity
// source, as a real instance with Okta as external IdP does.
package identitycenter

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/clock"
)

// User is a person the org vouched for on the device page.
type User struct {
	ID, Login string
	Groups    []string
}

// Issuer mints role credentials the sandbox's STS accepts; iam.Service is
// one.
type Issuer interface {
	IssueCredentials(roleARN, sessionName string, d time.Duration) (aws.Credentials, error)
}

// Options are the service's runtime dependencies.
type Options struct {
	Clock   clock.Clock
	BaseURL string
	// VerificationURL is the page where people enter user codes (the
	// org's /activate). Default <BaseURL>/activate.
	VerificationURL string
	Issuer          Issuer
	Logger          *slog.Logger
}

// Timings of the device flow, as the service documents them.
const (
	deviceCodeLifetime = 10 * time.Minute
	pollInterval       = 1 * time.Second
	registrationLife   = 90 * 24 * time.Hour
	refreshIdle        = 90 * 24 * time.Hour
	maxBody            = 64 << 10
)

// ErrUnknownUserCode means a user code is not one of this service's.
var ErrUnknownUserCode = errors.New("identitycenter: unknown user code")

// Service is a running Identity Center instance. It is safe for
// concurrent use.
type Service struct {
	clk      clock.Clock
	log      *slog.Logger
	startURL string
	region   string
	verify   string
	session  time.Duration
	issuer   Issuer

	assignments []assignment
	accounts    map[string]AccountConfig

	mu        sync.Mutex
	clients   map[string]*regClient
	devices   map[string]*deviceAuth // by device code
	userCodes map[string]*deviceAuth // by user code
	access    map[string]*grant      // by access token
	refresh   map[string]*grant      // by refresh token
}

type regClient struct {
	id, secret, name string
	scopes           []string
	expires          time.Time
}

type deviceAuth struct {
	client            *regClient
	deviceCode        string
	userCode          string
	expires, lastPoll time.Time
	user              *User
	denied, used      bool
}

type grant struct {
	client  *regClient
	user    *User
	scopes  []string
	expires time.Time
}

// New builds the service. cfg.StartURL may be a path on BaseURL.
func New(cfg Config, opts Options) (*Service, error) {
	base := strings.TrimRight(opts.BaseURL, "/")
	if base == "" {
		return nil, errors.New("identitycenter: Options.BaseURL is required")
	}
	if opts.Issuer == nil {
		return nil, errors.New("identitycenter: Options.Issuer is required (the sandbox's IAM service)")
	}
	as, accounts, err := compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("identitycenter: %w", err)
	}
	s := &Service{
		clk: clock.Or(opts.Clock), log: opts.Logger, issuer: opts.Issuer,
		startURL: cfg.StartURL, region: cfg.Region, verify: opts.VerificationURL, session: cfg.SessionDuration,
		assignments: as, accounts: accounts,
		clients: map[string]*regClient{}, devices: map[string]*deviceAuth{}, userCodes: map[string]*deviceAuth{},
		access: map[string]*grant{}, refresh: map[string]*grant{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case s.startURL == "":
		s.startURL = base + "/start"
	case strings.HasPrefix(s.startURL, "/"):
		s.startURL = base + s.startURL
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if !regionRE.MatchString(s.region) {
		return nil, fmt.Errorf("identitycenter: sso.region %q is not a region name like us-east-1", s.region)
	}
	if s.verify == "" {
		s.verify = base + "/activate"
	}
	if s.session == 0 {
		s.session = 8 * time.Hour
	}
	if s.session < 15*time.Minute || s.session > 7*24*time.Hour {
		return nil, fmt.Errorf("identitycenter: sso.session_duration %v must be between 15m and 168h", s.session)
	}
	return s, nil
}

// StartURL is the access portal URL clients must name.
func (s *Service) StartURL() string { return s.startURL }

// Region is the instance's region.
func (s *Service) Region() string { return s.region }

// Register adds the SSO OIDC and portal endpoints to mux. Their paths do
// not overlap with Okta's, so one listener serves all of them.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /client/register", s.handleRegister)
	mux.HandleFunc("POST /device_authorization", s.handleDeviceAuthorization)
	mux.HandleFunc("POST /token", s.handleToken)
	mux.HandleFunc("GET /federation/credentials", s.handleRoleCredentials)
	mux.HandleFunc("GET /assignment/accounts", s.handleListAccounts)
	mux.HandleFunc("GET /assignment/roles", s.handleListRoles)
	mux.HandleFunc("POST /logout", s.handleLogout)
}

// ApproveDevice records that u confirmed (or refused) the device
// authorization with userCode. It returns the client's name for the page.
func (s *Service) ApproveDevice(userCode string, u *User, approve bool) (string, error) {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.userCodes[normalizeUserCode(userCode)]
	if d == nil {
		return "", ErrUnknownUserCode
	}
	if !now.Before(d.expires) || d.used {
		return "", errors.New("this code has expired; start the sign-in again on your device")
	}
	if d.user != nil || d.denied {
		return "", errors.New("this code was already used")
	}
	if approve {
		d.user = u
		s.log.Info("identitycenter: device approved", "login", u.Login, "client", d.client.name)
	} else {
		d.denied = true
		s.log.Info("identitycenter: device denied", "login", u.Login, "client", d.client.name)
	}
	return d.client.name, nil
}

// normalizeUserCode lets people type codes in any case, with or without
// the dash.
func normalizeUserCode(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	c = strings.ReplaceAll(c, "-", "")
	if len(c) == 8 {
		return c[:4] + "-" + c[4:]
	}
	return c
}

// userCodeAlphabet leaves out letters people confuse (as RFC 8628 6.1
// suggests).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 9)
	for i, v := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(v)%len(userCodeAlphabet)])
	}
	return string(out)
}

func newToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func secretEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// prune drops dead records; called under s.mu.
func (s *Service) pruneLocked(now time.Time) {
	for k, d := range s.devices {
		if now.Sub(d.expires) > time.Minute {
			delete(s.devices, k)
			delete(s.userCodes, d.userCode)
		}
	}
	for k, g := range s.access {
		if !now.Before(g.expires) {
			delete(s.access, k)
		}
	}
	for k, g := range s.refresh {
		if !now.Before(g.expires) {
			delete(s.refresh, k)
		}
	}
	for k, c := range s.clients {
		if !now.Before(c.expires) {
			delete(s.clients, k)
		}
	}
}
