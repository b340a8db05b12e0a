package federation

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/saml"
)

// fakeSTS refuses durations above each role's maximum with the text AWS
// uses, and records what was asked.
type fakeSTS struct {
	max   map[string]time.Duration
	mu    sync.Mutex
	asked map[string][]time.Duration
}

func (f *fakeSTS) AssumeRoleWithSAML(_ context.Context, in *sts.AssumeRoleWithSAMLInput, _ ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error) {
	d := time.Duration(*in.DurationSeconds) * time.Second
	f.mu.Lock()
	f.asked[*in.RoleArn] = append(f.asked[*in.RoleArn], d)
	f.mu.Unlock()
	if d > f.max[*in.RoleArn] {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
	}
	exp := time.Now().Add(d)
	return &sts.AssumeRoleWithSAMLOutput{Credentials: &types.Credentials{
		AccessKeyId: aws.String("ASIA"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"), Expiration: &exp}}, nil
}

func TestAssumeRolesGetsEachRoleItsLongestSession(t *testing.T) {
	t.Parallel()
	roles := []Role{
		{RoleARN: "arn:aws:iam::111111111111:role/One"},
		{RoleARN: "arn:aws:iam::111111111111:role/Four"},
		{RoleARN: "arn:aws:iam::111111111111:role/Twelve"},
		{RoleARN: "arn:aws:iam::111111111111:role/FiveAndAHalf"},
	}
	f := &fakeSTS{asked: map[string][]time.Duration{}, max: map[string]time.Duration{
		roles[0].RoleARN: time.Hour, roles[1].RoleARN: 4 * time.Hour, roles[2].RoleARN: 12 * time.Hour, roles[3].RoleARN: 5*time.Hour + 30*time.Minute,
	}}
	p := &config.Profile{Name: "t"}
	var said []string

	l := &Login{Profile: p, STS: f, Events: func(e Event) { said = append(said, e.Detail) }}
	a := &saml.Assertion{Raw: "x"}
	got, learned := l.assume(context.Background(), a, roles, 12*time.Hour, 4)
	want := []time.Duration{time.Hour, 4 * time.Hour, 12 * time.Hour, 5 * time.Hour}
	for i, a := range got {
		if a.Err != nil || a.Duration != want[i] {
			t.Errorf("%s: granted %s, err %v; want %s", a.Role.RoleARN, a.Duration, a.Err, want[i])
		}
	}
	if n := len(f.asked[roles[0].RoleARN]); n > 5 {
		t.Errorf("a 1h role took %d calls from 12h: %v", n, f.asked[roles[0].RoleARN])
	}
	if len(learned) != 3 || len(said) != 3 || len(p.RoleMaxSessions) != 0 {
		t.Fatalf("limits not learned or not said, or the profile was edited: %v %v %v", learned, said, p.RoleMaxSessions)
	}
	Changes{RoleMaxSessions: learned}.Apply(p)
	if p.RoleMaxSessions[roles[2].RoleARN] != 0 {
		t.Errorf("a role that allowed what was asked has a remembered limit: %v", p.RoleMaxSessions)
	}

	// The next login asks each role for its maximum at once.
	f.asked = map[string][]time.Duration{}
	got, learned = (&Login{Profile: p, STS: f}).assume(context.Background(), a, roles, 12*time.Hour, 4)
	for i, a := range got {
		if a.Err != nil || a.Duration != want[i] || len(f.asked[a.Role.RoleARN]) != 1 {
			t.Errorf("second login %s: granted %s after %v, err %v", a.Role.RoleARN, a.Duration, f.asked[a.Role.RoleARN], a.Err)
		}
	}
	if len(learned) != 0 {
		t.Errorf("nothing new was learned, yet there are changes: %v", learned)
	}
}

// explainSTS must keep the STS error in the chain for every code, so
// callers can still act on it.
func TestExplainSTSKeepsTheChain(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"ValidationError", "ExpiredTokenException", "InvalidIdentityToken", "AccessDenied", "IDPRejectedClaim", "Throttling"} {
		orig := &smithy.GenericAPIError{Code: code, Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}
		err := explainSTS(Role{RoleARN: "arn:aws:iam::1:role/R"}, orig)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Errorf("%s: the chain lost the API error: %v", code, err)
		}
	}
	msg := explainSTS(Role{RoleARN: "arn:aws:iam::1:role/R"}, &smithy.GenericAPIError{Code: "ValidationError", Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."}).Error()
	if msg != "assume arn:aws:iam::1:role/R: ValidationError: the role's maximum session is shorter than asked: ask for a shorter session, or ask your AWS admin to raise the role's maximum session duration (The requested DurationSeconds exceeds the MaxSessionDuration set for this role.)" {
		t.Errorf("message %q", msg)
	}
	if !isDurationTooLong(explainSTS(Role{}, &smithy.GenericAPIError{Code: "ValidationError", Message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."})) {
		t.Error("a wrapped duration refusal is not recognised")
	}
}
