package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/internal/netaddr"
	"github.com/oktafed/oktafed/internal/saml"
)

// OAuth grant and token types of the device flow (RFC 8628) and of
// Okta's token exchange for a web SSO token.
const (
	grantDeviceCode       = "urn:ietf:params:oauth:grant-type:device_code"
	grantTokenExchange    = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeDeviceSecret = "urn:x-oath:params:oauth:token-type:device-secret"
	tokenTypeWebSSO       = "urn:okta:oauth:token-type:web_sso_token"
)

// DeviceScopes are what a device sign-in for AWS asks for: an ID token,
// SSO into apps, a refresh token and a device secret for later logins.
var DeviceScopes = []string{"openid", "profile", "offline_access", "okta.apps.sso", "device_sso"}

// Errors of the device flow that end it; a person must start again.
var (
	ErrDeviceExpired = errors.New("okta: the device code expired before it was confirmed; run the login again")
	ErrDeviceDenied  = errors.New("okta: the sign-in was denied on the activation page")
)

// Organization is /.well-known/okta-organization.
type Organization struct {
	ID string `json:"id"`
	// Pipeline is "v1" for Classic Engine orgs and "idx" for Identity
	// Engine orgs, where the device flow replaces /api/v1/authn.
	Pipeline string `json:"pipeline"`
}

// IdentityEngine reports an Okta Identity Engine org.
func (o *Organization) IdentityEngine() bool { return o.Pipeline == "idx" }

// Organization reads the org's public description, which needs no sign-in.
func (c *Client) Organization(ctx context.Context) (*Organization, error) {
	u, err := c.resolve("/.well-known/okta-organization")
	if err != nil {
		return nil, err
	}
	var o Organization
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, url: u}, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// OAuthError is an OAuth error answer (RFC 6749 5.2) from the org's
// authorization server.
type OAuthError struct {
	Status      int
	Code        string // invalid_grant, authorization_pending, ...
	Description string
}

func (e *OAuthError) Error() string {
	if e.Status == http.StatusTooManyRequests {
		// Okta may put its rate limit in an OAuth body (invalid_grant):
		// the status is what counts.
		return "Okta's rate limit was reached: wait a minute and try again [Okta OAuth " + e.Code + ", HTTP 429]"
	}
	if e.Description == "" {
		return fmt.Sprintf("okta: OAuth error %s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("okta: OAuth error %s (HTTP %d): %s", e.Code, e.Status, e.Description)
}

// Is makes errors.Is(err, ErrRateLimited) true for a 429, whatever error
// code its body names.
func (e *OAuthError) Is(target error) bool {
	return target == ErrRateLimited && e.Status == http.StatusTooManyRequests
}

// DeviceAuthorization is a started device sign-in. DeviceCode is the
// client's secret half; String leaves it out.
type DeviceAuthorization struct {
	DeviceCode              string
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	ExpiresAt               time.Time
	Interval                time.Duration
}

// String describes the authorization without the device code.
func (d *DeviceAuthorization) String() string {
	return fmt.Sprintf("okta.DeviceAuthorization{UserCode: %s, VerificationURI: %s, DeviceCode: [redacted]}", d.UserCode, d.VerificationURI)
}

// GoString keeps %#v from printing the device code.
func (d *DeviceAuthorization) GoString() string { return d.String() }

// Tokens are an authorization server's answer to a grant. Every field
// but Scope and ExpiresAt is a credential; String leaves them out.
type Tokens struct {
	AccessToken  secret.String
	IDToken      secret.String
	RefreshToken secret.String
	DeviceSecret secret.String
	Scope        string
	ExpiresAt    time.Time
}

// String describes the tokens without their values.
func (t *Tokens) String() string {
	return fmt.Sprintf("okta.Tokens{Scope: %s, ExpiresAt: %s, refresh: %t, deviceSecret: %t}", t.Scope, t.ExpiresAt.Format(time.RFC3339), !t.RefreshToken.IsZero(), !t.DeviceSecret.IsZero())
}

// GoString keeps %#v from printing the tokens.
func (t *Tokens) GoString() string { return t.String() }

// LogValue keeps structured logs from printing the tokens.
func (t *Tokens) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scope", t.Scope), slog.Time("expiresAt", t.ExpiresAt))
}

// tokenJSON is the token endpoint's success body.
type tokenJSON struct {
	AccessToken     string `json:"access_token"`
	IDToken         string `json:"id_token"`
	RefreshToken    string `json:"refresh_token"`
	DeviceSecret    string `json:"device_secret"`
	Scope           string `json:"scope"`
	ExpiresIn       int64  `json:"expires_in"`
	TokenType       string `json:"token_type"`
	IssuedTokenType string `json:"issued_token_type"`
}

type deviceJSON struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// maxLifetime bounds expires_in values, which come from the network.
const maxLifetime = 366 * 24 * time.Hour

func seconds(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	d := time.Duration(n) * time.Second
	if n > int64(maxLifetime/time.Second) {
		d = maxLifetime
	}
	return d
}

// parseOAuthError reads an error answer; bodies that are not OAuth JSON
// keep only the status, since their text could echo anything.
func parseOAuthError(status int, data []byte) error {
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(data, &b) == nil && b.Error != "" {
		return &OAuthError{Status: status, Code: clean(b.Error, 64), Description: clean(b.Description, 300)}
	}
	// Okta answers some failures (an unknown server, rate limits) with
	// its management API errors instead.
	return parseError(status, data)
}

// parseTokens reads a token endpoint success body.
func parseTokens(data []byte, now time.Time) (*Tokens, *tokenJSON, error) {
	var j tokenJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, nil, fmt.Errorf("okta: the token endpoint answered with JSON this client cannot read (%v)", err)
	}
	if j.AccessToken == "" {
		return nil, nil, errors.New("okta: the token endpoint answered without an access_token")
	}
	t := &Tokens{AccessToken: secret.New(j.AccessToken), IDToken: secret.New(j.IDToken), RefreshToken: secret.New(j.RefreshToken), DeviceSecret: secret.New(j.DeviceSecret), Scope: clean(j.Scope, 1000)}
	if d := seconds(j.ExpiresIn); d > 0 {
		t.ExpiresAt = now.Add(d)
	}
	return t, &j, nil
}

