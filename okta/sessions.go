package okta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/internal/saml"
)

// Session is an Okta SSO session. ID is the value of the sid cookie and is
// as good as the user's sign-in: String, GoString and LogValue leave it out.
type Session struct {
	ID                       string
	UserID                   string
	Login                    string
	Status                   string
	CreatedAt                time.Time
	ExpiresAt                time.Time
	LastPasswordVerification time.Time
	LastFactorVerification   time.Time
	AMR                      []string // how the user authenticated: pwd, mfa, sms, ...
	MFAActive                bool
}

// String describes the session without its ID.
func (s *Session) String() string {
	return fmt.Sprintf("okta.Session{Login: %s, Status: %s, ExpiresAt: %s, ID: [redacted]}", s.Login, s.Status, s.ExpiresAt.Format(time.RFC3339))
}

// GoString keeps %#v from printing the ID.
func (s *Session) GoString() string { return s.String() }

// LogValue keeps structured logs from printing the ID.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("login", s.Login), slog.String("status", s.Status), slog.Time("expiresAt", s.ExpiresAt))
}

// sessionJSON is the Sessions API's session object.
type sessionJSON struct {
	ID                       string    `json:"id"`
	UserID                   string    `json:"userId"`
	Login                    string    `json:"login"`
	Status                   string    `json:"status"`
	CreatedAt                time.Time `json:"createdAt"`
	ExpiresAt                time.Time `json:"expiresAt"`
	LastPasswordVerification time.Time `json:"lastPasswordVerification"`
	LastFactorVerification   time.Time `json:"lastFactorVerification"`
	AMR                      []string  `json:"amr"`
	MFAActive                bool      `json:"mfaActive"`
}

func (j sessionJSON) session() *Session {
	return &Session{ID: j.ID, UserID: j.UserID, Login: j.Login, Status: j.Status, CreatedAt: j.CreatedAt, ExpiresAt: j.ExpiresAt,
		LastPasswordVerification: j.LastPasswordVerification, LastFactorVerification: j.LastFactorVerification, AMR: j.AMR, MFAActive: j.MFAActive}
}

// Login authenticates and turns the session token into a session: what a
// login command needs in one call.
func (c *Client) Login(ctx context.Context, username, password string, mfa *MFA) (*Session, *Result, error) {
	res, err := c.Authenticate(ctx, username, password, mfa)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.CreateSession(ctx, res.SessionToken.Reveal())
	if err != nil {
		return nil, res, err
	}
	return s, res, nil
}

// CreateSession redeems a one-time session token for an Okta session. It
// uses /login/sessionCookieRedirect, which needs no API token (unlike POST
// /api/v1/sessions on real orgs), and reads the session back from
// /api/v1/sessions/me.
func (c *Client) CreateSession(ctx context.Context, sessionToken string) (*Session, error) {
	if sessionToken == "" {
		return nil, errors.New("okta: no session token to redeem")
	}
	u, err := c.resolve("/login/sessionCookieRedirect")
	if err != nil {
		return nil, err
	}
	back, _ := c.resolve("/api/v1/sessions/me")
	q := url.Values{"token": {sessionToken}, "redirectUrl": {back.String()}}
	u.RawQuery = q.Encode()
	resp, err := c.send(ctx, request{method: http.MethodGet, url: u, accept: "text/html,application/json"})
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	sid := sidCookie(resp)
	if sid == "" {
		if resp.StatusCode >= 400 {
			return nil, fmt.Errorf("okta: the session token was refused (HTTP %d): it is single-use and expires within minutes; sign in again", resp.StatusCode)
		}
		return nil, errors.New("okta: Okta set no session cookie for the session token; sign in again")
	}
	return c.Session(ctx, sid)
}

// sidCookie returns the sid a response sets, "" if none (or a deletion).
func sidCookie(resp *http.Response) string {
	for _, ck := range resp.Cookies() {
		if ck.Name == "sid" && ck.Value != "" && ck.MaxAge >= 0 {
			return ck.Value
		}
	}
	return ""
}

// Session fetches the session named by sid (GET /api/v1/sessions/me). An
// ended session gives ErrSessionExpired.
func (c *Client) Session(ctx context.Context, sid string) (*Session, error) {
	return c.mySession(ctx, http.MethodGet, "/api/v1/sessions/me", sid)
}

// RefreshSession extends the session's idle lifetime (POST
// /api/v1/sessions/me/lifecycle/refresh). An ended session gives
// ErrSessionExpired.
func (c *Client) RefreshSession(ctx context.Context, sid string) (*Session, error) {
	return c.mySession(ctx, http.MethodPost, "/api/v1/sessions/me/lifecycle/refresh", sid)
}

func (c *Client) mySession(ctx context.Context, method, path, sid string) (*Session, error) {
	if sid == "" {
		return nil, ErrSessionExpired
	}
	u, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	var j sessionJSON
	if _, err := c.doJSON(ctx, request{method: method, url: u, sid: sid}, &j); err != nil {
		return nil, sessionError(err)
	}
	if j.ID == "" {
		// Okta names the session by the same id as the cookie; keep the
		// cookie value when an answer omits it.
		j.ID = sid
	}
	return j.session(), nil
}

