package federation

import (
	"context"
	"fmt"

	"github.com/oktafed/oktafed/okta"
)

// Direct signs in to an Okta Identity Engine org whose admins enabled Okta
// Direct Authentication: the password and an Okta Verify push or a TOTP
// code go to the org authorization server (okta.DirectSignIn), with no
// browser; the tokens become a web SSO token for the AWS app and
// /login/token/sso yields its assertion, as after the device flow. The
// Okta session it opens is saved like Password's. Put it behind a Session.
type Direct struct {
	App *App
	// Password returns the Okta password when a sign-in is needed.
	Password func(ctx context.Context) (string, error)
	// MFA answers the second factor.
	MFA *okta.MFA
}

var _ AssertionSource = (*Direct)(nil)

// Assertion signs in directly.
func (d *Direct) Assertion(ctx context.Context) (*Assertion, error) {
	a, p := d.App, d.App.Profile
	if p.OIDCClientID == "" {
		return nil, fmt.Errorf("profile %s has no oidc_client_id: set it to the client id of a native OIDC app with the Direct Authentication grants (password, MFA OOB, MFA OTP) and Token Exchange", p.Name)
	}
	appID, err := okta.AppIDFromURL(p.AppURL)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if d.Password == nil {
		return nil, a.loginRequired("Okta session expired")
	}
	if p.Username == "" {
		return nil, fmt.Errorf("profile %s has no username: set the Okta user name", p.Name)
	}
	password, err := d.Password(ctx)
	if err != nil {
		return nil, err
	}
	a.emit("okta-direct", "signing in to %s as %s with Okta Direct Authentication", a.Okta.BaseURL, p.Username)
	tokens, err := a.Okta.DirectSignIn(ctx, p.OIDCClientID, p.Username, password, d.MFA)
	if err != nil {
		return nil, err
	}
	return a.appFromTokens(ctx, tokens, appID)
}