// parseDeviceAuthorization reads a device authorization answer.
func parseDeviceAuthorization(data []byte, now time.Time) (*DeviceAuthorization, error) {
	var j deviceJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("okta: the device authorization endpoint answered with JSON this client cannot read (%v)", err)
	}
	if j.DeviceCode == "" || j.UserCode == "" || j.VerificationURI == "" {
		return nil, errors.New("okta: the device authorization answer lacks device_code, user_code or verification_uri")
	}
	d := &DeviceAuthorization{DeviceCode: j.DeviceCode, UserCode: clean(j.UserCode, 32), VerificationURI: clean(j.VerificationURI, 500), VerificationURIComplete: clean(j.VerificationURIComplete, 600), Interval: seconds(j.Interval)}
	for _, link := range []string{d.VerificationURI, d.VerificationURIComplete} {
		if link == "" {
			continue
		}
		if u, err := url.Parse(link); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && netaddr.IsLoopbackHost(u.Hostname()))) {
			// People open this link: it must not be a javascript: or
			// plain-http URL on the network.
			return nil, fmt.Errorf("okta: the verification link %q is not an https URL", link)
		}
	}
	if d.Interval == 0 {
		d.Interval = 5 * time.Second
	}
	life := seconds(j.ExpiresIn)
	if life == 0 {
		life = 10 * time.Minute
	}
	d.ExpiresAt = now.Add(life)
	return d, nil
}

// postForm sends an OAuth form to the org authorization server's endpoint
// (/oauth2/v1/<name>) and returns the status and body. 429s are waited
// out like the API's.
func (c *Client) postForm(ctx context.Context, name string, form url.Values) (int, []byte, error) {
	u, err := c.resolve("/oauth2/v1/" + name)
	if err != nil {
		return 0, nil, err
	}
	hc := c.httpClient()
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", ua)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, redactURLError(err)
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		if c.Logger != nil {
			c.Logger.LogAttrs(ctx, slog.LevelDebug, "okta request", slog.String("method", http.MethodPost), slog.String("path", u.Path), slog.Int("status", resp.StatusCode))
		}
		if rerr != nil {
			return 0, nil, fmt.Errorf("okta: read %s answer: %w", u.Path, rerr)
		}
		if len(data) > maxBody {
			return 0, nil, fmt.Errorf("okta: %s answered with more than %d bytes", u.Path, maxBody)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < maxRetries {
			wait, _ := c.rateLimitWait(resp.Header, attempt)
			if wait <= c.maxRateLimitWait() {
				if err := c.sleep(ctx, wait); err != nil {
					return 0, nil, err
				}
				continue
			}
		}
		return resp.StatusCode, data, nil
	}
}

