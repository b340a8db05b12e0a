package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Okta Direct Authentication (Identity Engine): a client signs a person in
// at the org authorization server's token endpoint without a browser, as
// Okta's reference describes (guides "configure direct auth grants"; API
// /oauth2/v1/token, /challenge, /primary-authenticate):
//
//  1. grant_type=password; a sign-on policy that wants a second factor
//     answers 403 {"error":"mfa_required","mfa_token":…};
//  2. for an OTP: grant_type=http://auth0.com/oauth/grant-type/mfa-otp
//     with otp and mfa_token;
//  3. for an Okta Verify push: POST /challenge with mfa_token,
//     challenge_types_supported=…/mfa-oob and channel_hint=push, which
//     answers an oob_code, expires_in, interval and a binding_method
//     (transfer: binding_code is the number to pick on the phone), then
//     grant_type=http://auth0.com/oauth/grant-type/mfa-oob with oob_code
//     and mfa_token, polled every interval seconds while the answer is
//     authorization_pending (slow_down adds 5 s).
//
// The tokens (openid and okta.apps.sso) then go through token exchange to a
// web SSO token for the AWS app, exactly as after the device flow.

// Direct authentication grant types.
const (
	grantPassword = "password"
	grantMFAOTP   = "http://auth0.com/oauth/grant-type/mfa-otp"
	grantMFAOOB   = "http://auth0.com/oauth/grant-type/mfa-oob"
	grantOTP      = "urn:okta:params:oauth:grant-type:otp"
	grantOOB      = "urn:okta:params:oauth:grant-type:oob"
)

// directScopes are what a direct sign-in for AWS asks for: an ID token and
// app SSO for the token exchange.
var directScopes = []string{"openid", "profile", "okta.apps.sso"}

// oobChallenge is the /challenge (or /primary-authenticate) answer for an
// out-of-band factor. OOBCode is a credential; String leaves it out.
type oobChallenge struct {
	ChallengeType string
	OOBCode       string
	ExpiresAt     time.Time
	Interval      time.Duration
	Channel       string
	BindingMethod string // none, transfer or prompt
	BindingCode   string // the number to pick on the phone (transfer)
}

// String describes the challenge without the oob_code.
func (c *oobChallenge) String() string {
	return fmt.Sprintf("okta.Challenge{Type: %s, Channel: %s, BindingMethod: %s, OOBCode: [redacted]}", c.ChallengeType, c.Channel, c.BindingMethod)
}

// GoString keeps %#v from printing the oob_code.
func (c *oobChallenge) GoString() string { return c.String() }

// maxInterval bounds the poll interval a server may ask for.
const maxInterval = time.Minute

