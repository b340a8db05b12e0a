package m2m

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/dpop"
	"github.com/oktafed/oktafed/internal/lazyregexp"
	"github.com/oktafed/oktafed/internal/owned"
	"github.com/oktafed/oktafed/internal/stsclient"
)

// AssertionType is the client_assertion_type of private_key_jwt.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long a client assertion is valid. Okta accepts
// up to an hour; a short life limits what a leaked assertion is worth.
const AssertionLifetime = 5 * time.Minute

// maxTokenResponse bounds the token endpoint's answer.
const maxTokenResponse = 1 << 20

// Config describes a machine's Okta app and the AWS role it becomes.
type Config struct {
	// Issuer is the custom authorization server, e.g.
	// https://example.okta.com/oauth2/default. The org server cannot be
	// used: its access tokens are for Okta's own APIs.
	Issuer string
	// TokenURL is the token endpoint; Issuer + "/v1/token" when empty.
	TokenURL string
	ClientID string
	Key      Key
	// Scopes to request; the server's default scopes when empty.
	Scopes []string
	// RoleARN is the role that trusts the issuer as an OIDC provider.
	RoleARN string
	// SessionName names the role session; "oktafed-" + ClientID when empty.
	SessionName string
	// Duration of the role session; STS's default (1 h) when zero.
	Duration time.Duration
	// Region and STSEndpoint locate STS; STSEndpoint "" is AWS's own.
	Region      string
	STSEndpoint string
	// HTTPClient makes the token and STS calls; 30 s timeout when nil.
	HTTPClient *http.Client
	// Clock stamps assertions (any value with a Now method); the wall
	// clock when nil.
	Clock interface{ Now() time.Time }
	// DPoPKey, when set, signs a DPoP proof (RFC 9449) for every token
	// request, as apps that require DPoP demand; the access token is then
	// bound to this key. It must be an ECDSA P-256 key (OKTAFED_DPOP=true
	// makes a fresh one).
	DPoPKey *ecdsa.PrivateKey
}

// Environment variables ConfigFromEnv reads.
const (
	EnvIssuer      = "OKTA_ISSUER"
	EnvClientID    = "OKTA_CLIENT_ID"
	EnvClientKey   = "OKTAFED_CLIENT_KEY"
	EnvClientKeyID = "OKTAFED_CLIENT_KEY_ID"
	EnvScopes      = "OKTA_SCOPES"
	EnvRoleARN     = "AWS_ROLE_ARN"
	EnvSessionName = "AWS_ROLE_SESSION_NAME"
	EnvDPoP        = "OKTAFED_DPOP"
)

// ConfigFromEnv reads a Config from the environment:
//
//	OKTA_ISSUER              authorization server issuer URL, or else
//	OKTA_DOMAIN / OKTA_BASE_URL with OKTA_AUTH_SERVER_ID (default "default")
//	OKTA_CLIENT_ID           the app's client id (required)
//	OKTAFED_CLIENT_KEY       PEM or JWK private key, or a path to one (required)
//	OKTAFED_CLIENT_KEY_ID    the key's kid when the PEM does not carry it
//	OKTA_SCOPES              scopes, separated by spaces or commas
//	AWS_ROLE_ARN             role to assume (required)
//	AWS_ROLE_SESSION_NAME    role session name
//	OKTAFED_DPOP             "true" for an app that requires DPoP: proofs signed with a fresh key
//	AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL
//
// getenv is os.Getenv in programs and a map lookup in tests.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var missing []string
	need := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	c := Config{
		Issuer:      issuerFromEnv(getenv),
		ClientID:    need(EnvClientID),
		RoleARN:     need(EnvRoleARN),
		SessionName: getenv(EnvSessionName),
		Scopes:      strings.FieldsFunc(getenv(EnvScopes), func(r rune) bool { return r == ',' || r == ' ' }),
		Region:      firstOf(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")),
		STSEndpoint: firstOf(getenv("AWS_ENDPOINT_URL_STS"), getenv("AWS_ENDPOINT_URL")),
	}
	if c.Issuer == "" {
		missing = append(missing, EnvIssuer+" (or OKTA_DOMAIN)")
	}
	keyText := need(EnvClientKey)
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("m2m: set %s", strings.Join(missing, ", "))
	}
	k, err := LoadKey(keyText)
	if err != nil {
		return Config{}, fmt.Errorf("m2m: %s: %w", EnvClientKey, err)
	}
	if id := getenv(EnvClientKeyID); id != "" {
		k.ID = id
	}
	c.Key = k
	if v := strings.TrimSpace(getenv(EnvDPoP)); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("m2m: %s=%q: use true or false", EnvDPoP, v)
		}
		if on {
			if c.DPoPKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				return Config{}, fmt.Errorf("m2m: DPoP key: %w", err)
			}
		}
	}
	return c, nil
}

