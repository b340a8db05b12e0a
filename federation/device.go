package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/saml"
)

// TokenCache keeps a profile's OIDC refresh token and device secret
// between runs, so that later logins within the Okta session need no
// browser. The keystore provides one backed by the OS keyring.
type TokenCache interface {
	// LoadTokens returns "" values when nothing is saved.
	LoadTokens(ctx context.Context, profile string) (refreshToken, deviceSecret string, err error)
	SaveTokens(ctx context.Context, profile, refreshToken, deviceSecret string) error
	DeleteTokens(ctx context.Context, profile string) error
}

// DeviceLogin is a login for Okta Identity Engine orgs, as okta-aws-cli's
// web mode does it: the OIDC device flow (a person confirms a code in a
// browser), token exchange for a web SSO token for the AWS app, and
// /login/token/sso, which opens an Okta session and yields the app's SAML
// assertion. The session is saved like Login's, so credential refreshes
// (credential_process, exec) go through Login unchanged.
type DeviceLogin struct {
	// Login supplies the profile, Okta client, session cache, STS, files,
	// clock and events. Its Password and MFA are not used.
	*Login
	Tokens TokenCache
	// Show presents the verification link and code to the person (and
	// may open a browser). nil means no one can confirm a code: a login
	// is required when neither the session nor a refresh token works.
	Show func(ctx context.Context, d *okta.DeviceAuthorization) error
	// Scopes default to okta.DeviceScopes.
	Scopes []string
}

// Assertion returns a SAML assertion through, in turn, the saved Okta
// session, the saved refresh token, or a new device sign-in.
func (d *DeviceLogin) Assertion(ctx context.Context) (*saml.Assertion, error) {
	v, err, _ := d.flight.Do("device-assertion", func() (any, error) { return d.assertion(ctx) })
	if err != nil {
		return nil, explainUnreachable(err, "Okta", fmt.Sprintf(oktaHint, d.Profile.Name))
	}
	return v.(*saml.Assertion), nil
}

func (d *DeviceLogin) assertion(ctx context.Context) (*saml.Assertion, error) {
	p := d.Profile
	if p.OIDCClientID == "" {
		return nil, fmt.Errorf("profile %s has no oidc_client_id: set it to the client id of a native OIDC app with the Device Authorization and Token Exchange grants", p.Name)
	}
	appID, err := okta.AppIDFromURL(p.AppURL)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	// The saved session first, exactly as Login does: no token needed.
	saved := &Login{Profile: p, Okta: d.Okta, Sessions: d.Sessions, Clock: d.Clock, Events: d.Events, Force: d.Force}
	if a, err := saved.assertion(ctx); err == nil || !errors.Is(err, ErrLoginRequired) {
		return a, err
	}
	var tokens *okta.Tokens
	if d.Tokens != nil {
		refresh, _, err := d.Tokens.LoadTokens(ctx, p.Name)
		if err != nil {
			return nil, fmt.Errorf("read the Okta tokens from the keyring: %w", err)
		}
		if refresh != "" {
			d.emit("okta-token", "renewing the OIDC tokens with the saved refresh token")
			tokens, err = d.Okta.RefreshTokens(ctx, p.OIDCClientID, refresh)
			switch {
			case errors.Is(err, okta.ErrSessionExpired):
				d.emit("okta-token", "the refresh token was refused")
				_ = d.Tokens.DeleteTokens(ctx, p.Name)
				tokens = nil
			case err != nil:
				return nil, err
			}
		}
	}
	if tokens == nil {
		if d.Show == nil {
			return nil, d.loginRequired("Okta sign-in needed")
		}
		scopes := d.Scopes
		if len(scopes) == 0 {
			scopes = okta.DeviceScopes
		}
		da, err := d.Okta.AuthorizeDevice(ctx, p.OIDCClientID, scopes)
		if err != nil {
			return nil, err
		}
		if err := d.Show(ctx, da); err != nil {
			return nil, err
		}
		d.emit("okta-device", "waiting for the code %s to be confirmed", da.UserCode)
		if tokens, err = d.Okta.PollDeviceToken(ctx, p.OIDCClientID, da); err != nil {
			return nil, err
		}
		d.emit("okta-device", "signed in (scopes: %s)", tokens.Scope)
	}
	if d.Tokens != nil && (tokens.RefreshToken != "" || tokens.DeviceSecret != "") {
		if err := d.Tokens.SaveTokens(ctx, p.Name, tokens.RefreshToken, tokens.DeviceSecret); err != nil {
			return nil, fmt.Errorf("save the Okta tokens in the keyring: %w", err)
		}
	}
	wst, err := d.Okta.WebSSOToken(ctx, p.OIDCClientID, tokens, appID)
	if err != nil {
		return nil, err
	}
	page, err := d.Okta.WebSSO(ctx, wst)
	if err != nil {
		return nil, err
	}
	if d.Sessions != nil && page.SID != "" {
		exp := time.Time{}
		if s, err := d.Okta.Session(ctx, page.SID); err == nil {
			exp = s.ExpiresAt
		}
		if err := d.Sessions.SaveSession(ctx, p.Name, page.SID, exp); err != nil {
			return nil, fmt.Errorf("save the Okta session in the keyring: %w", err)
		}
		d.emit("okta-session", "Okta session saved for reuse (expires %s)", fmtTime(exp))
	}
	return d.readPage(page)
}

// Run is Login.Run with the device sign-in as the assertion source.
func (d *DeviceLogin) Run(ctx context.Context, selector string, choose Chooser, duration time.Duration) (*Outcome, error) {
	a, err := d.Assertion(ctx)
	if err != nil {
		return nil, err
	}
	return d.assumeAndWrite(ctx, a, selector, choose, duration)
}

// Logout forgets the tokens too, then does what Login.Logout does.
func (d *DeviceLogin) Logout(ctx context.Context) ([]string, error) {
	if d.Tokens != nil {
		if err := d.Tokens.DeleteTokens(ctx, d.Profile.Name); err != nil {
			return nil, fmt.Errorf("remove the Okta tokens from the keyring: %w", err)
		}
	}
	return d.Login.Logout(ctx)
}
