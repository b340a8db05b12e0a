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
)

// STSAPI is the part of the STS client that federation calls.
type STSAPI interface {
	AssumeRoleWithSAML(ctx context.Context, in *sts.AssumeRoleWithSAMLInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error)
}

// NewSTSClient returns an STS client that needs no AWS credentials (the
// SAML calls are unsigned) for region, at endpoint when it is not empty.
func NewSTSClient(region, endpoint string, hc aws.HTTPClient) *sts.Client {
	if region == "" {
		region = "us-east-1"
	}
	opts := sts.Options{Region: region, Credentials: aws.AnonymousCredentials{}}
	if hc != nil {
		opts.HTTPClient = hc
	}
	if endpoint != "" {
		opts.BaseEndpoint = aws.String(endpoint)
	}
	return sts.New(opts)
}

// NewHTTPClient returns the HTTP client federation uses when given none:
// a timeout, and enough idle connections per host that assuming many roles
// in parallel reuses connections to STS instead of opening (and, over TLS,
// handshaking) one per call, as the default two idle connections would.
func NewHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{Timeout: timeout, Transport: tr}
}

// MinDuration and MaxDuration bound AssumeRoleWithSAML's DurationSeconds.
const (
	MinDuration     = 15 * time.Minute
	MaxDuration     = 12 * time.Hour
	DefaultDuration = time.Hour
)

// SessionLength picks DurationSeconds: the requested length, else the
// assertion's SessionDuration, else one hour; never more than the
// assertion's SessionDuration (the IdP's cap) and within STS's bounds.
func SessionLength(requested, samlMax time.Duration) time.Duration {
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
}

// AssumeRoles assumes every role with one assertion, at most parallel at a
// time. When a role's maximum session is shorter than the duration asked
// for, STS refuses; the call is retried once with one hour, which every
// role allows, so one short role does not fail a login for many.
func AssumeRoles(ctx context.Context, api STSAPI, assertion string, roles []Role, d time.Duration, parallel int) []Assumed {
	if parallel < 1 {
		parallel = 1
	}
	out := make([]Assumed, len(roles))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, r := range roles {
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
			creds, err := assumeOne(ctx, api, assertion, r, d)
			if err != nil && d > DefaultDuration && isDurationTooLong(err) {
				creds, err = assumeOne(ctx, api, assertion, r, DefaultDuration)
			}
			out[i] = Assumed{Role: r, Credentials: creds, Err: err}
		}()
	}
	wg.Wait()
	return out
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
		hint = "STS rejected a parameter: try a shorter --duration"
	}
	if hint == "" {
		return fmt.Errorf("assume %s: %w", r.RoleARN, err)
	}
	return fmt.Errorf("assume %s: %s: %s", r.RoleARN, ae.ErrorCode(), hint)
}
