package browser_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/federation/browser"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// The sandbox's demo user, its TOTP seed and the demo AWS app's embed
// link (sandbox.DefaultConfig).
const (
	keyUser  = "key-user@example.com"
	keyPass  = "Sandbox-Key-1"
	demoUser = "demo@example.com"
	demoPass = "Sandbox-Demo-1"
	demoSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	appPath  = "/home/amazon_aws/0oa1demoawsapp0000001/272"
)

// keyConfig is the demo sandbox reached as localhost (browsers refuse
// WebAuthn on IP addresses) with a user whose only factor is a security
// key that must verify the user.
func keyConfig() sandbox.Config {
	cfg := sandbox.DefaultConfig()
	cfg.Host = "localhost"
	cfg.Org.Users = append(cfg.Org.Users, sandbox.OrgUserConfig{
		Login: keyUser, Password: keyPass, FirstName: "Key", LastName: "Holder",
		Groups:  []string{"aws-admins", "developers"},
		Factors: []sandbox.OrgFactorConfig{{Type: "webauthn", UserVerification: "required"}},
	})
	return cfg
}

type browserRig struct {
	srv      *sandbox.Server
	app      *federation.App
	login    *federation.Login
	sessions *federation.MemorySessions
	files    federation.Files
	cred     *cdpwebauthn.Credential
}

// keyOrg is the sandbox of keyConfig with the key user's security key
// registered, shared by the package's tests: registering a key drives a
// browser through the sign-in, so it is done once. Each test signs in
// with its own copy of the key, its own files and saved sessions.
var keyOrg struct {
	once sync.Once
	srv  *sandbox.Server
	cred *cdpwebauthn.Credential
	// copies counts the copies handed out; each starts its sign counter
	// above every earlier copy's, as the org refuses a counter that does
	// not grow (a cloned key).
	copies atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if keyOrg.srv != nil {
		keyOrg.srv.Close()
	}
	os.Exit(code)
}

func newBrowserRig(t *testing.T) *browserRig {
	t.Helper()
	testenv.Chromium(t)
	keyOrg.once.Do(func() {
		srv, err := sandbox.New(keyConfig(), sandbox.Options{})
		if err != nil {
			t.Fatalf("start sandbox: %v", err)
		}
		keyOrg.srv = srv
		keyOrg.cred = testenv.RegisterSecurityKey(t, srv.URL+appPath, keyUser, keyPass)
	})
	srv := keyOrg.srv
	if srv == nil || keyOrg.cred == nil {
		t.Fatal("the shared sandbox or security key failed to set up (see the first test that needed it)")
	}
	if !strings.HasPrefix(srv.URL, "http://localhost:") {
		t.Fatalf("sandbox URL %s: want localhost", srv.URL)
	}
	// Failed sign-ins of one test do not count towards another's lockout.
	t.Cleanup(func() { _ = srv.Unlock(keyUser) })
	cred := *keyOrg.cred
	cred.SignCount += float64(1000 * keyOrg.copies.Add(1))
	dir := t.TempDir()
	files := federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")}
	hc := &http.Client{Timeout: 30 * time.Second}
	sessions := federation.NewMemorySessions()
	p := &config.Profile{Name: "default", OrgURL: srv.URL, AppURL: srv.URL + appPath, Username: keyUser, Region: "us-east-1"}
	app := &federation.App{Profile: p, Okta: &okta.Client{BaseURL: srv.URL, HTTPClient: hc}, Sessions: sessions}
	l := &federation.Login{Profile: p, STS: federation.NewSTSClient("us-east-1", srv.URL, hc), Files: files}
	return &browserRig{srv: srv, app: app, login: l, sessions: sessions, files: files, cred: &cred}
}