func issuerFromEnv(getenv func(string) string) string {
	if v := getenv(EnvIssuer); v != "" {
		return strings.TrimRight(v, "/")
	}
	base := strings.TrimRight(getenv("OKTA_BASE_URL"), "/")
	if base == "" {
		if d := getenv("OKTA_DOMAIN"); d != "" {
			base = "https://" + strings.TrimRight(d, "/")
		}
	}
	if base == "" {
		return ""
	}
	as := getenv("OKTA_AUTH_SERVER_ID")
	if as == "" {
		as = "default"
	}
	return base + "/oauth2/" + as
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Provider turns the app's key into AWS credentials. It is an
// aws.CredentialsProvider, safe for concurrent use; every Retrieve does
// the whole exchange, so wrap it with Cache.
type Provider struct {
	cfg      Config
	tokenURL string
	signer   jose.Signer
	sts      *sts.Client
	hc       *http.Client
	dpop     *dpop.Key // nil unless Config.DPoPKey

	mu    sync.Mutex
	nonce string // the server's last DPoP-Nonce
}

var sessionNameRE = lazyregexp.New(`^[\w+=,.@-]{2,64}$`)

// New checks cfg and returns a Provider.
func New(cfg Config) (*Provider, error) {
	switch {
	case cfg.ClientID == "":
		return nil, errors.New("m2m: no client id: set Config.ClientID (OKTA_CLIENT_ID)")
	case cfg.Key.Signer == nil:
		return nil, errors.New("m2m: no client key: set Config.Key (OKTAFED_CLIENT_KEY)")
	case cfg.RoleARN == "":
		return nil, errors.New("m2m: no role: set Config.RoleARN (AWS_ROLE_ARN)")
	case cfg.Issuer == "" && cfg.TokenURL == "":
		return nil, errors.New("m2m: no authorization server: set Config.Issuer (OKTA_ISSUER)")
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = strings.TrimRight(cfg.Issuer, "/") + "/v1/token"
	}
	if u, err := url.Parse(tokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("m2m: token endpoint %q is not an http(s) URL", tokenURL)
	}
	if cfg.SessionName == "" {
		cfg.SessionName = "oktafed-" + cfg.ClientID
	}
	if !sessionNameRE.MatchString(cfg.SessionName) {
		return nil, fmt.Errorf("m2m: role session name %q must be 2 to 64 of letters, digits and +=,.@_- (set AWS_ROLE_SESSION_NAME)", cfg.SessionName)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if cfg.Key.ID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), cfg.Key.ID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: cfg.Key.Algorithm(), Key: cfg.Key.Signer}, opts)
	if err != nil {
		return nil, fmt.Errorf("m2m: client key cannot sign %s: %w", cfg.Key.Algorithm(), err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	var dk *dpop.Key
	if cfg.DPoPKey != nil {
		if dk, err = dpop.FromECDSA(cfg.DPoPKey); err != nil {
			return nil, fmt.Errorf("m2m: DPoP key: %w", err)
		}
	}
	return &Provider{
		cfg: cfg, tokenURL: tokenURL, signer: signer, hc: hc, dpop: dk,
		sts: stsclient.New(cfg.Region, cfg.STSEndpoint, hc),
	}, nil
}

// Cache wraps p in an aws.CredentialsCache that refreshes ahead of expiry
// by the module's one refresh window (five minutes), as people's
// credentials do.
func (p *Provider) Cache() *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = owned.RefreshWindow })
}

