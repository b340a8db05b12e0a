package dbauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"golang.org/x/sync/singleflight"
)

// Endpoint is where one connection goes, as its driver configuration says.
type Endpoint struct {
	Host string
	Port int // 0 when the driver configuration has none
	// DefaultPort is the database's standard port (5432, 3306), used when
	// neither Port nor Config.IAMDefaultPort is set.
	DefaultPort int
	// User and Password are the connection's own; they stand in for
	// db_user, idp_username and idp_password when those are unset.
	User     string
	Password secret.String
}

// Login is the user name and password for one connection attempt. Pass it
// back to Auth.Reject when the server refuses it.
type Login struct {
	User     string
	Password secret.String

	token  *tokenEntry  // the cached token used, for Reject
	secret *secretEntry // the cached secret used, for Reject
}

// String hides the password, so a Login printed by mistake leaks nothing.
func (l Login) String() string {
	return "dbauth.Login{User: " + strconv.Quote(l.User) + ", Password: <hidden>}"
}

// Auth holds everything that outlives one connection for one Config: the
// AWS credentials (renewed ahead of expiry), the RDS tokens by region,
// host, port and user (renewed before iam_token_expiration), and the
// Secrets Manager secret. It is safe for concurrent use; share one per
// database configuration so that a pool warming up makes one Okta login.
type Auth struct {
	cfg Config
	log *slog.Logger
	sf  singleflight.Group

	mu         sync.Mutex
	creds      *aws.CredentialsCache // nil until first needed
	credsInner aws.CredentialsProvider
	awsCfg     *aws.Config // loaded on first need (iam, secrets)
	tokens     map[tokenKey]*tokenEntry
	secret     *secretEntry
	fetcher    secretFetcher // nil until first needed
	// act tracks the requests to Okta and STS in progress.
	act activity
	// replaced is when do last gave up on a hung login, per key.
	replaced map[string]time.Time
	// renewedForRefusal is set when a refused login made the AWS
	// credentials (or the secret) be fetched again, and cleared when a
	// login is accepted. While it is set a refusal is taken to be about
	// the database user, not the credentials, so they are kept: ten
	// refused connects cost one renewal, not ten.
	renewedForRefusal bool
}

type tokenKey struct {
	region, host string
	port         int
	user         string
}

func (k tokenKey) String() string {
	return k.region + "\x00" + k.host + "\x00" + strconv.Itoa(k.port) + "\x00" + k.user
}

type tokenEntry struct {
	key       tokenKey
	token     string
	signed    time.Time
	expires   time.Time // when the cache stops handing it out
	accessKey string    // of the credentials that signed it
}

// resignAfter is the age after which a refused token is worth signing
// again with the same credentials (the server's clock may be ahead);
// a younger one would come out the same, to the second.
const resignAfter = time.Minute

// New checks cfg and returns an Auth for it. Nothing is fetched until the
// first connection.
func New(cfg Config) (*Auth, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, name := range cfg.overridden {
		log.Warn("dbauth: DSN parameter ignored: the Config field for it is set, and Config fields win", "param", name)
	}
	cfg.overridden = nil
	for _, name := range cfg.ignored {
		log.Info("dbauth: the AWS Advanced Go Wrapper's "+name+" means nothing to dbauth (no failover, monitoring or routing here); it was taken out of the DSN and is not sent to the server", "param", name)
	}
	cfg.ignored = nil
	cfg.Logger = log
	return &Auth{cfg: cfg, log: log, tokens: map[tokenKey]*tokenEntry{}}, nil
}

// Config returns the configuration with defaults filled in (Logger
// included: one that discards when none was given).
func (a *Auth) Config() Config { return a.cfg }

// Login returns the user name and password for a connection to ep: a
// cached RDS IAM token (okta, iam) or the cached secret (secrets).
// Concurrent calls for the same endpoint share one fetch. Called within
// Connector.Connect (from a driver's before-connect hook), the login it
// returns last is the one the Connector rejects if the server refuses it.
func (a *Auth) Login(ctx context.Context, ep Endpoint) (Login, error) {
	l, err := a.login(ctx, ep)
	if err != nil {
		var unknownCA x509.UnknownAuthorityError
		if errors.As(err, &unknownCA) {
			err = fmt.Errorf("%w (the identity provider's TLS certificate is not trusted: check idp_endpoint names the Okta org's https URL, add the CA that signed it to the system roots (SSL_CERT_FILE), or, for a local test org only, set ssl_secure=false / sslInsecure=true)", err)
		}
		return Login{}, &loginError{err: err}
	}
	recordLogin(ctx, l)
	return l, nil
}

