package federation_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

const deviceClientID = "0oa1demodevice000001"

// memTokens is an in-memory TokenCache.
type memTokens struct {
	mu   sync.Mutex
	data map[string][2]string
}

func (m *memTokens) LoadTokens(_ context.Context, p string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.data[p]
	return v[0], v[1], nil
}

func (m *memTokens) SaveTokens(_ context.Context, p, r, d string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][2]string{}
	}
	m.data[p] = [2]string{r, d}
	return nil
}

func (m *memTokens) DeleteTokens(_ context.Context, p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, p)
	return nil
}

// newDeviceLogin is a login whose sign-in is the device flow, behind the
// saved Okta session. clk, when set, is the sandbox's clock too: polling
// then moves it instead of waiting.
func newDeviceLogin(t *testing.T, srv *sandbox.Server, clk clock.Clock, tokens federation.TokenCache, show func(context.Context, *okta.DeviceAuthorization) error) *federation.Login {
	t.Helper()
	dir := t.TempDir()
	hc := &http.Client{Timeout: 30 * time.Second}
	p := &config.Profile{Name: "oie", OrgURL: srv.URL, AppURL: srv.URL + appPath, Region: "us-east-1", OIDCClientID: deviceClientID,
		AccountAliases: map[string]string{"123456789012": "prod"}}
	app := &federation.App{Profile: p, Okta: &okta.Client{BaseURL: srv.URL, HTTPClient: hc, Clock: clk}, Sessions: federation.NewMemorySessions(), Clock: clk}
	return &federation.Login{
		Profile: p,
		Source:  &federation.Session{App: app, SignIn: &federation.Device{App: app, Tokens: tokens, Show: show}},
		STS:     federation.NewSTSClient("us-east-1", srv.URL, hc),
		Files:   federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")},
	}
}

// startIDX starts an Identity Engine sandbox on a fake clock that moves
// whenever the client waits between polls, so a device sign-in takes no
// real time.
func startIDX(t *testing.T) (*sandbox.Server, *clock.Fake) {
	cfg := sandbox.DefaultConfig()
	cfg.Org.Pipeline = "idx"
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	return sandbox.StartWithOptions(t, cfg, sandbox.Options{Clock: clk}), clk
}

// activate confirms the code on the org's page as a person would, before
// the client first polls.
func activate(t *testing.T, srv *sandbox.Server) func(context.Context, *okta.DeviceAuthorization) error {
	return func(ctx context.Context, d *okta.DeviceAuthorization) error {
		if !strings.HasPrefix(d.VerificationURIComplete, srv.URL+"/activate?user_code=") {
			t.Errorf("verification link %s", d.VerificationURIComplete)
		}
		return srv.ActivateDevice(ctx, demoUser, demoPass, demoSeed, d.UserCode, true)
	}
}

func TestDeviceLoginThenRefreshTokenWithoutBrowser(t *testing.T) {
	t.Parallel()
	srv, clk := startIDX(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	org, err := (&okta.Client{BaseURL: srv.URL}).Organization(ctx)
	if err != nil || !org.IdentityEngine() {
		t.Fatalf("organization %+v, %v", org, err)
	}

	tokens := &memTokens{}
	d := newDeviceLogin(t, srv, clk, tokens, activate(t, srv))
	out, err := d.Run(ctx, "all", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Written) != 3 {
		t.Fatalf("written %+v failed %+v", out.Written, out.Failed())
	}
	if r, s, _ := tokens.LoadTokens(ctx, "oie"); r == "" || s == "" {
		t.Error("the refresh token and device secret were not saved")
	}

	// A new run without the Okta session and without anyone to confirm a
	// code still works, through the refresh token.
	again := newDeviceLogin(t, srv, clk, tokens, func(context.Context, *okta.DeviceAuthorization) error {
		t.Error("a browser sign-in was asked for although a refresh token was saved")
		return nil
	})
	if _, err := again.Run(ctx, "/Admin$/", nil, 0); err != nil {
		t.Fatal(err)
	}

	// With neither, a login is required and the error says so.
	none := newDeviceLogin(t, srv, clk, &memTokens{}, nil)
	if _, err := none.Run(ctx, "all", nil, 0); !strings.Contains(err.Error(), "profile oie: an Okta login is needed") {
		t.Fatalf("err = %v", err)
	}
}

func TestDeviceLoginDenied(t *testing.T) {
	t.Parallel()
	srv, clk := startIDX(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := newDeviceLogin(t, srv, clk, &memTokens{}, func(ctx context.Context, da *okta.DeviceAuthorization) error {
		return srv.ActivateDevice(ctx, demoUser, demoPass, demoSeed, da.UserCode, false)
	})
	if _, err := d.Run(ctx, "all", nil, 0); err != okta.ErrDeviceDenied && !strings.Contains(err.Error(), "denied") {
		t.Fatalf("err = %v", err)
	}
}
