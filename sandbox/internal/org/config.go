package org

import (
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/lazyregexp"
)

// Config is the org part of sandbox.yaml. Every field is optional except the
// users' login and password; see testdata/example.yaml for a full example.
type Config struct {
	// Name is the org's display name, used in certificates and pages.
	Name string `yaml:"name"`
	// ID is the org id (00o…); generated when empty.
	ID string `yaml:"id"`
	// Pipeline is what /.well-known/okta-organization reports: "v1"
	// (Classic Engine, the default) or "idx" (Identity Engine).
	Pipeline string `yaml:"pipeline"`
	// APITokens are the SSWS tokens the admin-only parts of the Sessions
	// API (/api/v1/sessions/{id}) accept. With none, those paths answer 401.
	APITokens []string `yaml:"api_tokens"`
	// Policy holds sign-on, lockout, session and rate-limit rules.
	Policy PolicyConfig `yaml:"policy"`
	// Users are the org's people.
	Users []UserConfig `yaml:"users"`
	// Groups are the groups users and app roles refer to by name.
	Groups []GroupConfig `yaml:"groups"`
	// Apps are AWS Account Federation (SAML) apps.
	Apps []AppConfig `yaml:"apps"`
}

// PolicyConfig is the org's sign-on and API policy.
type PolicyConfig struct {
	// MFARequired forces a second factor. When unset, a user needs MFA
	// exactly when they have at least one factor.
	MFARequired *bool `yaml:"mfa_required"`
	// LockoutAttempts is how many failed passwords (or failed MFA
	// verifications) lock a user out. Default 5.
	LockoutAttempts int `yaml:"lockout_attempts"`
	// SessionLifetime is the maximum age of an Okta session. Default 2h.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// SessionIdle ends a session that has not been used for this long.
	// Default: the session lifetime.
	SessionIdle time.Duration `yaml:"session_idle"`
	// RateLimit is the number of /api/v1/authn requests allowed per user
	// per minute. Default 60.
	RateLimit int `yaml:"rate_limit"`
	// APIRateLimit is the org-wide per-minute limit of the other /api/v1
	// endpoint families (sessions, unknown paths). Default 600.
	APIRateLimit int `yaml:"api_rate_limit"`
	// StateTokenLifetime is how long an authentication transaction lives
	// after its last step. Default 5m.
	StateTokenLifetime time.Duration `yaml:"state_token_lifetime"`
	// SessionTokenLifetime is how long a one-time sessionToken can be
	// redeemed. Default 5m.
	SessionTokenLifetime time.Duration `yaml:"session_token_lifetime"`
	// PushTimeout is when an unanswered Okta Verify push turns TIMEOUT.
	// Default 5m.
	PushTimeout time.Duration `yaml:"push_timeout"`
}

// UserConfig is one user of the org.
type UserConfig struct {
	ID        string `yaml:"id"` // 00u…, generated when empty
	Login     string `yaml:"login"`
	Email     string `yaml:"email"` // default: login when it looks like an address
	FirstName string `yaml:"first_name"`
	LastName  string `yaml:"last_name"`
	Password  string `yaml:"password"`
	// Status is ACTIVE (default), LOCKED_OUT or PASSWORD_EXPIRED.
	Status string `yaml:"status"`
	// PasswordWarn makes authentication stop at PASSWORD_WARN when the
	// client asks to be warned (options.warnBeforePasswordExpired).
	PasswordWarn bool `yaml:"password_warn"`
	// PasswordExpireDays is what PASSWORD_WARN reports. Default 5.
	PasswordExpireDays int            `yaml:"password_expire_days"`
	Groups             []string       `yaml:"groups"`
	Factors            []FactorConfig `yaml:"factors"`
}

// FactorConfig is an enrolled MFA factor.
type FactorConfig struct {
	// ID is generated with Okta's prefix for the type when empty.
	ID string `yaml:"id"`
	// Type is totp, push, sms, email or webauthn (a security key or
	// platform authenticator, set up on the hosted sign-in page the first
	// time the user signs in there).
	Type string `yaml:"type"`
	// Secret is the base32 TOTP seed (totp only).
	Secret string `yaml:"secret"`
	// Phone is the SMS number (sms only).
	Phone string `yaml:"phone"`
	// Email is where email codes go (email only; default: user's email).
	Email string `yaml:"email"`
	// Push is how the simulated Okta Verify app answers (push only).
	Push PushConfig `yaml:"push"`
	// UserVerification is the webauthn policy: required, preferred (the
	// default) or discouraged. With required, an assertion without the
	// UV flag (no PIN or biometric) is refused.
	UserVerification string `yaml:"user_verification"`
}

// PushConfig scripts the simulated phone of a push factor.
type PushConfig struct {
	// Result is approve (default), reject, timeout, or wait (stay WAITING
	// until an admin endpoint decides or the push times out).
	Result string `yaml:"result"`
	// NumberChallenge adds a correctAnswer the user must pick on the phone.
	NumberChallenge bool `yaml:"number_challenge"`
	// Delay is how long the phone takes to answer.
	Delay time.Duration `yaml:"delay"`
}

