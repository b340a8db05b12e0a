package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/oktafed/oktafed/internal/stsclient"
)

// STSAPI is the part of the STS client that federation calls.
type STSAPI interface {
	AssumeRoleWithSAML(ctx context.Context, in *sts.AssumeRoleWithSAMLInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error)
}

// NewSTSClient returns an STS client that needs no AWS credentials (the
// SAML calls are unsigned) for region, at endpoint when it is not empty.
func NewSTSClient(region, endpoint string, hc aws.HTTPClient) *sts.Client {
	return stsclient.New(region, endpoint, hc)
}

// NewHTTPClient returns the HTTP client federation uses when given none:
// timeout bounds the answer (Deadlines), and enough idle connections per host that assuming many roles
// in parallel reuses connections to STS instead of opening (and, over TLS,
// handshaking) one per call, as the default two idle connections would.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return Deadlines{Connect: min(DefaultConnectTimeout, timeout), Response: timeout}.HTTPClient()
}

// MinDuration and MaxDuration bound AssumeRoleWithSAML's DurationSeconds.
const (
	MinDuration     = 15 * time.Minute
	MaxDuration     = 12 * time.Hour
	DefaultDuration = time.Hour
)

// sessionLength picks DurationSeconds: the requested length, else the
// assertion's SessionDuration, else one hour; never more than the
// assertion's SessionDuration (the IdP's cap) and within STS's bounds.
func sessionLength(requested, samlMax time.Duration) time.Duration {
	d := requested
	if d == 0 {
		d = samlMax
	}
	if d == 0 {
		d = DefaultDuration
	}
	if samlMax > 0 && d > samlMax {
		d = samlMax
	}
	return min(max(d, MinDuration), MaxDuration)
}

// Assumed is the outcome of assuming one role.
type Assumed struct {
	Role        Role
	Credentials aws.Credentials
	Err         error
	// Duration is the session length STS granted (zero on failure).
	Duration time.Duration
	// Limit is the role's maximum session as this call learned it from
	// STS refusing a longer one (rounded down to whole hours); zero when
	// nothing was learned.
	Limit time.Duration
	// Asked is the duration asked for before the role's maximum, known or
	// learned, shortened it; equal to Duration when nothing did.
	Asked time.Duration
}

// RoleLimits remembers, per role ARN, the longest session a role allowed,
// so the next login asks for it at once instead of being refused first.
// AWS does not tell a federated user a role's MaxSessionDuration (reading
// it takes iam:GetRole in that account), so it is learned from refusals.
type RoleLimits map[string]time.Duration

