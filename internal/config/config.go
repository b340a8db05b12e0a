// Package config holds oktafed's own settings: named profiles, each one
// Okta login (org, AWS app, user, MFA preference) and how its AWS
// credentials are named and sized. Secrets are never part of it; they live
// in the keystore.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/internal/atomicfile"
)

// DefaultProfileTemplate names the AWS profiles that login writes.
const DefaultProfileTemplate = "okta-{{.Account}}-{{.Role}}"

// DefaultProfile is the profile used when none is named.
const DefaultProfile = "default"

// MFA methods a profile may prefer.
var MFAMethods = []string{"push", "totp", "sms", "email"}

// SignInMethods are how a profile's new Okta sign-ins may happen: password
// (and MFA) through the Authentication API, the person's browser, the OIDC
// device flow, or Okta Direct Authentication.
var SignInMethods = []string{"password", "browser", "device", "direct"}

// Profile is one Okta login and what to do with it.
type Profile struct {
	Name string `yaml:"-"`
	// OrgURL is the Okta org, e.g. https://example.okta.com.
	OrgURL string `yaml:"org_url"`
	// AppURL is the AWS app's embed link (…/home/amazon_aws/0oa…/272) or
	// its SSO URL (…/app/amazon_aws/0oa…/sso/saml).
	AppURL   string `yaml:"app_url"`
	Username string `yaml:"username"`
	// MFA is the preferred factor: push, totp, sms or email; empty asks.
	MFA    string `yaml:"mfa,omitempty"`
	Region string `yaml:"region,omitempty"`
	// Duration is the requested session length; the SAML SessionDuration
	// and the role's maximum cap it.
	Duration Duration `yaml:"duration,omitempty"`
	// Role selects roles: an ARN, /regex/ matched against ARNs, or "all".
	Role string `yaml:"role,omitempty"`
	// ProfileTemplate names AWS profiles: text with the fields
	// {{.Account}} (alias or id), {{.AccountID}}, {{.Role}}, {{.Profile}}
	// (template.go reads it; no other template actions).
	ProfileTemplate string `yaml:"profile_template,omitempty"`
	// AccountAliases maps account ids to names for profile names.
	AccountAliases map[string]string `yaml:"account_aliases,omitempty"`
	// RoleMaxSessions remembers, per role ARN, the longest session STS
	// granted a role whose maximum is shorter than the duration asked
	// for, so later logins ask for that at once. Login fills it in.
	RoleMaxSessions map[string]Duration `yaml:"role_max_sessions,omitempty"`
	// STSEndpoint overrides the STS endpoint (AWS_ENDPOINT_URL_STS wins).
	STSEndpoint string `yaml:"sts_endpoint,omitempty"`
	// OIDCClientID is the client id of a native OIDC app with the Device
	// Authorization and Token Exchange grants. Okta Identity Engine orgs
	// sign in through it (the device flow) instead of /api/v1/authn.
	OIDCClientID string `yaml:"oidc_client_id,omitempty"`
	// SignIn is how new Okta sign-ins happen (SignInMethods). Empty picks
	// by org: password and MFA on Classic orgs, the device flow on Identity
	// Engine orgs. browser signs in in the person's browser, so every
	// authenticator works (security keys, Touch ID, Windows Hello,
	// FastPass); direct uses Okta Direct Authentication (needs
	// oidc_client_id).
	SignIn string `yaml:"sign_in,omitempty"`
}

// Duration is a time.Duration written as "1h30m" in YAML.
type Duration time.Duration

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads "1h", "90m" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads "1h", "90m" or a bare number of seconds, as the
// SAML SessionDuration attribute and AWS's DurationSeconds are written.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if isDigits(s) {
		var n int64
		if _, err := fmt.Sscan(s, &n); err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		return time.Duration(n) * time.Second, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("duration %q: write it like 1h, 90m or 3600", s)
	}
	return v, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// File is the whole configuration file.
type File struct {
	Profiles map[string]*Profile `yaml:"profiles"`
}

// ErrNoProfile means the named profile is not configured.
var ErrNoProfile = errors.New("profile not configured")

