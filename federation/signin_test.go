package federation_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// fakeBrowser is a BrowserSignIn that can or cannot start, and counts
// the sign-ins started.
type fakeBrowser struct {
	problem error
	used    int
}

func (b *fakeBrowser) Available() error { return b.problem }

func (b *fakeBrowser) Source(*federation.App) federation.AssertionSource { return b }

func (b *fakeBrowser) Assertion(context.Context) (*federation.Assertion, error) {
	b.used++
	return nil, errors.New("the fake browser signs nobody in")
}

// A way of signing in that cannot work here is refused when a sign-in is
// needed, before any secret is asked for, naming the ways that can (the
// browser first); nothing of the sign-in is built or changed afterwards.
func TestNewSignInRefusesBeforeSecretsAndNamesWaysThatWork(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		method  string
		browser *fakeBrowser
		want    []string
	}{
		{"device without a client id", "device", &fakeBrowser{}, []string{"browser", "password"}},
		{"direct without a client id", "direct", &fakeBrowser{}, []string{"browser", "password"}},
		{"device, no display for a browser", "device", &fakeBrowser{problem: errors.New("no display")}, []string{"password"}},
		{"browser with no display", "browser", &fakeBrowser{problem: errors.New("no display")}, []string{"password"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &federation.Profile{Name: "work", OrgURL: "http://127.0.0.1:1", AppURL: "http://127.0.0.1:1/home/amazon_aws/0oa1demoawsapp0000001/272", Username: "u@example.com"}
			app := &federation.App{Profile: p, Okta: &okta.Client{BaseURL: p.OrgURL}}
			asked := 0
			o := federation.SignInOptions{
				Method: tc.method, Reason: "--" + tc.method,
				Password: func(context.Context) (string, error) { asked++; return "secret", nil },
				Browser:  tc.browser,
			}
			s, err := federation.NewSignIn(context.Background(), app, o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Assertion(context.Background())
			var ue *federation.SignInUnavailableError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want a SignInUnavailableError", err)
			}
			if ue.Choice.Method != tc.method || ue.Choice.Reason != "--"+tc.method || ue.Profile != "work" {
				t.Errorf("choice %+v of profile %s", ue.Choice, ue.Profile)
			}
			if !slices.Equal(ue.Alternatives, tc.want) {
				t.Errorf("alternatives %v, want %v", ue.Alternatives, tc.want)
			}
			if asked != 0 || tc.browser.used != 0 {
				t.Errorf("password asked %d times, browser started %d times before the refusal", asked, tc.browser.used)
			}
			// CheckSignIn says the same without a sign-in.
			c, err := federation.CheckSignIn(context.Background(), app, o)
			if !errors.As(err, &ue) || c != ue.Choice {
				t.Errorf("CheckSignIn: %v, %v", c, err)
			}
		})
	}
}

// The way is the caller's, else the profile's sign_in, else the org's
// kind: the device flow on Identity Engine, the password on Classic; a
// way that is no way is refused.
func TestSignInChoiceOrder(t *testing.T) {
	t.Parallel()
	idx := sandbox.DefaultConfig()
	idx.Org.Pipeline = "idx"
	orgs := map[string]*sandbox.Server{"classic": sandbox.Start(t, sandbox.DefaultConfig()), "idx": sandbox.Start(t, idx)}
	hc := &http.Client{Timeout: 30 * time.Second}
	app := func(org, signIn string) *federation.App {
		srv := orgs[org]
		p := &federation.Profile{Name: "p", OrgURL: srv.URL, AppURL: srv.URL + appPath, SignIn: signIn, OIDCClientID: deviceClientID}
		return &federation.App{Profile: p, Okta: &okta.Client{BaseURL: srv.URL, HTTPClient: hc}}
	}
	b := &fakeBrowser{}
	for _, tc := range []struct {
		org, signIn, method string
		want                federation.SignInChoice
	}{
		{"idx", "", "", federation.SignInChoice{Method: "device", Reason: "the org uses Okta Identity Engine"}},
		{"classic", "", "", federation.SignInChoice{Method: "password", Reason: "the org uses the Classic Engine"}},
		{"idx", "browser", "", federation.SignInChoice{Method: "browser", Reason: "sign_in: browser in profile p"}},
		{"classic", "browser", "direct", federation.SignInChoice{Method: "direct", Reason: "chosen by the caller"}},
	} {
		c, err := federation.CheckSignIn(context.Background(), app(tc.org, tc.signIn), federation.SignInOptions{Method: tc.method, Browser: b})
		if err != nil || c != tc.want {
			t.Errorf("%s org, sign_in %q, method %q: %+v, %v; want %+v", tc.org, tc.signIn, tc.method, c, err, tc.want)
		}
	}
	if _, err := federation.NewSignIn(context.Background(), app("classic", ""), federation.SignInOptions{Method: "sms"}); err == nil {
		t.Error("sign-in method sms accepted")
	}
	// Without a password, a password sign-in is the saved session alone.
	s, err := federation.NewSignIn(context.Background(), app("classic", ""), federation.SignInOptions{})
	if err != nil || s.SignIn != nil {
		t.Fatalf("NewSignIn without a password: %+v, %v", s, err)
	}
	if _, err := s.Assertion(context.Background()); !errors.Is(err, federation.ErrLoginRequired) {
		t.Errorf("no saved session, no password: %v, want ErrLoginRequired", err)
	}
}
