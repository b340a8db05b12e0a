package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// attackerKeys serves a JWK Set over plain http on loopback: the place a
// hostile redirect sends the verifier. It counts the fetches that reach
// it, which must stay at zero whenever the redirect is refused.
func attackerKeys(t *testing.T, tls bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	k := keys(t)
	var hits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/keys":
			_, _ = w.Write([]byte(jwksOf(jwk(&k.rsa2.PublicKey, "evil", RS256))))
		case "/introspect":
			fmt.Fprintf(w, `{"active":true,"sub":"mallory","aud":%q,"exp":%d}`, testAud, testNow.Unix()+3600)
		default:
			http.NotFound(w, r)
		}
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, &hits
}

// redirector answers every request with a redirect to target+path.
func redirector(t *testing.T, code int, target func(r *http.Request) string) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target(r), code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// resolveAll is the TLS test client with every host name dialled on the
// loopback address, so that names under example.com (which the test
// certificate covers) reach the local servers.
func resolveAll(srv *httptest.Server) *http.Client {
	c := srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func TestRedirectThatDropsTLSIsRefused(t *testing.T) {
	k := keys(t)
	evil, evilHits := attackerKeys(t, false)
	for _, code := range []int{http.StatusFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			before := evilHits.Load()
			front := redirector(t, code, func(*http.Request) string { return evil.URL + "/keys" })
			pc := Okta("ignored.okta.com", "default")
			pc.BaseURL = front.URL
			// Even a provider that lists the target host may not drop TLS.
			pc.RedirectHosts = []string{"127.0.0.1"}
			v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{testAud}},
				Clock: clock.NewFake(testNow), HTTPClient: front.Client()})
			if err != nil {
				t.Fatal(err)
			}
			c := baseClaims()
			c["iss"] = front.URL + "/oauth2/default"
			_, err = v.Verify(context.Background(), mint(t, RS256, k.rsa2, "evil", c))
			if err == nil {
				t.Fatal("token signed by a key served over plain http after a redirect was accepted")
			}
			if !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, ErrRedirectRefused) || !strings.Contains(err.Error(), "drops TLS") {
				t.Fatalf("err = %v; want keys unavailable because the redirect drops TLS", err)
			}
			if n := evilHits.Load() - before; n != 0 {
				t.Fatalf("the plain-http server was reached %d times", n)
			}
		})
	}
}

func TestRedirectHostRules(t *testing.T) {
	k := keys(t)
	good := jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256))
	// One TLS server holds the keys at /real/keys and redirects the
	// configured path, either on its own host or to keys.example.com
	// (same listener, another name).
	var toHost atomic.Value
	toHost.Store("")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/real/keys":
			_, _ = w.Write([]byte(good))
		case "/oauth2/default/v1/keys":
			host := toHost.Load().(string)
			_, port, _ := net.SplitHostPort(r.Host)
			if host == "" {
				host = "127.0.0.1"
			}
			http.Redirect(w, r, "https://"+net.JoinHostPort(host, port)+"/real/keys", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	mk := func(hosts ...string) *Verifier {
		pc := Okta("ignored.okta.com", "default")
		pc.BaseURL = srv.URL
		pc.RedirectHosts = hosts
		v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{testAud}},
			Clock: clock.NewFake(testNow), HTTPClient: resolveAll(srv)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := baseClaims()
	c["iss"] = srv.URL + "/oauth2/default"
	tok := mint(t, RS256, k.rsa, "k1", c)
	ctx := context.Background()

	// Same host, https to https: followed.
	if _, err := mk().Verify(ctx, tok); err != nil {
		t.Fatalf("same-host redirect: %v", err)
	}
	// Another host: refused unless configured.
	toHost.Store("keys.example.com")
	_, err := mk().Verify(ctx, tok)
	if !errors.Is(err, ErrRedirectRefused) || !strings.Contains(err.Error(), "redirect_hosts") {
		t.Fatalf("cross-host redirect: err = %v", err)
	}
	if _, err := mk("KEYS.example.com").Verify(ctx, tok); err != nil {
		t.Fatalf("cross-host redirect to a listed host: %v", err)
	}
}

func TestRedirectLoopIsBounded(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, fmt.Sprintf("/hop%d", hits.Load()), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	_, err := FetchKeySet(context.Background(), srv.Client(), srv.URL+"/keys")
	if !errors.Is(err, ErrRedirectRefused) {
		t.Fatalf("err = %v", err)
	}
	if hits.Load() > maxRedirects {
		t.Fatalf("%d requests for one fetch", hits.Load())
	}
}