// Path returns where the configuration lives: $OKTAFED_CONFIG, else
// $XDG_CONFIG_HOME/oktafed/config.yaml, else ~/.config/oktafed/config.yaml.
func Path(getenv func(string) string) (string, error) {
	if p := getenv("OKTAFED_CONFIG"); p != "" {
		return p, nil
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "oktafed", "config.yaml"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find a home directory for the oktafed config: set OKTAFED_CONFIG")
		}
		home = h
	}
	return filepath.Join(home, ".config", "oktafed", "config.yaml"), nil
}

// Load reads the configuration at path. A missing file is an empty
// configuration.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Profiles: map[string]*Profile{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read oktafed config: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a configuration document; name is used in errors.
func Parse(name string, data []byte) (*File, error) {
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w (fix the file or run `oktafed init` to write it again)", name, err)
	}
	if f.Profiles == nil {
		f.Profiles = map[string]*Profile{}
	}
	for n, p := range f.Profiles {
		if p == nil {
			p = &Profile{}
			f.Profiles[n] = p
		}
		p.Name = n
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%s: profile %q: %w", name, n, err)
		}
	}
	return f, nil
}

// Save writes the configuration atomically with mode 0600.
func (f *File) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes(), 0o600)
}

// Profile returns the named profile or an error that says how to create it.
func (f *File) Profile(name string) (*Profile, error) {
	if name == "" {
		name = DefaultProfile
	}
	p, ok := f.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q: run `oktafed init --profile %s` first", ErrNoProfile, name, name)
	}
	return p, nil
}

// Names returns the profile names in order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Profiles))
	for n := range f.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks a profile's fields and says which one to fix.
func (p *Profile) Validate() error {
	if p.OrgURL != "" {
		if err := checkURL("org_url", p.OrgURL); err != nil {
			return err
		}
	}
	if p.AppURL != "" {
		if err := checkURL("app_url", p.AppURL); err != nil {
			return err
		}
	}
	if p.MFA != "" && !slices.Contains(MFAMethods, p.MFA) {
		return fmt.Errorf("mfa %q: choose one of %s", p.MFA, strings.Join(MFAMethods, ", "))
	}
	if p.SignIn != "" && !slices.Contains(SignInMethods, p.SignIn) {
		return fmt.Errorf("sign_in %q: choose one of %s", p.SignIn, strings.Join(SignInMethods, ", "))
	}
	if _, err := p.RoleMatcher(); err != nil {
		return err
	}
	if _, err := p.template(); err != nil {
		return err
	}
	return nil
}

func checkURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s %q: want an absolute URL such as https://example.okta.com", field, s)
	}
	return nil
}

// RoleMatcher returns a predicate over role ARNs for the profile's Role
// selector, or nil when the selector is empty (ask, or take the only role).
func (p *Profile) RoleMatcher() (func(arn string) bool, error) {
	return RoleMatcher(p.Role)
}

// RoleMatcher parses a role selector: an ARN, /regex/, or "all".
func RoleMatcher(sel string) (func(arn string) bool, error) {
	switch {
	case sel == "":
		return nil, nil
	case sel == "all":
		return func(string) bool { return true }, nil
	case len(sel) >= 2 && strings.HasPrefix(sel, "/") && strings.HasSuffix(sel, "/"):
		re, err := regexp.Compile(sel[1 : len(sel)-1])
		if err != nil {
			return nil, fmt.Errorf("role %q: bad regular expression: %v", sel, err)
		}
		return re.MatchString, nil
	case strings.HasPrefix(sel, "arn:"):
		return func(arn string) bool { return arn == sel }, nil
	case strings.ContainsAny(sel, " \t\r\n"):
		return nil, fmt.Errorf("role %q: give a role ARN, a role name, an account alias or id (alone or as ACCOUNT/ROLE), /regex/ or all", sel)
	default:
		return RoleNameMatcher(sel, nil), nil
	}
}

