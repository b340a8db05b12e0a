package verify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/oktafed/oktafed/internal/netaddr"
)

// discoveryDoc holds the members of an OpenID Provider / RFC 8414
// metadata document that the verifier uses.
type discoveryDoc struct {
	Issuer                string
	JWKSURI               string
	IntrospectionEndpoint string
}

// parseDiscovery reads a metadata document strictly. Only string members
// the verifier uses are type-checked; the rest must merely be valid JSON.
func parseDiscovery(body string) (*discoveryDoc, error) {
	d := &discoveryDoc{}
	err := parseObject(body, func(key string, v jsonValue) error {
		var err error
		switch key {
		case "issuer":
			d.Issuer, err = stringValue(key, v)
		case "jwks_uri":
			d.JWKSURI, err = stringValue(key, v)
		case "introspection_endpoint":
			d.IntrospectionEndpoint, err = stringValue(key, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if d.Issuer == "" {
		return nil, errors.New("discovery document has no issuer")
	}
	return d, nil
}

// discovery fetches and caches one metadata document.
type discovery struct {
	url    string
	issuer string // expected; "" skips the check (introspection-only use)
	f      *fetcher

	mu  sync.Mutex
	doc *discoveryDoc
}

func (d *discovery) get(ctx context.Context) (*discoveryDoc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.doc != nil {
		return d.doc, nil
	}
	body, _, err := d.f.get(ctx, d.url, nil)
	if err != nil {
		return nil, err
	}
	doc, err := parseDiscovery(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.url, err)
	}
	// OpenID Connect Discovery section 4.3 and RFC 8414 section 3.3: the
	// issuer in the document must be exactly the one configured, or a
	// document served elsewhere could redirect key trust.
	if d.issuer != "" && doc.Issuer != d.issuer {
		return nil, fmt.Errorf("%s: discovery issuer %q does not match the configured issuer %q", d.url, doc.Issuer, d.issuer)
	}
	// A document fetched over TLS must not send the key or
	// introspection fetch over plain http: that would drop TLS as a
	// redirect would, one step removed.
	if strings.HasPrefix(d.url, "https://") {
		for _, u := range []string{doc.JWKSURI, doc.IntrospectionEndpoint} {
			if u != "" && !strings.HasPrefix(strings.ToLower(u), "https://") {
				return nil, fmt.Errorf("%s: the document, served over https, names %q; its endpoints must use https too", d.url, u)
			}
		}
	}
	d.doc = doc
	return doc, nil
}

// forget drops the cached document so the next use fetches it again.
func (d *discovery) forget() {
	d.mu.Lock()
	d.doc = nil
	d.mu.Unlock()
}

func (d *discovery) jwksURI(ctx context.Context) (string, error) {
	doc, err := d.get(ctx)
	if err != nil {
		return "", err
	}
	if doc.JWKSURI == "" {
		return "", errors.New("discovery document has no jwks_uri")
	}
	return doc.JWKSURI, nil
}

// checkURL allows https anywhere and plain http only to loopback hosts,
// which is where test servers and the sandbox live.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if netaddr.IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s: plain http is allowed only to loopback hosts; use https", u.Redacted())
	}
	return fmt.Errorf("%q: URL scheme must be https", raw)
}