func (a *Auth) login(ctx context.Context, ep Endpoint) (Login, error) {
	if a.cfg.Plugin == PluginSecrets {
		return a.secretLogin(ctx)
	}
	key, err := a.tokenKey(ctx, ep)
	if err != nil {
		return Login{}, err
	}
	e, err := a.token(ctx, key, ep)
	if err != nil {
		return Login{}, err
	}
	return Login{User: key.user, Password: secret.New(e.token), token: e}, nil
}

// loginError marks an error as coming from getting the password (Okta,
// STS, Secrets Manager), not from the database, so hints can tell an
// identity provider's certificate from the database's.
type loginError struct{ err error }

func (e *loginError) Error() string { return e.err.Error() }
func (e *loginError) Unwrap() error { return e.err }

// Token returns an RDS IAM token for user at host:port, as
// `aws rds generate-db-auth-token` prints it. It uses the same caches as
// Login.
func (a *Auth) Token(ctx context.Context, host string, port int, user string) (string, error) {
	if a.cfg.Plugin == PluginSecrets {
		return "", errors.New("dbauth: the secrets plugin has no IAM token; use the okta or iam plugin")
	}
	l, err := a.Login(ctx, Endpoint{Host: host, Port: port, User: user})
	return l.Password.Reveal(), err
}

// Reject records that the server refused l and reports whether a retry
// may help. The refused token (or secret) is dropped so the next Login
// makes a new one. For the okta plugin the AWS credentials that signed
// the token are dropped too, whatever the token's age, so the retry signs
// with credentials from a new AssumeRoleWithSAML: a revoked role session
// (or one whose role lost rds-db:connect) is replaced at once rather than
// re-signing with it. That renewal happens once after the last accepted
// login: a refusal that survives fresh credentials is about the database
// user or its grants, and more renewals would only cost an
// AssumeRoleWithSAML per attempt; after it, only a token signed over a
// minute ago (the server's clock may be ahead) is re-signed. The secret
// plugin reads the secret again, once after the last accepted login.
// Concurrent rejections of the same login refresh once.
func (a *Auth) Reject(l Login) bool {
	ok, _ := a.reject(l)
	return ok
}

// reject is Reject, also saying what it did for the connect's error.
func (a *Auth) reject(l Login) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case l.token != nil:
		if a.tokens[l.token.key] == l.token {
			delete(a.tokens, l.token.key)
		}
		host, user := l.token.key.host, l.token.key.user
		old := a.cfg.Now().Sub(l.token.signed) >= resignAfter
		switch {
		case a.cfg.Plugin == PluginOkta && !a.renewedForRefusal:
			// A refused token may mean the role session was revoked:
			// the next token needs credentials from a new
			// AssumeRoleWithSAML, even if this one was old.
			if a.creds != nil {
				a.creds.Invalidate()
			}
			a.renewedForRefusal = true
			a.log.Info("dbauth: server refused an IAM token; getting new AWS credentials (AssumeRoleWithSAML) and signing a new token", "host", host, "user", user)
			return true, "new AWS credentials from a new AssumeRoleWithSAML signed a new token"
		case old:
			a.log.Info("dbauth: server refused an IAM token signed over a minute ago; signing a new one", "host", host, "user", user)
			if a.cfg.Plugin == PluginOkta {
				return true, "a new token was signed with the AWS credentials already renewed after an earlier refusal"
			}
			return true, "a new token was signed with the same AWS credentials (the iam plugin's credential chain renews them itself)"
		case a.cfg.Plugin == PluginOkta:
			a.log.Info("dbauth: server refused a fresh IAM token signed with credentials renewed after an earlier refusal; keeping them", "host", host, "user", user)
			return false, "the AWS credentials had already been renewed (a new AssumeRoleWithSAML) after an earlier refusal since the last accepted login, so they were kept"
		}
		return false, "the token was freshly signed with the iam plugin's credentials; no retry"
	case l.secret != nil:
		if a.secret == l.secret {
			if a.renewedForRefusal {
				return false, "the secret had already been read again after an earlier refusal"
			}
			a.secret = nil
			a.renewedForRefusal = true
			a.log.Info("dbauth: server refused the secret's password; reading the secret again")
		}
		return true, "the secret was read again from Secrets Manager"
	}
	return false, ""
}

