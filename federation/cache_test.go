package federation

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/owned"
)

// cacheRig is one oktafed-written profile whose credentials expire at
// exp, and a Cache over it whose refreshes are counted.
func cacheRig(t *testing.T, exp time.Time) (*Cache, *clock.Fake, *atomic.Int32) {
	t.Helper()
	files := testFiles(t, "[mine]\naws_access_key_id = AKIAMINE\n", "")
	p := &config.Profile{Name: "work", ProfileTemplate: "okta-{{.Role}}"}
	r := role(t, "arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:saml-provider/okta")
	old := aws.Credentials{AccessKeyID: "ASIAOLD", SecretAccessKey: "s", SessionToken: "t", CanExpire: true, Expires: exp}
	if _, err := WriteProfiles(files, p, []Assumed{{Role: r, Credentials: old}}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(exp.Add(-time.Hour))
	var n atomic.Int32
	c := &Cache{Files: files, Clock: clk, Refresh: func(ctx context.Context, o Owned) (aws.Credentials, error) {
		n.Add(1)
		if o.RoleARN != r.RoleARN || o.OktafedProfile != "work" {
			return aws.Credentials{}, errors.New("refresh asked for the wrong role")
		}
		return aws.Credentials{AccessKeyID: "ASIANEW", SecretAccessKey: "s2", SessionToken: "t2", CanExpire: true, Expires: clk.Now().Add(time.Hour)}, nil
	}}
	return c, clk, &n
}

func TestCacheServesFreshCredentialsWithoutRefreshing(t *testing.T) {
	t.Parallel()
	c, _, n := cacheRig(t, time.Now().Add(time.Hour))
	got, err := c.Credentials(context.Background(), "okta-Admin")
	if err != nil || got.AccessKeyID != "ASIAOLD" || n.Load() != 0 {
		t.Fatalf("got %s, %v after %d refreshes", got.AccessKeyID, err, n.Load())
	}
	if _, err := c.Credentials(context.Background(), "mine"); err == nil {
		t.Fatal("a profile oktafed did not write was served")
	}
}

func TestCacheRefreshesOnceWithinTheWindowAndStoresBack(t *testing.T) {
	t.Parallel()
	c, clk, n := cacheRig(t, time.Now().Add(time.Hour))
	clk.Advance(time.Hour - owned.RefreshWindow + time.Second) // inside the refresh window
	var wg sync.WaitGroup
	keys := make([]string, 8)
	for i := range keys {
		wg.Go(func() {
			got, err := c.Credentials(context.Background(), "okta-Admin")
			if err != nil {
				t.Error(err)
			}
			keys[i] = got.AccessKeyID
		})
	}
	wg.Wait()
	for i, k := range keys {
		if k != "ASIANEW" {
			t.Fatalf("caller %d got %s", i, k)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("%d refreshes for 8 callers, want 1", n.Load())
	}
	data, _ := os.ReadFile(c.Files.Credentials)
	if !strings.Contains(string(data), "ASIANEW") || !strings.Contains(string(data), "[mine]\naws_access_key_id = AKIAMINE\n") {
		t.Fatalf("credentials file after the refresh:\n%s", data)
	}
	// What was stored is served without another refresh.
	if got, _ := c.Credentials(context.Background(), "okta-Admin"); got.AccessKeyID != "ASIANEW" || n.Load() != 1 {
		t.Fatalf("after storing: %s, %d refreshes", got.AccessKeyID, n.Load())
	}
}

func TestCacheHandsOutRefreshedCredentialsItCannotStore(t *testing.T) {
	t.Parallel()
	c, clk, _ := cacheRig(t, time.Now().Add(time.Hour))
	clk.Advance(2 * time.Hour)
	var warned []string
	c.Events = func(e Event) {
		if e.Step == "warning" {
			warned = append(warned, e.Detail)
		}
	}
	refresh := c.Refresh
	c.Refresh = func(ctx context.Context, o Owned) (aws.Credentials, error) {
		creds, err := refresh(ctx, o)
		// Another program makes the section its own meanwhile.
		if werr := os.WriteFile(c.Files.Credentials, []byte("[okta-Admin]\naws_access_key_id = AKIATHEIRS\n"), 0o600); werr != nil {
			t.Fatal(werr)
		}
		return creds, err
	}
	got, err := c.Credentials(context.Background(), "okta-Admin")
	if err != nil || got.AccessKeyID != "ASIANEW" {
		t.Fatalf("got %s, %v", got.AccessKeyID, err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "refreshes again") {
		t.Fatalf("warnings %q", warned)
	}
	if data, _ := os.ReadFile(c.Files.Credentials); string(data) != "[okta-Admin]\naws_access_key_id = AKIATHEIRS\n" {
		t.Fatalf("the foreign section was changed:\n%s", data)
	}
}

func TestChangesApplyAndEmpty(t *testing.T) {
	t.Parallel()
	if !(Changes{}).Empty() {
		t.Fatal("no changes are not empty")
	}
	p := &config.Profile{Name: "work", AccountAliases: map[string]string{"1": "one"}}
	c := Changes{AccountAliases: map[string]string{"2": "two"}, RoleMaxSessions: RoleLimits{"arn:aws:iam::2:role/R": 4 * time.Hour}}
	if c.Empty() {
		t.Fatal("changes are empty")
	}
	c.Apply(p)
	if p.AccountAliases["1"] != "one" || p.AccountAliases["2"] != "two" || time.Duration(p.RoleMaxSessions["arn:aws:iam::2:role/R"]) != 4*time.Hour {
		t.Fatalf("applied: %+v", p)
	}
}
