// Package gateway is a reverse proxy that admits only requests carrying a
// valid Okta (or other trusted issuer's) access token, routes them by path
// prefix and method to upstreams (HTTP/1.1, HTTP/2, gRPC over h2c or TLS)
// under a per-route scope and role rule, and passes the verified identity
// upstream in headers that clients cannot forge.
//
// Replicas are stateless; when Redis is configured they share a jti
// revocation list and introspection results.
package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// Options are the runtime parts of a Gateway that do not belong in a file.
type Options struct {
	// Logger receives events (and access logs, unless NoAccessLog); nil
	// discards them. Redis client messages go to it too.
	Logger *slog.Logger
	// NoAccessLog turns the per-request access log off.
	NoAccessLog bool
	// HTTPClient fetches keys and calls introspection endpoints.
	HTTPClient *http.Client
	// Verifier replaces the verifier built from the configuration (tests,
	// embedding). It must have been built from the same configuration for
	// per-provider rules to apply.
	Verifier *verify.Verifier
	// TracerProvider, when set, traces every request (tracing.go); see
	// TracingFromEnv for one configured by the OTEL_* variables.
	TracerProvider trace.TracerProvider

	// prev, set by Reload, is the generation the new one replaces: it
	// shares its Redis, metrics and serving state.
	prev *Gateway
}

// Gateway is a configured proxy. Build it with New, serve it with Serve or
// use Handler in a server of your own.
type Gateway struct {
	cfg       Config
	timeouts  Timeouts
	log       *slog.Logger
	accessLog bool
	v         *verify.Verifier
	guard     *guard.Guard
	routes    *routeTable
	revs      Revocations
	redis     *redisRevocations // nil without Redis
	shared    *sharedCache
	metrics   *metrics
	prefix    string // canonical identity header prefix
	folded    string // the prefix lower-case with '-'
	idNames   [len(identityNames)]string
	keysReady *atomic.Bool // shared by every generation (reload.go)
	draining  *atomic.Bool // shared by every generation (reload.go)
	fwd       *forwardAuth
	handler   http.Handler
	stopWarm  context.CancelFunc
	rshared   *redisShared       // nil without Redis
	dpopMem   verify.ReplayCache // DPoP proofs seen, without Redis; shared by every generation
	reload    *reloadState       // shared by every generation
	entry     http.Handler       // serves through the live generation
	tr        *tracing
	served    chan struct{} // closed when Serve returns

	// idPrefixes are the identity prefixes whose client headers are
	// removed: this generation's, the default X-Auth-, and every prefix
	// an earlier generation of this process used, so a reload that
	// changes header_prefix does not let clients send the old names to
	// upstreams still reading them.
	idPrefixes []string
}