// Accept records that the server accepted l: the next refusal may again
// be about the credentials (a revoked session) and renew them.
func (a *Auth) Accept(l Login) {
	if l.token == nil && l.secret == nil {
		return
	}
	a.mu.Lock()
	a.renewedForRefusal = false
	a.mu.Unlock()
}

func (a *Auth) tokenKey(ctx context.Context, ep Endpoint) (tokenKey, error) {
	host := a.cfg.IAMHost
	if host == "" {
		host = ep.Host
	}
	if host == "" {
		return tokenKey{}, errors.New("dbauth: no host to sign the token for: set the connection host or iam_host")
	}
	port := a.cfg.IAMDefaultPort
	if port == 0 {
		port = ep.Port
	}
	if port == 0 {
		port = ep.DefaultPort
	}
	user := a.cfg.DBUser
	if user == "" {
		user = ep.User
	}
	if user == "" {
		return tokenKey{}, errors.New("dbauth: no database user: set the connection user or db_user")
	}
	region, err := a.region(ctx, host)
	if err != nil {
		return tokenKey{}, err
	}
	return tokenKey{region: region, host: host, port: port, user: user}, nil
}

// region is iam_region, else the region in an RDS host name, else the AWS
// configuration's.
func (a *Auth) region(ctx context.Context, host string) (string, error) {
	if a.cfg.IAMRegion != "" {
		return a.cfg.IAMRegion, nil
	}
	if r := RegionFromHost(host); r != "" {
		return r, nil
	}
	if a.cfg.Plugin == PluginIAM {
		c, err := a.loadAWSConfig(ctx)
		if err != nil {
			return "", err
		}
		if c.Region != "" {
			return c.Region, nil
		}
	}
	return "", fmt.Errorf("dbauth: cannot tell the AWS region of %s: set iam_region (or AWS_REGION for the iam plugin)", host)
}

// RegionFromHost returns REGION from an RDS endpoint name such as
// db.cluster-abc.REGION.rds.amazonaws.com, or "" for other names.
func RegionFromHost(host string) string {
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	for i := 1; i+1 < len(labels); i++ {
		if labels[i+1] == "rds" && i+2 < len(labels) && strings.HasPrefix(labels[i+2], "amazonaws") {
			return labels[i]
		}
	}
	return ""
}

func (a *Auth) token(ctx context.Context, key tokenKey, ep Endpoint) (*tokenEntry, error) {
	if e := a.cachedToken(key); e != nil {
		return e, nil
	}
	v, err := a.do(ctx, "token\x00"+key.String(), func(ctx context.Context) (any, error) {
		if e := a.cachedToken(key); e != nil {
			return e, nil
		}
		creds, err := a.credentials(ctx, ep)
		if err != nil {
			return nil, err
		}
		c, err := creds.Retrieve(ctx)
		var refused *signInRefusedError
		if errors.As(err, &refused) {
			return nil, refused // it already says what to do
		}
		if err != nil {
			return nil, fmt.Errorf("dbauth: get AWS credentials to sign the RDS token: %w", err)
		}
		now := a.cfg.Now()
		tok, err := signToken(ctx, c, net.JoinHostPort(key.host, strconv.Itoa(key.port)), key.region, key.user, now)
		if err != nil {
			return nil, err
		}
		e := &tokenEntry{key: key, token: tok, signed: now, expires: now.Add(a.cfg.IAMTokenExpiration), accessKey: c.AccessKeyID}
		if c.CanExpire && c.Expires.Before(e.expires) {
			// A token is worthless once its signing credentials lapse.
			e.expires = c.Expires
		}
		a.mu.Lock()
		a.tokens[key] = e
		a.mu.Unlock()
		a.log.Debug("dbauth: signed a new RDS IAM token", "host", key.host, "port", key.port, "user", key.user, "reuse_until", e.expires)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tokenEntry), nil
}

// do runs fn once for all concurrent callers with the same key. fn runs
// detached from the first caller's cancellation (bounded by a timeout), so
// one caller giving up does not fail the others waiting on the same login.
// A caller does not join a login that is stuck on a hung request to Okta
// or STS (see Config.HungAfter): it starts another, so the first connect
// after the service recovers succeeds.
func (a *Auth) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	a.replaceIfHung(key)
	ch := a.sf.DoChan(key, func() (any, error) {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*a.cfg.HTTPTimeout+a.cfg.STSTimeout)
		defer cancel()
		return fn(c)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *Auth) cachedToken(key tokenKey) *tokenEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.tokens[key]
	if e != nil && a.cfg.Now().Before(e.expires) {
		return e
	}
	return nil
}