// AssumeRoles assumes every role with one assertion, at most parallel at a
// time, each for the longest session it allows up to d. A role whose
// maximum is remembered in limits is asked for that at once. When STS
// refuses a duration as longer than the role's maximum, the longest whole
// number of hours the role allows is found by halving (at most four more
// calls from 12h; one hour always works, as every role allows it) and
// reported in Assumed.Limit, so one short role costs no login its other
// roles and no role less than it allows.
func AssumeRoles(ctx context.Context, api STSAPI, assertion string, roles []Role, d time.Duration, parallel int, limits RoleLimits) []Assumed {
	if parallel < 1 {
		parallel = 1
	}
	out := make([]Assumed, len(roles))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, r := range roles {
		want := d
		if lim := limits[r.RoleARN]; lim >= DefaultDuration && lim < want {
			want = lim
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = Assumed{Role: r, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			out[i] = assumeLongest(ctx, api, assertion, r, want)
			out[i].Asked = d
		}()
	}
	wg.Wait()
	return out
}

// assumeLongest asks for want and, if the role's maximum is shorter,
// searches whole hours below it: lo is the longest length not yet refused,
// hi the shortest refused.
func assumeLongest(ctx context.Context, api STSAPI, assertion string, r Role, want time.Duration) Assumed {
	creds, err := assumeOne(ctx, api, assertion, r, want)
	if err == nil {
		return Assumed{Role: r, Credentials: creds, Duration: want}
	}
	if want <= DefaultDuration || !isDurationTooLong(err) {
		return Assumed{Role: r, Err: err}
	}
	lo, hi := DefaultDuration, want
	var got aws.Credentials
	gotAt := time.Duration(0)
	for hi-lo > time.Hour {
		mid := (lo + (hi-lo)/2).Truncate(time.Hour)
		if mid <= lo {
			break
		}
		c, err := assumeOne(ctx, api, assertion, r, mid)
		switch {
		case err == nil:
			lo, got, gotAt = mid, c, mid
		case isDurationTooLong(err):
			hi = mid
		default:
			return Assumed{Role: r, Err: err}
		}
	}
	if gotAt != lo {
		c, err := assumeOne(ctx, api, assertion, r, lo)
		if err != nil {
			return Assumed{Role: r, Err: err}
		}
		got = c
	}
	return Assumed{Role: r, Credentials: got, Duration: lo, Limit: lo}
}

// newLimits says what each role shortened by its maximum session was
// granted, and returns the maximums learned that known did not hold yet.
func newLimits(known RoleLimits, assumed []Assumed, emit func(step, format string, args ...any)) RoleLimits {
	var out RoleLimits
	for _, a := range assumed {
		if a.Err != nil || a.Duration >= a.Asked {
			continue
		}
		if a.Limit == 0 || known[a.Role.RoleARN] == a.Limit {
			emit("assume", "%s: granted %s, the role's maximum session (asked %s)", a.Role.RoleARN, fmtHours(a.Duration), fmtHours(a.Asked))
			continue
		}
		// Said once, when learned; later logins ask for it at once.
		emit("warning", "%s allows sessions of at most %s: granted %s rather than %s (remembered for the next login)", a.Role.RoleARN, fmtHours(a.Limit), fmtHours(a.Duration), fmtHours(a.Asked))
		if out == nil {
			out = RoleLimits{}
		}
		out[a.Role.RoleARN] = a.Limit
	}
	return out
}

// fmtHours writes 1h rather than 1h0m0s.
func fmtHours(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func assumeOne(ctx context.Context, api STSAPI, assertion string, r Role, d time.Duration) (aws.Credentials, error) {
	resp, err := api.AssumeRoleWithSAML(ctx, &sts.AssumeRoleWithSAMLInput{
		RoleArn:         aws.String(r.RoleARN),
		PrincipalArn:    aws.String(r.PrincipalARN),
		SAMLAssertion:   aws.String(assertion),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
	})
	if err != nil {
		return aws.Credentials{}, explainSTS(r, err)
	}
	c := resp.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return aws.Credentials{}, fmt.Errorf("assume %s: STS answered without credentials", r.RoleARN)
	}
	return aws.Credentials{
		AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken,
		CanExpire: true, Expires: *c.Expiration, Source: "oktafed",
	}, nil
}

func isDurationTooLong(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "DurationSeconds")
}

// explainSTS turns STS's refusals into errors that say what to do.
func explainSTS(r Role, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("assume %s: %w (check the STS endpoint and your network)", r.RoleARN, err)
	}
	hint := ""
	switch ae.ErrorCode() {
	case "ExpiredTokenException":
		hint = "the SAML assertion expired before STS saw it: check this machine's clock, then log in again"
	case "InvalidIdentityToken":
		hint = "STS did not accept the assertion: the role's SAML provider may not trust this Okta app (ask your AWS admin to check the IdP metadata)"
	case "AccessDenied", "AccessDeniedException":
		hint = "the role does not trust this SAML provider or your attributes: ask your AWS admin to check the role's trust policy"
	case "IDPRejectedClaim":
		hint = "the role rejected a claim in the assertion (e.g. RoleSessionName): ask your Okta admin"
	case "ValidationError":
		hint = "STS rejected a parameter"
		if isDurationTooLong(err) {
			hint = "the role's maximum session is shorter than asked: ask for a shorter session, or ask your AWS admin to raise the role's maximum session duration"
		}
	}
	if hint == "" {
		return fmt.Errorf("assume %s: %w", r.RoleARN, err)
	}
	return &explained{msg: fmt.Sprintf("assume %s: %s: %s (%s)", r.RoleARN, ae.ErrorCode(), hint, ae.ErrorMessage()), err: err}
}

// explained is an STS error told in words that say what to do, without
// the SDK's request details, yet still unwrapping to the SDK's error:
// callers (the duration search above, errors.As in programs) must see
// the APIError.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
