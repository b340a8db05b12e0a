// Package iam holds the sandbox's AWS side: accounts, roles, identity
// providers, issued credentials, SigV4 verification and the STS API.
//
// The STS endpoint speaks the query protocol (Version 2011-06-15) exactly as
// AWS documents it, so the official SDKs and the AWS CLI work against it
// unchanged with only their endpoint overridden. Every credential it issues
// is checked the way AWS checks it: SAML assertions against the provider's
// metadata certificates, web-identity tokens against the issuer's JWKS, and
// signed calls by recomputing their Signature Version 4 signature.
package iam

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/lazyregexp"
)

// Config is the aws part of sandbox.yaml, for example:
//
//	region: us-east-1
//	accounts:
//	  - {id: "111111111111", alias: dev}
//	roles:
//	  - arn: arn:aws:iam::111111111111:role/Developer
//	    max_session_duration: 4h
//	    trust:
//	      saml_providers: [arn:aws:iam::111111111111:saml-provider/Okta]
//	      oidc_providers: [arn:aws:iam::111111111111:oidc-provider/127.0.0.1/oauth2/default]
//	saml_providers:
//	  - {arn: arn:aws:iam::111111111111:saml-provider/Okta, okta_app: 0oaawsapp}
//	oidc_providers:
//	  - {arn: arn:aws:iam::111111111111:oidc-provider/127.0.0.1/oauth2/default, url: /oauth2/default, client_ids: [ci]}
//	users:
//	  - {arn: arn:aws:iam::111111111111:user/ci, access_key_id: AKIAEXAMPLESANDBOX01, secret_access_key: not-a-secret-at-all}
type Config struct {
	// Region is the one region the sandbox's endpoints answer for; signed
	// requests must be scoped to it. Default us-east-1.
	Region string `yaml:"region"`
	// Accounts lists the AWS accounts; every role, provider and user must
	// belong to one of them.
	Accounts []AccountConfig `yaml:"accounts"`
	// Roles are the IAM roles that federated users can assume.
	Roles []RoleConfig `yaml:"roles"`
	// SAMLProviders are IAM SAML identity providers.
	SAMLProviders []SAMLProviderConfig `yaml:"saml_providers"`
	// OIDCProviders are IAM OpenID Connect identity providers.
	OIDCProviders []OIDCProviderConfig `yaml:"oidc_providers"`
	// Users are IAM users with long-term access keys, for tests that need a
	// signed call without going through federation first.
	Users []UserConfig `yaml:"users"`
}

// AccountConfig is one AWS account.
type AccountConfig struct {
	ID    string `yaml:"id"`    // 12 digits
	Alias string `yaml:"alias"` // optional account alias
}

// RoleConfig is one IAM role and its trust policy.
type RoleConfig struct {
	// ARN is arn:aws:iam::ACCOUNT:role/[PATH/]NAME.
	ARN string `yaml:"arn"`
	// MaxSessionDuration caps how long sessions of this role may last,
	// between 1h and 12h as in IAM. Default 1h.
	MaxSessionDuration time.Duration `yaml:"max_session_duration"`
	// Trust names the identity providers the role's trust policy allows to
	// assume it (sts:AssumeRoleWithSAML, sts:AssumeRoleWithWebIdentity).
	Trust TrustConfig `yaml:"trust"`
}

// TrustConfig is the federated part of a role's trust policy.
type TrustConfig struct {
	SAMLProviders []string `yaml:"saml_providers"` // SAML provider ARNs
	OIDCProviders []string `yaml:"oidc_providers"` // OIDC provider ARNs
}

// SAMLProviderConfig is one IAM SAML provider.
type SAMLProviderConfig struct {
	// ARN is arn:aws:iam::ACCOUNT:saml-provider/NAME.
	ARN string `yaml:"arn"`
	// OktaApp is the id of the sandbox org's app whose IdP metadata this
	// provider trusts; the sandbox passes that metadata to
	// AddSAMLProviderMetadata at start-up.
	OktaApp string `yaml:"okta_app"`
	// MetadataFile is a SAML IdP metadata document to trust instead.
	MetadataFile string `yaml:"metadata_file"`
}

// OIDCProviderConfig is one IAM OpenID Connect provider.
type OIDCProviderConfig struct {
	// ARN is arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH.
	ARN string `yaml:"arn"`
	// URL is the issuer; tokens' iss claim must equal it exactly. A value
	// starting with "/" is relative to the sandbox base URL.
	URL string `yaml:"url"`
	// ClientIDs are the accepted audiences (aud claim).
	ClientIDs []string `yaml:"client_ids"`
}

// UserConfig is an IAM user with one long-term access key.
type UserConfig struct {
	// ARN is arn:aws:iam::ACCOUNT:user/[PATH/]NAME.
	ARN             string `yaml:"arn"`
	AccessKeyID     string `yaml:"access_key_id"`     // AKIA followed by 16 characters
	SecretAccessKey string `yaml:"secret_access_key"` // at least 16 characters
}