// person is what the person at the browser does: plug in a key (a copy
// of cred, user verification as uv) and type the password.
func person(t *testing.T, cred *cdpwebauthn.Credential, uv bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if _, err := testenv.AddVirtualKey(ctx, uv, cred); err != nil {
			return err
		}
		go func() {
			if err := testenv.FillSignIn(ctx, keyUser, keyPass); err != nil && ctx.Err() == nil {
				t.Logf("fill the sign-in form: %v", err)
			}
		}()
		return nil
	}
}

// browserLogin is a login whose sign-in is the browser, behind the saved
// Okta session.
func (r *browserRig) browserLogin(t *testing.T, prepare func(context.Context) error, timeout time.Duration) (*federation.Login, *[]string) {
	shown := &[]string{}
	return &federation.Login{Profile: r.login.Profile, STS: r.login.STS, Files: r.login.Files,
		Source: &federation.Session{App: r.app, SignIn: &browser.Source{App: r.app, SignIn: &browser.SignIn{
			Program: testenv.Chromium(t), Headless: true, Timeout: timeout, Prepare: prepare,
			Show: func(u string) { *shown = append(*shown, u) },
		}}}}, shown
}

func TestBrowserLoginWithSecurityKeyThenSilentRefresh(t *testing.T) {
	t.Parallel()
	r := newBrowserRig(t)
	ctx := context.Background()
	bl, shown := r.browserLogin(t, person(t, r.cred, true), 90*time.Second)
	out, err := bl.Run(ctx, "all", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Written) != 2 || len(out.Failed()) != 0 {
		t.Fatalf("written %+v failed %+v", out.Written, out.Failed())
	}
	if len(*shown) != 1 || (*shown)[0] != r.login.Profile.AppURL {
		t.Fatalf("shown %v, want the app link once", *shown)
	}
	sid, _, _ := r.sessions.LoadSession(ctx, "default")
	if sid == "" {
		t.Fatal("the browser's Okta session was not saved")
	}
	if s, err := r.app.Okta.Session(ctx, sid); err != nil || s.Login != keyUser {
		t.Fatalf("saved session: %+v, %v", s, err)
	}
	// A later login without a browser (what credential_process does)
	// goes through the captured session.
	silent := &federation.Session{App: r.app}
	a, err := silent.Assertion(ctx)
	if err != nil {
		t.Fatalf("silent assertion through the captured session: %v", err)
	}
	if a.NameID != keyUser {
		t.Fatalf("assertion for %q", a.NameID)
	}
}

// unchanged asserts a failed sign-in left no session and no profiles.
func (r *browserRig) unchanged(t *testing.T) {
	t.Helper()
	if sid, _, _ := r.sessions.LoadSession(context.Background(), "default"); sid != "" {
		t.Error("a session was saved")
	}
	if _, err := os.Stat(r.files.Credentials); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the credentials file was written (%v)", err)
	}
}

func TestBrowserLoginRejectedKey(t *testing.T) {
	r := newBrowserRig(t)
	forged, err := testenv.ForgedKey(r.cred)
	if err != nil {
		t.Fatal(err)
	}
	bl, _ := r.browserLogin(t, person(t, forged, true), 8*time.Second)
	_, err = bl.Run(context.Background(), "all", nil, 0)
	if !errors.Is(err, browser.ErrTimeout) || !strings.Contains(err.Error(), "security key was not accepted") {
		t.Fatalf("err = %v, want a timeout that quotes the page's refusal", err)
	}
	r.unchanged(t)
}

func TestBrowserLoginKeyWithoutUserVerification(t *testing.T) {
	r := newBrowserRig(t)
	bl, _ := r.browserLogin(t, person(t, r.cred, false), 8*time.Second)
	_, err := bl.Run(context.Background(), "all", nil, 0)
	if !errors.Is(err, browser.ErrTimeout) || !strings.Contains(err.Error(), "security key") {
		t.Fatalf("err = %v, want a timeout that quotes the page", err)
	}
	r.unchanged(t)
}