// New builds a gateway from cfg. It connects to Redis when configured but
// fetches no keys: Serve warms the verifier, and /readyz reports when it
// has.
func New(cfg Config, opts Options) (*Gateway, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	vc, err := cfg.VerifyConfig()
	if err != nil {
		return nil, err
	}
	tr := newTracing(opts.TracerProvider)
	v := opts.Verifier
	dpopReplay, dpopMem := newDPoPReplay(cfg.Redis, &vc, opts.prev) // dpop.go
	if v == nil {
		vc.HTTPClient = tr.issuerClient(opts.HTTPClient)
		vc.Logger = log
		if v, err = verify.New(vc); err != nil {
			return nil, err
		}
	}
	g := &Gateway{cfg: cfg, log: log, v: v, accessLog: !opts.NoAccessLog, tr: tr, served: make(chan struct{}), dpopMem: dpopMem}
	g.inherit(opts)
	g.timeouts = cfg.Timeouts.withDefaults()
	g.prefix = http.CanonicalHeaderKey(cfg.HeaderPrefix)
	if g.prefix == "" {
		g.prefix = "X-Auth-"
	}
	if !validMethod(strings.ToUpper(g.prefix)) || strings.ContainsAny(g.prefix, "_") {
		return nil, fmt.Errorf("header_prefix %q: use letters, digits and '-', e.g. X-Auth-", cfg.HeaderPrefix)
	}
	g.folded = strings.ToLower(g.prefix)
	g.idPrefixes = []string{g.folded}
	retired := []string{"x-auth-"}
	if opts.prev != nil {
		retired = append(retired, opts.prev.idPrefixes...)
	}
	for _, p := range retired {
		if !slices.Contains(g.idPrefixes, p) {
			g.idPrefixes = append(g.idPrefixes, p)
		}
	}
	g.setPrefixNames()
	if g.cfg.RevocationTTL <= 0 {
		g.cfg.RevocationTTL = 24 * time.Hour
	}
	if g.cfg.ShutdownTimeout <= 0 {
		g.cfg.ShutdownTimeout = 15 * time.Second
	}
	switch cfg.Redis.OnFailure {
	case "", FailClosed, FailOpen:
	default:
		return nil, fmt.Errorf("redis on_failure %q: use closed (refuse tokens until the revocation list is loaded) or open", cfg.Redis.OnFailure)
	}
	if g.fwd, err = cfg.ForwardAuth.compile(); err != nil {
		return nil, err
	}
	type upKey struct {
		raw     string
		timeout time.Duration
	}
	proxies := map[upKey]*upstream{}
	g.routes, err = cfg.compileRoutes(func(raw string, timeout time.Duration) (*upstream, error) {
		k := upKey{raw, timeout}
		if p, ok := proxies[k]; ok {
			return p, nil
		}
		p, err := g.newUpstream(raw, timeout)
		if err == nil {
			proxies[k] = p
		}
		return p, err
	})
	if err != nil {
		return nil, err
	}
	if opts.prev != nil {
		g.shareRedis(opts.prev, hasIntrospection(vc))
	} else if cfg.Redis.Enabled() {
		rs, err := newRedisShared(cfg.Redis, log)
		if err != nil {
			return nil, err
		}
		g.revs, g.redis, g.rshared = rs.revocations, rs.revocations, rs
		tr.instrumentRedis(rs.revocations.rdb)
		if hasIntrospection(vc) {
			g.shared = rs.cache
		}
	} else {
		g.revs = newMemoryRevocations()
	}
	// Every generation shares the first one's Redis client, and so does
	// the DPoP replay cache of a verifier a reload builds anew.
	dpopReplay.attach(g.rshared)
	if opts.prev != nil {
		g.metrics = opts.prev.metrics
		g.metrics.setVerifier(v)
	} else {
		g.metrics = newMetrics(v, g.revs)
		g.reload.register(g.metrics.reg, g.redis)
	}
	for i := range g.routes.routes {
		g.routes.routes[i].metrics = g.metrics.forRoute(g.routes.routes[i].name)
		g.routes.routes[i].faMetrics = g.metrics.forRoute("forward-auth " + g.routes.routes[i].name)
	}
	var ver guard.Verifier = v
	if g.shared != nil {
		sv, err := newSharedVerifier(v, g.shared, vc)
		if err != nil {
			return nil, err
		}
		ver = sv
	}
	if tr.on {
		ver = tracedVerifier{next: ver, tr: tr}
	}
	g.guard = guard.New(ver, guard.Options{
		Realm:       cfg.Realm,
		Revocations: g.revs,
		Observe:     g.metrics.observe,
	})
	g.handler = withDPoP(g.buildHandler())
	g.entry = http.HandlerFunc(g.serveLive)
	return g, nil
}

func (g *Gateway) setPrefixNames() {
	for i, n := range identityNames {
		g.idNames[i] = g.prefix + n
	}
}

func hasIntrospection(vc verify.Config) bool {
	for _, p := range vc.Providers {
		if p.Type == verify.ProviderIntrospection {
			return true
		}
	}
	return false
}

// Verifier returns the gateway's verifier.
func (g *Gateway) Verifier() *verify.Verifier { return g.current().v }

// Revocations returns the gateway's revocation list (shared through Redis
// when configured).
func (g *Gateway) Revocations() Revocations { return g.revs }

// Handler returns the gateway's HTTP handler: the revocation endpoint,
// forward-auth endpoints when enabled, then the routes. Health, readiness
// and metrics are on AdminHandler.
func (g *Gateway) Handler() http.Handler { return g.entry }

// Ready reports whether the gateway should receive traffic: issuer keys
// loaded, the revocation list usable (see RedisConfig.OnFailure), and not
// draining.
func (g *Gateway) Ready() bool {
	ok, _ := g.readiness()
	return ok
}

// readiness is Ready with the reason, for /readyz.
func (g *Gateway) readiness() (bool, string) {
	if g.draining.Load() {
		return false, "not ready: draining before shutdown"
	}
	if !g.keysReady.Load() {
		return false, "not ready: issuer keys are not loaded yet"
	}
	if g.redis == nil {
		return true, "ready"
	}
	st := g.redis.status()
	switch {
	case st.usable(g.failOpen(), g.maxStale()):
		if st.down {
			return true, "ready (degraded: Redis unreachable since " + st.downSince.UTC().Format(time.RFC3339) + "; revocations are served from the last copy)"
		}
		return true, "ready"
	case !st.loaded:
		return false, "not ready: the revocation list has not been loaded from Redis yet (fail-closed)"
	default:
		return false, "not ready: Redis unreachable since " + st.downSince.UTC().Format(time.RFC3339) + " (fail-closed)"
	}
}

