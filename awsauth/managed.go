package awsauth

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/owned"
)

// loginRequiredFor decides what a profile name with no credentials from
// oktafed means. When oktafed manages the name (it is the
// $OKTAFED_PROFILE in use, an oktafed profile, or an AWS profile name one
// of them writes) and no foreign section of that name exists in the AWS
// files, it returns a *LoginRequiredError naming the `oktafed login` to
// run: falling back to the SDK's chain would fail with "failed to get
// shared config profile", or, with no profile named, reach instance
// metadata and fail at the first call. Otherwise it returns nil and the
// SDK's chain decides.
//
// name is what LoadConfig was asked for (WithProfile, else $AWS_PROFILE);
// role is WithRole's ARN.
func (r *Resolver) loginRequiredFor(name, role string) error {
	effective := name
	if effective == "" {
		if p := r.getenv("OKTAFED_PROFILE"); p != "" {
			// The process asked for an oktafed profile by name: never
			// anything but oktafed's credentials for it.
			return r.loginRequired(p, p, role)
		}
		effective = config.DefaultProfile
	}
	if r.foreignSection(effective) {
		return nil
	}
	cfg, err := r.oktafedConfig()
	if err != nil {
		return nil
	}
	if _, ok := cfg.Profiles[effective]; ok {
		return r.loginRequired(effective, effective, role)
	}
	var writers []string
	for n, p := range cfg.Profiles {
		if p.Name == "" {
			p.Name = n
		}
		if writesName(p, effective) {
			writers = append(writers, n)
		}
	}
	if len(writers) == 0 {
		return nil
	}
	sort.Strings(writers)
	err = r.loginRequired(writers[0], effective, role)
	if len(writers) > 1 {
		return fmt.Errorf("%w (or for oktafed profile %s, whichever writes %s)", err, strings.Join(writers[1:], ", "), effective)
	}
	return err
}

func (r *Resolver) loginRequired(oktafedProfile, awsProfile, role string) error {
	reason := "no AWS credentials from oktafed"
	if awsProfile != oktafedProfile {
		reason += " for AWS profile " + awsProfile
	}
	if role != "" {
		reason += " with role " + role
	}
	reason += " (logged out, or not logged in yet)"
	return &LoginRequiredError{Profile: oktafedProfile, Reason: reason}
}

// foreignSection reports whether the AWS files hold a section of that name
// that oktafed did not write: then the name is the SDK's to resolve.
func (r *Resolver) foreignSection(name string) bool {
	files, err := r.AWSFiles()
	if err != nil {
		return false
	}
	for _, spec := range []struct {
		path string
		kind awsfile.Kind
	}{{files.Credentials, awsfile.Credentials}, {files.Config, awsfile.Config}} {
		if spec.path == "" {
			continue
		}
		f, err := awsfile.Load(spec.path)
		if err != nil {
			continue
		}
		if s := f.Profile(spec.kind, name); s != nil && !owned.By(s, "") {
			return true
		}
	}
	return false
}

// writesName reports whether oktafed profile p's profile-name template can
// produce name, whatever the account and role.
func writesName(p *config.Profile, name string) bool {
	const acct, roleName = "\x01account\x01", "\x01role\x01"
	rendered, err := p.AWSProfileName(acct, roleName)
	if err != nil {
		return false
	}
	pattern := regexp.QuoteMeta(rendered)
	for _, s := range []string{acct, roleName} {
		pattern = strings.ReplaceAll(pattern, regexp.QuoteMeta(s), ".+")
	}
	re, err := regexp.Compile("^" + pattern + "$")
	return err == nil && re.MatchString(name)
}

// ProfileKey names what LoadConfig(opts...) would resolve, for caches of
// per-profile clients such as the secrets package's: the profile
// (WithProfile, else $AWS_PROFILE, else $OKTAFED_PROFILE, else "default"),
// the role, and the AWS files. Options without a name (sessions, HTTP
// client, clock) are not part of it.
func ProfileKey(opts ...Option) string {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	getenv := o.env()
	name := o.profile
	for _, k := range []string{"AWS_PROFILE", "OKTAFED_PROFILE"} {
		if name == "" {
			name = getenv(k)
		}
	}
	if name == "" {
		name = config.DefaultProfile
	}
	creds, cfg := getenv("AWS_SHARED_CREDENTIALS_FILE"), getenv("AWS_CONFIG_FILE")
	if o.files != nil {
		creds, cfg = o.files.Credentials, o.files.Config
	}
	return strings.Join([]string{name, o.role, creds, cfg}, "\x00")
}