// Options are the service's runtime dependencies.
type Options struct {
	Clock      clock.Clock
	BaseURL    string
	HTTPClient *http.Client // fetches OIDC discovery and JWKS of web-identity providers
	Logger     *slog.Logger
}

// Service is a running sandbox AWS account set. It is safe for concurrent use.
type Service struct {
	region     string
	clock      clock.Clock
	baseURL    string
	httpClient *http.Client
	log        *slog.Logger
	signer     *v4.Signer

	accounts map[string]AccountConfig
	roles    map[string]*role
	oidc     map[string]*oidcProvider
	users    map[string]*credential // by access key id, never removed

	mu    sync.RWMutex
	saml  map[string]*samlProvider
	creds map[string]*credential // issued session credentials by access key id

	jwksMu sync.Mutex
	jwks   map[string]*jwksEntry // by issuer

	verified samlCache
	fed      federationState
}

type role struct {
	arn, account, name string
	id                 string // AROA…
	maxSession         time.Duration
	samlTrust          map[string]bool
	oidcTrust          map[string]bool
}

type oidcProvider struct {
	arn, account string
	issuer       string
	clientIDs    map[string]bool
}

var (
	accountIDRE    = lazyregexp.New(`^[0-9]{12}$`)
	roleARNRE      = lazyregexp.New(`^arn:aws:iam::([0-9]{12}):role/((?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})$`)
	userARNRE      = lazyregexp.New(`^arn:aws:iam::([0-9]{12}):user/((?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})$`)
	samlARNRE      = lazyregexp.New(`^arn:aws:iam::([0-9]{12}):saml-provider/([\w.-]{1,128})$`)
	oidcARNRE      = lazyregexp.New(`^arn:aws:iam::([0-9]{12}):oidc-provider/([\x21-\x7e]{1,255})$`)
	accessKeyIDRE  = lazyregexp.New(`^[A-Z0-9]{16,128}$`)
	sessionNameRE  = lazyregexp.New(`^[\w+=,.@-]{2,64}$`)
	regionRE       = lazyregexp.New(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	minMaxSession  = time.Hour
	maxMaxSession  = 12 * time.Hour
	minSessionTime = 15 * time.Minute
)

// New builds the service from its configuration. It checks the whole
// configuration and reports every reference to an unknown account, role or
// provider, so a typo fails at start-up rather than as a puzzling AccessDenied.
func New(cfg Config, opts Options) (*Service, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Service{
		region:     cfg.Region,
		clock:      clock.Or(opts.Clock),
		baseURL:    strings.TrimRight(opts.BaseURL, "/"),
		httpClient: httpClient,
		log:        logger,
		signer:     v4.NewSigner(),
		accounts:   map[string]AccountConfig{},
		roles:      map[string]*role{},
		oidc:       map[string]*oidcProvider{},
		users:      map[string]*credential{},
		saml:       map[string]*samlProvider{},
		creds:      map[string]*credential{},
		jwks:       map[string]*jwksEntry{},
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if !regionRE.MatchString(s.region) {
		return nil, fmt.Errorf("aws.region %q is not a region name like us-east-1", s.region)
	}
	for i, a := range cfg.Accounts {
		if !accountIDRE.MatchString(a.ID) {
			return nil, fmt.Errorf("aws.accounts[%d].id %q must be 12 digits", i, a.ID)
		}
		if _, dup := s.accounts[a.ID]; dup {
			return nil, fmt.Errorf("aws.accounts[%d]: account %s is listed twice", i, a.ID)
		}
		s.accounts[a.ID] = a
	}
	knownAccount := func(where, acct string) error {
		if _, ok := s.accounts[acct]; !ok {
			return fmt.Errorf("%s: account %s is not in aws.accounts (add {id: %q})", where, acct, acct)
		}
		return nil
	}

	samlARNs := map[string]bool{}
	for i, p := range cfg.SAMLProviders {
		where := fmt.Sprintf("aws.saml_providers[%d]", i)
		m := samlARNRE.FindStringSubmatch(p.ARN)
		if m == nil {
			return nil, fmt.Errorf("%s.arn %q is not arn:aws:iam::ACCOUNT:saml-provider/NAME", where, p.ARN)
		}
		if err := knownAccount(where, m[1]); err != nil {
			return nil, err
		}
		if samlARNs[p.ARN] {
			return nil, fmt.Errorf("%s: provider %s is listed twice", where, p.ARN)
		}
		if p.OktaApp != "" && p.MetadataFile != "" {
			return nil, fmt.Errorf("%s: set okta_app or metadata_file, not both", where)
		}
		samlARNs[p.ARN] = true
		s.saml[p.ARN] = &samlProvider{arn: p.ARN, account: m[1], name: m[2]}
		if p.MetadataFile != "" {
			data, err := os.ReadFile(p.MetadataFile)
			if err != nil {
				return nil, fmt.Errorf("%s.metadata_file: %w", where, err)
			}
			if err := s.AddSAMLProviderMetadata(p.ARN, data); err != nil {
				return nil, fmt.Errorf("%s.metadata_file %s: %w", where, p.MetadataFile, err)
			}
		}
	}

	for i, p := range cfg.OIDCProviders {
		where := fmt.Sprintf("aws.oidc_providers[%d]", i)
		m := oidcARNRE.FindStringSubmatch(p.ARN)
		if m == nil {
			return nil, fmt.Errorf("%s.arn %q is not arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH", where, p.ARN)
		}
		if err := knownAccount(where, m[1]); err != nil {
			return nil, err
		}
		if _, dup := s.oidc[p.ARN]; dup {
			return nil, fmt.Errorf("%s: provider %s is listed twice", where, p.ARN)
		}
		issuer := p.URL
		if strings.HasPrefix(issuer, "/") {
			if s.baseURL == "" {
				return nil, fmt.Errorf("%s.url %q is relative but the sandbox has no base URL", where, p.URL)
			}
			issuer = s.baseURL + issuer
		}
		if !strings.HasPrefix(issuer, "https://") && !strings.HasPrefix(issuer, "http://") {
			return nil, fmt.Errorf("%s.url %q must be an http(s) URL or start with /", where, p.URL)
		}
		if len(p.ClientIDs) == 0 {
			return nil, fmt.Errorf("%s.client_ids: list at least one audience", where)
		}
		op := &oidcProvider{arn: p.ARN, account: m[1], issuer: issuer, clientIDs: map[string]bool{}}
		for _, id := range p.ClientIDs {
			op.clientIDs[id] = true
		}
		s.oidc[p.ARN] = op
	}

	for i, r := range cfg.Roles {
		where := fmt.Sprintf("aws.roles[%d]", i)
		m := roleARNRE.FindStringSubmatch(r.ARN)
		if m == nil {
			return nil, fmt.Errorf("%s.arn %q is not arn:aws:iam::ACCOUNT:role/NAME", where, r.ARN)
		}
		if err := knownAccount(where, m[1]); err != nil {
			return nil, err
		}
		if _, dup := s.roles[r.ARN]; dup {
			return nil, fmt.Errorf("%s: role %s is listed twice", where, r.ARN)
		}
		maxSession := r.MaxSessionDuration
		if maxSession == 0 {
			maxSession = time.Hour
		}
		if maxSession < minMaxSession || maxSession > maxMaxSession || maxSession%time.Second != 0 {
			return nil, fmt.Errorf("%s.max_session_duration %s must be whole seconds between 1h and 12h", where, maxSession)
		}
		ro := &role{
			arn: r.ARN, account: m[1], name: m[3], id: "AROA" + derivedID(r.ARN),
			maxSession: maxSession, samlTrust: map[string]bool{}, oidcTrust: map[string]bool{},
		}
		for _, p := range r.Trust.SAMLProviders {
			if !samlARNs[p] {
				return nil, fmt.Errorf("%s.trust.saml_providers: %s is not in aws.saml_providers", where, p)
			}
			ro.samlTrust[p] = true
		}
		for _, p := range r.Trust.OIDCProviders {
			if s.oidc[p] == nil {
				return nil, fmt.Errorf("%s.trust.oidc_providers: %s is not in aws.oidc_providers", where, p)
			}
			ro.oidcTrust[p] = true
		}
		s.roles[r.ARN] = ro
	}

	for i, u := range cfg.Users {
		where := fmt.Sprintf("aws.users[%d]", i)
		m := userARNRE.FindStringSubmatch(u.ARN)
		if m == nil {
			return nil, fmt.Errorf("%s.arn %q is not arn:aws:iam::ACCOUNT:user/NAME", where, u.ARN)
		}
		if err := knownAccount(where, m[1]); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(u.AccessKeyID, "AKIA") || !accessKeyIDRE.MatchString(u.AccessKeyID) {
			return nil, fmt.Errorf("%s.access_key_id must be AKIA followed by at least 12 upper-case letters or digits", where)
		}
		if len(u.SecretAccessKey) < 16 {
			return nil, fmt.Errorf("%s.secret_access_key must be at least 16 characters", where)
		}
		if _, dup := s.users[u.AccessKeyID]; dup {
			return nil, fmt.Errorf("%s: access key %s is used twice", where, u.AccessKeyID)
		}
		s.users[u.AccessKeyID] = &credential{
			accessKeyID: u.AccessKeyID, secret: u.SecretAccessKey,
			account: m[1], arn: u.ARN, userID: "AIDA" + derivedID(u.ARN),
		}
	}
	return s, nil
}

// Region returns the region the service answers for.
func (s *Service) Region() string { return s.region }

// AccountIDs returns the configured account ids in order.
func (s *Service) AccountIDs() []string {
	ids := make([]string, 0, len(s.accounts))
	for id := range s.accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// AccountAlias returns the alias of an account, or "" when it has none.
func (s *Service) AccountAlias(id string) string { return s.accounts[id].Alias }

// derivedID turns a name into the 17-character suffix of an IAM unique id
// (AROA…, AIDA…). Deriving it keeps ids stable across sandbox restarts, as
// they are for a real role that is not recreated.
func derivedID(name string) string {
	sum := sha256.Sum256([]byte("oktafed-sandbox-iam-id\x00" + name))
	return base32.StdEncoding.EncodeToString(sum[:])[:17]
}
