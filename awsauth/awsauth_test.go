package awsauth_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sandbox/sandboxtest"
)

// samlCounter counts visits to the AWS app, i.e. Okta round trips for a
// SAML assertion, so tests can see how many refreshes happened.
type samlCounter struct{ n atomic.Int32 }

func (c *samlCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/home/amazon_aws/") {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// rig is a sandbox where the demo user has logged in with oktafed. Its
// environment is its own (awsauth.WithGetenv, and the SDK's region and
// endpoint as options), so tests run in parallel.
type rig struct {
	env     *sandboxtest.Env
	vars    map[string]string
	counter *samlCounter
	hc      *http.Client
}

func newRig(t *testing.T, opts sandbox.Options, selector string) *rig {
	t.Helper()
	srv := sandbox.StartWithOptions(t, sandbox.DefaultConfig(), opts)
	env, err := sandboxtest.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	vars := env.Environ()
	vars["OKTAFED_PROFILE"] = ""
	if _, err := env.Login(context.Background(), selector); err != nil {
		t.Fatal(err)
	}
	c := &samlCounter{}
	return &rig{env: env, vars: vars, counter: c, hc: &http.Client{Transport: c, Timeout: 30 * time.Second}}
}

// getenv reads the rig's environment with the given pairs (k1, v1, k2,
// v2, …) changed.
func (r *rig) getenv(changed ...string) func(string) string {
	vars := maps.Clone(r.vars)
	for i := 0; i+1 < len(changed); i += 2 {
		vars[changed[i]] = changed[i+1]
	}
	return func(k string) string { return vars[k] }
}

func (r *rig) load(t *testing.T, extra ...awsauth.Option) (aws.Config, error) {
	t.Helper()
	opts := append([]awsauth.Option{
		awsauth.WithSessions(r.env.Sessions), awsauth.WithHTTPClient(r.hc), awsauth.WithGetenv(r.getenv()),
		awsauth.WithSDKOptions(awsconfig.WithRegion(r.vars["AWS_REGION"]), awsconfig.WithBaseEndpoint(r.vars["AWS_ENDPOINT_URL"])),
	}, extra...)
	return awsauth.LoadConfig(context.Background(), opts...)
}

// callerARN makes a SigV4-signed call that the sandbox verifies.
func callerARN(t *testing.T, cfg aws.Config) string {
	t.Helper()
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return aws.ToString(out.Arn)
}

func TestLoadConfigPicksTheProfile(t *testing.T) {
	t.Parallel()
	r := newRig(t, sandbox.Options{}, "all")
	tests := []struct {
		name       string
		awsProfile string // AWS_PROFILE
		opts       []awsauth.Option
		wantRole   string
	}{
		{"option", "", []awsauth.Option{awsauth.WithProfile("okta-prod-Admin")}, "assumed-role/Admin/"},
		{"AWS_PROFILE", "okta-prod-ReadOnly", nil, "assumed-role/ReadOnly/"},
		{"option beats AWS_PROFILE", "okta-prod-ReadOnly", []awsauth.Option{awsauth.WithProfile("okta-210987654321-Developer")}, "assumed-role/Developer/"},
		{"oktafed profile and role", "", []awsauth.Option{awsauth.WithProfile("default"), awsauth.WithRole("arn:aws:iam::123456789012:role/Admin")}, "assumed-role/Admin/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := r.load(t, append([]awsauth.Option{awsauth.WithGetenv(r.getenv("AWS_PROFILE", tc.awsProfile))}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != "us-east-1" {
				t.Errorf("region %q", cfg.Region)
			}
			if arn := callerARN(t, cfg); !strings.Contains(arn, tc.wantRole) {
				t.Errorf("caller %s, want %s", arn, tc.wantRole)
			}
		})
	}
	if n := r.counter.n.Load(); n != 0 {
		t.Errorf("fresh cached credentials went to Okta %d times", n)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	r := newRig(t, sandbox.Options{}, "all")
	tests := []struct {
		name string
		opts []awsauth.Option
		want string
	}{
		{"ambiguous oktafed profile", []awsauth.Option{awsauth.WithProfile("default")}, "has credentials for 3 roles"},
		{"no profile means default, which is ambiguous", nil, "--role ARN"},
		{"unknown role", []awsauth.Option{awsauth.WithProfile("default"), awsauth.WithRole("arn:aws:iam::1:role/None")}, "with role arn:aws:iam::1:role/None (logged out, or not logged in yet) for profile default: an Okta login is needed"},
		{"nobody's profile", []awsauth.Option{awsauth.WithProfile("nobody")}, "failed to get shared config profile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.load(t, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestProfileNotWrittenByOktafedUsesTheSDKChain(t *testing.T) {
	t.Parallel()
	r := newRig(t, sandbox.Options{}, "/Admin$/")
	creds, err := r.env.Server.IssueCredentials("arn:aws:iam::123456789012:role/ReadOnly", "static-user", 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(r.env.Files.Credentials, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("\n[mine]\naws_access_key_id = " + creds.AccessKeyID + "\naws_secret_access_key = " + creds.SecretAccessKey + "\naws_session_token = " + creds.SessionToken + "\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.load(t, awsauth.WithGetenv(r.getenv("AWS_PROFILE", "mine")))
	if err != nil {
		t.Fatal(err)
	}
	if arn := callerARN(t, cfg); !strings.HasSuffix(arn, "assumed-role/ReadOnly/static-user") {
		t.Fatalf("caller %s", arn)
	}
}

// expireOnDisk rewrites the stored expiry of an AWS profile, as if the
// credentials had been issued long ago, keeping the keys.
func expireOnDisk(t *testing.T, files federation.Files, awsProfile string, at time.Time) aws.Credentials {
	t.Helper()
	owned, err := federation.OwnedProfiles(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range owned {
		if o.AWSProfile != awsProfile {
			continue
		}
		creds, _, _, err := federation.CachedCredentials(files, awsProfile, time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		creds.Expires = at
		if err := federation.StoreCredentials(files, o, creds); err != nil {
			t.Fatal(err)
		}
		return creds
	}
	t.Fatalf("no profile %s", awsProfile)
	return aws.Credentials{}
}

func TestRefreshThroughTheOktaSession(t *testing.T) {
	t.Parallel()
	t.Run("expired before start-up", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, sandbox.Options{}, "/Admin$/")
		old := expireOnDisk(t, r.env.Files, "okta-prod-Admin", time.Now().Add(-time.Minute))
		cfg, err := r.load(t, awsauth.WithProfile("okta-prod-Admin"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := cfg.Credentials.Retrieve(context.Background())
		if err != nil || got.AccessKeyID == old.AccessKeyID {
			t.Fatalf("not refreshed: %v", err)
		}
		callerARN(t, cfg)
		data, _ := os.ReadFile(r.env.Files.Credentials)
		if !strings.Contains(string(data), got.AccessKeyID) {
			t.Fatal("refreshed credentials not stored for other processes")
		}
	})
	t.Run("expires while running", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, sandbox.Options{}, "/Admin$/")
		// The window is a second, the stored keys have two and a half
		// seconds left: the SDK's in-process cache (on the wall clock)
		// must reuse them first, then fetch new keys before they expire.
		const window = time.Second
		old := expireOnDisk(t, r.env.Files, "okta-prod-Admin", time.Now().Add(2*time.Second+500*time.Millisecond))
		cfg, err := r.load(t, awsauth.WithProfile("okta-prod-Admin"), awsauth.WithRefreshWindow(window))
		if err != nil {
			t.Fatal(err)
		}
		first, _ := cfg.Credentials.Retrieve(context.Background())
		// A machine that stalled past the window may rightly refresh at once.
		if first.AccessKeyID != old.AccessKeyID && time.Now().Before(old.Expires.Add(-window)) {
			t.Fatal("fresh stored keys were not reused")
		}
		callerARN(t, cfg)
		// Ask until new keys come; no answer may be keys that have expired.
		var second aws.Credentials
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			asked := time.Now()
			second, err = cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !second.Expires.After(asked) {
				t.Fatalf("handed out keys that expired at %v, when asked at %v", second.Expires, asked)
			}
			if second.AccessKeyID != old.AccessKeyID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("credentials were not refreshed ahead of expiry")
			}
		}
		callerARN(t, cfg)
		if n := r.counter.n.Load(); n != 1 {
			t.Fatalf("%d SAML round trips, want 1", n)
		}
	})
}

func TestConcurrentCallersShareOneRefresh(t *testing.T) {
	t.Parallel()
	r := newRig(t, sandbox.Options{}, "/Admin$/")
	cfg, err := r.load(t, awsauth.WithProfile("okta-prod-Admin"))
	if err != nil {
		t.Fatal(err)
	}
	expireOnDisk(t, r.env.Files, "okta-prod-Admin", time.Now().Add(-time.Minute))
	cfg.Credentials.(*aws.CredentialsCache).Invalidate()
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if n := r.counter.n.Load(); n != 1 {
		t.Fatalf("%d SAML round trips for 16 callers, want 1", n)
	}
}

func checkLoginRequired(t *testing.T, err error) {
	t.Helper()
	var lre *awsauth.LoginRequiredError
	switch {
	case !errors.Is(err, awsauth.ErrLoginRequired) || !errors.Is(err, federation.ErrLoginRequired):
		t.Fatalf("err = %v, want ErrLoginRequired", err)
	case !errors.As(err, &lre) || lre.Profile != sandboxtest.Profile:
		t.Fatalf("err = %#v, want *LoginRequiredError for %s", err, sandboxtest.Profile)
	case !strings.Contains(err.Error(), "profile default: an Okta login is needed"):
		t.Fatalf("message %q does not name the command", err)
	}
}

func TestLoginRequiredAfterTheOktaSessionEnds(t *testing.T) {
	t.Parallel()
	t.Run("session lifetime over", func(t *testing.T) {
		t.Parallel()
		clk := clock.NewFake(time.Now())
		r := newRig(t, sandbox.Options{Clock: clk}, "/Admin$/")
		if _, err := r.load(t, awsauth.WithProfile("okta-prod-Admin"), awsauth.WithClock(clk)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(3 * time.Hour) // past the org's 2 h session and the 1 h credentials
		_, err := r.load(t, awsauth.WithProfile("okta-prod-Admin"), awsauth.WithClock(clk))
		checkLoginRequired(t, err)
		if r.counter.n.Load() != 0 {
			t.Fatal("asked Okta with a session the keyring knows has ended")
		}
	})
	t.Run("session closed at Okta, during SDK calls", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, sandbox.Options{}, "/Admin$/")
		cfg, err := r.load(t, awsauth.WithProfile("okta-prod-Admin"))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		sid, _, _ := r.env.Sessions.LoadSession(ctx, sandboxtest.Profile)
		if err := (&okta.Client{BaseURL: r.env.Server.URL, HTTPClient: r.hc}).CloseSession(ctx, sid); err != nil {
			t.Fatal(err)
		}
		expireOnDisk(t, r.env.Files, "okta-prod-Admin", time.Now().Add(-time.Minute))
		cfg.Credentials.(*aws.CredentialsCache).Invalidate()
		_, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		checkLoginRequired(t, err)
	})
}

func TestSessionEncoding(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name    string
		sid     string
		exp     time.Time
		encoded string
	}{
		{"with expiry", "102abc", exp, "102abc|2026-05-06T07:08:09Z"},
		{"no expiry", "102abc", time.Time{}, "102abc|"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := awsauth.EncodeSession(tc.sid, tc.exp); got != tc.encoded {
				t.Fatalf("encode = %q", got)
			}
			sid, e := awsauth.DecodeSession(tc.encoded)
			if sid != tc.sid || !e.Equal(tc.exp) {
				t.Fatalf("decode = %q %v", sid, e)
			}
		})
	}
	if sid, e := awsauth.DecodeSession("legacy-no-bar"); sid != "legacy-no-bar" || !e.IsZero() {
		t.Fatalf("decode without expiry = %q %v", sid, e)
	}
}