// emptySHA256 is the payload hash of an empty body, which RDS tokens sign.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// signToken builds an RDS IAM token exactly as the SDK's
// feature/rds/auth.BuildAuthToken does (a test checks they agree), but at
// the time given, so cache lifetimes and signatures share one clock.
func signToken(ctx context.Context, c aws.Credentials, hostPort, region, user string, now time.Time) (string, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+hostPort+"/", nil)
	if err != nil {
		return "", fmt.Errorf("dbauth: token endpoint %s: %w", hostPort, err)
	}
	q := req.URL.Query()
	q.Set("Action", "connect")
	q.Set("DBUser", user)
	q.Set("X-Amz-Expires", strconv.Itoa(int(maxTokenLifetime/time.Second)))
	req.URL.RawQuery = q.Encode()
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, c, req, emptySHA256, "rds-db", region, now.UTC())
	if err != nil {
		return "", fmt.Errorf("dbauth: sign RDS token: %w", err)
	}
	return strings.TrimPrefix(signed, "https://"), nil
}

// credentials returns the cached AWS credentials provider, making it on
// first use.
func (a *Auth) credentials(ctx context.Context, ep Endpoint) (*aws.CredentialsCache, error) {
	a.mu.Lock()
	c := a.creds
	a.mu.Unlock()
	if c != nil {
		return c, nil
	}
	v, err := a.do(ctx, "credentials", func(ctx context.Context) (any, error) {
		a.mu.Lock()
		c := a.creds
		a.mu.Unlock()
		if c != nil {
			return c, nil
		}
		p, err := a.newProvider(ctx, ep)
		if err != nil {
			return nil, err
		}
		c = newCredentialsCache(p)
		a.mu.Lock()
		a.creds, a.credsInner = c, p
		a.mu.Unlock()
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*aws.CredentialsCache), nil
}

func (a *Auth) newProvider(ctx context.Context, ep Endpoint) (aws.CredentialsProvider, error) {
	switch a.cfg.Plugin {
	case PluginOkta:
		login, err := a.oktaLogin(ctx, ep)
		if err != nil {
			return nil, err
		}
		hb := newHoldBack(login)
		if e, held := hb.held(a.cfg.Now()); held {
			return nil, e
		}
		fed := a.cfg.Federation
		if fed == nil {
			fed = DefaultFederation
		}
		p, err := fed(ctx, login)
		if err != nil {
			return nil, fmt.Errorf("dbauth: okta plugin: %w", err)
		}
		if p == nil {
			return nil, errors.New("dbauth: okta plugin: Config.Federation returned no provider")
		}
		g := &guardedProvider{inner: p, a: a, hb: hb}
		g.dropped = func() {
			a.mu.Lock()
			if a.credsInner == g {
				a.creds, a.credsInner = nil, nil
			}
			a.mu.Unlock()
		}
		return g, nil
	default:
		if a.cfg.Credentials != nil {
			return a.cfg.Credentials, nil
		}
		c, err := a.loadAWSConfig(ctx)
		if err != nil {
			return nil, err
		}
		if c.Credentials == nil {
			return nil, errors.New("dbauth: the AWS configuration has no credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID, or Config.Credentials")
		}
		return c.Credentials, nil
	}
}

func (a *Auth) loadAWSConfig(ctx context.Context) (aws.Config, error) {
	a.mu.Lock()
	c := a.awsCfg
	a.mu.Unlock()
	if c != nil {
		return *c, nil
	}
	if a.cfg.AWSConfig != nil {
		c = a.cfg.AWSConfig
	} else {
		var opts []func(*config.LoadOptions) error
		if a.cfg.AWSProfile != "" {
			opts = append(opts, config.WithSharedConfigProfile(a.cfg.AWSProfile))
		}
		loaded, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return aws.Config{}, fmt.Errorf("dbauth: load the AWS configuration: %w (check AWS_PROFILE and ~/.aws/config)", err)
		}
		c = &loaded
	}
	a.mu.Lock()
	a.awsCfg = c
	a.mu.Unlock()
	return *c, nil
}