// GroupConfig is an Okta group.
type GroupConfig struct {
	ID          string `yaml:"id"` // 00g…, generated when empty
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// AppConfig is an AWS Account Federation SAML app.
type AppConfig struct {
	ID    string `yaml:"id"` // 0oa…, generated when empty
	Label string `yaml:"label"`
	// ExternalKey names the app in SAML URLs and the issuer
	// http://www.okta.com/<key>; exk…, generated when empty.
	ExternalKey string `yaml:"external_key"`
	// Audience defaults to urn:amazon:webservices.
	Audience string `yaml:"audience"`
	// ACSURL is where the form posts and the Recipient; default
	// https://signin.aws.amazon.com/saml.
	ACSURL string `yaml:"acs_url"`
	// RelayState is posted along with the response (e.g. a console URL).
	RelayState string `yaml:"relay_state"`
	// SessionDuration (seconds, 900–43200) becomes the SessionDuration
	// attribute. Default 3600.
	SessionDuration int          `yaml:"session_duration"`
	Roles           []RoleConfig `yaml:"roles"`
}

// RoleConfig grants an IAM role through the app to groups and users.
type RoleConfig struct {
	RoleARN     string   `yaml:"role_arn"`
	ProviderARN string   `yaml:"provider_arn"`
	Groups      []string `yaml:"groups"` // group names
	Users       []string `yaml:"users"`  // logins or user ids
}

const (
	statusActive          = "ACTIVE"
	statusLockedOut       = "LOCKED_OUT"
	statusPasswordExpired = "PASSWORD_EXPIRED"

	pushApprove = "approve"
	pushReject  = "reject"
	pushTimeout = "timeout"
	pushWait    = "wait"

	defaultAudience = "urn:amazon:webservices"
	defaultACS      = "https://signin.aws.amazon.com/saml"
)

var (
	idPattern          = lazyregexp.New(`^[A-Za-z0-9_-]{1,64}$`)
	roleARNPattern     = lazyregexp.New(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
	providerARNPattern = lazyregexp.New(`^arn:aws[a-z-]*:iam::[0-9]{12}:saml-provider/[\w.-]+$`)
)

// factorKinds maps the config's factor type to Okta's factorType, provider
// and id prefix.
var factorKinds = map[string]struct{ factorType, provider, prefix string }{
	"totp":     {"token:software:totp", "OKTA", "ost"},
	"push":     {"push", "OKTA", "opf"},
	"sms":      {"sms", "OKTA", "sms"},
	"email":    {"email", "OKTA", "emf"},
	"webauthn": {"webauthn", "FIDO", "fwf"},
}

// policy is PolicyConfig with defaults applied.
type policy struct {
	mfaRequired          *bool
	lockoutAttempts      int
	sessionLifetime      time.Duration
	sessionIdle          time.Duration
	rateLimit            int
	apiRateLimit         int
	stateTokenLifetime   time.Duration
	sessionTokenLifetime time.Duration
	pushTimeout          time.Duration
}

func resolvePolicy(p PolicyConfig) (policy, error) {
	out := policy{
		mfaRequired:          p.MFARequired,
		lockoutAttempts:      orInt(p.LockoutAttempts, 5),
		sessionLifetime:      orDur(p.SessionLifetime, 2*time.Hour),
		rateLimit:            orInt(p.RateLimit, 60),
		apiRateLimit:         orInt(p.APIRateLimit, 600),
		stateTokenLifetime:   orDur(p.StateTokenLifetime, 5*time.Minute),
		sessionTokenLifetime: orDur(p.SessionTokenLifetime, 5*time.Minute),
		pushTimeout:          orDur(p.PushTimeout, 5*time.Minute),
	}
	out.sessionIdle = orDur(p.SessionIdle, out.sessionLifetime)
	for name, v := range map[string]int{"lockout_attempts": p.LockoutAttempts, "rate_limit": p.RateLimit, "api_rate_limit": p.APIRateLimit} {
		if v < 0 {
			return policy{}, fmt.Errorf("policy.%s: %d is negative (use a positive number, or omit it for the default)", name, v)
		}
	}
	for name, v := range map[string]time.Duration{"session_lifetime": p.SessionLifetime, "session_idle": p.SessionIdle, "state_token_lifetime": p.StateTokenLifetime, "session_token_lifetime": p.SessionTokenLifetime, "push_timeout": p.PushTimeout} {
		if v < 0 {
			return policy{}, fmt.Errorf("policy.%s: %v is negative (use a duration such as 5m, or omit it for the default)", name, v)
		}
	}
	return out, nil
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func orStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// decodeBase32Secret accepts the forms authenticator apps accept: any case,
// with or without padding, with spaces.
func decodeBase32Secret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	s = strings.TrimRight(s, "=")
	if n := len(s) % 8; n != 0 {
		s += strings.Repeat("=", 8-n)
	}
	return base32.StdEncoding.DecodeString(s)
}

// normalizeSecret returns the secret in the form pquerna/otp decodes.
func normalizeSecret(s string) string {
	return strings.ToUpper(strings.TrimRight(strings.ReplaceAll(strings.TrimSpace(s), " ", ""), "="))
}

func checkID(field, id string) error {
	if id != "" && !idPattern.MatchString(id) {
		return fmt.Errorf("%s: %q is not a valid id (letters, digits, '-' and '_' only)", field, id)
	}
	return nil
}
