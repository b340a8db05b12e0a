// Package okta is a client for Okta's Classic Authentication API
// (/api/v1/authn), the Sessions API and the AWS SAML app's sign-on page:
// everything between a username and password and the HTML page that holds
// the AWS SAMLResponse.
//
// The package talks to no terminal. Everything interactive (choosing an MFA
// factor, typing a code, showing a push number) goes through the callbacks
// of MFA. Passwords, passcodes, state and session tokens and cookies never
// appear in errors or logs.
package okta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/netaddr"
)

// Defaults for the zero values of Client's fields.
const (
	DefaultPollInterval     = 2 * time.Second
	DefaultMaxRateLimitWait = 60 * time.Second
	DefaultUserAgent        = "oktafed"
	// maxBody caps what is read from any response; Okta's JSON answers
	// are a few kilobytes and SAML pages a few hundred.
	maxBody = 4 << 20
	// maxRetries bounds how often one request is retried after a 429.
	maxRetries = 3
)

// Client talks to one Okta org. The zero value of every field but BaseURL
// is usable. A Client is safe for concurrent use once configured.
type Client struct {
	// BaseURL is the org, e.g. https://example.okta.com. It must be https
	// unless the host is a loopback address (the sandbox, tests).
	BaseURL string
	// HTTPClient sends requests; nil means one with a 30 s timeout. Its
	// cookie jar and redirect policy are not used: this package handles
	// the sid cookie and redirects itself.
	HTTPClient *http.Client
	// Clock tells time for TOTP windows and rate-limit resets: any value
	// with a Now method; one with After(time.Duration) <-chan time.Time
	// also paces the waits. The wall clock when nil.
	Clock interface{ Now() time.Time }
	// Sleep waits for d or until ctx is done. nil waits on Clock (see
	// clock.Sleep): a real timer, or a fake clock's in tests.
	Sleep func(ctx context.Context, d time.Duration) error
	// UserAgent is sent with every request; DefaultUserAgent when empty.
	UserAgent string
	// PollInterval is the wait between push polls; DefaultPollInterval when
	// zero. Okta asks clients not to poll faster than once a second.
	PollInterval time.Duration
	// MaxRateLimitWait is the longest a 429 is waited out before giving up
	// with ErrRateLimited; DefaultMaxRateLimitWait when zero.
	MaxRateLimitWait time.Duration
	// Logger gets debug lines with method, path (never the query) and
	// status. nil means no logging.
	Logger *slog.Logger
}

func (c *Client) clock() clock.Clock { return clock.Or(c.Clock) }

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	return clock.Sleep(ctx, c.clock(), d)
}

func (c *Client) pollInterval() time.Duration {
	if c.PollInterval > 0 {
		return c.PollInterval
	}
	return DefaultPollInterval
}

// httpClient returns a client that does not follow redirects and keeps no
// cookies, sharing the configured transport.
func (c *Client) httpClient() *http.Client {
	var hc http.Client
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	} else {
		hc.Timeout = 30 * time.Second
	}
	hc.Jar = nil
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// base parses and checks BaseURL.
func (c *Client) base() (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(c.BaseURL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("okta: org URL %q is not an absolute URL such as https://example.okta.com", c.BaseURL)
	}
	if u.Scheme == "http" && !netaddr.IsLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("okta: org URL %q must use https (plain http is allowed only for loopback addresses)", c.BaseURL)
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// resolve turns a path or an absolute link from a response into a URL on
// the org. Links elsewhere are refused so a tampered response cannot make
// the client send a stateToken or cookie to another host.
func (c *Client) resolve(ref string) (*url.URL, error) {
	base, err := c.base()
	if err != nil {
		return nil, err
	}
	u, err := base.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("okta: bad link in response: %w", err)
	}
	if u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) {
		return nil, fmt.Errorf("okta: refusing to follow a link to %s://%s, which is not the org %s", u.Scheme, u.Host, base.Host)
	}
	return u, nil
}

// request is one HTTP exchange as the helpers describe it.
type request struct {
	method string
	url    *url.URL
	body   any        // marshalled as JSON when not nil
	form   url.Values // sent as a form body when not nil (and body is nil)
	sid    string     // sent as the sid cookie when not empty
	accept string     // default application/json
	// noRetry returns 429s at once instead of waiting them out, for
	// requests where the user is better told than kept waiting.
	noRetry bool
}