// sessionError maps "no such session" answers to ErrSessionExpired.
func sessionError(err error) error {
	var oe *Error
	if errors.As(err, &oe) && (oe.Status == http.StatusNotFound || oe.Status == http.StatusUnauthorized || oe.Code == "E0000005" || oe.Code == "E0000007") {
		return fmt.Errorf("%w [Okta %s]", ErrSessionExpired, oe.Code)
	}
	return err
}

// CloseSession signs the session out (DELETE /api/v1/sessions/me). Closing
// a session that has already ended is not an error.
func (c *Client) CloseSession(ctx context.Context, sid string) error {
	if sid == "" {
		return nil
	}
	u, err := c.resolve("/api/v1/sessions/me")
	if err != nil {
		return err
	}
	_, err = c.doJSON(ctx, request{method: http.MethodDelete, url: u, sid: sid}, nil)
	if err != nil && errors.Is(sessionError(err), ErrSessionExpired) {
		return nil
	}
	return err
}

// AppAuth is how SAMLResponse proves the user: a fresh session token
// (sent as ?onetimetoken=) or an existing session's sid cookie. When both
// are set the session token is used.
type AppAuth struct {
	SessionToken secret.String
	SID          secret.String
}

// AppPage is the AWS app's sign-on page.
type AppPage struct {
	// HTML is the page holding the SAMLResponse form; saml.FromPage reads it.
	HTML []byte
	// SID is the session cookie Okta set while serving the page (it does
	// when redeeming a session token), else the one that was sent.
	SID secret.String
}

// maxRedirects bounds the hops from an app's embed link to its SAML page.
const maxRedirects = 5

// SAMLResponse fetches the SAML sign-on page of the AWS app at appURL (the
// app's embed link, …/home/amazon_aws/<id>/<n>, or its SSO URL,
// …/app/amazon_aws/<id>/sso/saml). Redirects within the org are followed;
// a redirect to the sign-in page, or the sign-in page itself, means the
// session is gone: ErrSessionExpired. Okta error pages (app not assigned,
// …) become errors with the page's message.
func (c *Client) SAMLResponse(ctx context.Context, appURL string, auth AppAuth) (*AppPage, error) {
	u, err := c.resolve(appURL)
	if err != nil {
		return nil, err
	}
	if auth.SessionToken.IsZero() && auth.SID.IsZero() {
		return nil, ErrSessionExpired
	}
	if !auth.SessionToken.IsZero() {
		q := u.Query()
		q.Set("onetimetoken", auth.SessionToken.Reveal())
		u.RawQuery = q.Encode()
	}
	sid := auth.SID
	for hop := 0; ; hop++ {
		resp, err := c.send(ctx, request{method: http.MethodGet, url: u, sid: sid.Reveal(), accept: "text/html"})
		if err != nil {
			return nil, err
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		if s := sidCookie(resp); s != "" {
			sid = secret.New(s)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc := resp.Header.Get("Location")
			next, err := c.resolve(loc)
			if err != nil {
				return nil, fmt.Errorf("okta: the app redirected off the org: %w", err)
			}
			if isSignInPath(next.Path) {
				return nil, ErrSessionExpired
			}
			if hop >= maxRedirects {
				return nil, errors.New("okta: the app page redirected too many times")
			}
			u = next
			continue
		}
		if rerr != nil {
			return nil, fmt.Errorf("okta: read the app page: %w", rerr)
		}
		if len(body) > maxBody {
			return nil, fmt.Errorf("okta: the app page is larger than %d bytes", maxBody)
		}
		if _, err := saml.ParseForm(body); err != nil {
			var pe *saml.PageError
			switch {
			case errors.Is(err, saml.ErrSignInPage):
				return nil, ErrSessionExpired
			case errors.As(err, &pe) && resp.StatusCode == http.StatusNotFound:
				return nil, fmt.Errorf("%w at %s (HTTP 404: %s): check the AWS app's embed link (or app id) in the Okta admin console", ErrAppNotFound, u.Path, pe.Message)
			case errors.As(err, &pe):
				return nil, fmt.Errorf("okta: the AWS app refused (HTTP %d): %s", resp.StatusCode, pe.Message)
			case resp.StatusCode == http.StatusNotFound:
				return nil, fmt.Errorf("%w at %s (HTTP 404): check the AWS app's embed link (or app id) in the Okta admin console", ErrAppNotFound, u.Path)
			case resp.StatusCode >= 400:
				return nil, fmt.Errorf("okta: the AWS app page answered HTTP %d: %w", resp.StatusCode, err)
			}
			return nil, err
		}
		return &AppPage{HTML: body, SID: sid}, nil
	}
}

// isSignInPath reports the org's sign-in pages, where Okta sends requests
// that have no live session.
func isSignInPath(p string) bool {
	p = strings.ToLower(p)
	return strings.HasPrefix(p, "/login/") || strings.HasPrefix(p, "/signin") || p == "/" || strings.HasPrefix(p, "/oauth2/") && strings.Contains(p, "authorize")
}
