package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// Paths the gateway answers itself, before any route.
const (
	// DefaultAdminPath is where admins POST revocations.
	DefaultAdminPath = "/_oktafed/revocations"
)

func (g *Gateway) buildHandler() http.Handler {
	admin := g.cfg.AdminPath
	if admin == "" {
		admin = DefaultAdminPath
	}
	adminHandler := g.guard.Require(guard.Rule{Roles: []string{verify.RoleAdmin}})(http.HandlerFunc(g.serveRevoke))
	fwd := g.fwd
	var extAuthz http.Handler
	if fwd.path != "" || fwd.envoyPrefix != "" {
		extAuthz = g.newExtAuthzServer()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() && r.ProtoMajor == 1 {
			// Tell HTTP/1 clients to reconnect: the next request goes to
			// a replica that is not stopping. HTTP/2 gets GOAWAY at
			// shutdown.
			w.Header().Set("Connection", "close")
		}
		switch r.URL.Path {
		case admin:
			if admin != "-" {
				g.logged(w, r, "admin", adminHandler)
				return
			}
		case fwd.path:
			if fwd.path != "" {
				if g.refuseUntrusted(w, r) {
					return
				}
				g.serveForwardAuth(w, r)
				return
			}
		case extAuthzCheckPath:
			if extAuthz != nil && isGRPC(r) {
				if g.refuseUntrusted(w, r) {
					return
				}
				extAuthz.ServeHTTP(w, r)
				return
			}
		}
		if fwd.envoyPrefix != "" && strings.HasPrefix(requestPath(r.RequestURI), fwd.envoyPrefix+"/") {
			if g.refuseUntrusted(w, r) {
				return
			}
			g.serveEnvoyHTTP(w, r)
			return
		}
		if g.cfg.ForwardAuth.Only {
			// Nothing to proxy: every other path is 404, without a
			// token check, so this port tells a caller nothing about
			// tokens or routes.
			g.logged(w, r, "forward-auth only", http.NotFoundHandler())
			return
		}
		g.proxy(w, r)
	})
}

// refuseUntrusted answers 403 to a forward-auth call from an address not
// in forward_auth.trusted, and reports whether it did.
func (g *Gateway) refuseUntrusted(w http.ResponseWriter, r *http.Request) bool {
	if g.fwd.trustedPeer(r.RemoteAddr) {
		return false
	}
	lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
	if isGRPC(r) {
		writeGRPCError(lw, guard.GRPCPermissionDenied, "forward-auth answers only the ingresses in forward_auth.trusted", "")
	} else {
		http.Error(lw, "forward-auth answers only the ingresses in forward_auth.trusted (FORWARD_AUTH_TRUSTED)", http.StatusForbidden)
	}
	g.metrics.request("forward-auth untrusted", http.StatusForbidden, 0)
	g.access(r, lw, "forward-auth untrusted", nil, nil, 0)
	return true
}

// StatusClientClosedRequest is logged and counted for requests whose
// client went away before the answer (nginx's 499); nothing is sent.
const StatusClientClosedRequest = 499

// forward is what the gateway decided about one request, handed to the
// proxy's Rewrite and ErrorHandler through the request context.
type forward struct {
	path   string // canonical path, forwarded as is
	p      *verify.Principal
	body   *bodyReader // nil without a streamed body
	tunnel *tunnel     // a WebSocket upgrade the route allows
	lw     *logWriter
	hc     *headConn // the upstream HTTP/1.x connection, once taken
	trace  httptrace.ClientTrace
}

type forwardKey struct{}