// Assertion mints a client assertion for the token endpoint: iss and sub
// are the client id, aud the endpoint, a random jti, and exp
// AssertionLifetime ahead.
func (p *Provider) Assertion() (string, error) {
	now := clock.Or(p.cfg.Clock).Now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := jwt.Claims{
		Issuer:   p.cfg.ClientID,
		Subject:  p.cfg.ClientID,
		Audience: jwt.Audience{p.tokenURL},
		IssuedAt: jwt.NewNumericDate(now),
		// Okta checks nbf when present; backdating it a little absorbs
		// clock skew between this machine and Okta.
		NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
		Expiry:    jwt.NewNumericDate(now.Add(AssertionLifetime)),
		ID:        hex.EncodeToString(jti),
	}
	return jwt.Signed(p.signer).Claims(claims).Serialize()
}

// Token is an access token from the client credentials grant.
type Token struct {
	AccessToken secret.String
	TokenType   string
	Scope       string
	ExpiresIn   time.Duration
}

// TokenError is the authorization server's refusal.
type TokenError struct {
	Status      int
	Code        string // OAuth error code, e.g. invalid_client
	Description string
}

func (e *TokenError) Error() string {
	hint := ""
	switch e.Code {
	case "invalid_client":
		hint = ": check that the app uses private_key_jwt and that its public keys include this key (OKTAFED_CLIENT_KEY, kid OKTAFED_CLIENT_KEY_ID)"
	case "invalid_scope":
		hint = ": request scopes the app is granted on this authorization server (OKTA_SCOPES)"
	case "unauthorized_client":
		hint = ": allow the client credentials grant on the app"
	case "invalid_dpop_proof":
		hint = ": the app requires DPoP; set OKTAFED_DPOP=true (Config.DPoPKey) so token requests carry a proof"
	case "use_dpop_nonce":
		hint = ": the server kept asking for a new DPoP nonce; retry"
	}
	return fmt.Sprintf("Okta token endpoint: %s: %s%s", e.Code, e.Description, hint)
}

// AccessToken gets an access token with the client credentials grant,
// authenticating with a fresh client assertion. With a DPoP key, each
// request carries a proof; a use_dpop_nonce answer is retried once with
// the nonce it names, as Okta's DPoP guide describes.
func (p *Provider) AccessToken(ctx context.Context) (Token, error) {
	tok, nonce, err := p.accessToken(ctx)
	var te *TokenError
	if p.dpop != nil && errors.As(err, &te) && te.Code == "use_dpop_nonce" && nonce != "" {
		tok, _, err = p.accessToken(ctx)
	}
	return tok, err
}

// accessToken makes one token request; nonce is the answer's DPoP-Nonce.
func (p *Provider) accessToken(ctx context.Context) (Token, string, error) {
	tok, nonce, err := p.tokenRequest(ctx)
	if nonce != "" {
		p.mu.Lock()
		p.nonce = nonce
		p.mu.Unlock()
	}
	return tok, nonce, err
}

