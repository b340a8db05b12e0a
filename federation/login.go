package federation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/saml"
)

// ErrLoginRequired matches every error that means a person must sign in to
// Okta again (the session ended and no password is at hand).
var ErrLoginRequired = errors.New("login required")

// LoginRequiredError says which oktafed profile needs a person to sign
// in to Okta again, and why. It names no command: a program words the
// next step for its own users (the oktafed CLI says which login to run).
type LoginRequiredError struct {
	Profile string
	Reason  string
}

func (e *LoginRequiredError) Error() string {
	return fmt.Sprintf("%s for profile %s: an Okta login is needed", e.Reason, e.Profile)
}

// Is makes errors.Is(err, ErrLoginRequired) true.
func (e *LoginRequiredError) Is(target error) bool { return target == ErrLoginRequired }

// SessionCache keeps an Okta session cookie between runs, per oktafed
// profile. The keystore provides one backed by the OS keyring.
type SessionCache interface {
	// LoadSession returns the saved cookie, or "" when there is none.
	LoadSession(ctx context.Context, profile string) (sid string, expires time.Time, err error)
	SaveSession(ctx context.Context, profile, sid string, expires time.Time) error
	DeleteSession(ctx context.Context, profile string) error
}

// Event reports a step of a login, for verbose output and the demo.
type Event struct {
	Step   string // okta-session, okta-authn, saml, assume, write, refresh
	Detail string
}

// Login turns a profile's AWS app assertion into AWS profiles: an
// assertion from Source, the chosen roles assumed in parallel with STS,
// the profiles written to Files. It never changes Profile: what it learns
// for the profile comes back as Changes for the caller to save.
type Login struct {
	Profile *Profile
	Source  AssertionSource
	STS     STSAPI
	Files   Files
	// Parallel bounds concurrent AssumeRoleWithSAML calls; default 20, so
	// the usual role lists are assumed in one round trip.
	Parallel int
	// Aliases, when set, looks up the aliases of accounts that the
	// profile's account_aliases does not name, for profile names. Found
	// aliases come back in Outcome.Changes; callers save them so names
	// stay the same when a later lookup fails.
	Aliases AliasLookup
	// Events, when set, is told about each step.
	Events func(Event)

	mu      sync.Mutex
	learned RoleLimits // role maximums learned by this Login's calls
}

func (l *Login) emit(step, format string, args ...any) {
	if l.Events != nil {
		l.Events(Event{Step: step, Detail: fmt.Sprintf(format, args...)})
	}
}

// Changes are what a login learned that belongs in the oktafed profile.
// federation never edits the profile; the caller applies and saves these.
type Changes struct {
	// AccountAliases found by Login.Aliases for accounts the profile did
	// not name.
	AccountAliases map[string]string
	// RoleMaxSessions are roles' maximum sessions learned from STS
	// refusals, so the next login asks each role for what it allows.
	RoleMaxSessions RoleLimits
}

// Empty reports whether there is nothing to save.
func (c Changes) Empty() bool { return len(c.AccountAliases) == 0 && len(c.RoleMaxSessions) == 0 }

// Apply records the changes in p.
func (c Changes) Apply(p *Profile) {
	for acct, alias := range c.AccountAliases {
		if p.AccountAliases == nil {
			p.AccountAliases = map[string]string{}
		}
		p.AccountAliases[acct] = alias
	}
	for arn, d := range c.RoleMaxSessions {
		if p.RoleMaxSessions == nil {
			p.RoleMaxSessions = map[string]config.Duration{}
		}
		p.RoleMaxSessions[arn] = config.Duration(d)
	}
}

// Outcome is what a login did.
type Outcome struct {
	Assertion *Assertion
	Assumed   []Assumed
	Written   []Written
	// Duration is what was asked for; each Assumed says what was granted.
	Duration time.Duration
	// Changes are for the caller to save in the oktafed profile.
	Changes Changes
}

// Failed returns the roles that could not be assumed.
func (o *Outcome) Failed() []Assumed {
	var out []Assumed
	for _, a := range o.Assumed {
		if a.Err != nil {
			out = append(out, a)
		}
	}
	return out
}

// Chooser picks roles when the profile's selector does not decide.
type Chooser func(ctx context.Context, roles []Role) ([]Role, error)

// selectRoles applies a role selector (ARN, /regex/, all) to the offered
// roles; with no selector it takes the only role, or asks choose.
func selectRoles(ctx context.Context, offered []Role, selector string, choose Chooser) ([]Role, error) {
	return selectRolesNamed(ctx, offered, selector, nil, choose)
}

