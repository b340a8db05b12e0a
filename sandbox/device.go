package sandbox

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/sandbox/internal/authserver"
	"github.com/oktafed/oktafed/sandbox/internal/identitycenter"
	"github.com/oktafed/oktafed/sandbox/internal/org"
)

// wireDevices lets the org's /activate page confirm the device codes of
// the authorization servers and of Identity Center, and its
// /login/token/sso page redeem the servers' web SSO tokens. The parts meet
// only through these narrow functions, as separate services would.
func wireDevices(o *org.Org, oauth *authserver.Servers, sso *identitycenter.Service) {
	o.AddDeviceApprover(func(code string, u *org.User, approve bool) (string, bool, error) {
		id := &authserver.Identity{ID: u.ID, Login: u.Login, Email: u.Email, Name: u.FirstName + " " + u.LastName, Groups: u.Groups}
		client, err := oauth.ApproveDevice(code, id, approve)
		if errors.Is(err, authserver.ErrUnknownUserCode) {
			return "", false, nil
		}
		return client, true, err
	})
	o.AddDeviceApprover(func(code string, u *org.User, approve bool) (string, bool, error) {
		client, err := sso.ApproveDevice(code, &identitycenter.User{ID: u.ID, Login: u.Login, Groups: u.Groups}, approve)
		if errors.Is(err, identitycenter.ErrUnknownUserCode) {
			return "", false, nil
		}
		return client, true, err
	})
	o.SetWebSSORedeemer(func(token string) (org.WebSSOGrant, bool) {
		g, ok := oauth.RedeemWebSSOToken(token)
		if !ok {
			return org.WebSSOGrant{}, false
		}
		return org.WebSSOGrant{Login: g.Login, AppID: g.AppID, AMR: g.AMR, AuthTime: g.AuthTime}, true
	})
}

// ActivateDevice does what a person does in a browser for a device
// sign-in: it opens the org's /activate page for userCode, signs in
// through the HTML forms with login, password and (when the org asks for
// MFA) a TOTP code from totpSecret, and approves (or denies) the code. It
// is for tests of device-flow clients that run without a browser.
func (s *Server) ActivateDevice(ctx context.Context, login, password, totpSecret, userCode string, approve bool) error {
	// Like a person's browser, each login keeps its cookies between calls,
	// so a second activation within the Okta session skips the sign-in
	// (and a TOTP code cannot be replayed).
	v, _ := browsers.LoadOrStore(browserKey{s, strings.ToLower(login)}, newBrowserJar())
	hc := &http.Client{Jar: v.(http.CookieJar), Timeout: 30 * time.Second}
	get := func(path string) (*http.Response, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
		if err != nil {
			return nil, "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(body), nil
	}
	post := func(path string, form url.Values) (*http.Response, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(body), nil
	}
	from := "/activate?user_code=" + url.QueryEscape(userCode)
	resp, body, err := get(from)
	if err != nil {
		return err
	}
	if !strings.Contains(body, `id="activate"`) {
		resp, body, err = post("/login/signin", url.Values{"username": {login}, "password": {password}, "fromURI": {from}})
		if err != nil {
			return err
		}
	}
	if strings.Contains(body, `name="stateToken"`) {
		m := regexp.MustCompile(`name="stateToken" value="([^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			return errors.New("sandbox: the MFA page has no stateToken")
		}
		code, err := totp.GenerateCode(totpSecret, s.clock.Now())
		if err != nil {
			return fmt.Errorf("sandbox: TOTP code: %w", err)
		}
		resp, body, err = post("/login/signin/verify", url.Values{"stateToken": {html.UnescapeString(m[1])}, "passcode": {code}, "fromURI": {from}})
		if err != nil {
			return err
		}
	}
	if !strings.Contains(body, `id="activate"`) {
		return fmt.Errorf("sandbox: sign-in did not reach the activation page (HTTP %d)", resp.StatusCode)
	}
	action := "approve"
	if !approve {
		action = "deny"
	}
	resp, body, err = post("/activate", url.Values{"user_code": {userCode}, "action": {action}})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="result"`) {
		return fmt.Errorf("sandbox: the activation page refused the code (HTTP %d)", resp.StatusCode)
	}
	return nil
}

type browserKey struct {
	s     *Server
	login string
}

// browsers are the cookie jars of ActivateDevice, one per server and login.
var browsers sync.Map

func newBrowserJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}