// AuthorizeDevice starts a device sign-in with the org authorization
// server for the OIDC app clientID (a native app with the Device
// Authorization grant).
func (c *Client) AuthorizeDevice(ctx context.Context, clientID string, scopes []string) (*DeviceAuthorization, error) {
	if clientID == "" {
		return nil, errors.New("okta: no OIDC client id: set oidc_client_id in the profile to the native app's client id")
	}
	status, data, err := c.postForm(ctx, "device/authorize", url.Values{"client_id": {clientID}, "scope": {strings.Join(scopes, " ")}})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w (does the OIDC app %s allow the Device Authorization grant and these scopes?)", parseOAuthError(status, data), clientID)
	}
	return parseDeviceAuthorization(data, c.clock().Now())
}

// PollDeviceToken waits for the person to confirm the code, polling the
// token endpoint at the interval Okta asks for (5 s longer after each
// slow_down). It ends with the tokens, ErrDeviceExpired, ErrDeviceDenied,
// another error, or when ctx is done.
func (c *Client) PollDeviceToken(ctx context.Context, clientID string, d *DeviceAuthorization) (*Tokens, error) {
	return c.pollToken(ctx, tokenPoll{
		form:     url.Values{"client_id": {clientID}, "grant_type": {grantDeviceCode}, "device_code": {d.DeviceCode}},
		interval: d.Interval, expires: d.ExpiresAt,
		expired: ErrDeviceExpired, denied: ErrDeviceDenied,
		refusal: parseOAuthError,
	})
}

// tokenPoll is one wait for a person on another device: the device flow's
// code (RFC 8628) or Direct Authentication's out-of-band factor, which
// poll the token endpoint alike.
type tokenPoll struct {
	form     url.Values
	interval time.Duration // 5 s when the server named none
	expires  time.Time
	// expired and denied are the errors for expired_token (or running
	// past expires) and access_denied.
	expired, denied error
	// refusal reads a non-200 answer into an error (an *OAuthError when
	// it is one).
	refusal func(status int, data []byte) error
	// deniedFor, when set, picks the error for an access_denied answer
	// from its description instead of denied.
	deniedFor func(*OAuthError) error
}

// pollToken polls the token endpoint at p's interval, 5 s longer after
// each slow_down, until tokens come, the person refuses, the wait expires,
// another error comes, or ctx is done.
func (c *Client) pollToken(ctx context.Context, p tokenPoll) (*Tokens, error) {
	interval := p.interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	for {
		if !c.clock().Now().Before(p.expires) {
			return nil, p.expired
		}
		if err := c.sleep(ctx, interval); err != nil {
			return nil, err
		}
		status, data, err := c.postForm(ctx, "token", p.form)
		if err != nil {
			return nil, err
		}
		if status == http.StatusOK {
			t, _, err := parseTokens(data, c.clock().Now())
			return t, err
		}
		err = p.refusal(status, data)
		var oe *OAuthError
		if !errors.As(err, &oe) {
			return nil, err
		}
		switch oe.Code {
		case "authorization_pending":
		case "slow_down":
			interval += 5 * time.Second
		case "expired_token":
			return nil, p.expired
		case "access_denied":
			if p.deniedFor != nil {
				return nil, p.deniedFor(oe)
			}
			return nil, p.denied
		default:
			return nil, err
		}
	}
}

// RefreshTokens redeems a refresh token for new tokens (an ID token too,
// when openid was granted).
func (c *Client) RefreshTokens(ctx context.Context, clientID, refreshToken string) (*Tokens, error) {
	status, data, err := c.postForm(ctx, "token", url.Values{"client_id": {clientID}, "grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		err := parseOAuthError(status, data)
		var oe *OAuthError
		if errors.As(err, &oe) && oe.Code == "invalid_grant" {
			return nil, fmt.Errorf("%w: the refresh token was refused", ErrSessionExpired)
		}
		return nil, err
	}
	t, _, err := parseTokens(data, c.clock().Now())
	if err == nil && t.RefreshToken.IsZero() {
		// Without rotation Okta returns no new refresh token: keep the old.
		t.RefreshToken = secret.New(refreshToken)
	}
	return t, err
}

// RevokeToken revokes a refresh token of the OIDC app clientID at the org
// authorization server's /oauth2/v1/revoke (RFC 7009), so a copy of it
// taken earlier is refused from then on. Okta answers 200 for a token it
// does not know or already revoked, so only a refusal of the request is an
// error.
func (c *Client) RevokeToken(ctx context.Context, clientID, refreshToken string) error {
	if clientID == "" || refreshToken == "" {
		return nil
	}
	status, data, err := c.postForm(ctx, "revoke", url.Values{"client_id": {clientID}, "token": {refreshToken}, "token_type_hint": {"refresh_token"}})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("revoke the refresh token: %w", parseOAuthError(status, data))
	}
	return nil
}