// OktaLogin is what the okta plugin hands Config.Federation: everything an
// Okta → SAML → AssumeRoleWithSAML provider needs. It maps onto
// federation.SAMLConfig field by field.
type OktaLogin struct {
	// OrgURL is the Okta org's base URL, e.g. https://example.okta.com.
	OrgURL string
	// AppURL is the AWS app's SSO URL: OrgURL/app/amazon_aws/APP_ID/sso/saml.
	AppURL string
	AppID  string
	// Username and Password are the Okta credentials.
	Username string
	Password secret.String
	// RoleARN and PrincipalARN (the IAM SAML provider) pick the role.
	RoleARN      string
	PrincipalARN string
	// Region is the STS region.
	Region string
	// STSEndpoint is the STS URL: Config.STSEndpoint, else
	// AWS_ENDPOINT_URL_STS; "" means the region's.
	STSEndpoint string
	// HTTPClient talks to Okta; it honours http_request_connect_timeout
	// (httpTimeoutMs) and ssl_secure.
	HTTPClient *http.Client
	// STSHTTPClient talks to STS, with Config.STSTimeout.
	STSHTTPClient *http.Client
}

// String hides the password.
func (l OktaLogin) String() string {
	return fmt.Sprintf("OktaLogin{OrgURL: %q, AppID: %q, Username: %q, RoleARN: %q}", l.OrgURL, l.AppID, l.Username, l.RoleARN)
}

func (a *Auth) oktaLogin(ctx context.Context, ep Endpoint) (OktaLogin, error) {
	user, pass := a.cfg.IdPUsername, a.cfg.IdPPassword
	if user == "" {
		user = ep.User
	}
	if pass.IsZero() {
		pass = ep.Password
	}
	if user == "" || pass.IsZero() {
		return OktaLogin{}, errors.New("dbauth: the okta plugin needs an Okta user name and password: set idp_username and idp_password (Config fields preferred over a DSN)")
	}
	org := OrgURL(a.cfg.IdPEndpoint, a.cfg.IdPPort)
	region := a.cfg.IAMRegion
	if region == "" {
		host := a.cfg.IAMHost
		if host == "" {
			host = ep.Host
		}
		region = RegionFromHost(host)
	}
	stsEndpoint := a.cfg.STSEndpoint
	if stsEndpoint == "" {
		stsEndpoint = os.Getenv("AWS_ENDPOINT_URL_STS")
	}
	client := a.cfg.HTTPClient
	var stsTransport http.RoundTripper
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSHandshakeTimeout = a.cfg.HTTPTimeout
		stsTransport = tr.Clone()
		if a.cfg.SSLInsecure {
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // ssl_secure=false asks for exactly this
		}
		client = &http.Client{Timeout: a.cfg.HTTPTimeout, Transport: tr}
	} else {
		stsTransport = client.Transport
	}
	if stsTransport == nil {
		stsTransport = http.DefaultTransport
	}
	// Both clients report their requests to the Auth, which tells a hung
	// login from a slow one (see do).
	oktaHC := *client
	oktaHC.Transport = &trackedTransport{rt: client.Transport, a: a}
	sts := &http.Client{Timeout: a.cfg.STSTimeout, Transport: &trackedTransport{rt: stsTransport, a: a}}
	return OktaLogin{
		OrgURL:        org,
		AppURL:        org + "/app/amazon_aws/" + a.cfg.AppID + "/sso/saml",
		AppID:         a.cfg.AppID,
		Username:      user,
		Password:      pass,
		RoleARN:       a.cfg.IAMRoleARN,
		PrincipalARN:  a.cfg.IAMIdPARN,
		Region:        region,
		STSEndpoint:   stsEndpoint,
		HTTPClient:    &oktaHC,
		STSHTTPClient: sts,
	}, nil
}

// OrgURL turns idp_endpoint (a host name, host:port, or URL) and idp_port
// into the Okta org's base URL.
func OrgURL(endpoint string, port int) string {
	endpoint = strings.TrimSuffix(endpoint, "/")
	if strings.Contains(endpoint, "://") {
		return endpoint
	}
	if port != 0 && port != 443 {
		if _, _, err := net.SplitHostPort(endpoint); err != nil {
			endpoint = net.JoinHostPort(endpoint, strconv.Itoa(port))
		}
	}
	return "https://" + endpoint
}

func newCredentialsCache(p aws.CredentialsProvider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = credentialExpiryWindow
		// Spread renewals of many processes started together.
		o.ExpiryWindowJitterFrac = 0.2
	})
}