func TestBrowserLoginWindowClosed(t *testing.T) {
	t.Parallel()
	r := newBrowserRig(t)
	closer := func(ctx context.Context) error {
		go func() {
			_ = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("username")))
			_ = chromedp.Cancel(ctx) // closes the tab, as a person closing the window
		}()
		return nil
	}
	bl, _ := r.browserLogin(t, closer, 60*time.Second)
	start := time.Now()
	_, err := bl.Run(context.Background(), "all", nil, 0)
	if !errors.Is(err, browser.ErrClosed) {
		t.Fatalf("err = %v, want ErrBrowserClosed", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("noticed the closed window only after %s", time.Since(start))
	}
	r.unchanged(t)
}

func TestBrowserLoginTimeout(t *testing.T) {
	t.Parallel()
	r := newBrowserRig(t)
	bl, _ := r.browserLogin(t, nil, 3*time.Second)
	_, err := bl.Run(context.Background(), "all", nil, 0)
	if !errors.Is(err, browser.ErrTimeout) || !strings.Contains(err.Error(), "3s") {
		t.Fatalf("err = %v, want a timeout naming 3s", err)
	}
	r.unchanged(t)
}

func TestFindBrowser(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := browser.Find(env(map[string]string{browser.Env: "/nonexistent/chrome"})); err == nil || !strings.Contains(err.Error(), browser.Env) {
		t.Fatalf("a missing named browser: %v", err)
	}
	bin := testenv.Chromium(t)
	if got, err := browser.Find(env(map[string]string{browser.Env: bin})); err != nil || got != bin {
		t.Fatalf("named browser: %q, %v", got, err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := browser.Find(env(nil)); !errors.Is(err, browser.ErrNoBrowser) || !strings.Contains(err.Error(), browser.Env) {
		t.Fatalf("no browser: %v", err)
	}
}

func TestIsAWSSignInURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://signin.aws.amazon.com/saml":                true,
		"https://us-east-1.signin.aws.amazon.com/saml":      true,
		"https://signin.amazonaws-us-gov.com/saml":          true,
		"https://signin.amazonaws.cn/saml":                  true,
		"http://signin.aws.amazon.com/saml":                 false,
		"https://signin.aws.amazon.com.evil.example/saml":   false,
		"https://evil.example/signin.aws.amazon.com/saml":   false,
		"https://a.b.signin.aws.amazon.com/saml":            false,
		"https://signin.aws.amazon.com/console":             false,
		"https://user@signin.aws.amazon.com/saml":           false,
		"https://signin.aws.amazon.com:8443/saml":           false,
		"https://.signin.aws.amazon.com/saml":               false,
		"https://signin.aws.amazon.com/saml?SAMLResponse=x": true,
	} {
		if got := browser.IsAWSSignInURL(raw); got != want {
			t.Errorf("IsAWSSignInURL(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestParseSAMLPost(t *testing.T) {
	for _, tc := range []struct {
		body, resp, relay string
		ok                bool
	}{
		{"SAMLResponse=PHg%2BPC94Pg%3D%3D&RelayState=", "PHg+PC94Pg==", "", true},
		{"SAMLResponse=abc&RelayState=https%3A%2F%2Fconsole", "abc", "https://console", true},
		{"SAMLResponse=", "", "", false},
		{"RelayState=x", "", "", false},
		{"SAMLResponse=a&SAMLResponse=b", "", "", false},
		{"SAMLResponse=a&RelayState=1&RelayState=2", "", "", false},
		{"SAMLResponse=%zz", "", "", false},
		{"SAMLResponse=" + strings.Repeat("A", 1<<20), "", "", false},
	} {
		resp, relay, err := browser.ParseSAMLPost([]byte(tc.body))
		if (err == nil) != tc.ok || resp != tc.resp || relay != tc.relay {
			t.Errorf("ParseSAMLPost(%.40q) = %q, %q, %v", tc.body, resp, relay, err)
		}
	}
}

func FuzzParseSAMLPost(f *testing.F) {
	f.Add([]byte("SAMLResponse=PHg%2BPC94Pg%3D%3D&RelayState="))
	f.Add([]byte("SAMLResponse=a&SAMLResponse=b"))
	f.Add([]byte("%"))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, _, err := browser.ParseSAMLPost(body)
		if err == nil && strings.TrimSpace(resp) == "" {
			t.Fatal("accepted an empty SAMLResponse")
		}
	})
}

func FuzzIsAWSSignInURL(f *testing.F) {
	f.Add("https://signin.aws.amazon.com/saml")
	f.Add("https://x.signin.aws.amazon.com/saml")
	f.Fuzz(func(t *testing.T, raw string) {
		if browser.IsAWSSignInURL(raw) && !strings.HasPrefix(strings.ToLower(raw), "https://") {
			t.Fatalf("accepted %q", raw)
		}
	})
}

// TestBrowserLoginWithPushAndTOTPOnThePage signs the demo user in through
// the hosted page's JavaScript with an Okta Verify push (the page polls
// and shows the number) and with a TOTP code, as a person clicking and
// typing would.
func TestBrowserLoginWithPushAndTOTPOnThePage(t *testing.T) {
	t.Parallel()
	testenv.Chromium(t)
	for _, factor := range []string{"push", "totp"} {
		t.Run(factor, func(t *testing.T) {
			t.Parallel()
			srv := sandbox.Start(t, sandbox.DefaultConfig())
			dir := t.TempDir()
			hc := &http.Client{Timeout: 30 * time.Second}
			sessions := federation.NewMemorySessions()
			p := &config.Profile{Name: "default", OrgURL: srv.URL, AppURL: srv.URL + appPath, Username: demoUser, Region: "us-east-1"}
			app := &federation.App{Profile: p, Okta: &okta.Client{BaseURL: srv.URL, HTTPClient: hc}, Sessions: sessions}
			sawNumber := make(chan bool, 1)
			prepare := func(ctx context.Context) error {
				go func() {
					steps := []chromedp.Action[chromedp.Void]{
						chromedp.WaitVisible(chromedp.ID("username")),
						chromedp.SendKeys(chromedp.ID("username"), demoUser),
						chromedp.SendKeys(chromedp.ID("password"), demoPass),
						chromedp.Click(chromedp.ID("submit")),
						chromedp.Click(chromedp.ID("factor-" + factor)),
					}
					if factor == "totp" {
						code, _ := totp.GenerateCode(demoSeed, time.Now())
						steps = append(steps, chromedp.SendKeys(chromedp.ID("passcode"), code), chromedp.Click(chromedp.ID("verify")))
					}
					if err := chromedp.Do(ctx, steps...); err != nil && ctx.Err() == nil {
						t.Logf("drive the page: %v", err)
					}
					if factor == "push" {
						for range 50 {
							s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
							if err != nil {
								return
							}
							if strings.Contains(s, "tap ") {
								sawNumber <- true
								return
							}
							time.Sleep(100 * time.Millisecond)
						}
					}
				}()
				return nil
			}
			bl := &federation.Login{
				Profile: p,
				Source:  &federation.Session{App: app, SignIn: &browser.Source{App: app, SignIn: &browser.SignIn{Program: testenv.Chromium(t), Headless: true, Timeout: 60 * time.Second, Prepare: prepare}}},
				STS:     federation.NewSTSClient("us-east-1", srv.URL, hc),
				Files:   federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")},
			}
			out, err := bl.Run(context.Background(), "all", nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Written) != 3 {
				t.Fatalf("written %+v", out.Written)
			}
			if factor == "push" {
				select {
				case <-sawNumber:
				default:
					t.Error("the page never showed the number to tap")
				}
			}
			if sid, _, _ := sessions.LoadSession(context.Background(), "default"); sid == "" {
				t.Error("no session saved")
			}
		})
	}
}