func FuzzDecodeSession(f *testing.F) {
	f.Add("102abc|2026-05-06T07:08:09Z")
	f.Add("|")
	f.Add("x|not a time")
	f.Fuzz(func(t *testing.T, v string) {
		sid, exp := awsauth.DecodeSession(v)
		if strings.Contains(sid, "|") {
			t.Fatalf("sid %q keeps the separator", sid)
		}
		if exp.IsZero() {
			return
		}
		sid2, exp2 := awsauth.DecodeSession(awsauth.EncodeSession(sid, exp))
		if sid2 != sid || !exp2.Equal(exp.Truncate(time.Second)) {
			t.Fatalf("round trip of %q: %q %v", v, sid2, exp2)
		}
	})
}

// imdsCounter stands in for the instance metadata service and counts
// what reaches it.
func imdsCounter(t *testing.T) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)
	return &n
}

// TestLoginRequiredAfterLogout: after `oktafed logout` (the profiles and
// session removed), LoadConfig for an AWS profile oktafed wrote, for the
// oktafed profile, or with only OKTAFED_PROFILE set, fails with
// ErrLoginRequired naming the login to run, and never asks instance
// metadata.
func TestLoginRequiredAfterLogout(t *testing.T) {
	r := newRig(t, sandbox.Options{}, "/Admin$/")
	imds := imdsCounter(t)
	ctx := context.Background()

	r.vars["OKTAFED_PROFILE"] = sandboxtest.Profile
	if cfg, err := r.load(t); err != nil {
		t.Fatalf("OKTAFED_PROFILE alone, logged in: %v", err)
	} else if arn := callerARN(t, cfg); !strings.Contains(arn, "Admin") {
		t.Fatalf("caller %s", arn)
	}

	removed, err := federation.RemoveProfiles(r.env.Files, sandboxtest.Profile)
	if err != nil || len(removed) == 0 {
		t.Fatalf("logout: %v %v", removed, err)
	}
	if err := r.env.Sessions.DeleteSession(ctx, sandboxtest.Profile); err != nil {
		t.Fatal(err)
	}

	for name, opts := range map[string][]awsauth.Option{
		"OKTAFED_PROFILE only":      nil,
		"the AWS profile it wrote":  {awsauth.WithProfile("okta-prod-Admin")},
		"the oktafed profile":       {awsauth.WithProfile(sandboxtest.Profile)},
		"an AWS profile by pattern": {awsauth.WithProfile("okta-dev-ReadOnly")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := r.load(t, opts...)
			checkLoginRequired(t, err)
		})
	}
	t.Run("AWS_PROFILE names the written profile", func(t *testing.T) {
		_, err := r.load(t, awsauth.WithGetenv(r.getenv("OKTAFED_PROFILE", "", "AWS_PROFILE", "okta-prod-Admin")))
		checkLoginRequired(t, err)
	})
	if n := imds.Load(); n != 0 {
		t.Fatalf("instance metadata was asked %d times for profiles oktafed manages", n)
	}
}