// proxy routes, authenticates, authorizes and forwards one request.
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w, status: http.StatusOK, writeTimeout: g.timeouts.Write}
	defer lw.disarm()
	var (
		routeName = "-"
		rt        *compiledRoute
		p         *verify.Principal
		authErr   error
	)
	defer func() {
		v := recover()
		if v != nil && v == http.ErrAbortHandler {
			// The response had started when copying it failed.
			if r.Context().Err() != nil {
				lw.status = StatusClientClosedRequest
			} else if lw.status < 500 {
				lw.status = http.StatusBadGateway
			}
		}
		d := time.Since(start)
		if rt != nil {
			rt.metrics.request(lw.status, d)
		} else {
			g.metrics.request(routeName, lw.status, d)
		}
		g.access(r, lw, routeName, p, authErr, d)
		if v != nil {
			panic(v)
		}
	}()
	d := g.tracedDecide(r.Context(), r.Method, r.RequestURI, r.Header["Authorization"], realGRPC(r))
	rt, p, authErr = d.rt, d.p, d.authErr
	if rt != nil {
		routeName = rt.name
	}
	switch d.verdict {
	case verdictAllow:
	case verdictAuth:
		if isGRPC(r) {
			_, challenge := verify.Challenge(authErr, g.cfg.Realm)
			writeGRPCError(lw, guard.GRPCCode(authErr), guard.Message(authErr), challenge)
			return
		}
		guard.WriteError(lw, authErr, g.cfg.Realm)
		return
	case verdictUnavailable:
		if isGRPC(r) {
			writeGRPCError(lw, guard.GRPCUnavailable, "revocation list unavailable: retry shortly", "")
			return
		}
		lw.Header().Set("Retry-After", "5")
		http.Error(lw, d.msg, http.StatusServiceUnavailable)
		return
	default:
		http.Error(lw, d.msg, d.status())
		return
	}
	if rt.proxy == nil {
		http.Error(lw, "this gateway answers forward-auth calls only (forward_auth.only)", http.StatusNotFound)
		return
	}
	f := &forward{path: d.path, p: p, lw: lw}
	switch clientUpgrade(r) {
	case upgradeWebSocket:
		if !rt.WebSocket || r.Method != http.MethodGet {
			http.Error(lw, "WebSocket upgrades are refused on this route: the route needs websocket: true, and the handshake is a GET", http.StatusBadRequest)
			return
		}
		f.tunnel = g.openTunnel(r.Context(), p)
		defer f.tunnel.cancel(nil)
		lw.onHijack = func(c net.Conn) net.Conn {
			g.logTunnel(r, routeName, p)
			return &tunnelConn{Conn: c, t: f.tunnel}
		}
		r = r.WithContext(f.tunnel.ctx)
	case upgradeOther:
		dropUpgrade(r.Header)
	}
	delete(r.Header, "Http2-Settings")
	if r.Body != nil && r.Body != http.NoBody {
		body := &bodyReader{rc: r.Body, ctl: http.NewResponseController(w), idle: g.timeouts.BodyIdle, end: start.Add(g.timeouts.BodyRead)}
		grpcCall := rt.grpc && realGRPC(r)
		if grpcCall {
			body.idle = 0 // streams may idle; see Timeouts.BodyIdle
			body.end = time.Time{}
		}
		r.Body = body
		if rt.StreamBody || grpcCall {
			f.body = body
			if isForm(r) {
				ok, err := stripFormBody(r)
				if err != nil {
					g.clientBodyFailed(lw, r, err)
					return
				}
				if !ok {
					http.Error(lw, "form body larger than 1 MiB", http.StatusRequestEntityTooLarge)
					return
				}
			}
		} else if !g.bufferBody(lw, r, body, rt) {
			return
		}
	}
	f.trace.Got1xxResponse, f.trace.GotConn = f.got1xx, f.gotConn
	ctx := httptrace.WithClientTrace(context.WithValue(r.Context(), forwardKey{}, f), &f.trace)
	r = r.WithContext(ctx)
	rt.proxy.proxy.ServeHTTP(lw, r)
	if f.tunnel != nil && lw.status == http.StatusSwitchingProtocols && g.accessLog {
		why := "upstream closed"
		if err := context.Cause(f.tunnel.ctx); err != nil {
			why = err.Error()
		}
		g.log.Info("tunnel closed", "path", r.URL.Path, "route", routeName, "remote", r.RemoteAddr, "cause", why, "duration_ms", time.Since(start).Milliseconds())
	}
}

// verdict is the kind of answer decide reached.
type verdict int

const (
	verdictAllow       verdict = iota
	verdictBadMethod           // 400
	verdictBadPath             // 400
	verdictNoRoute             // 404 (forward-auth: 403)
	verdictUnavailable         // 503: fail-closed without a revocation list
	verdictAuth                // authErr says 401, 403 or 503
)