// send performs req, waiting out 429s. The caller closes the body.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	var payload []byte
	contentType := "application/json"
	switch {
	case req.body != nil:
		var err error
		if payload, err = json.Marshal(req.body); err != nil {
			return nil, fmt.Errorf("okta: encode request: %w", err)
		}
	case req.form != nil:
		payload = []byte(req.form.Encode())
		contentType = "application/x-www-form-urlencoded"
	}
	hc := c.httpClient()
	for attempt := 0; ; attempt++ {
		hr, err := http.NewRequestWithContext(ctx, req.method, req.url.String(), bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("okta: %s %s: %w", req.method, req.url.Path, err)
		}
		if payload != nil {
			hr.Header.Set("Content-Type", contentType)
		}
		accept := req.accept
		if accept == "" {
			accept = "application/json"
		}
		hr.Header.Set("Accept", accept)
		ua := c.UserAgent
		if ua == "" {
			ua = DefaultUserAgent
		}
		hr.Header.Set("User-Agent", ua)
		if req.sid != "" {
			hr.AddCookie(&http.Cookie{Name: "sid", Value: req.sid})
		}
		resp, err := hc.Do(hr)
		if err != nil {
			return nil, redactURLError(err)
		}
		if c.Logger != nil {
			c.Logger.LogAttrs(ctx, slog.LevelDebug, "okta request", slog.String("method", req.method), slog.String("path", req.url.Path), slog.Int("status", resp.StatusCode))
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			return resp, nil
		}
		wait, resetAt := c.rateLimitWait(resp.Header, attempt)
		if req.noRetry || attempt >= maxRetries || wait > c.maxRateLimitWait() {
			err := errorFrom(resp)
			resp.Body.Close()
			var oe *Error
			if errors.As(err, &oe) {
				oe.RetryAt = resetAt
			}
			return nil, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if c.Logger != nil {
			c.Logger.LogAttrs(ctx, slog.LevelDebug, "okta rate limit; waiting", slog.Duration("wait", wait))
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (c *Client) maxRateLimitWait() time.Duration {
	if c.MaxRateLimitWait > 0 {
		return c.MaxRateLimitWait
	}
	return DefaultMaxRateLimitWait
}

// rateLimitWait reads X-Rate-Limit-Reset (Unix seconds when the window
// resets). Without it, back off 1 s, 2 s, 4 s. A second of slack covers
// clock skew between here and Okta.
func (c *Client) rateLimitWait(h http.Header, attempt int) (time.Duration, time.Time) {
	if v := h.Get("X-Rate-Limit-Reset"); v != "" {
		if secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && secs > 0 {
			reset := time.Unix(secs, 0)
			wait := reset.Sub(c.clock().Now()) + time.Second
			if wait < time.Second {
				wait = time.Second
			}
			return wait, reset
		}
	}
	wait := time.Second << attempt
	return wait, c.clock().Now().Add(wait)
}

// redactURLError drops the query from a transport error's URL: queries
// carry one-time tokens.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.Fragment, u.User = "", "", nil
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
		return &url.Error{Op: ue.Op, URL: "(url)", Err: ue.Err}
	}
	return err
}

// errorBody is Okta's error JSON.
type errorBody struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorID      string `json:"errorId"`
	ErrorCauses  []struct {
		ErrorSummary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

// errorFrom turns a non-2xx response into an *Error. Bodies that are not
// Okta JSON (a proxy's page, say) give an Error with just the status: their
// text is not shown, since it could echo anything.
func errorFrom(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return parseError(resp.StatusCode, data)
}

func parseError(status int, data []byte) *Error {
	e := &Error{Status: status}
	var b errorBody
	if json.Unmarshal(data, &b) == nil {
		e.Code = clean(b.ErrorCode, 32)
		e.Summary = clean(b.ErrorSummary, 300)
		e.ID = clean(b.ErrorID, 64)
		for i, c := range b.ErrorCauses {
			if i == 5 {
				break
			}
			if s := clean(c.ErrorSummary, 300); s != "" {
				e.Causes = append(e.Causes, s)
			}
		}
	}
	return e
}

// clean keeps server text printable and short before it reaches a terminal.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// doJSON sends req and decodes a 2xx JSON answer into out (when not nil).
func (c *Client) doJSON(ctx context.Context, req request, out any) (*http.Response, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, errorFrom(resp)
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return resp, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return resp, fmt.Errorf("okta: read %s answer: %w", req.url.Path, err)
	}
	if len(data) > maxBody {
		return resp, fmt.Errorf("okta: %s answered with more than %d bytes", req.url.Path, maxBody)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp, fmt.Errorf("okta: %s answered with JSON this client cannot read (%v); is the org URL right?", req.url.Path, err)
	}
	return resp, nil
}
