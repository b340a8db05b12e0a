package federation

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/internal/owned"
)

// Keys that mark a section of the AWS files as oktafed's; package owned
// holds the layout, shared with credential_process's start-up fast path.
const (
	keyOwner        = owned.KeyOwner
	keyRoleARN      = owned.KeyRoleARN
	keyPrincipalARN = owned.KeyPrincipalARN
	keyExpiration   = owned.KeyExpiration
)

// errNotExist is what Load returns for a missing file.
var errNotExist = fs.ErrNotExist

// Owned describes an AWS profile that oktafed wrote.
type Owned struct {
	AWSProfile     string
	OktafedProfile string
	RoleARN        string
	PrincipalARN   string
	Expires        time.Time
}

// Written is one profile a login wrote.
type Written struct {
	AWSProfile string
	Role       Role
	Expires    time.Time
}

// ErrForeignProfile means a profile name oktafed wants is already the
// user's own.
var ErrForeignProfile = errors.New("profile exists and is not managed by oktafed")

// Files are the AWS shared files oktafed edits.
type Files struct {
	Credentials string
	Config      string
}

// DefaultFiles returns the files the AWS CLI uses, honouring
// AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE as getenv reads them
// (os.Getenv when nil).
func DefaultFiles(getenv func(string) string) (Files, error) {
	c, err := awsfile.CredentialsPath(getenv)
	if err != nil {
		return Files{}, err
	}
	g, err := awsfile.ConfigPath(getenv)
	if err != nil {
		return Files{}, err
	}
	return Files{Credentials: c, Config: g}, nil
}