// decision is what the gateway's rules say about one request, whether it
// arrived to be proxied or was described by an ingress (forward-auth).
type decision struct {
	verdict verdict
	msg     string // client-facing text for the refusals before authentication
	path    string // the canonical path
	rt      *compiledRoute
	p       *verify.Principal // nil on public routes and refusals
	authErr error
}

func (d *decision) status() int {
	switch d.verdict {
	case verdictAllow:
		return http.StatusOK
	case verdictBadMethod, verdictBadPath:
		return http.StatusBadRequest
	case verdictNoRoute:
		return http.StatusNotFound
	case verdictUnavailable:
		return http.StatusServiceUnavailable
	}
	st, _ := verify.Challenge(d.authErr, "")
	return st
}

// decide applies the method, canonical-path, route, revocation, scope and
// role rules to a request given by its method, raw request target
// (origin-form, absolute-form or a path) and Authorization headers (more
// than one is 400, on public routes too). The
// proxy and every forward-auth flavour call it, so an ingress gets exactly
// the answers the proxy would give. grpc marks a gRPC call: roles then
// apply per method route, as every call is a POST.
func (g *Gateway) decide(ctx context.Context, method, target string, authorization []string, grpc bool) decision {
	if !validMethod(method) {
		return decision{verdict: verdictBadMethod, msg: "method names are case-sensitive upper-case tokens: send GET, POST, DELETE, ..."}
	}
	cp, err := canonicalPath(requestPath(target))
	if err != nil {
		return decision{verdict: verdictBadPath, msg: "path refused: " + err.Error()}
	}
	d := decision{path: cp, rt: g.routes.match(method, cp)}
	var authz string
	switch len(authorization) {
	case 0:
	case 1:
		authz = authorization[0]
	default:
		// guard.AuthorizationHeader's rule, without building a header.
		d.verdict, d.authErr = verdictAuth, guard.ErrTwoAuthorizations
		return d
	}
	if d.rt == nil {
		d.verdict, d.msg = verdictNoRoute, "no route for this path and method"
		return d
	}
	if d.rt.Public {
		return d
	}
	if !g.revocationsUsable() {
		d.verdict, d.msg, d.authErr = verdictUnavailable, "the revocation list is unavailable (Redis): retry shortly", errRevocationsUnavailable
		return d
	}
	if d.rt.grpc && grpc && method == http.MethodPost {
		// A gRPC call on a gRPC route: every call is a POST, so roles
		// apply per method route rather than by HTTP method. Anything
		// else on the route (a DELETE with a gRPC content type) is
		// judged by the method rules like any request.
		method = ""
	}
	d.p, d.authErr = g.guard.CheckHTTP(ctx, authz, method, d.rt.Rule)
	if d.authErr != nil {
		d.verdict = verdictAuth
	}
	return d
}

// errRevocationsUnavailable labels requests refused by a fail-closed
// replica in logs and metrics.
var errRevocationsUnavailable = &verify.Error{Reason: verify.ErrKeysUnavailable, Description: "revocation list unavailable"}

// rewrite builds the outgoing request: the canonical path, the query
// without access_token, forwarding headers, and identity headers set last.
func (g *Gateway) rewrite(target *url.URL) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		out := pr.Out
		f, _ := pr.In.Context().Value(forwardKey{}).(*forward)
		if f == nil {
			// Only proxy() calls the ReverseProxy; never forward a
			// request it has not checked.
			panic(http.ErrAbortHandler)
		}
		out.URL.Path, out.URL.RawPath = f.path, ""
		if out.URL.RawQuery != "" {
			out.URL.RawQuery, _ = stripAccessToken(out.URL.RawQuery)
		}
		out.URL.ForceQuery = false
		pr.SetURL(target)
		stripSpoofable(out.Header, g.idPrefixes)
		pr.SetXForwarded()
		out.Host = pr.In.Host
		if out.Trailer != nil {
			stripSpoofable(out.Trailer, g.idPrefixes)
		}
		if f.p != nil {
			g.setIdentity(out.Header, f.p)
			if g.cfg.StripAuthorization {
				out.Header.Del("Authorization")
			}
		}
	}
}