func (g *Gateway) failOpen() bool { return g.cfg.Redis.OnFailure == FailOpen }

func (g *Gateway) maxStale() time.Duration {
	if g.cfg.Redis.MaxStale > 0 {
		return g.cfg.Redis.MaxStale
	}
	return defaultRedisMaxStale
}

// revocationsUsable reports whether token checks may rely on the
// revocation list; a fail-closed replica refuses tokens while not.
func (g *Gateway) revocationsUsable() bool {
	if g.redis == nil {
		return true
	}
	return g.redis.status().usable(g.failOpen(), g.maxStale())
}

// warmRetryMax bounds the wait between two attempts to load the issuers'
// keys. The verifier itself holds fetches apart by its refetch floor, so
// retrying often costs nothing and makes the gateway ready as soon as the
// floor lets a fetch through.
const warmRetryMax = time.Second

// Warm loads the issuers' keys, retrying until it succeeds or ctx ends; the
// gateway counts them as loaded from then on (the verifier keeps serving
// cached keys when the issuer is down later).
func (g *Gateway) Warm(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := g.v.Warm(ctx)
		if err == nil {
			g.keysReady.Store(true)
			g.log.Info("gateway: issuer keys loaded", "issuers", g.v.Issuers())
			return nil
		}
		if delay >= warmRetryMax {
			// Logged once a second at most while the issuer is down.
			g.log.Warn("gateway not ready: cannot load issuer keys; check the issuer URL and network", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, warmRetryMax)
	}
}

// StopDuration is the longest Serve takes to return after its context ends:
// the drain period plus the shutdown timeout.
func (g *Gateway) StopDuration() time.Duration {
	return max(g.timeouts.Drain, 0) + g.cfg.ShutdownTimeout
}

