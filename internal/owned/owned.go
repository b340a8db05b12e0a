// Package owned holds the layout of the AWS credentials-file sections that
// oktafed writes: the keys that mark a section as oktafed's and record what
// it holds. It depends on awsfile and the standard library only, so the
// start-up fast path of credential_process can use it.
package owned

import (
	"time"

	"github.com/oktafed/oktafed/internal/awsfile"
)

// RefreshWindow is how long before expiry credentials count as stale and
// are refreshed. It is the one window of the whole module: the CLI, the
// start-up fast path, awsauth, federation, dbauth and m2m all use it, so a
// profile never counts as fresh to one of them and stale to another.
const RefreshWindow = 5 * time.Minute

// Keys that mark a section of the AWS files as oktafed's. A section without
// them belongs to the user and is never changed.
const (
	KeyOwner        = "oktafed_profile"
	KeyRoleARN      = "oktafed_role_arn"
	KeyPrincipalARN = "oktafed_principal_arn"
	KeyExpiration   = "oktafed_expiration"
)

// Section is what an oktafed-owned credentials section holds.
type Section struct {
	AWSProfile      string
	OktafedProfile  string
	RoleARN         string
	PrincipalARN    string
	Expires         time.Time
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// By reports whether oktafed wrote s for oktafed profile owner (any owner
// when owner is empty).
func By(s *awsfile.Section, owner string) bool {
	v, ok := s.Get(KeyOwner)
	return ok && v != "" && (owner == "" || v == owner)
}

// Read returns what an oktafed-owned section holds; ok is false for a
// section oktafed did not write.
func Read(s *awsfile.Section) (sec Section, ok bool) {
	if s == nil || !By(s, "") {
		return Section{}, false
	}
	sec.AWSProfile = s.Name()
	sec.OktafedProfile, _ = s.Get(KeyOwner)
	sec.RoleARN, _ = s.Get(KeyRoleARN)
	sec.PrincipalARN, _ = s.Get(KeyPrincipalARN)
	if v, ok := s.Get(KeyExpiration); ok {
		sec.Expires, _ = time.Parse(time.RFC3339, v)
	}
	sec.AccessKeyID, _ = s.Get("aws_access_key_id")
	sec.SecretAccessKey, _ = s.Get("aws_secret_access_key")
	sec.SessionToken, _ = s.Get("aws_session_token")
	return sec, true
}

// Fresh reports whether the section's credentials are complete and stay
// valid for at least window after now.
func (s Section) Fresh(now time.Time, window time.Duration) bool {
	return s.AccessKeyID != "" && s.SecretAccessKey != "" && !s.Expires.IsZero() && now.Add(window).Before(s.Expires)
}