// upstreamError answers a failed proxy round trip, telling a client that
// went away (499, nothing sent) from a stalled client body (408), an
// upstream that did not answer in time (504) and one that could not be
// reached (502).
func (g *Gateway) upstreamError(up *upstream) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		f, _ := r.Context().Value(forwardKey{}).(*forward)
		if f != nil && f.body != nil && f.body.err != nil {
			g.clientBodyFailed(w, r, f.body.err)
			return
		}
		if r.Context().Err() != nil {
			g.clientGone(w, r)
			return
		}
		if lw, ok := w.(*logWriter); ok && lw.overInfos {
			g.log.Warn("upstream sent more informational (1xx) responses than relayed; answered 502", "upstream", up.url.Host, "path", r.URL.Path,
				"max", maxInformational, "max_header_bytes", maxInformationalBytes)
			http.Error(w, "the upstream sent too many informational (1xx) responses", http.StatusBadGateway)
			return
		}
		if errors.Is(err, errHopUnknown) {
			g.log.Warn("upstream named hop-by-hop headers in a Connection line too long to read; answered 502", "upstream", up.url.Host, "path", r.URL.Path)
			http.Error(w, "the upstream's Connection header is too long", http.StatusBadGateway)
			return
		}
		if errors.Is(err, errUpgradeMismatch) {
			g.log.Warn("upstream switched protocols unasked; answered 502", "upstream", up.url.Host, "path", r.URL.Path)
			http.Error(w, "the upstream switched protocols without an allowed upgrade", http.StatusBadGateway)
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			g.log.Warn("upstream did not answer in time", "upstream", up.url.Host, "timeout", up.timeout.String(), "path", r.URL.Path)
			if isGRPC(r) {
				writeGRPCError(w, grpcDeadlineExceeded, "upstream timeout", "")
				return
			}
			http.Error(w, "the upstream did not answer within "+up.timeout.String(), http.StatusGatewayTimeout)
			return
		}
		g.log.Warn("upstream request failed; check that the upstream is running", "upstream", up.url.Host, "err", err)
		if isGRPC(r) {
			writeGRPCError(w, guard.GRPCUnavailable, "upstream unavailable", "")
			return
		}
		http.Error(w, "upstream unavailable: retry shortly", http.StatusBadGateway)
	}
}

// clientBodyFailed answers a request whose body could not be read: 408
// when it stalled past the body idle timeout, 400 otherwise.
func (g *Gateway) clientBodyFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ne net.Error
	w.Header().Set("Connection", "close")
	if errors.As(err, &ne) && ne.Timeout() {
		http.Error(w, "request body too slow: nothing received for "+g.timeouts.BodyIdle.String()+" or not complete within "+g.timeouts.BodyRead.String(), http.StatusRequestTimeout)
		return
	}
	// A malformed chunked body, or one shorter than its Content-Length
	// (the client half-closed or the HTTP/2 stream ended early): 400,
	// never an empty 200. A client that has gone away is logged as 499.
	http.Error(w, "request body malformed or shorter than its Content-Length: send a complete body", http.StatusBadRequest)
	if r.Context().Err() != nil {
		g.clientGone(w, r)
	}
}

func (g *Gateway) clientGone(w http.ResponseWriter, r *http.Request) {
	if lw, ok := w.(*logWriter); ok {
		lw.status = StatusClientClosedRequest
	}
	g.log.Debug("client closed the request before the answer", "path", r.URL.Path, "remote", r.RemoteAddr)
}

