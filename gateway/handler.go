package gateway

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// Paths the gateway answers itself, before any route.
const (
	pathHealth  = "/healthz"
	pathReady   = "/readyz"
	pathMetrics = "/metrics"
	// DefaultAdminPath is where admins POST revocations.
	DefaultAdminPath = "/_oktafed/revocations"
)

func (g *Gateway) buildHandler() http.Handler {
	metricsHandler := promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{})
	admin := g.cfg.AdminPath
	if admin == "" {
		admin = DefaultAdminPath
	}
	adminHandler := g.guard.Require(guard.Rule{Roles: []string{verify.RoleAdmin}})(http.HandlerFunc(g.serveRevoke))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case pathHealth:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok\n"))
			return
		case pathReady:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if !g.ready.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: issuer keys are not loaded yet\n"))
				return
			}
			_, _ = w.Write([]byte("ready\n"))
			return
		case pathMetrics:
			metricsHandler.ServeHTTP(w, r)
			return
		case admin:
			if admin != "-" {
				g.logged(w, r, "admin", adminHandler)
				return
			}
		}
		g.proxy(w, r)
	})
}

// proxy routes, authenticates, authorizes and forwards one request.
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
	var (
		routeName = "-"
		p         *verify.Principal
		authErr   error
	)
	defer func() {
		g.metrics.request(routeName, lw.status, time.Since(start))
		g.access(r, lw, routeName, p, authErr, time.Since(start))
	}()
	if !cleanPath(r) {
		http.Error(lw, "path is not in canonical form: remove dot segments, repeated or encoded slashes", http.StatusBadRequest)
		return
	}
	rt := g.routes.match(r.Method, r.URL.Path)
	if rt == nil {
		http.Error(lw, "no route for this path and method", http.StatusNotFound)
		return
	}
	routeName = rt.name
	stripIdentity(r.Header, g.prefix)
	if !rt.Public {
		p, authErr = g.guard.Check(r.Context(), r.Header.Get("Authorization"), rt.Rule)
		if authErr != nil {
			if isGRPC(r) {
				st, challenge := verify.Challenge(authErr, g.cfg.Realm)
				code := 16 // Unauthenticated
				switch st {
				case http.StatusForbidden:
					code = 7 // PermissionDenied
				case http.StatusServiceUnavailable:
					code = 14 // Unavailable
				}
				writeGRPCError(lw, code, guard.Message(authErr), challenge)
				return
			}
			guard.WriteError(lw, authErr, g.cfg.Realm)
			return
		}
		g.setIdentity(r.Header, p)
		if g.cfg.StripAuthorization {
			r.Header.Del("Authorization")
		}
		r = r.WithContext(guard.WithPrincipal(r.Context(), p))
	}
	rt.proxy.proxy.ServeHTTP(lw, r)
}

// stripIdentity removes every client header that starts with the identity
// prefix, so only the gateway can set them.
func stripIdentity(h http.Header, prefix string) {
	for k := range h {
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			delete(h, k)
		}
	}
}

// setIdentity adds the verified identity headers. Values that could not
// travel in a header (control characters) are dropped rather than
// mangled, so upstreams never see a half-true identity.
func (g *Gateway) setIdentity(h http.Header, p *verify.Principal) {
	set := func(name, v string) {
		if v != "" && headerSafe(v) {
			h[g.prefix+name] = []string{v}
		}
	}
	set("Subject", p.Subject)
	set("User", p.User)
	set("Issuer", p.Issuer)
	set("Provider", p.Provider)
	set("Client-Id", p.ClientID)
	set("Scopes", strings.Join(p.Scopes, " "))
	set("Groups", strings.Join(p.Groups, ","))
	set("Role", p.Role)
	set("Roles", strings.Join(p.Roles, ","))
}

func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// logWriter records the status and size for logs and metrics. It unwraps
// for http.ResponseController so flushing and trailers reach the real
// writer (gRPC needs both).
type logWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *logWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (g *Gateway) logged(w http.ResponseWriter, r *http.Request, route string, h http.Handler) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
	h.ServeHTTP(lw, r)
	g.metrics.request(route, lw.status, time.Since(start))
	g.access(r, lw, route, nil, nil, time.Since(start))
}

// access writes one structured access log line. It never logs the
// Authorization header or the query string (RFC 6750 allows tokens
// there).
func (g *Gateway) access(r *http.Request, w *logWriter, route string, p *verify.Principal, authErr error, d time.Duration) {
	if !g.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := []any{
		"method", r.Method, "path", r.URL.Path, "proto", r.Proto, "route", route,
		"status", w.status, "bytes", w.bytes, "duration_ms", float64(d.Microseconds()) / 1000,
		"remote", r.RemoteAddr,
	}
	if p != nil {
		attrs = append(attrs, "sub", p.Subject, "provider", p.Provider, "role", p.Role)
	}
	if authErr != nil {
		attrs = append(attrs, "auth", guard.Reason(authErr))
	}
	g.log.Info("request", attrs...)
}
