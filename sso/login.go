package sso

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssso "github.com/aws/aws-sdk-go-v2/service/sso"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"

	"github.com/oktafed/oktafed/internal/clock"
)

// DeviceCode is what a person needs to confirm a sign-in: the page and
// the code it must show.
type DeviceCode struct {
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	ExpiresAt               time.Time
}

// ErrLoginRequired matches errors meaning a person must run the device
// flow again (no token, an expired one, or one the portal refused).
var ErrLoginRequired = errors.New("sso login required")

// Client signs in to one Identity Center region. The zero value is not
// usable: build one with New.
type Client struct {
	OIDC   *ssooidc.Client
	Portal *awssso.Client
	// CacheDir is the token cache; DefaultCacheDir when empty.
	CacheDir string
	// Clock tells time for expiry and polling (any value with a Now
	// method; one with After(time.Duration) <-chan time.Time also paces
	// the waits); the wall clock when nil.
	Clock interface{ Now() time.Time }
	// Sleep waits between polls; nil waits on Clock (clock.Sleep).
	Sleep func(ctx context.Context, d time.Duration) error
	// ClientName is the registered client's name; "oktafed" when empty.
	ClientName string
}

// Endpoints override the services' addresses (the sandbox, a VPC
// endpoint). Empty fields use the regional AWS endpoints.
type Endpoints struct {
	OIDC   string // AWS_ENDPOINT_URL_SSO_OIDC
	Portal string // AWS_ENDPOINT_URL_SSO
}

// New builds a client for region. Neither service signs requests: they
// authenticate with the client secret and the bearer token.
func New(region string, ep Endpoints, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cfg := aws.Config{Region: region, HTTPClient: hc}
	return &Client{
		OIDC: ssooidc.NewFromConfig(cfg, func(o *ssooidc.Options) {
			if ep.OIDC != "" {
				o.BaseEndpoint = aws.String(ep.OIDC)
			}
		}),
		Portal: awssso.NewFromConfig(cfg, func(o *awssso.Options) {
			if ep.Portal != "" {
				o.BaseEndpoint = aws.String(ep.Portal)
			}
		}),
	}
}

func (c *Client) now() time.Time { return clock.Or(c.Clock).Now() }

func (c *Client) cacheDir() (string, error) {
	if c.CacheDir != "" {
		return c.CacheDir, nil
	}
	return DefaultCacheDir(nil)
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return clock.Sleep(ctx, clock.Or(c.Clock), d)
}

// Cached returns the session's cached token if it is still valid for at
// least window.
func (c *Client) Cached(s *Session, window time.Duration) (*Token, bool) {
	dir, err := c.cacheDir()
	if err != nil {
		return nil, false
	}
	t, err := ReadToken(dir, s.CacheKey())
	if err != nil || t.StartURL != s.StartURL || !c.now().Add(window).Before(t.ExpiresAt) {
		return nil, false
	}
	return t, true
}

// Login runs the device authorization flow for s, showing the code
// through show, and stores the token in the cache. A client registration
// cached with an earlier token is reused while it lasts.
func (c *Client) Login(ctx context.Context, s *Session, show func(DeviceCode) error) (*Token, error) {
	dir, err := c.cacheDir()
	if err != nil {
		return nil, err
	}
	now := c.now()
	reg := &Token{}
	if old, err := ReadToken(dir, s.CacheKey()); err == nil && old.ClientID != "" && !old.ClientSecret.IsZero() && now.Add(time.Hour).Before(old.RegistrationExpiresAt) {
		reg = old
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A damaged cache file is replaced, not fatal.
		reg = &Token{}
	}
	if reg.ClientID == "" {
		name := c.ClientName
		if name == "" {
			name = "oktafed"
		}
		out, err := c.OIDC.RegisterClient(ctx, &ssooidc.RegisterClientInput{ClientName: aws.String(name), ClientType: aws.String("public"), Scopes: s.Scopes})
		if err != nil {
			return nil, fmt.Errorf("register with IAM Identity Center in %s: %w (check sso_region and the SSO OIDC endpoint)", s.Region, err)
		}
		reg = &Token{ClientID: aws.ToString(out.ClientId), ClientSecret: secret.New(aws.ToString(out.ClientSecret)), RegistrationExpiresAt: time.Unix(out.ClientSecretExpiresAt, 0).UTC()}
	}
	da, err := c.OIDC.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{ClientId: aws.String(reg.ClientID), ClientSecret: aws.String(reg.ClientSecret.Reveal()), StartUrl: aws.String(s.StartURL)})
	if err != nil {
		return nil, fmt.Errorf("start the device sign-in at %s: %w (check sso_start_url)", s.StartURL, err)
	}
	expires := now.Add(time.Duration(da.ExpiresIn) * time.Second)
	if show != nil {
		if err := show(DeviceCode{UserCode: aws.ToString(da.UserCode), VerificationURI: aws.ToString(da.VerificationUri), VerificationURIComplete: aws.ToString(da.VerificationUriComplete), ExpiresAt: expires}); err != nil {
			return nil, err
		}
	}
	interval := time.Duration(da.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	for {
		if err := c.sleep(ctx, interval); err != nil {
			return nil, err
		}
		out, err := c.OIDC.CreateToken(ctx, &ssooidc.CreateTokenInput{ClientId: aws.String(reg.ClientID), ClientSecret: aws.String(reg.ClientSecret.Reveal()), GrantType: aws.String("urn:ietf:params:oauth:grant-type:device_code"), DeviceCode: da.DeviceCode})
		var pending *oidctypes.AuthorizationPendingException
		var slow *oidctypes.SlowDownException
		var expired *oidctypes.ExpiredTokenException
		var denied *oidctypes.AccessDeniedException
		switch {
		case err == nil:
			t := &Token{StartURL: s.StartURL, Region: s.Region, AccessToken: secret.New(aws.ToString(out.AccessToken)), ExpiresAt: c.now().Add(time.Duration(out.ExpiresIn) * time.Second).UTC().Truncate(time.Second),
				ClientID: reg.ClientID, ClientSecret: reg.ClientSecret, RegistrationExpiresAt: reg.RegistrationExpiresAt, RefreshToken: secret.New(aws.ToString(out.RefreshToken))}
			if err := WriteToken(dir, s.CacheKey(), t); err != nil {
				return nil, err
			}
			return t, nil
		case errors.As(err, &pending):
		case errors.As(err, &slow):
			interval += 5 * time.Second
		case errors.As(err, &expired):
			return nil, fmt.Errorf("%w: the code expired before it was confirmed; run the login again", ErrLoginRequired)
		case errors.As(err, &denied):
			return nil, fmt.Errorf("%w: the sign-in was denied on the verification page", ErrLoginRequired)
		default:
			return nil, fmt.Errorf("wait for the device sign-in: %w", err)
		}
		if !c.now().Before(expires) {
			return nil, fmt.Errorf("%w: the code expired before it was confirmed; run the login again", ErrLoginRequired)
		}
	}
}