// bodyReader passes a request body through, giving every read the body
// idle timeout as its deadline and remembering a read error, so a failed
// round trip is blamed on the client rather than the upstream.
type bodyReader struct {
	rc   io.ReadCloser
	ctl  *http.ResponseController
	idle time.Duration // 0: no deadline (gRPC)
	end  time.Time     // the whole body by then
	err  error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.idle > 0 {
		d := time.Now().Add(b.idle)
		if b.end.Before(d) {
			d = b.end
		}
		_ = b.ctl.SetReadDeadline(d)
	}
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// logWriter records the status and size for logs and metrics. It unwraps
// for http.ResponseController so flushing and trailers reach the real
// writer (gRPC needs both).
type logWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	// onHijack wraps the client connection of an allowed upgrade.
	onHijack func(net.Conn) net.Conn
	// writeTimeout bounds each write (Timeouts.Write) once the response
	// is past writeFree bytes; ctl is set from then on. Smaller responses
	// fit in socket buffers and flow-control windows and never block, so
	// they pay nothing.
	writeTimeout time.Duration
	ctl          *http.ResponseController
	hijacked     bool
	// infos and infoBytes count the 1xx responses relayed and their
	// header bytes; overInfos is set past the bound (informational.go).
	infos, infoBytes int
	overInfos        bool
}

// writeFree is how much of a response is written without a deadline.
const writeFree = 32 << 10

// arm sets the write deadline for the next write of n bytes.
func (w *logWriter) arm(n int) {
	if w.writeTimeout <= 0 || w.hijacked {
		return
	}
	if w.ctl == nil {
		if w.bytes+int64(n) <= writeFree {
			return
		}
		w.ctl = http.NewResponseController(w.ResponseWriter)
	}
	_ = w.ctl.SetWriteDeadline(time.Now().Add(w.writeTimeout))
}

// disarm clears the deadline so the connection's next response (HTTP/1
// keep-alive) does not inherit it.
func (w *logWriter) disarm() {
	if w.ctl != nil && !w.hijacked {
		_ = w.ctl.SetWriteDeadline(time.Time{})
	}
}

func (w *logWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.arm(len(b))
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) Flush() {
	if w.ctl != nil {
		w.arm(0)
	}
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
	if !g.accessLog || !g.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := []any{
		"method", r.Method, "path", r.URL.Path, "proto", r.Proto, "route", route,
		"status", w.status, "bytes", w.bytes, "duration_ms", float64(d.Microseconds()) / 1000,
		"remote", r.RemoteAddr, "request_id", r.Header.Get(HeaderRequestID),
	}
	if p != nil {
		attrs = append(attrs, "sub", p.Subject, "provider", p.Provider, "role", p.Role)
	}
	if authErr != nil {
		attrs = append(attrs, "auth", guard.Reason(authErr))
	}
	g.log.Info("request", attrs...)
}

// bufferBody reads a request body whole (bounded by the route's
// max_body_bytes, and by the body timeouts) before the upstream is
// contacted, as nginx does: a client trickling its body holds a gateway
// goroutine, never an upstream worker; a malformed or short body is 400
// and the upstream sees nothing. It reports whether the request may go on.
func (g *Gateway) bufferBody(lw *logWriter, r *http.Request, body *bodyReader, rt *compiledRoute) bool {
	limit := rt.MaxBodyBytes
	if limit <= 0 {
		limit = g.cfg.MaxBodyBytes
	}
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	tooLarge := func() bool {
		lw.Header().Set("Connection", "close")
		http.Error(lw, fmt.Sprintf("request body larger than %d bytes: this route's max_body_bytes", limit), http.StatusRequestEntityTooLarge)
		return false
	}
	if r.ContentLength > limit {
		return tooLarge()
	}
	size := r.ContentLength
	if size < 0 {
		size = 4 << 10
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	_, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	_ = body.rc.Close()
	if err != nil {
		g.clientBodyFailed(lw, r, err)
		return false
	}
	if int64(buf.Len()) > limit {
		return tooLarge()
	}
	if r.ContentLength >= 0 && int64(buf.Len()) != r.ContentLength {
		http.Error(lw, "request body shorter than its Content-Length: send a complete body", http.StatusBadRequest)
		return false
	}
	data := buf.Bytes()
	if isFormType(r) {
		if s, changed := stripAccessToken(string(data)); changed {
			data = []byte(s)
		}
	}
	r.ContentLength = int64(len(data))
	r.TransferEncoding = nil
	r.Header.Del("Content-Length")
	if len(data) == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = io.NopCloser(bytes.NewReader(data))
	}
	return true
}