// Close releases Redis connections and background work.
func (g *Gateway) Close() error {
	if g.stopWarm != nil {
		g.stopWarm()
	}
	g.reload.close()
	if c, ok := g.revs.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Serve accepts connections on ln until ctx is cancelled, then drains and
// shuts down: /readyz answers 503 at once, requests are still served (HTTP/1
// responses carry "Connection: close" so clients reconnect elsewhere) for
// Timeouts.Drain, then the listener closes and in-flight requests get
// ShutdownTimeout to finish. With TLS configured it serves HTTP/1.1 and
// HTTP/2 over TLS; without, HTTP/1.1 and h2c (HTTP/2 with prior
// knowledge, as gRPC clients speak it).
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	defer g.closeServed()
	srv := &http.Server{
		Handler:           g.entry,
		ReadHeaderTimeout: g.timeouts.ReadHeader,
		IdleTimeout:       g.timeouts.Idle,
		MaxHeaderBytes:    g.maxHeaderBytes(),
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
		HTTP2:             h2Config(g.timeouts.ReadHeader),
	}
	srv.Protocols.SetHTTP1(true)
	tlsOn := g.cfg.TLS.CertFile != "" || g.cfg.TLS.KeyFile != ""
	if tlsOn {
		srv.Protocols.SetHTTP2(true)
		cert, err := tls.LoadX509KeyPair(g.cfg.TLS.CertFile, g.cfg.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("gateway TLS: %w (check --tls-cert and --tls-key name a matching PEM certificate and key)", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	warmCtx, stop := context.WithCancel(ctx)
	g.stopWarm = stop
	go func() {
		if g.Warm(warmCtx) == nil {
			g.v.RefreshInBackground(warmCtx)
		}
	}()

	errc := make(chan error, 1)
	go func() {
		var err error
		if tlsOn {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "tls", tlsOn)
	select {
	case err := <-errc:
		stop()
		return err
	case <-ctx.Done():
	}
	g.draining.Store(true) // /readyz: load balancers stop sending new requests
	g.log.Info("gateway draining: /readyz answers 503; still serving", "drain", g.timeouts.Drain.String())
	if g.timeouts.Drain > 0 {
		t := time.NewTimer(g.timeouts.Drain)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			stop()
			return err
		}
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("gateway shutdown: %w", err)
	}
	g.log.Info("gateway stopped")
	return nil
}

// h2Config bounds an HTTP/2 header block by readHeader, as
// ReadHeaderTimeout bounds HTTP/1 headers (which it does not do for
// HTTP/2). While a header block is unfinished (HEADERS without
// END_HEADERS, CONTINUATION frames withheld or trickled) the server reads
// no complete frame, so after half of readHeader without one it sends a
// PING, and closes the connection when no answer comes within the other
// half. A client cannot answer inside its own header block either: any
// frame but CONTINUATION there is a connection error (RFC 9113 section
// 6.10). So such a connection ends at most readHeader after its last
// complete frame, instead of at the idle timeout. Idle connections and
// quiet streams of clients that answer PINGs (every conforming one) stay
// open, at the cost of one PING per half readHeader of silence.
func h2Config(readHeader time.Duration) *http.HTTP2Config {
	return &http.HTTP2Config{SendPingTimeout: readHeader / 2, PingTimeout: readHeader / 2}
}

// maxHeaderBytes is Config.MaxHeaderBytes or its default.
func (g *Gateway) maxHeaderBytes() int {
	if g.cfg.MaxHeaderBytes > 0 {
		return g.cfg.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

var servedOnce sync.Mutex

func (g *Gateway) closeServed() {
	servedOnce.Lock()
	defer servedOnce.Unlock()
	select {
	case <-g.served:
	default:
		close(g.served)
	}
}

// upstream is one backend and the proxy that speaks to it.
type upstream struct {
	url     *url.URL
	proto   string
	timeout time.Duration
	proxy   *httputil.ReverseProxy
}

func (g *Gateway) newUpstream(raw string, timeout time.Duration) (*upstream, error) {
	u, proto, err := parseUpstream(raw)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: dialTimeout(timeout), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil, // the upstream is addressed directly, never through HTTP_PROXY
		DialContext:           dialer.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		Protocols:             new(http.Protocols),
	}
	switch proto {
	case "h2c":
		tr.Protocols.SetUnencryptedHTTP2(true)
	case "https":
		tr.Protocols.SetHTTP1(true)
		tr.Protocols.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if g.cfg.UpstreamCAFile != "" {
			pem, err := os.ReadFile(g.cfg.UpstreamCAFile)
			if err != nil {
				return nil, fmt.Errorf("upstream_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("upstream_ca_file %s holds no PEM certificate", g.cfg.UpstreamCAFile)
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		// HTTP/1.1 over TLS is read through headConn (hopheaders.go).
		tr.DialTLSContext = dialHTTPS(dialer, tr.TLSClientConfig)
	default:
		tr.Protocols.SetHTTP1(true)
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return newHeadConn(c), nil
		}
	}
	up := &upstream{url: u, proto: proto, timeout: timeout}
	up.proxy = &httputil.ReverseProxy{
		// Rewrite runs after ReverseProxy has removed hop-by-hop headers
		// (including every header the client named in Connection), so
		// what it sets reaches the upstream as set.
		Rewrite:        g.rewrite(u),
		Transport:      g.tr.upstreamTransport(tr),
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		ErrorHandler:   g.upstreamError(up),
		ModifyResponse: checkResponse,
		// Without a pool every response copy allocates a 32 KiB buffer:
		// 5% of the CPU under load, most of it in the garbage collector.
		BufferPool: copyBuffers,
	}
	if proto == "h2c" {
		// gRPC streams must reach the client message by message.
		up.proxy.FlushInterval = -1
	}
	return up, nil
}

func dialTimeout(upstream time.Duration) time.Duration {
	if upstream > 0 {
		return min(10*time.Second, upstream)
	}
	return 10 * time.Second
}

// bufferPool recycles ReverseProxy's response copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

var copyBuffers = &bufferPool{}

// realGRPC reports whether the request is a gRPC call: an HTTP/2 POST
// with a gRPC content type. Only on routes to h2c:// upstreams does that
// change policy (see decide and the body timeouts); elsewhere the content
// type is a client's word and changes nothing.
func realGRPC(r *http.Request) bool {
	return r.Method == http.MethodPost && isGRPC(r)
}

func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// grpcDeadlineExceeded is gRPC's DeadlineExceeded; the codes of
// authentication failures come from guard.GRPCCode.
const grpcDeadlineExceeded uint32 = 4

// writeGRPCError answers a gRPC call with a trailers-only response, which
// is how a gRPC server refuses a call before any message.
func writeGRPCError(w http.ResponseWriter, code uint32, msg, challenge string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", fmt.Sprint(code))
	h.Set("Grpc-Message", grpcEscape(msg))
	if challenge != "" {
		h.Set("Www-Authenticate", challenge)
	}
	w.WriteHeader(http.StatusOK)
}

// grpcEscape percent-encodes a grpc-message value as the gRPC HTTP/2
// protocol asks (printable ASCII except '%').
func grpcEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
