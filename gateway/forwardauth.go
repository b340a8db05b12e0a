package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/oktafed/oktafed/guard"
)

// Forward-auth: an ingress (nginx auth_request, Traefik forwardAuth, Envoy
// ext_authz) asks the gateway about a request it is about to proxy itself,
// and copies the identity headers of a 2xx answer upstream. The request is
// described in headers the ingress sets, so those headers are believed
// only from the ingress's own address: anyone else reaching the endpoint
// gets 403, whatever they claim. Every decision goes through decide, the
// same code the proxy runs.

// Default forward-auth endpoints.
const (
	// DefaultForwardAuthPath answers nginx auth_request and Traefik
	// forwardAuth.
	DefaultForwardAuthPath = "/_oktafed/auth"
	// DefaultEnvoyPrefix answers Envoy ext_authz over HTTP: Envoy appends
	// the original path to its path_prefix.
	DefaultEnvoyPrefix = "/_oktafed/ext_authz"
)

// ForwardAuthConfig configures the decision endpoints. They are off
// unless Enabled or Only is set, so a proxy never answers on paths (or a
// gRPC service) its upstream may own.
type ForwardAuthConfig struct {
	// Enabled serves the endpoints next to the proxy.
	Enabled bool `yaml:"enabled,omitempty"`
	// Path answers nginx auth_request (X-Original-URI, X-Original-Method)
	// and Traefik forwardAuth (X-Forwarded-Method, -Uri, -Host, -Proto);
	// default DefaultForwardAuthPath, "-" disables.
	Path string `yaml:"path,omitempty"`
	// EnvoyPrefix answers Envoy ext_authz over HTTP: the original path
	// follows the prefix and the method is the original one; default
	// DefaultEnvoyPrefix, "-" disables. The gRPC Check service is served
	// on the same port (h2c or TLS) whenever Path or EnvoyPrefix is on.
	EnvoyPrefix string `yaml:"envoy_prefix,omitempty"`
	// Trusted lists the addresses or CIDR ranges of the ingresses allowed
	// to call the endpoints (default loopback: 127.0.0.0/8, ::1). Calls
	// from elsewhere are refused (403) before any header is read.
	Trusted []string `yaml:"trusted,omitempty"`
	// Only answers forward-auth calls (and health, readiness, metrics)
	// without proxying: no upstream is needed, other paths get 404. It
	// implies Enabled.
	Only bool `yaml:"only,omitempty"`
}

// forwardAuth is the compiled ForwardAuthConfig.
type forwardAuth struct {
	path, envoyPrefix string // "" when off
	trusted           []netip.Prefix
}

func (c ForwardAuthConfig) compile() (*forwardAuth, error) {
	if !c.Enabled && !c.Only {
		// No endpoints; the trusted ingresses still say whose
		// X-Request-Id is kept (requestid.go).
		off := ForwardAuthConfig{Enabled: true, Path: "-", EnvoyPrefix: "-", Trusted: c.Trusted}
		return off.compile()
	}
	fa := &forwardAuth{path: c.Path, envoyPrefix: c.EnvoyPrefix}
	if fa.path == "" {
		fa.path = DefaultForwardAuthPath
	}
	if fa.envoyPrefix == "" {
		fa.envoyPrefix = DefaultEnvoyPrefix
	}
	for _, p := range []*string{&fa.path, &fa.envoyPrefix} {
		if *p == "-" {
			*p = ""
			continue
		}
		if cp, err := canonicalPath(*p); err != nil || cp != *p || strings.HasSuffix(*p, "/") {
			return nil, fmt.Errorf("forward_auth path %q: use a plain absolute path such as %s", *p, DefaultForwardAuthPath)
		}
	}
	if fa.path != "" && fa.path == fa.envoyPrefix {
		return nil, fmt.Errorf("forward_auth: path and envoy_prefix are both %q: give them different paths", fa.path)
	}
	trusted := c.Trusted
	if len(trusted) == 0 {
		trusted = []string{"127.0.0.0/8", "::1/128"}
	}
	for _, t := range trusted {
		t = strings.TrimSpace(t)
		var pfx netip.Prefix
		var err error
		if strings.Contains(t, "/") {
			pfx, err = netip.ParsePrefix(t)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(t)
			if err == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("forward_auth trusted %q: give an IP address or CIDR range (10.0.0.0/8), not a host name", t)
		}
		fa.trusted = append(fa.trusted, pfx.Masked())
	}
	return fa, nil
}