// RoleNameMatcher matches roles by name: "Admin" (the role name), "prod"
// (an account alias, or an account id: every role there), or
// "prod/Admin" (both; ":" works as well as "/"). Names compare without
// regard to case. aliases maps account ids to aliases.
func RoleNameMatcher(sel string, aliases map[string]string) func(arn string) bool {
	acct, role, both := strings.Cut(sel, "/")
	if !both {
		acct, role, both = strings.Cut(sel, ":")
	}
	return func(arn string) bool {
		id, name := ARNAccount(arn), ARNRoleName(arn)
		isAcct := func(a string) bool {
			return strings.EqualFold(a, id) || (aliases[id] != "" && strings.EqualFold(a, aliases[id]))
		}
		if both {
			return isAcct(acct) && strings.EqualFold(role, name)
		}
		return strings.EqualFold(sel, name) || isAcct(sel)
	}
}

// ARNAccount is the account id of an IAM ARN ("" when it has none).
func ARNAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// ARNRoleName is the role name of a role ARN: the last segment of its
// path.
func ARNRoleName(arn string) string {
	_, res, _ := strings.Cut(arn, ":role/")
	if i := strings.LastIndexByte(res, '/'); i >= 0 {
		res = res[i+1:]
	}
	return res
}

// NameFields are the values a profile template sees.
type NameFields struct {
	Account   string // alias when known, else the account id
	AccountID string
	Role      string // role name (the part after role/)
	Profile   string // the oktafed profile
}

func (p *Profile) template() (profileTemplate, error) {
	src := p.ProfileTemplate
	if src == "" {
		src = DefaultProfileTemplate
	}
	t, err := parseProfileTemplate(src)
	if err != nil {
		return nil, fmt.Errorf("profile_template %q: %v", src, err)
	}
	return t, nil
}

// AWSProfileName renders the AWS profile name for a role.
func (p *Profile) AWSProfileName(accountID, roleName string) (string, error) {
	t, err := p.template()
	if err != nil {
		return "", err
	}
	acct := accountID
	if a := p.AccountAliases[accountID]; a != "" {
		acct = a
	}
	var b strings.Builder
	t.render(&b, NameFields{Account: acct, AccountID: accountID, Role: roleName, Profile: p.Name})
	name := strings.TrimSpace(b.String())
	if err := CheckAWSProfileName(name); err != nil {
		return "", fmt.Errorf("profile_template gives %q for %s/%s: %w", name, accountID, roleName, err)
	}
	return name, nil
}

// ProfileNameRule is the rule CheckAWSProfileName holds names to, in words.
const ProfileNameRule = "a profile name must be non-empty and hold no spaces, tabs, quotes, brackets, # or ; (the AWS CLI and SDKs cannot read such a [profile …] section)"

// CheckAWSProfileName refuses names the AWS CLI and SDKs cannot read back
// from a `[profile NAME]` header or a credentials section: whitespace
// splits the header, quotes and brackets end it, # and ; start comments.
func CheckAWSProfileName(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n\"'[]#;\\") {
		return errors.New(ProfileNameRule)
	}
	return nil
}

// CheckAppLink checks that the AWS app link is on the org's host: the
// Okta client follows links on the org only (so a session cookie never
// leaves it), so a link elsewhere could only fail after the password and
// MFA.
func (p *Profile) CheckAppLink() error {
	if p.AppURL == "" || p.OrgURL == "" {
		return nil
	}
	app, err := url.Parse(p.AppURL)
	if err != nil || app.Host == "" {
		return fmt.Errorf("app_url %q is not an absolute URL: give the AWS app's embed link from the Okta dashboard", p.AppURL)
	}
	org, err := url.Parse(p.OrgURL)
	if err != nil || org.Host == "" {
		return fmt.Errorf("org_url %q is not an absolute URL such as https://example.okta.com", p.OrgURL)
	}
	if !strings.EqualFold(app.Host, org.Host) || app.Scheme != org.Scheme {
		return fmt.Errorf("app_url %s is on %s://%s, not on the org %s://%s: use the embed link as the org's own dashboard shows it (or set org_url to the host the link is on)", p.AppURL, app.Scheme, app.Host, org.Scheme, org.Host)
	}
	return nil
}

// CheckNames checks, before anything is asked of a person, that the AWS
// profile names the profile's template makes are names AWS tools can read
// (with a sample account and role). init holds new profiles' own names to
// CheckAWSProfileName as well.
func (p *Profile) CheckNames() error {
	_, err := p.AWSProfileName("123456789012", "Admin")
	return err
}
