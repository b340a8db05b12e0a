package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// maxRedirects bounds a redirect chain of one fetch. Issuers redirect
// their key and metadata documents rarely and never more than once or
// twice; a long chain is a loop or an attack.
const maxRedirects = 5

// ErrRedirectRefused is wrapped by the error of a fetch whose redirect
// was not followed.
var ErrRedirectRefused = errors.New("redirect refused")

// redirectHostsKey carries a fetch's extra allowed redirect hosts in its
// request context, so one shared http.Client serves every provider.
type redirectHostsKey struct{}

func withRedirectHosts(ctx context.Context, hosts []string) context.Context {
	if len(hosts) == 0 {
		return ctx
	}
	return context.WithValue(ctx, redirectHostsKey{}, hosts)
}

// checkRedirect is the rule for following a redirect while fetching keys
// and metadata. A key set reached through a redirect is trusted as
// much as the first URL, so a redirect is followed only when it keeps that
// trust: it never drops TLS (https to plain http, whatever the target),
// plain http stays on loopback hosts, and the target host is the host
// the fetch started on unless allowHosts names it (ProviderConfig.
// RedirectHosts). Chains longer than five are refused.
func checkRedirect(req *http.Request, via []*http.Request, allowHosts []string) error {
	if len(via) == 0 {
		return nil
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRedirectRefused, maxRedirects-1)
	}
	to := req.URL
	for _, prev := range via {
		if prev.URL.Scheme == "https" && to.Scheme != "https" {
			return fmt.Errorf("%w: %s redirects to %s, which drops TLS; serve the document over https at its final address", ErrRedirectRefused, via[len(via)-1].URL.Redacted(), to.Redacted())
		}
	}
	if err := checkURL(to.String()); err != nil {
		return fmt.Errorf("%w: %w", ErrRedirectRefused, err)
	}
	from := via[0].URL.Hostname()
	host := to.Hostname()
	if !strings.EqualFold(host, from) && !slices.ContainsFunc(allowHosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		if extra, _ := req.Context().Value(redirectHostsKey{}).([]string); !slices.ContainsFunc(extra, func(h string) bool { return strings.EqualFold(h, host) }) {
			return fmt.Errorf("%w: %s redirects to another host, %s; point the configuration at the final address or list %s in redirect_hosts", ErrRedirectRefused, via[len(via)-1].URL.Redacted(), to.Redacted(), host)
		}
	}
	return nil
}

// guardRedirects returns a shallow copy of c whose redirects pass
// checkRedirect before c's own CheckRedirect (which can only refuse
// more). The copy shares c's transport and its connection pool.
func guardRedirects(c *http.Client) *http.Client {
	cc := *c
	own := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via, nil); err != nil {
			return err
		}
		if own != nil {
			return own(req, via)
		}
		return nil
	}
	return &cc
}

// FetchKeySet downloads a JWK Set document from url with client for tools
// that convert or inspect one (oktafed jwk2pem). It applies the verifier's
// own rules: https (plain http to loopback hosts only), redirects only as
// checkRedirect allows, HTTP 200, at most DefaultMaxJWKSBytes. A nil
// client means one with DefaultFetchTimeout.
func FetchKeySet(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Accept", "application/json")
	resp, err := guardRedirects(client).Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", r.URL.Redacted(), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > DefaultMaxJWKSBytes {
		return nil, fmt.Errorf("%s: response is larger than %d bytes; it is not a key set", r.URL.Redacted(), DefaultMaxJWKSBytes)
	}
	return b, nil
}