// parseChallenge reads a /challenge or /primary-authenticate answer, which
// comes from the network: fields are checked and bounded.
func parseChallenge(data []byte, now time.Time) (*oobChallenge, error) {
	var j struct {
		ChallengeType string          `json:"challenge_type"`
		OOBCode       string          `json:"oob_code"`
		ExpiresIn     int64           `json:"expires_in"`
		Interval      int64           `json:"interval"`
		Channel       string          `json:"channel"`
		BindingMethod string          `json:"binding_method"`
		BindingCode   json.RawMessage `json:"binding_code"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("okta: the challenge answer is not JSON this client can read (%v)", err)
	}
	binding, err := bindingCode(j.BindingCode)
	if err != nil {
		return nil, err
	}
	c := &oobChallenge{
		ChallengeType: clean(j.ChallengeType, 200), OOBCode: j.OOBCode, Channel: clean(j.Channel, 20),
		BindingMethod: clean(j.BindingMethod, 20), BindingCode: binding,
	}
	if c.ChallengeType == grantMFAOTP {
		return c, nil
	}
	if c.OOBCode == "" || len(c.OOBCode) > 4096 || strings.ContainsAny(c.OOBCode, " \t\r\n") {
		return nil, errors.New("okta: the challenge answer has no usable oob_code")
	}
	c.Interval = seconds(j.Interval)
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Interval > maxInterval {
		c.Interval = maxInterval
	}
	life := seconds(j.ExpiresIn)
	if life <= 0 {
		life = 5 * time.Minute
	}
	c.ExpiresAt = now.Add(life)
	switch c.BindingMethod {
	case "", "none", "transfer", "prompt":
	default:
		return nil, fmt.Errorf("okta: the challenge asks for binding method %q, which this client does not know", c.BindingMethod)
	}
	if c.BindingMethod == "transfer" {
		if _, err := strconv.Atoi(c.BindingCode); err != nil {
			return nil, errors.New("okta: the challenge's binding_code is not a number")
		}
	}
	return c, nil
}

// bindingCode reads binding_code, which Okta's examples write as a JSON
// number and other answers as a string: both are accepted, as digits.
func bindingCode(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var n json.Number
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if dec.Decode(&n) != nil {
			return "", errors.New("okta: the challenge's binding_code is neither a number nor a string")
		}
		s = n.String()
	}
	s = strings.TrimSpace(s)
	if len(s) > 20 {
		return "", errors.New("okta: the challenge's binding_code is too long")
	}
	return s, nil
}

// mfaRequiredToken returns the mfa_token of a 403 mfa_required answer.
func mfaRequiredToken(status int, data []byte) (string, bool) {
	if status != http.StatusForbidden && status != http.StatusUnauthorized && status != http.StatusBadRequest {
		return "", false
	}
	var j struct {
		Error    string `json:"error"`
		MFAToken string `json:"mfa_token"`
	}
	if json.Unmarshal(data, &j) != nil || j.Error != "mfa_required" || j.MFAToken == "" || len(j.MFAToken) > 4096 {
		return "", false
	}
	return j.MFAToken, true
}

// directError turns a token endpoint refusal into an error that says what
// to do.
func directError(status int, data []byte, clientID, grant string) error {
	err := parseOAuthError(status, data)
	var oe *OAuthError
	if !errors.As(err, &oe) {
		return err
	}
	switch oe.Code {
	case "unauthorized_client", "unsupported_grant_type":
		return fmt.Errorf("%w: the OIDC app %s may not use the %s grant; ask your Okta admin to enable Direct Authentication (Resource Owner Password, MFA OOB and MFA OTP grants) for it, or sign in with --browser", err, clientID, grant)
	case "invalid_scope":
		return fmt.Errorf("%w: the OIDC app %s needs the scopes %s", err, clientID, strings.Join(directScopes, ", "))
	}
	return err
}

// DirectSignIn signs username in with Okta Direct Authentication through
// the OIDC app clientID and returns its tokens. m answers the second
// factor: a TOTP code (from m.TOTPSeed or m.Code) when m.Preferred is
// totp, or when a seed is at hand and nothing is preferred; an Okta Verify
// push otherwise (m.Waiting and m.PushNumber are told about it).
func (c *Client) DirectSignIn(ctx context.Context, clientID, username, password string, m *MFA) (*Tokens, error) {
	if clientID == "" {
		return nil, errors.New("okta: no OIDC client id: set oidc_client_id in the profile to the client id of a native app with the Direct Authentication grants")
	}
	if m == nil {
		m = &MFA{}
	}
	status, data, err := c.postForm(ctx, "token", url.Values{
		"client_id": {clientID}, "grant_type": {grantPassword}, "scope": {strings.Join(directScopes, " ")},
		"username": {username}, "password": {password},
	})
	if err != nil {
		return nil, err
	}
	if status == http.StatusOK {
		t, _, err := parseTokens(data, c.clock().Now())
		return t, err
	}
	mfaToken, ok := mfaRequiredToken(status, data)
	if !ok {
		err := directError(status, data, clientID, grantPassword)
		var oe *OAuthError
		if errors.As(err, &oe) && oe.Code == "invalid_grant" && oe.Status != http.StatusTooManyRequests {
			return nil, ErrInvalidCredentials
		}
		return nil, err
	}
	useOTP := m.Preferred == KindTOTP || m.Preferred == KindToken || (m.Preferred == "" && !m.TOTPSeed.IsZero())
	if m.Preferred == "" && m.TOTPSeed.IsZero() && m.Choose != nil {
		// Direct authentication does not list the user's factors: offer
		// the two it can verify.
		f, err := m.Choose(ctx, []Factor{
			{Type: "push", Provider: "OKTA", Kind: KindPush},
			{Type: "token:software:totp", Provider: "OKTA", Kind: KindTOTP},
		})
		if err != nil {
			return nil, err
		}
		useOTP = f.Kind == KindTOTP
	}
	if useOTP {
		return c.directOTP(ctx, clientID, mfaToken, m)
	}
	if m.Preferred != "" && m.Preferred != KindPush {
		return nil, fmt.Errorf("okta: direct authentication verifies an Okta Verify push or a TOTP code, not %q (use --mfa push or --mfa totp, or sign in with --browser)", m.Preferred)
	}
	return c.directPush(ctx, clientID, mfaToken, m)
}

// directOTP finishes with the mfa-otp grant; a code typed by the person
// may be retried twice.
func (c *Client) directOTP(ctx context.Context, clientID, mfaToken string, m *MFA) (*Tokens, error) {
	factor := Factor{Type: "token:software:totp", Provider: "OKTA", Kind: KindTOTP}
	var problem error
	for attempt := 1; attempt <= 3; attempt++ {
		var code string
		var err error
		if !m.TOTPSeed.IsZero() {
			code, err = m.totpCode(ctx, c, attempt > 1)
		} else {
			code, err = m.askCode(ctx, CodePrompt{Factor: factor, Attempt: attempt, Problem: problem})
		}
		if err != nil {
			return nil, err
		}
		status, data, err := c.postForm(ctx, "token", url.Values{
			"client_id": {clientID}, "grant_type": {grantMFAOTP}, "scope": {strings.Join(directScopes, " ")},
			"mfa_token": {mfaToken}, "otp": {code},
		})
		if err != nil {
			return nil, err
		}
		if status == http.StatusOK {
			t, _, err := parseTokens(data, c.clock().Now())
			return t, err
		}
		err = directError(status, data, clientID, grantMFAOTP)
		var oe *OAuthError
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" || oe.Status == http.StatusTooManyRequests || strings.Contains(oe.Description, "mfa_token") {
			return nil, err
		}
		problem = ErrInvalidCode
	}
	return nil, ErrInvalidCode
}

// directPush finishes with an Okta Verify push and the mfa-oob grant.
func (c *Client) directPush(ctx context.Context, clientID, mfaToken string, m *MFA) (*Tokens, error) {
	status, data, err := c.postForm(ctx, "challenge", url.Values{
		"client_id": {clientID}, "mfa_token": {mfaToken},
		"challenge_types_supported": {grantMFAOOB}, "channel_hint": {KindPush},
	})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, directError(status, data, clientID, grantMFAOOB)
	}
	ch, err := parseChallenge(data, c.clock().Now())
	if err != nil {
		return nil, err
	}
	if ch.OOBCode == "" {
		return nil, errors.New("okta: the org answered the push challenge without an oob_code")
	}
	if ch.BindingMethod == "prompt" {
		return nil, errors.New("okta: the org asks to type a code sent out of band, which direct sign-in does not do for pushes; use --mfa totp or --browser")
	}
	if ch.BindingMethod == "transfer" && m.PushNumber != nil {
		n, _ := strconv.Atoi(ch.BindingCode)
		m.PushNumber(n)
	}
	if m.Waiting != nil {
		m.Waiting(Factor{Type: "push", Provider: "OKTA", Kind: KindPush})
	}
	return c.pollOOB(ctx, url.Values{
		"client_id": {clientID}, "grant_type": {grantMFAOOB}, "scope": {strings.Join(directScopes, " ")},
		"mfa_token": {mfaToken}, "oob_code": {ch.OOBCode},
	}, ch)
}

// pollOOB polls the token endpoint until the out-of-band factor is
// answered, at the interval the challenge asked for.
func (c *Client) pollOOB(ctx context.Context, form url.Values, ch *oobChallenge) (*Tokens, error) {
	return c.pollToken(ctx, tokenPoll{
		form: form, interval: ch.Interval, expires: ch.ExpiresAt,
		expired: ErrPushTimeout, denied: ErrPushRejected,
		refusal: func(status int, data []byte) error {
			return directError(status, data, form.Get("client_id"), form.Get("grant_type"))
		},
		deniedFor: func(oe *OAuthError) error {
			// Okta answers access_denied both when the person rejects the
			// push and when the mfa_token or oob_code has expired; only
			// the first is "rejected on your phone".
			d := strings.ToLower(oe.Description)
			if strings.Contains(d, "expired") || strings.Contains(d, "mfa_token") || strings.Contains(d, "oob_code") {
				return ErrPushTimeout
			}
			return ErrPushRejected
		},
	})
}