// Logout signs the session's token out of the portal and removes it from
// the cache. A token the portal no longer knows is removed all the same.
func (c *Client) Logout(ctx context.Context, s *Session) error {
	dir, err := c.cacheDir()
	if err != nil {
		return err
	}
	t, err := ReadToken(dir, s.CacheKey())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		if _, err := c.Portal.Logout(ctx, &awssso.LogoutInput{AccessToken: aws.String(t.AccessToken.Reveal())}); err != nil && !isUnauthorized(err) {
			return fmt.Errorf("sign out of IAM Identity Center: %w", err)
		}
	}
	return RemoveToken(dir, s.CacheKey())
}

func isUnauthorized(err error) bool {
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusUnauthorized
}

// Account is an account the signed-in user may enter.
type Account struct{ ID, Name, Email string }

// Accounts lists the user's accounts, following pages.
func (c *Client) Accounts(ctx context.Context, t *Token) ([]Account, error) {
	var out []Account
	p := awssso.NewListAccountsPaginator(c.Portal, &awssso.ListAccountsInput{AccessToken: aws.String(t.AccessToken.Reveal())})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, portalError(err)
		}
		for _, a := range page.AccountList {
			out = append(out, Account{ID: aws.ToString(a.AccountId), Name: aws.ToString(a.AccountName), Email: aws.ToString(a.EmailAddress)})
		}
	}
	return out, nil
}

// Roles lists the permission sets (role names) the user has in account.
func (c *Client) Roles(ctx context.Context, t *Token, accountID string) ([]string, error) {
	var out []string
	p := awssso.NewListAccountRolesPaginator(c.Portal, &awssso.ListAccountRolesInput{AccessToken: aws.String(t.AccessToken.Reveal()), AccountId: aws.String(accountID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, portalError(err)
		}
		for _, r := range page.RoleList {
			out = append(out, aws.ToString(r.RoleName))
		}
	}
	return out, nil
}

// RoleCredentials gets short-lived credentials for a role.
func (c *Client) RoleCredentials(ctx context.Context, t *Token, accountID, roleName string) (aws.Credentials, error) {
	out, err := c.Portal.GetRoleCredentials(ctx, &awssso.GetRoleCredentialsInput{AccessToken: aws.String(t.AccessToken.Reveal()), AccountId: aws.String(accountID), RoleName: aws.String(roleName)})
	if err != nil {
		return aws.Credentials{}, portalError(err)
	}
	rc := out.RoleCredentials
	if rc == nil {
		return aws.Credentials{}, errors.New("IAM Identity Center returned no role credentials")
	}
	return aws.Credentials{AccessKeyID: aws.ToString(rc.AccessKeyId), SecretAccessKey: aws.ToString(rc.SecretAccessKey), SessionToken: aws.ToString(rc.SessionToken),
		CanExpire: true, Expires: time.UnixMilli(rc.Expiration).UTC(), Source: "oktafed-sso", AccountID: accountID}, nil
}

func portalError(err error) error {
	if isUnauthorized(err) {
		return fmt.Errorf("%w: IAM Identity Center refused the cached token; sign in again", ErrLoginRequired)
	}
	return err
}
