// Package browser signs a person in to Okta in their own Chromium-family
// browser (Chrome, Chromium, Edge, Brave) over the DevTools protocol, as a
// federation.AssertionSource for orgs and factors Okta's APIs cannot serve
// (security keys, Touch ID, Windows Hello, FastPass, Duo, any sign-on
// policy). It is apart from federation so that programs using federation,
// awsauth, secrets or dbauth do not link a browser driver: only the CLI
// imports it.
package browser

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/oktafed/oktafed/federation"
)

// Browser sign-in: the person signs in to Okta in their own Chrome,
// Chromium, Edge or Brave, with whatever the org asks (password, security
// key, Touch ID, Windows Hello, FastPass, Duo), and oktafed watches over
// the DevTools protocol for the one thing it needs: the AWS app's
// SAMLResponse as the app page posts it to the AWS sign-in URL. That
// request is stopped in the browser (Fetch domain interception) and never
// reaches AWS; the Okta session cookie is read from the browser's cookie
// store so later logins and refreshes are silent. The browser runs with a
// temporary profile that is removed afterwards, so nothing of the
// person's own profile is read or changed.

// Errors of a browser sign-in; match them with errors.Is.
var (
	// ErrNoBrowser means no supported browser was found.
	ErrNoBrowser = errors.New("no Chrome, Chromium, Edge or Brave browser found")
	// ErrClosed means the window closed before the sign-in ended.
	ErrClosed = errors.New("the browser window was closed before the sign-in finished: sign in again and complete it in the window")
	// ErrTimeout means the sign-in did not end in time.
	ErrTimeout = errors.New("the browser sign-in did not finish in time")
	// ErrNoDisplay means a browser window could not be seen here: no
	// graphical display, or an ssh session whose window would open on the
	// far machine's screen.
	ErrNoDisplay = errors.New("no display for a browser window")
)

// DisplayProblem reports why a browser window opened by this process
// could not be seen by the person at the keyboard, or nil when it can:
// on Linux and the BSDs one of DISPLAY or WAYLAND_DISPLAY must be set
// (ssh -X sets DISPLAY); on macOS and Windows an ssh session
// (SSH_CONNECTION) would open the window on the far machine's screen.
func DisplayProblem(goos string, getenv func(string) string) error {
	ssh := getenv("SSH_CONNECTION") != "" || getenv("SSH_TTY") != ""
	switch goos {
	case "darwin", "windows":
		if ssh {
			return fmt.Errorf("%w: this is an ssh session (SSH_CONNECTION is set), so a browser would open on the far machine's screen", ErrNoDisplay)
		}
		return nil
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		if ssh {
			return fmt.Errorf("%w: this is an ssh session without a forwarded display (DISPLAY and WAYLAND_DISPLAY are unset)", ErrNoDisplay)
		}
		return fmt.Errorf("%w: DISPLAY and WAYLAND_DISPLAY are unset", ErrNoDisplay)
	}
	return nil
}

// Check reports, before anything starts, why this sign-in cannot work
// here: no browser program, or (unless Headless) no display to show its
// window on. It returns the browser program it would run.
func (b *SignIn) Check() (string, error) {
	getenv := b.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	bin := b.Program
	var err error
	if bin != "" {
		if bin, err = exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("%w at %s: %v", ErrNoBrowser, b.Program, err)
		}
	} else if bin, err = Find(getenv); err != nil {
		return "", err
	}
	if !b.Headless {
		if err := DisplayProblem(runtime.GOOS, getenv); err != nil {
			return "", err
		}
	}
	return bin, nil
}

// Env names the browser program for browser sign-in (a path, or a name
// looked up in PATH).
const Env = "OKTAFED_BROWSER"

// DefaultTimeout is how long a browser sign-in may take.
const DefaultTimeout = 5 * time.Minute

// SignIn runs a browser sign-in and captures what the AWS app posts.
type SignIn struct {
	// Program is the browser to run; Find's answer when empty.
	Program string
	// Headless runs without a window. Only for tests and automation that
	// drive the page themselves through Prepare: a person needs a window.
	Headless bool
	// Timeout bounds the sign-in; DefaultTimeout when zero.
	Timeout time.Duration
	// Show tells the person where to finish signing in; it is called once
	// the window is open.
	Show func(url string)
	// Prepare, when set, runs once the tab exists and before the sign-in
	// page loads. ctx is a chromedp context of the tab: tests add a
	// virtual authenticator and fill in the form through it.
	Prepare func(ctx context.Context) error
	// ACSURLs are further URLs whose SAMLResponse posts are captured, for
	// an AWS app whose ACS URL is not one of AWS's sign-in endpoints.
	ACSURLs []string
	// Getenv reads Env; os.Getenv when nil.
	Getenv func(string) string
}

