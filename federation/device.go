package federation

import (
	"context"
	"errors"
	"fmt"

	"github.com/oktafed/oktafed/okta"
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

// Device signs in to an Okta Identity Engine org as okta-aws-cli's web
// mode does: the saved refresh token, else the OIDC device flow (a person
// confirms a code in a browser); then token exchange for a web SSO token
// for the AWS app, and /login/token/sso, which opens an Okta session (kept
// like Password's, so refreshes reuse it) and yields the app's assertion.
// Put it behind a Session so the saved Okta session is tried first.
type Device struct {
	App    *App
	Tokens TokenCache // nil: refresh tokens are neither reused nor saved
	// Show presents the verification link and code to the person (and
	// may open a browser). nil means no one can confirm a code: a login
	// is required when no refresh token works.
	Show func(ctx context.Context, d *okta.DeviceAuthorization) error
	// Scopes default to okta.DeviceScopes.
	Scopes []string
	// Force signs in anew through the device flow even when a refresh
	// token is saved (login --force); the old token is revoked once the
	// new one is saved.
	Force bool
}

// Check reports what the profile lacks for a device sign-in.
func (d *Device) Check() error {
	p := d.App.Profile
	if p.OIDCClientID == "" {
		return fmt.Errorf("profile %s has no oidc_client_id: set it to the client id of a native OIDC app with the Device Authorization and Token Exchange grants", p.Name)
	}
	if _, err := okta.AppIDFromURL(p.AppURL); err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	return nil
}

// Assertion signs in through the refresh token or the device flow.
func (d *Device) Assertion(ctx context.Context) (*Assertion, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	a, p := d.App, d.App.Profile
	appID, _ := okta.AppIDFromURL(p.AppURL)
	var tokens *okta.Tokens
	var replaced string // a refresh token a forced sign-in replaces
	if d.Tokens != nil {
		refresh, _, err := d.Tokens.LoadTokens(ctx, p.Name)
		if err != nil {
			return nil, fmt.Errorf("read the Okta tokens from the keyring: %w", err)
		}
		if d.Force {
			replaced, refresh = refresh, ""
		}
		if refresh != "" {
			a.emit("okta-token", "renewing the OIDC tokens with the saved refresh token")
			tokens, err = a.Okta.RefreshTokens(ctx, p.OIDCClientID, refresh)
			switch {
			case errors.Is(err, okta.ErrSessionExpired):
				a.emit("okta-token", "the refresh token was refused")
				_ = d.Tokens.DeleteTokens(ctx, p.Name)
				tokens = nil
			case err != nil:
				return nil, err
			}
		}
	}
	if tokens == nil {
		if d.Show == nil {
			return nil, a.loginRequired("Okta sign-in needed")
		}
		scopes := d.Scopes
		if len(scopes) == 0 {
			scopes = okta.DeviceScopes
		}
		da, err := a.Okta.AuthorizeDevice(ctx, p.OIDCClientID, scopes)
		if err != nil {
			return nil, err
		}
		if err := d.Show(ctx, da); err != nil {
			return nil, err
		}
		a.emit("okta-device", "waiting for the code %s to be confirmed", da.UserCode)
		if tokens, err = a.Okta.PollDeviceToken(ctx, p.OIDCClientID, da); err != nil {
			return nil, err
		}
		a.emit("okta-device", "signed in (scopes: %s)", tokens.Scope)
	}
	if d.Tokens != nil && (!tokens.RefreshToken.IsZero() || !tokens.DeviceSecret.IsZero()) {
		if err := d.Tokens.SaveTokens(ctx, p.Name, tokens.RefreshToken.Reveal(), tokens.DeviceSecret.Reveal()); err != nil {
			return nil, fmt.Errorf("save the Okta tokens in the keyring: %w", err)
		}
		if replaced != "" && replaced != tokens.RefreshToken.Reveal() {
			// Nothing holds the old token any more; a failure here only
			// leaves it to expire at Okta.
			if err := a.Okta.RevokeToken(ctx, p.OIDCClientID, replaced); err != nil {
				a.emit("warning", "the replaced refresh token could not be revoked at Okta: %v", err)
			}
		}
	}
	return a.appFromTokens(ctx, tokens, appID)
}