func TestDiscoveryAndIntrospectionRedirectsDropTLS(t *testing.T) {
	k := keys(t)
	evil, evilHits := attackerKeys(t, false)
	ctx := context.Background()

	// Discovery: the document itself is served after a TLS-dropping
	// redirect, and names the attacker's keys.
	evilDoc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		fmt.Fprintf(w, `{"issuer":"https://issuer.example","jwks_uri":%q}`, evil.URL+"/keys")
	}))
	t.Cleanup(evilDoc.Close)
	front := redirector(t, http.StatusFound, func(*http.Request) string { return evilDoc.URL + "/.well-known/openid-configuration" })
	pc := OIDC("https://issuer.example")
	pc.DiscoveryURL = front.URL + "/.well-known/openid-configuration"
	v, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{Audiences: []string{testAud}}, Clock: clock.NewFake(testNow), HTTPClient: front.Client()})
	if err != nil {
		t.Fatal(err)
	}
	c := baseClaims()
	c["iss"] = "https://issuer.example"
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa2, "evil", c)); !errors.Is(err, ErrRedirectRefused) {
		t.Fatalf("discovery: err = %v", err)
	}

	// Introspection: a 307 keeps the POST (and the token in its body),
	// so following it would hand the token to the plain-http host.
	front307 := redirector(t, http.StatusTemporaryRedirect, func(*http.Request) string { return evil.URL + "/introspect" })
	ipc := Introspection(front307.URL+"/introspect", "client", "s3cret")
	ipc.AcceptOpaque = true
	iv, err := New(Config{Providers: []ProviderConfig{ipc}, Policy: Policy{Audiences: []string{testAud}}, Clock: clock.NewFake(testNow), HTTPClient: front307.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iv.Verify(ctx, "opaque-token"); !errors.Is(err, ErrRedirectRefused) || !strings.Contains(err.Error(), "drops TLS") {
		t.Fatalf("introspection: err = %v", err)
	}
	if n := evilHits.Load(); n != 0 {
		t.Fatalf("the plain-http servers were reached %d times", n)
	}
}

func TestFetchKeySet(t *testing.T) {
	k := keys(t)
	evil, _ := attackerKeys(t, false)
	front := redirector(t, http.StatusFound, func(*http.Request) string { return evil.URL + "/keys" })
	if _, err := FetchKeySet(context.Background(), front.Client(), front.URL+"/keys"); !errors.Is(err, ErrRedirectRefused) {
		t.Fatalf("TLS-dropping redirect: err = %v", err)
	}
	// A caller's own CheckRedirect still runs, and can only refuse more.
	ok := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys" {
			http.Redirect(w, r, "/keys", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte(jwksOf(jwk(&k.rsa.PublicKey, "k1", RS256))))
	}))
	t.Cleanup(ok.Close)
	if _, err := FetchKeySet(context.Background(), ok.Client(), ok.URL+"/old"); err != nil {
		t.Fatalf("same-host redirect: %v", err)
	}
	strict := ok.Client()
	strict.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("no redirects here") }
	if _, err := FetchKeySet(context.Background(), strict, ok.URL+"/old"); err == nil || !strings.Contains(err.Error(), "no redirects here") {
		t.Fatalf("caller's CheckRedirect skipped: %v", err)
	}
	if _, err := FetchKeySet(context.Background(), nil, "http://keys.example.com/keys"); err == nil {
		t.Fatal("plain http to a public host accepted")
	}
}

// TestDiscoveryOverTLSNamesPlainHTTP: a metadata document served over
// https whose jwks_uri is plain http (even on loopback) is refused, since
// following it drops TLS as a redirect would.
func TestDiscoveryOverTLSNamesPlainHTTP(t *testing.T) {
	k := keys(t)
	evil, evilHits := attackerKeys(t, false)
	var iss string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss, evil.URL+"/keys")
	}))
	t.Cleanup(srv.Close)
	iss = srv.URL
	v, err := New(Config{Providers: []ProviderConfig{OIDC(iss)}, Policy: Policy{Audiences: []string{testAud}}, Clock: clock.NewFake(testNow), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), mint(t, RS256, k.rsa2, "evil", with(baseClaims(), "iss", iss)))
	if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "must use https") {
		t.Fatalf("err = %v", err)
	}
	if evilHits.Load() != 0 {
		t.Fatal("plain-http jwks_uri fetched")
	}
}