// trustedPeer reports whether the connection comes from a configured
// ingress. It reads only the socket's address: X-Forwarded-For and the
// like are what an attacker would set.
func (fa *forwardAuth) trustedPeer(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range fa.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Header names the ingresses send (nginx by the operator's
// proxy_set_header lines, which docs/gateway.md and the tests use).
const (
	hdrOriginalURI     = "X-Original-Uri"
	hdrOriginalMethod  = "X-Original-Method"
	hdrForwardedURI    = "X-Forwarded-Uri"
	hdrForwardedMethod = "X-Forwarded-Method"
)

// original reads the described request from nginx's or Traefik's headers.
// Each must come as exactly one value, and when both families are present
// they must agree: an ingress sets one of them and may pass the other
// through from the client, so preferring either could let a client pick
// the request that gets judged.
func original(h http.Header) (method, uri, problem string) {
	one := func(name string) (string, bool, string) {
		v := h.Values(name)
		switch len(v) {
		case 0:
			return "", false, ""
		case 1:
			return v[0], true, ""
		}
		return "", true, "more than one " + name + " header"
	}
	oURI, hasOU, p1 := one(hdrOriginalURI)
	oMethod, hasOM, p2 := one(hdrOriginalMethod)
	fURI, hasFU, p3 := one(hdrForwardedURI)
	fMethod, hasFM, p4 := one(hdrForwardedMethod)
	for _, p := range []string{p1, p2, p3, p4} {
		if p != "" {
			return "", "", p
		}
	}
	switch {
	case hasOU && hasFU && oURI != fURI:
		return "", "", "X-Original-URI and X-Forwarded-Uri disagree: the ingress must set one and remove the other"
	case hasOM && hasFM && oMethod != fMethod:
		return "", "", "X-Original-Method and X-Forwarded-Method disagree: the ingress must set one and remove the other"
	}
	uri, method = oURI, oMethod
	if !hasOU {
		uri = fURI
	}
	if !hasOM {
		method = fMethod
	}
	if !hasOU && !hasFU {
		return "", "", "no X-Original-URI (nginx: proxy_set_header X-Original-URI $request_uri) or X-Forwarded-Uri (Traefik) header"
	}
	if !hasOM && !hasFM {
		return "", "", "no X-Original-Method (nginx: proxy_set_header X-Original-Method $request_method) or X-Forwarded-Method (Traefik) header"
	}
	return method, uri, ""
}

// serveForwardAuth answers nginx auth_request and Traefik forwardAuth.
func (g *Gateway) serveForwardAuth(w http.ResponseWriter, r *http.Request) {
	method, uri, problem := original(r.Header)
	if problem != "" {
		g.answerForwardAuth(w, r, time.Now(), decision{verdict: verdictBadPath, msg: "forward-auth: " + problem}, "", "")
		return
	}
	g.forwardAuthDecide(w, r, method, uri)
}

// serveEnvoyHTTP answers Envoy ext_authz over HTTP: the request line is
// the original one with the prefix in front of its path.
func (g *Gateway) serveEnvoyHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		target = requestPath(target) + queryOf(target)
	}
	g.forwardAuthDecide(w, r, r.Method, strings.TrimPrefix(target, g.fwd.envoyPrefix))
}

func queryOf(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		return target[i:]
	}
	return ""
}

func (g *Gateway) forwardAuthDecide(w http.ResponseWriter, r *http.Request, method, uri string) {
	start := time.Now()
	d := g.tracedDecide(r.Context(), method, uri, r.Header.Get("Authorization"), strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc"))
	g.answerForwardAuth(w, r, start, d, method, d.path)
}

// answerForwardAuth writes a decision the way every ingress reads it:
// 200 with identity headers, 401 with WWW-Authenticate, 403, or another
// status the ingress passes on (nginx turns it into 500).
func (g *Gateway) answerForwardAuth(w http.ResponseWriter, r *http.Request, start time.Time, d decision, method, path string) {
	lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
	h := lw.Header()
	h.Set("Cache-Control", "no-store")
	switch d.verdict {
	case verdictAllow:
		if d.p != nil {
			g.setIdentity(h, d.p)
		}
		lw.WriteHeader(http.StatusOK)
	case verdictAuth:
		guard.WriteError(lw, d.authErr, g.cfg.Realm)
	case verdictNoRoute:
		// An ingress reads 404 as an error (nginx: 500); a path no rule
		// covers is simply not allowed.
		http.Error(lw, d.msg, http.StatusForbidden)
	case verdictUnavailable:
		h.Set("Retry-After", "5")
		http.Error(lw, d.msg, http.StatusServiceUnavailable)
	default:
		http.Error(lw, d.msg, d.status())
	}
	dur := time.Since(start)
	if d.rt != nil {
		d.rt.faMetrics.request(lw.status, dur)
	} else {
		g.metrics.request("forward-auth", lw.status, dur)
	}
	if g.accessLog && g.log.Enabled(r.Context(), slog.LevelInfo) {
		route := "forward-auth"
		if d.rt != nil {
			route = d.rt.faMetrics.name
		}
		g.access(r, lw, route+" ("+method+" "+path+")", d.p, d.authErr, dur)
	}
}