func (p *Provider) tokenRequest(ctx context.Context) (Token, string, error) {
	assertion, err := p.Assertion()
	if err != nil {
		return Token{}, "", fmt.Errorf("m2m: sign the client assertion: %w", err)
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {AssertionType},
		"client_assertion":      {assertion},
	}
	if len(p.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(p.cfg.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, "", fmt.Errorf("m2m: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.dpop != nil {
		p.mu.Lock()
		nonce := p.nonce
		p.mu.Unlock()
		proof, err := p.dpop.Proof(http.MethodPost, p.tokenURL, "", nonce, clock.Or(p.cfg.Clock).Now())
		if err != nil {
			return Token{}, "", fmt.Errorf("m2m: sign the DPoP proof: %w", err)
		}
		req.Header.Set("DPoP", proof)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return Token{}, "", fmt.Errorf("m2m: call the Okta token endpoint %s: %w (check OKTA_ISSUER and the network)", p.tokenURL, err)
	}
	defer resp.Body.Close()
	tok, err := parseTokenResponse(resp.StatusCode, io.LimitReader(resp.Body, maxTokenResponse+1))
	return tok, resp.Header.Get("DPoP-Nonce"), err
}

// parseTokenResponse reads the token endpoint's JSON answer.
func parseTokenResponse(status int, body io.Reader) (Token, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return Token{}, fmt.Errorf("m2m: read the token response: %w", err)
	}
	if len(data) > maxTokenResponse {
		return Token{}, errors.New("m2m: token response is larger than 1 MiB")
	}
	var v struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Scope       string          `json:"scope"`
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return Token{}, fmt.Errorf("m2m: token endpoint answered %d without JSON: is OKTA_ISSUER a custom authorization server?", status)
	}
	if status != http.StatusOK || v.Error != "" {
		e := &TokenError{Status: status, Code: v.Error, Description: truncate(v.Description, 300)}
		if e.Code == "" {
			e.Code = "http_" + strconv.Itoa(status)
		}
		return Token{}, e
	}
	if v.AccessToken == "" {
		return Token{}, errors.New("m2m: token endpoint answered without an access_token")
	}
	t := Token{AccessToken: secret.New(v.AccessToken), TokenType: v.TokenType, Scope: v.Scope}
	// expires_in is a number, though some servers send it as a string.
	if s := strings.Trim(string(v.ExpiresIn), `"`); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<31 {
			t.ExpiresIn = time.Duration(n) * time.Second
		}
	}
	return t, nil
}

// Retrieve gets an access token and exchanges it for role credentials.
func (p *Provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	tok, err := p.AccessToken(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(p.cfg.RoleARN),
		RoleSessionName:  aws.String(p.cfg.SessionName),
		WebIdentityToken: aws.String(tok.AccessToken.Reveal()),
	}
	if p.cfg.Duration > 0 {
		in.DurationSeconds = aws.Int32(int32(p.cfg.Duration / time.Second))
	}
	out, err := p.sts.AssumeRoleWithWebIdentity(ctx, in)
	if err != nil {
		return aws.Credentials{}, explainSTS(p.cfg.RoleARN, err)
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return aws.Credentials{}, fmt.Errorf("m2m: assume %s: STS answered without credentials", p.cfg.RoleARN)
	}
	return aws.Credentials{
		AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken,
		CanExpire: true, Expires: *c.Expiration, Source: "oktafed-m2m",
	}, nil
}

func explainSTS(role string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("m2m: assume %s: %w (check AWS_ENDPOINT_URL_STS and the network)", role, err)
	}
	hint := ""
	switch ae.ErrorCode() {
	case "InvalidIdentityToken":
		hint = "the role's account must have an IAM OIDC provider for this issuer whose client ids (audiences) include the access token's aud"
	case "AccessDenied":
		hint = "the role's trust policy must allow sts:AssumeRoleWithWebIdentity for this OIDC provider"
	case "ExpiredTokenException":
		hint = "the access token expired before STS saw it: check this machine's clock"
	case "IDPCommunicationError":
		hint = "STS could not fetch the issuer's keys: the issuer must be reachable from AWS"
	}
	if hint == "" {
		return fmt.Errorf("m2m: assume %s: %w", role, err)
	}
	return &explained{msg: fmt.Sprintf("m2m: assume %s: %s: %s: %s", role, ae.ErrorCode(), ae.ErrorMessage(), hint), err: err}
}

// explained tells an STS error in words without the SDK's request
// details, and still unwraps to the SDK's error for callers' errors.As.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
