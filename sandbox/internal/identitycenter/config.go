package identitycenter

import (
	"fmt"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/lazyregexp"
)

// Config is the sso part of sandbox.yaml: an IAM Identity Center instance
// whose users are the org's users (Okta as its external identity
// provider), with permission sets assigned in accounts to groups and users.
type Config struct {
	// StartURL is the AWS access portal URL clients name in
	// StartDeviceAuthorization. Default: <base URL>/start.
	StartURL string `yaml:"start_url"`
	// Region is the instance's region, for clients' sso_region. Default
	// us-east-1.
	Region string `yaml:"region"`
	// SessionDuration is how long an access token from the device flow
	// lives. Default 8h, the Identity Center default.
	SessionDuration time.Duration `yaml:"session_duration"`
	// Accounts name the accounts ListAccounts shows; an account that a
	// permission set uses but that is not listed gets its id as name.
	Accounts []AccountConfig `yaml:"accounts"`
	// PermissionSets are provisioned into accounts as IAM roles.
	PermissionSets []PermissionSetConfig `yaml:"permission_sets"`
}

// AccountConfig describes an account in the access portal.
type AccountConfig struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
}

// PermissionSetConfig is a permission set and where it is assigned. Its
// name is the roleName clients pass to GetRoleCredentials.
type PermissionSetConfig struct {
	Name string `yaml:"name"`
	// SessionDuration is the lifetime of role credentials. Default 1h.
	SessionDuration time.Duration      `yaml:"session_duration"`
	Assignments     []AssignmentConfig `yaml:"assignments"`
}

// AssignmentConfig gives users and groups the permission set in one
// account. RoleARN is the IAM role Identity Center provisioned there
// (arn:aws:iam::ACCOUNT:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_NAME_…);
// it must exist in the aws section so the credentials verify.
type AssignmentConfig struct {
	RoleARN string   `yaml:"role_arn"`
	Users   []string `yaml:"users"`  // logins
	Groups  []string `yaml:"groups"` // group names
}

var (
	roleARNRE  = lazyregexp.New(`^arn:aws:iam::([0-9]{12}):role/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,64}$`)
	accountRE  = lazyregexp.New(`^[0-9]{12}$`)
	permNameRE = lazyregexp.New(`^[\w+=,.@-]{1,32}$`)
	regionRE   = lazyregexp.New(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
)

// assignment is a compiled AssignmentConfig.
type assignment struct {
	account, roleName, roleARN string
	duration                   time.Duration
	users, groups              map[string]bool
}

func compile(cfg Config) ([]assignment, map[string]AccountConfig, error) {
	accounts := map[string]AccountConfig{}
	for i, a := range cfg.Accounts {
		if !accountRE.MatchString(a.ID) {
			return nil, nil, fmt.Errorf("sso.accounts[%d]: id %q is not a 12-digit account id", i, a.ID)
		}
		accounts[a.ID] = a
	}
	var out []assignment
	seen := map[string]bool{}
	for i, ps := range cfg.PermissionSets {
		if !permNameRE.MatchString(ps.Name) {
			return nil, nil, fmt.Errorf("sso.permission_sets[%d]: name %q must be 1-32 letters, digits or +=,.@_-", i, ps.Name)
		}
		d := ps.SessionDuration
		if d == 0 {
			d = time.Hour
		}
		if d < 15*time.Minute || d > 12*time.Hour {
			return nil, nil, fmt.Errorf("sso.permission_sets[%d] (%s): session_duration %v must be between 15m and 12h", i, ps.Name, d)
		}
		for j, as := range ps.Assignments {
			m := roleARNRE.FindStringSubmatch(as.RoleARN)
			if m == nil {
				return nil, nil, fmt.Errorf("sso.permission_sets[%d].assignments[%d]: role_arn %q is not arn:aws:iam::ACCOUNT:role/NAME", i, j, as.RoleARN)
			}
			key := m[1] + "/" + ps.Name
			if seen[key] {
				return nil, nil, fmt.Errorf("sso.permission_sets[%d] (%s): account %s is assigned twice", i, ps.Name, m[1])
			}
			seen[key] = true
			a := assignment{account: m[1], roleName: ps.Name, roleARN: as.RoleARN, duration: d, users: map[string]bool{}, groups: map[string]bool{}}
			for _, u := range as.Users {
				a.users[strings.ToLower(strings.TrimSpace(u))] = true
			}
			for _, g := range as.Groups {
				a.groups[g] = true
			}
			out = append(out, a)
			if _, ok := accounts[m[1]]; !ok {
				accounts[m[1]] = AccountConfig{ID: m[1]}
			}
		}
	}
	return out, accounts, nil
}

// grants reports whether the assignment covers a user.
func (a *assignment) grants(u *User) bool {
	if a.users[strings.ToLower(u.Login)] {
		return true
	}
	for _, g := range u.Groups {
		if a.groups[g] {
			return true
		}
	}
	return false
}