// selectRolesNamed is selectRoles where names may be account aliases
// (aliases maps account ids to them).
func selectRolesNamed(ctx context.Context, offered []Role, selector string, aliases map[string]string, choose Chooser) ([]Role, error) {
	sorted := append([]Role(nil), offered...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].RoleARN < sorted[j].RoleARN })
	match, err := config.RoleMatcher(selector)
	if err != nil {
		return nil, err
	}
	if match != nil && selector != "all" && !strings.HasPrefix(selector, "/") && !strings.HasPrefix(selector, "arn:") {
		match = config.RoleNameMatcher(selector, aliases)
	}
	if match != nil {
		var out []Role
		for _, r := range sorted {
			if match(r.RoleARN) {
				out = append(out, r)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no role matches %q; you may assume: %s", selector, roleList(sorted))
		}
		return out, nil
	}
	if len(sorted) == 1 {
		return sorted, nil
	}
	if choose == nil {
		return nil, fmt.Errorf("you may assume %d roles: choose them by ARN, by /regex/ or all (%s)", len(sorted), roleList(sorted))
	}
	return choose(ctx, sorted)
}

func roleList(roles []Role) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.RoleARN
	}
	return strings.Join(names, ", ")
}

// limits are the role maximums to ask for: the profile's, and those this
// Login learned since.
func (l *Login) limits() RoleLimits {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := RoleLimits{}
	for arn, d := range l.Profile.RoleMaxSessions {
		out[arn] = time.Duration(d)
	}
	maps.Copy(out, l.learned)
	return out
}

// assume assumes roles with the assertion and returns what was learned of
// their maximum sessions.
func (l *Login) assume(ctx context.Context, a *saml.Assertion, roles []Role, d time.Duration, parallel int) ([]Assumed, RoleLimits) {
	known := l.limits()
	assumed := AssumeRoles(ctx, l.STS, a.Raw, roles, d, parallel, known)
	for i := range assumed {
		assumed[i].Err = explainUnreachable(assumed[i].Err, "STS", stsHint)
	}
	learned := newLimits(known, assumed, l.emit)
	if len(learned) > 0 {
		l.mu.Lock()
		if l.learned == nil {
			l.learned = RoleLimits{}
		}
		maps.Copy(l.learned, learned)
		l.mu.Unlock()
	}
	return assumed, learned
}

// Run is a whole login: an assertion, the chosen roles (selector, else the
// profile's role, else choose) assumed in parallel for duration (0: the
// profile's, else the app's SessionDuration), and the profiles written.
func (l *Login) Run(ctx context.Context, selector string, choose Chooser, duration time.Duration) (*Outcome, error) {
	a, err := l.Source.Assertion(ctx)
	if err != nil {
		return nil, err
	}
	if selector == "" {
		selector = l.Profile.Role
	}
	roles, err := selectRolesNamed(ctx, a.Roles, selector, l.Profile.AccountAliases, choose)
	if err != nil {
		return nil, err
	}
	if duration == 0 {
		duration = time.Duration(l.Profile.Duration)
	}
	d := sessionLength(duration, a.SessionDuration)
	l.emit("assume", "assuming %d role(s) for %s", len(roles), d)
	parallel := l.Parallel
	if parallel == 0 {
		parallel = 20
	}
	assumed, learned := l.assume(ctx, a, roles, d, parallel)
	out := &Outcome{Assertion: a, Assumed: assumed, Duration: d, Changes: Changes{RoleMaxSessions: learned}}
	if len(out.Failed()) == len(assumed) {
		return out, fmt.Errorf("no role could be assumed: %w", assumed[0].Err)
	}
	named := l.Profile
	if l.Aliases != nil {
		found := lookupAliases(ctx, l.Aliases, l.Profile.AccountAliases, assumed)
		for acct, alias := range found {
			l.emit("alias", "account %s is %s", acct, alias)
		}
		if len(found) > 0 {
			out.Changes.AccountAliases = found
			// Name the profiles with the found aliases without touching
			// the caller's profile.
			cp := *l.Profile
			cp.AccountAliases = maps.Clone(l.Profile.AccountAliases)
			Changes{AccountAliases: found}.Apply(&cp)
			named = &cp
		}
	}
	written, err := WriteProfiles(l.Files, named, assumed)
	if err != nil {
		return out, err
	}
	out.Written = written
	for _, w := range written {
		l.emit("write", "[%s] %s, expires %s", w.AWSProfile, w.Role.RoleARN, fmtTime(w.Expires))
	}
	return out, nil
}

// Reassume assumes the role of an AWS profile this login's profile wrote
// again, with a new assertion from Source: the refresh that Cache calls
// when stored credentials near expiry.
func (l *Login) Reassume(ctx context.Context, owned Owned) (aws.Credentials, error) {
	l.emit("refresh", "refreshing %s through the Okta session", owned.AWSProfile)
	a, err := l.Source.Assertion(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	r, ok := a.Role(owned.RoleARN)
	if !ok {
		return aws.Credentials{}, fmt.Errorf("the Okta app no longer grants %s: log in to profile %s again to see the roles it grants", owned.RoleARN, l.Profile.Name)
	}
	d := sessionLength(time.Duration(l.Profile.Duration), a.SessionDuration)
	assumed, _ := l.assume(ctx, a, []Role{r}, d, 1)
	return assumed[0].Credentials, assumed[0].Err
}