// WriteProfiles stores the credentials of every successfully assumed role in
// the credentials file, and its region in the config file, under names
// from the profile's template. Sections that oktafed does not own are left
// as they are; a name clash with one is an error and nothing is written.
func WriteProfiles(files Files, p *Profile, assumed []Assumed) ([]Written, error) {
	type entry struct {
		name string
		a    Assumed
	}
	var entries []entry
	seen := map[string]string{}
	for _, a := range assumed {
		if a.Err != nil {
			continue
		}
		name, err := p.AWSProfileName(a.Role.AccountID, a.Role.RoleName)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("roles %s and %s both get the AWS profile name %q: add {{.AccountID}} or a path to profile_template", prev, a.Role.RoleARN, name)
		}
		seen[name] = a.Role.RoleARN
		entries = append(entries, entry{name, a})
	}
	if len(entries) == 0 {
		return nil, nil
	}
	err := awsfile.Update(files.Credentials, func(f *awsfile.File) error {
		for _, e := range entries {
			s := f.Profile(awsfile.Credentials, e.name)
			if s != nil && !ownedBy(s, "") {
				return fmt.Errorf("%w: [%s] in %s: choose another profile_template in the oktafed config, or remove that section", ErrForeignProfile, e.name, files.Credentials)
			}
			if s == nil {
				var err error
				if s, err = f.AddSection(awsfile.ProfileSection(awsfile.Credentials, e.name)); err != nil {
					return err
				}
			}
			if err := setAll(s, credentialKeys(p.Name, e.a)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if files.Config != "" && p.Region != "" {
		err = awsfile.Update(files.Config, func(f *awsfile.File) error {
			for _, e := range entries {
				s := f.Profile(awsfile.Config, e.name)
				if s != nil && !ownedBy(s, "") {
					// The user configured this profile; their settings win.
					continue
				}
				if s == nil {
					var err error
					if s, err = f.AddSection(awsfile.ProfileSection(awsfile.Config, e.name)); err != nil {
						return err
					}
				}
				if err := setAll(s, [][2]string{{"region", p.Region}, {keyOwner, p.Name}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]Written, len(entries))
	for i, e := range entries {
		out[i] = Written{AWSProfile: e.name, Role: e.a.Role, Expires: e.a.Credentials.Expires}
	}
	return out, nil
}

func credentialKeys(owner string, a Assumed) [][2]string {
	return [][2]string{
		{"aws_access_key_id", a.Credentials.AccessKeyID},
		{"aws_secret_access_key", a.Credentials.SecretAccessKey},
		{"aws_session_token", a.Credentials.SessionToken},
		{keyExpiration, a.Credentials.Expires.UTC().Format(time.RFC3339)},
		{keyOwner, owner},
		{keyRoleARN, a.Role.RoleARN},
		{keyPrincipalARN, a.Role.PrincipalARN},
	}
}

func setAll(s *awsfile.Section, kv [][2]string) error {
	for _, p := range kv {
		if err := s.Set(p[0], p[1]); err != nil {
			return err
		}
	}
	return nil
}

// ownedBy reports whether oktafed wrote s, for oktafed profile owner (any
// when owner is empty).
func ownedBy(s *awsfile.Section, owner string) bool { return owned.By(s, owner) }

// OwnedProfiles lists the profiles oktafed wrote in the credentials file.
func OwnedProfiles(files Files) ([]Owned, error) {
	f, err := awsfile.Load(files.Credentials)
	if errors.Is(err, errNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Owned
	for _, s := range f.Sections() {
		if !ownedBy(s, "") {
			continue
		}
		out = append(out, ownedOf(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AWSProfile < out[j].AWSProfile })
	return out, nil
}

func ownedOf(s *awsfile.Section) Owned {
	sec, _ := owned.Read(s)
	return Owned{AWSProfile: s.Name(), OktafedProfile: sec.OktafedProfile, RoleARN: sec.RoleARN, PrincipalARN: sec.PrincipalARN, Expires: sec.Expires}
}

// CachedCredentials returns the credentials oktafed stored for awsProfile.
// ok is false when there are none or they expire within window.
func CachedCredentials(files Files, awsProfile string, now time.Time, window time.Duration) (creds aws.Credentials, o Owned, ok bool, err error) {
	f, err := awsfile.Load(files.Credentials)
	if errors.Is(err, errNotExist) {
		return aws.Credentials{}, Owned{}, false, fmt.Errorf("no AWS profile %q: no oktafed login has written it", awsProfile)
	}
	if err != nil {
		return aws.Credentials{}, Owned{}, false, err
	}
	s := f.Profile(awsfile.Credentials, awsProfile)
	if s == nil || !ownedBy(s, "") {
		return aws.Credentials{}, Owned{}, false, fmt.Errorf("no AWS profile %q written by oktafed in %s: log in first, or name one of the profiles a login wrote", awsProfile, files.Credentials)
	}
	sec, _ := owned.Read(s)
	o = ownedOf(s)
	creds = aws.Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey, SessionToken: sec.SessionToken, CanExpire: true, Expires: sec.Expires, Source: "oktafed"}
	return creds, o, sec.Fresh(now, window), nil
}

// StoreCredentials replaces the credentials of an oktafed-owned profile
// after a refresh.
func StoreCredentials(files Files, owned Owned, creds aws.Credentials) error {
	return awsfile.Update(files.Credentials, func(f *awsfile.File) error {
		s := f.Profile(awsfile.Credentials, owned.AWSProfile)
		if s != nil && !ownedBy(s, "") {
			return fmt.Errorf("%w: [%s] in %s changed hands while refreshing; not touching it", ErrForeignProfile, owned.AWSProfile, files.Credentials)
		}
		if s == nil {
			var err error
			if s, err = f.AddSection(owned.AWSProfile); err != nil {
				return err
			}
		}
		return setAll(s, credentialKeys(owned.OktafedProfile, Assumed{Role: Role{RoleARN: owned.RoleARN, PrincipalARN: owned.PrincipalARN}, Credentials: creds}))
	})
}

// RemoveProfiles deletes the profiles oktafed wrote for oktafedProfile (all
// of oktafed's when it is empty) from both files and returns their names.
func RemoveProfiles(files Files, oktafedProfile string) ([]string, error) {
	var removed []string
	for _, spec := range []struct {
		path string
		kind awsfile.Kind
	}{{files.Credentials, awsfile.Credentials}, {files.Config, awsfile.Config}} {
		if spec.path == "" {
			continue
		}
		err := awsfile.Update(spec.path, func(f *awsfile.File) error {
			var names []string
			for _, s := range f.Sections() {
				if ownedBy(s, oktafedProfile) {
					names = append(names, s.Name())
				}
			}
			for _, n := range names {
				f.RemoveSection(n)
				if spec.kind == awsfile.Credentials {
					removed = append(removed, n)
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}