// Result is what a browser sign-in captured: the SAML form and the Okta
// session cookie (federation.Captured), and where the page posted.
type Result struct {
	federation.Captured
	// PostedTo is the URL the page posted to (and that never saw it).
	PostedTo string
}

// maxSAMLPost caps the captured form: real SAML responses are a few
// kilobytes, and the page that posts it is not trusted.
const maxSAMLPost = 1 << 20

// Run opens appURL (the AWS app's embed link) in a new browser and returns
// the SAML response its page posts to AWS.
func (b *SignIn) Run(ctx context.Context, appURL string) (*Result, error) {
	app, err := url.Parse(appURL)
	if err != nil || app.Host == "" || (app.Scheme != "https" && app.Scheme != "http") {
		return nil, fmt.Errorf("the AWS app link %q is not an absolute http(s) URL: give the app's embed link", appURL)
	}
	bin, err := b.Check()
	if err != nil {
		return nil, err
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Keep the temporary profile from calling home on its own.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	if b.Headless {
		opts = append(opts, chromedp.Headless, chromedp.DisableGPU)
	} else {
		opts = append(opts, chromedp.Flag("new-window", true))
	}
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		// Chromium's sandbox refuses to start as root.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()

	captured := make(chan *Result, 1)
	failed := make(chan error, 1)
	if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*", ResourceType: network.ResourceTypeDocument}}}); err != nil {
		return nil, fmt.Errorf("start the browser %s: %w", bin, err)
	}
	paused := chromedp.Events(tab, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			res, capture := b.capture(&ev)
			if !capture {
				_, _ = chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			// Never let the assertion reach AWS: the browser shows an
			// error page for a moment, then closes.
			_, _ = chromedp.Call(tab, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
			if res == nil {
				select {
				case failed <- errors.New("the AWS app posted a SAML form oktafed could not read (larger than 1 MiB or without a SAMLResponse)"):
				default:
				}
				return
			}
			select {
			case captured <- res:
			default:
			}
			return
		}
	}()
	detached, err := chromedp.Detached(tab)
	if err != nil {
		return nil, err
	}
	lost := chromedp.FromContext(tab).Browser.LostConnection
	if b.Prepare != nil {
		if err := b.Prepare(tab); err != nil {
			return nil, fmt.Errorf("prepare the browser: %w", err)
		}
	}
	// Page.navigate without waiting for the load: with a live session the
	// app page posts at once, and that navigation is the one stopped.
	if _, err := chromedp.Call(tab, page.Navigate, page.NavigateParams{URL: appURL}); err != nil {
		return nil, fmt.Errorf("open %s in the browser: %w", appURL, err)
	}
	if b.Show != nil {
		b.Show(appURL)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case res := <-captured:
		org := app.Scheme + "://" + app.Host + "/"
		cookies, err := chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{org}})
		if err == nil {
			for _, c := range cookies.Cookies {
				if c.Name == "sid" && c.Value != "" {
					res.SID = secret.New(c.Value)
					if !c.Session && c.Expires > 0 {
						res.SIDExpires = time.Unix(int64(c.Expires), 0)
					}
				}
			}
		}
		return res, nil
	case err := <-failed:
		return nil, err
	case <-detached:
		return nil, ErrClosed
	case <-lost:
		return nil, ErrClosed
	case <-timer.C:
		return nil, fmt.Errorf("%w: nothing came back within %s%s; sign in again, or allow longer", ErrTimeout, timeout, pageSays(tab))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pageSays reads the alert the sign-in page shows, if any, for the error
// of a sign-in that did not finish.
func pageSays(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 3*time.Second)
	defer cancel()
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){var e=document.querySelector('[role=alert]');return e?e.textContent.trim():""})()`))
	if err != nil || msg == "" {
		return ""
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return fmt.Sprintf(" (the page says: %q)", msg)
}

// capture reports whether a paused request is the SAML post to AWS, and
// reads it (nil when it cannot be read).
func (b *SignIn) capture(ev *fetch.EventRequestPaused) (*Result, bool) {
	r := ev.Request
	if r == nil || r.Method != "POST" || !b.isACS(r.URL) {
		return nil, false
	}
	var body []byte
	for _, e := range r.PostDataEntries {
		if len(body)+len(e.Bytes) > maxSAMLPost {
			return nil, true
		}
		body = append(body, e.Bytes...)
	}
	resp, relay, err := parseSAMLPost(body)
	if err != nil {
		return nil, true
	}
	return &Result{Captured: federation.Captured{SAMLResponse: secret.New(resp), RelayState: relay}, PostedTo: r.URL}, true
}

// isACS reports whether raw is an AWS sign-in SAML endpoint (any
// partition or region) or one of ACSURLs.
func (b *SignIn) isACS(raw string) bool {
	for _, a := range b.ACSURLs {
		if raw == a {
			return true
		}
	}
	return isAWSSignInURL(raw)
}

// isAWSSignInURL reports whether raw is where AWS takes SAML responses:
// https://signin.aws.amazon.com/saml, its regional forms
// (https://<region>.signin.aws.amazon.com/saml) and the GovCloud and China
// partitions' sign-in hosts.
func isAWSSignInURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" {
		return false
	}
	if strings.TrimSuffix(u.Path, "/") != "/saml" {
		return false
	}
	h := strings.ToLower(u.Hostname())
	switch {
	case h == "signin.aws.amazon.com", h == "signin.amazonaws-us-gov.com", h == "signin.amazonaws.cn":
		return true
	case strings.HasSuffix(h, ".signin.aws.amazon.com"):
		region := strings.TrimSuffix(h, ".signin.aws.amazon.com")
		return region != "" && !strings.Contains(region, ".")
	}
	return false
}

// parseSAMLPost reads the form body (application/x-www-form-urlencoded)
// the AWS app page posts: exactly one non-empty SAMLResponse and at most
// one RelayState. The body comes from a web page, so it is size-capped
// and parsed strictly.
func parseSAMLPost(body []byte) (samlResponse, relayState string, err error) {
	if len(body) > maxSAMLPost {
		return "", "", errors.New("the SAML form is larger than 1 MiB")
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return "", "", fmt.Errorf("the SAML form is not URL-encoded: %w", err)
	}
	resp := v["SAMLResponse"]
	if len(resp) != 1 || strings.TrimSpace(resp[0]) == "" {
		return "", "", errors.New("the SAML form has no single SAMLResponse")
	}
	if len(v["RelayState"]) > 1 {
		return "", "", errors.New("the SAML form has more than one RelayState")
	}
	return strings.TrimSpace(resp[0]), v.Get("RelayState"), nil
}

// Find returns the Chromium-family browser to sign in with: the program
// Env names, else the first of Chrome, Chromium, Edge and
// Brave installed in the usual places. It never downloads one.
func Find(getenv func(string) string) (string, error) {
	if name := strings.TrimSpace(getenv(Env)); name != "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w (give the full path of Chrome, Chromium, Edge or Brave)", Env, name, err)
		}
		return p, nil
	}
	for _, c := range browserCandidates(runtime.GOOS, getenv) {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: install one, or name its program in %s", ErrNoBrowser, Env)
}

// browserCandidates lists names and paths to try, in order, on goos.
func browserCandidates(goos string, getenv func(string) string) []string {
	switch goos {
	case "darwin":
		var out []string
		for _, app := range []string{"Google Chrome", "Chromium", "Microsoft Edge", "Brave Browser"} {
			out = append(out, "/Applications/"+app+".app/Contents/MacOS/"+app)
			if home := getenv("HOME"); home != "" {
				out = append(out, filepath.Join(home, "Applications", app+".app", "Contents", "MacOS", app))
			}
		}
		return out
	case "windows":
		var out []string
		for _, root := range []string{getenv("ProgramFiles"), getenv("ProgramFiles(x86)"), getenv("LOCALAPPDATA")} {
			if root == "" {
				continue
			}
			out = append(out,
				filepath.Join(root, `Google\Chrome\Application\chrome.exe`),
				filepath.Join(root, `Microsoft\Edge\Application\msedge.exe`),
				filepath.Join(root, `BraveSoftware\Brave-Browser\Application\brave.exe`),
				filepath.Join(root, `Chromium\Application\chrome.exe`))
		}
		return append(out, "chrome.exe", "msedge.exe", "brave.exe")
	default:
		return []string{"google-chrome", "google-chrome-stable", "chromium", "chromium-browser", "microsoft-edge", "microsoft-edge-stable", "brave-browser", "brave"}
	}
}
