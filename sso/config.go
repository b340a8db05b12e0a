package sso

import (
	"errors"
	"fmt"
	"strings"

	"github.com/oktafed/oktafed/internal/awsfile"
)

// Session is an [sso-session NAME] section of the AWS config file.
type Session struct {
	Name     string
	StartURL string
	Region   string
	// Scopes are sso_registration_scopes; with any, the client gets a
	// refresh token and the SDKs refresh the access token themselves.
	Scopes []string
}

// DefaultScopes are what `aws configure sso` proposes.
var DefaultScopes = []string{"sso:account:access"}

// CacheKey is the token cache file of the session.
func (s *Session) CacheKey() string { return CacheKey(s.Name) }

// ErrNoSession matches ReadSession's error for a config file without the
// named [sso-session] section.
var ErrNoSession = errors.New("no such sso-session")

// ReadSession reads [sso-session name] from the config file at path.
func ReadSession(path, name string) (*Session, error) {
	f, err := awsfile.Load(path)
	if err != nil {
		return nil, err
	}
	sec := f.Section(awsfile.SSOSessionSection(name))
	if sec == nil {
		return nil, fmt.Errorf("%w: no [sso-session %s] in %s: add one with its start URL and region", ErrNoSession, name, path)
	}
	s := &Session{Name: name}
	s.StartURL, _ = sec.Get("sso_start_url")
	s.Region, _ = sec.Get("sso_region")
	if v, ok := sec.Get("sso_registration_scopes"); ok {
		for _, sc := range strings.Split(v, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				s.Scopes = append(s.Scopes, sc)
			}
		}
	}
	if s.StartURL == "" || s.Region == "" {
		return nil, fmt.Errorf("[sso-session %s] in %s needs sso_start_url and sso_region", name, path)
	}
	return s, nil
}

// ProfileSession returns the sso_session an AWS profile names.
func ProfileSession(path, profile string) (string, error) {
	f, err := awsfile.Load(path)
	if err != nil {
		return "", err
	}
	sec := f.Profile(awsfile.Config, profile)
	if sec == nil {
		return "", fmt.Errorf("no profile %s in %s", profile, path)
	}
	v, ok := sec.Get("sso_session")
	if !ok || v == "" {
		return "", fmt.Errorf("profile %s in %s has no sso_session", profile, path)
	}
	return v, nil
}

// WriteSession adds or updates [sso-session NAME], keeping every other
// section and key as it was.
func WriteSession(path string, s *Session) error {
	return awsfile.Update(path, func(f *awsfile.File) error {
		name := awsfile.SSOSessionSection(s.Name)
		sec := f.Section(name)
		if sec == nil {
			var err error
			if sec, err = f.AddSection(name); err != nil {
				return err
			}
		}
		if err := sec.Set("sso_start_url", s.StartURL); err != nil {
			return err
		}
		if err := sec.Set("sso_region", s.Region); err != nil {
			return err
		}
		if len(s.Scopes) > 0 {
			return sec.Set("sso_registration_scopes", strings.Join(s.Scopes, ","))
		}
		return nil
	})
}

// ProfileSpec is an AWS profile that gets its credentials from a role
// through an sso-session.
type ProfileSpec struct {
	Name      string
	Session   string
	AccountID string
	RoleName  string
	Region    string // the profile's region; empty leaves it as it is
}

// WriteProfile adds or updates the profile's sso_* keys. A profile that
// holds static keys or another credential source is refused rather than
// turned into a mix the SDKs reject.
func WriteProfile(path string, p ProfileSpec) error {
	return awsfile.Update(path, func(f *awsfile.File) error {
		sec := f.Profile(awsfile.Config, p.Name)
		if sec == nil {
			var err error
			if sec, err = f.AddSection(awsfile.ProfileSection(awsfile.Config, p.Name)); err != nil {
				return err
			}
		}
		for _, k := range []string{"credential_process", "role_arn", "web_identity_token_file", "aws_access_key_id"} {
			if _, ok := sec.Get(k); ok {
				return fmt.Errorf("profile %s in %s already sets %s: choose another profile name", p.Name, path, k)
			}
		}
		for _, kv := range [][2]string{{"sso_session", p.Session}, {"sso_account_id", p.AccountID}, {"sso_role_name", p.RoleName}} {
			if err := sec.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if p.Region != "" {
			return sec.Set("region", p.Region)
		}
		return nil
	})
}