// WebSSOToken exchanges the ID token and access token of a device sign-in
// for a one-time web SSO token for the app appID (the 0oa… id of the AWS
// app): Okta's token exchange with audience urn:okta:apps:<appID>.
func (c *Client) WebSSOToken(ctx context.Context, clientID string, t *Tokens, appID string) (string, error) {
	if t.IDToken.IsZero() || t.AccessToken.IsZero() {
		return "", errors.New("okta: the sign-in returned no ID token; the OIDC app must be granted the openid scope")
	}
	form := url.Values{
		"client_id":            {clientID},
		"grant_type":           {grantTokenExchange},
		"actor_token":          {t.AccessToken.Reveal()},
		"actor_token_type":     {tokenTypeAccessToken},
		"subject_token":        {t.IDToken.Reveal()},
		"subject_token_type":   {tokenTypeIDToken},
		"requested_token_type": {tokenTypeWebSSO},
		"audience":             {"urn:okta:apps:" + appID},
	}
	status, data, err := c.postForm(ctx, "token", form)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("%w (the OIDC app needs the Token Exchange grant and okta.apps.sso; the AWS app id must be right)", parseOAuthError(status, data))
	}
	_, j, err := parseTokens(data, c.clock().Now())
	if err != nil {
		return "", err
	}
	if j.IssuedTokenType != "" && j.IssuedTokenType != tokenTypeWebSSO {
		return "", fmt.Errorf("okta: token exchange issued %q, not a web SSO token", clean(j.IssuedTokenType, 100))
	}
	return j.AccessToken, nil
}

// WebSSO redeems a web SSO token at /login/token/sso, which opens an Okta
// session and leads to the app's SAML form. The token is posted in the
// form body, never put in the URL (where proxies and servers log it).
// Okta answers either with a redirect carrying the new session's sid
// cookie, which is followed to the app, or, after redirects it followed
// itself (or a proxy did), with the SAML page at once (200). The page's
// SID is the new session's cookie.
func (c *Client) WebSSO(ctx context.Context, webSSOToken string) (*AppPage, error) {
	if webSSOToken == "" {
		return nil, errors.New("okta: no web SSO token to redeem")
	}
	u, err := c.resolve("/login/token/sso")
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, request{method: http.MethodPost, url: u, form: url.Values{"token": {webSSOToken}}, accept: "text/html"})
	if err != nil {
		return nil, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	sid := sidCookie(resp)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		loc := resp.Header.Get("Location")
		if sid == "" || loc == "" {
			return nil, fmt.Errorf("okta: the web SSO token was refused (HTTP %d, no session); sign in again", resp.StatusCode)
		}
		return c.SAMLResponse(ctx, loc, AppAuth{SID: secret.New(sid)})
	case resp.StatusCode == http.StatusOK:
		if rerr != nil {
			return nil, fmt.Errorf("okta: read the web SSO answer: %w", rerr)
		}
		if len(body) > maxBody {
			return nil, fmt.Errorf("okta: the web SSO answer is larger than %d bytes", maxBody)
		}
		if _, err := saml.ParseForm(body); err != nil {
			var pe *saml.PageError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("okta: the web SSO token was refused: %s", pe.Message)
			}
			if errors.Is(err, saml.ErrSignInPage) {
				return nil, errors.New("okta: the web SSO token was refused (Okta showed its sign-in page); sign in again")
			}
			return nil, fmt.Errorf("okta: the web SSO answer is not the AWS app's SAML page: %w", err)
		}
		return &AppPage{HTML: body, SID: secret.New(sid)}, nil
	}
	return nil, fmt.Errorf("okta: the web SSO token was refused (HTTP %d); sign in again", resp.StatusCode)
}

// AppIDFromURL finds the AWS app's id in its embed link
// (…/home/amazon_aws/<appId>/<n>) or SSO URL (…/app/amazon_aws/<id>/sso/saml).
func AppIDFromURL(appURL string) (string, error) {
	u, err := url.Parse(appURL)
	if err != nil {
		return "", fmt.Errorf("okta: app URL %q: %w", appURL, err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+2 < len(parts)+1 && i+1 < len(parts); i++ {
		if (parts[i] == "home" || parts[i] == "app") && i+2 < len(parts) && parts[i+1] == "amazon_aws" && parts[i+2] != "" {
			return parts[i+2], nil
		}
	}
	return "", fmt.Errorf("okta: app URL %q is not the AWS app's embed link (…/home/amazon_aws/<app id>/<n>)", appURL)
}
