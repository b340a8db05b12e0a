package federation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/singleflight"

	"github.com/oktafed/oktafed/config"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/owned"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/saml"
)

// ErrLoginRequired matches every error that means a person must sign in to
// Okta again (the session ended and no password is at hand).
var ErrLoginRequired = errors.New("login required")

// LoginRequiredError says which profile needs a login and how to do it.
type LoginRequiredError struct {
	Profile string
	Reason  string
}

func (e *LoginRequiredError) Error() string {
	return fmt.Sprintf("%s for profile %s: run `oktafed login --profile %s`", e.Reason, e.Profile, e.Profile)
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

// Login turns a profile's Okta login into AWS credentials.
type Login struct {
	Profile  *config.Profile
	Okta     *okta.Client
	Sessions SessionCache
	// Password returns the Okta password when a new Okta session is
	// needed. nil means only an existing session may be used, and a login
	// is required when it has ended.
	Password func(ctx context.Context) (string, error)
	// MFA answers Okta's second-factor questions during a new sign-in.
	MFA   *okta.MFA
	STS   STSAPI
	Files Files
	Clock clock.Clock
	// Parallel bounds concurrent AssumeRoleWithSAML calls; default 20, so
	// the usual role lists are assumed in one round trip.
	Parallel int
	// RefreshWindow is how long before expiry cached credentials count as
	// stale; the module's one window (5 minutes) when zero.
	RefreshWindow time.Duration
	// Force signs in again rather than reuse the Okta session saved when
	// the login started. That session (and the credentials it wrote) stays
	// until the new sign-in has succeeded, so a mistyped password or an
	// unreachable Okta leaves the user with what they had. A session that
	// another login saved meanwhile is reused: it is as new as this one
	// would be.
	Force bool
	// SignInLock, when set, is held around a new sign-in so that
	// concurrent logins of the same user (several processes started at
	// once) take turns; after waiting, a login reuses the session the one
	// before it saved instead of signing in again. unlock is called when
	// the sign-in is over.
	SignInLock func(ctx context.Context) (unlock func(), err error)
	// Events, when set, is told about each step.
	Events func(Event)
	// Aliases, when set, looks up the aliases of accounts that the
	// profile's account_aliases does not name, for profile names. Found
	// aliases are added to Profile.AccountAliases; callers may save them so
	// names stay the same when a later lookup fails.
	Aliases AliasLookup

	flight singleflight.Group
}

func (l *Login) now() time.Time { return clock.Or(l.Clock).Now() }

func (l *Login) emit(step, format string, args ...any) {
	if l.Events != nil {
		l.Events(Event{Step: step, Detail: fmt.Sprintf(format, args...)})
	}
}

func (l *Login) window() time.Duration {
	if l.RefreshWindow > 0 {
		return l.RefreshWindow
	}
	return owned.RefreshWindow
}

func (l *Login) loginRequired(reason string) error {
	return &LoginRequiredError{Profile: l.Profile.Name, Reason: reason}
}

// Assertion returns a fresh SAML assertion from the profile's AWS app,
// through the saved Okta session when it still lives, else by signing in
// (when Password is set). Many callers at once share one sign-in.
func (l *Login) Assertion(ctx context.Context) (*saml.Assertion, error) {
	v, err, _ := l.flight.Do("assertion", func() (any, error) { return l.assertion(ctx) })
	if err != nil {
		return nil, explainUnreachable(err, "Okta", fmt.Sprintf(oktaHint, l.Profile.Name))
	}
	return v.(*saml.Assertion), nil
}

func (l *Login) assertion(ctx context.Context) (*saml.Assertion, error) {
	if l.Profile.AppURL == "" {
		return nil, fmt.Errorf("profile %s has no app_url: run `oktafed init --profile %s` and give the AWS app's embed link", l.Profile.Name, l.Profile.Name)
	}
	// seen is the session saved when this login started: --force does not
	// reuse it, but a different one saved while this login waited is new.
	seen := ""
	if l.Sessions != nil {
		sid, exp, err := l.Sessions.LoadSession(ctx, l.Profile.Name)
		if err != nil {
			return nil, fmt.Errorf("read the Okta session from the keyring: %w", err)
		}
		seen = sid
		if !l.Force {
			if a, ok, err := l.reuse(ctx, sid, exp, "reusing the Okta session (expires %s)"); ok || err != nil {
				return a, err
			}
		}
	}
	if l.Password == nil {
		return nil, l.loginRequired("Okta session expired")
	}
	if l.SignInLock != nil {
		unlock, err := l.SignInLock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if l.Sessions != nil {
			sid, exp, err := l.Sessions.LoadSession(ctx, l.Profile.Name)
			if err != nil {
				return nil, fmt.Errorf("read the Okta session from the keyring: %w", err)
			}
			if sid != seen {
				if a, ok, err := l.reuse(ctx, sid, exp, "reusing the Okta session another login just saved (expires %s)"); ok || err != nil {
					return a, err
				}
			}
		}
	}
	return l.signIn(ctx)
}

// reuse gets the assertion through a saved session while it lives; ok is
// false when there is none or Okta has ended it (then it is forgotten).
func (l *Login) reuse(ctx context.Context, sid string, exp time.Time, msg string) (*saml.Assertion, bool, error) {
	if sid == "" || (!exp.IsZero() && !l.now().Before(exp)) {
		return nil, false, nil
	}
	l.emit("okta-session", msg, fmtTime(exp))
	page, err := l.Okta.SAMLResponse(ctx, l.Profile.AppURL, okta.AppAuth{SID: sid})
	switch {
	case err == nil:
		a, err := l.readPage(page)
		if errors.Is(err, ErrLoginRequired) {
			return nil, false, nil
		}
		return a, err == nil, err
	case errors.Is(err, okta.ErrSessionExpired):
		l.emit("okta-session", "the Okta session has ended")
		_ = l.Sessions.DeleteSession(ctx, l.Profile.Name)
		return nil, false, nil
	default:
		return nil, false, err
	}
}

// signIn authenticates with password and MFA and redeems the session token
// at the AWS app, keeping the session cookie Okta sets.
func (l *Login) signIn(ctx context.Context) (*saml.Assertion, error) {
	if l.Profile.Username == "" {
		return nil, fmt.Errorf("profile %s has no username: run `oktafed init --profile %s`", l.Profile.Name, l.Profile.Name)
	}
	password, err := l.Password(ctx)
	if err != nil {
		return nil, err
	}
	l.emit("okta-authn", "signing in to %s as %s", l.Okta.BaseURL, l.Profile.Username)
	res, err := l.Okta.Authenticate(ctx, l.Profile.Username, password, l.MFA)
	if err != nil {
		return nil, err
	}
	if res.Factor != nil {
		l.emit("okta-authn", "verified %s", res.Factor)
	}
	for _, w := range res.Warnings {
		l.emit("warning", "%s", w)
	}
	page, err := l.Okta.SAMLResponse(ctx, l.Profile.AppURL, okta.AppAuth{SessionToken: res.SessionToken})
	if err != nil {
		return nil, err
	}
	if l.Sessions != nil && page.SID != "" {
		exp := time.Time{}
		if s, err := l.Okta.Session(ctx, page.SID); err == nil {
			exp = s.ExpiresAt
		}
		if err := l.Sessions.SaveSession(ctx, l.Profile.Name, page.SID, exp); err != nil {
			return nil, fmt.Errorf("save the Okta session in the keyring: %w", err)
		}
		l.emit("okta-session", "Okta session saved for reuse (expires %s)", fmtTime(exp))
	}
	return l.readPage(page)
}

func (l *Login) readPage(page *okta.AppPage) (*saml.Assertion, error) {
	a, err := saml.FromPage(page.HTML)
	if err != nil {
		if errors.Is(err, saml.ErrSignInPage) {
			return nil, l.loginRequired("Okta session expired")
		}
		return nil, err
	}
	if len(a.Roles) == 0 {
		return nil, saml.ErrNoRoles
	}
	l.emit("saml", "SAML assertion for %s with %d role(s), session duration %s", a.NameID, len(a.Roles), a.SessionDuration)
	return a, nil
}

// Outcome is what a login did.
type Outcome struct {
	Assertion *saml.Assertion
	Assumed   []Assumed
	Written   []Written
	// Duration is what was asked for; each Assumed says what was granted.
	Duration time.Duration
	// LearnedLimits is true when a role's maximum session was learned and
	// added to Profile.RoleMaxSessions; callers may save the profile.
	LearnedLimits bool
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

// SelectRoles applies a role selector (ARN, /regex/, all) to the offered
// roles; with no selector it takes the only role, or asks choose.
func SelectRoles(ctx context.Context, offered []Role, selector string, choose Chooser) ([]Role, error) {
	sorted := append([]Role(nil), offered...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].RoleARN < sorted[j].RoleARN })
	match, err := config.RoleMatcher(selector)
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("you may assume %d roles: choose with --role ARN, --role /regex/ or --role all (%s)", len(sorted), roleList(sorted))
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

// Run is a whole login: a SAML assertion, the chosen roles assumed in
// parallel for duration (0: the app's SessionDuration), and the profiles
// written.
func (l *Login) Run(ctx context.Context, selector string, choose Chooser, duration time.Duration) (*Outcome, error) {
	a, err := l.Assertion(ctx)
	if err != nil {
		return nil, err
	}
	return l.assumeAndWrite(ctx, a, selector, choose, duration)
}

// assumeAndWrite is the part of a login after the assertion, whichever way
// it was obtained: choose roles, assume them in parallel, name and write
// the profiles.
func (l *Login) assumeAndWrite(ctx context.Context, a *saml.Assertion, selector string, choose Chooser, duration time.Duration) (*Outcome, error) {
	if selector == "" {
		selector = l.Profile.Role
	}
	roles, err := SelectRoles(ctx, a.Roles, selector, choose)
	if err != nil {
		return nil, err
	}
	if duration == 0 {
		duration = time.Duration(l.Profile.Duration)
	}
	d := SessionLength(duration, a.SessionDuration)
	l.emit("assume", "assuming %d role(s) for %s", len(roles), d)
	parallel := l.Parallel
	if parallel == 0 {
		parallel = 20
	}
	assumed := AssumeRoles(ctx, l.STS, a.Raw, roles, d, parallel, roleLimits(l.Profile))
	for i := range assumed {
		assumed[i].Err = explainUnreachable(assumed[i].Err, "STS", stsHint)
	}
	out := &Outcome{Assertion: a, Assumed: assumed, Duration: d}
	out.LearnedLimits = rememberLimits(l.Profile, assumed, l.emit)
	if len(out.Failed()) == len(assumed) {
		return out, fmt.Errorf("no role could be assumed: %w", assumed[0].Err)
	}
	if l.Aliases != nil {
		for acct, alias := range lookupAliases(ctx, l.Aliases, l.Profile.AccountAliases, assumed) {
			if l.Profile.AccountAliases == nil {
				l.Profile.AccountAliases = map[string]string{}
			}
			l.Profile.AccountAliases[acct] = alias
			l.emit("alias", "account %s is %s", acct, alias)
		}
	}
	written, err := WriteProfiles(l.Files, l.Profile, assumed)
	if err != nil {
		return out, err
	}
	out.Written = written
	for _, w := range written {
		l.emit("write", "[%s] %s, expires %s", w.AWSProfile, w.Role.RoleARN, fmtTime(w.Expires))
	}
	return out, nil
}

// Credentials returns valid credentials for an AWS profile that oktafed
// wrote: the cached ones while they are fresh, else new ones through the
// Okta session, stored back for the next caller.
func (l *Login) Credentials(ctx context.Context, awsProfile string) (aws.Credentials, error) {
	creds, owned, ok, err := CachedCredentials(l.Files, awsProfile, l.now(), l.window())
	if err != nil {
		return aws.Credentials{}, err
	}
	if ok {
		return creds, nil
	}
	v, err, _ := l.flight.Do("refresh:"+awsProfile, func() (any, error) {
		return l.refresh(ctx, owned)
	})
	if err != nil {
		return aws.Credentials{}, err
	}
	return v.(aws.Credentials), nil
}

func (l *Login) refresh(ctx context.Context, owned Owned) (aws.Credentials, error) {
	l.emit("refresh", "refreshing %s through the Okta session", owned.AWSProfile)
	a, err := l.Assertion(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	r, ok := a.Role(owned.RoleARN)
	if !ok {
		return aws.Credentials{}, fmt.Errorf("the Okta app no longer grants %s: run `oktafed login --profile %s` to see your roles", owned.RoleARN, l.Profile.Name)
	}
	d := SessionLength(time.Duration(l.Profile.Duration), a.SessionDuration)
	res := AssumeRoles(ctx, l.STS, a.Raw, []Role{r}, d, 1, roleLimits(l.Profile))[0]
	if res.Err != nil {
		return aws.Credentials{}, explainUnreachable(res.Err, "STS", stsHint)
	}
	rememberLimits(l.Profile, []Assumed{res}, l.emit)
	if err := StoreCredentials(l.Files, owned, res.Credentials); err != nil {
		// The new credentials are good; failing to cache them only means
		// the next caller refreshes again. Hand them out and say why.
		l.emit("warning", "could not cache the refreshed credentials of %s, so the next use refreshes again: %v", owned.AWSProfile, err)
	}
	return res.Credentials, nil
}

// Provider returns an aws.CredentialsProvider for an AWS profile that
// oktafed wrote. Wrap it in aws.NewCredentialsCache for in-process reuse.
func (l *Login) Provider(awsProfile string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		return l.Credentials(ctx, awsProfile)
	})
}

// Logout closes the Okta session, forgets it, and removes the profile's
// AWS profiles. It returns the removed profile names.
func (l *Login) Logout(ctx context.Context) ([]string, error) {
	if l.Sessions != nil {
		sid, _, err := l.Sessions.LoadSession(ctx, l.Profile.Name)
		if err == nil && sid != "" {
			// The session may already be gone; forgetting it is what matters.
			_ = l.Okta.CloseSession(ctx, sid)
		}
		if err := l.Sessions.DeleteSession(ctx, l.Profile.Name); err != nil {
			return nil, fmt.Errorf("remove the Okta session from the keyring: %w", err)
		}
	}
	return RemoveProfiles(l.Files, l.Profile.Name)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "when Okta ends it"
	}
	return t.Local().Format("15:04 MST")
}
