package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// Tracing: every request gets a server span (a child of the caller's W3C
// traceparent when a trusted peer, forward_auth.trusted, sends one; other
// callers' trace is only linked), with children for the decision, the
// token check, issuer key fetches and introspection calls, Redis
// commands, and the upstream call, which carries the trace on in its own
// traceparent and tracestate. Without a TracerProvider (the default)
// nothing is traced and no header is added; a client's traceparent then
// passes through untouched.

// tracing holds the tracer; on is false for the no-op provider, so the
// hot path skips all of it.
type tracing struct {
	on     bool
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func newTracing(tp trace.TracerProvider) *tracing {
	if tp == nil {
		return &tracing{tracer: noop.NewTracerProvider().Tracer(""), prop: propagation.TraceContext{}}
	}
	return &tracing{on: true, tracer: tp.Tracer("github.com/oktafed/oktafed/gateway"),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
}

// TracingFromEnv builds the OTLP/HTTP trace exporter the standard
// OpenTelemetry variables describe: it is on when OTEL_TRACES_EXPORTER is
// otlp or an OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set, and off with
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. The exporter reads
// the endpoint, headers, TLS files, timeout and compression from the
// OTEL_EXPORTER_OTLP_* variables itself, and the sampler from
// OTEL_TRACES_SAMPLER; the service is OTEL_SERVICE_NAME (default
// oktafed-gateway) with OTEL_RESOURCE_ATTRIBUTES. It returns nil when
// tracing is off; shutdown flushes the spans still buffered.
func TracingFromEnv(ctx context.Context, getenv func(string) string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return nil, none, nil
	}
	switch exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return nil, none, nil
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, none, nil
		}
	case "otlp":
	default:
		return nil, none, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: this gateway exports otlp (or none)", exp)
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(k); p != "" {
			if p != "http/protobuf" {
				return nil, none, fmt.Errorf("%s=%q: this gateway exports over http/protobuf; point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP/HTTP port (4318)", k, p)
			}
			break
		}
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, none, fmt.Errorf("OTLP trace exporter: %w (check the OTEL_EXPORTER_OTLP_* variables)", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "oktafed-gateway")),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && res == nil {
		return nil, none, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return p, p.Shutdown, nil
}

// serverSpan starts the request's span: a child of the caller's trace
// when the caller is trusted (forward_auth.trusted, the ingresses), else
// the root of a new trace that only links to the caller's, so an
// untrusted client cannot choose the trace id, force sampling, attach
// the gateway's spans to another's trace or send baggage upstream.
func (t *tracing) serverSpan(r *http.Request, trusted bool) (*http.Request, trace.Span) {
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path),
			attribute.String("network.protocol.version", fmt.Sprintf("%d.%d", r.ProtoMajor, r.ProtoMinor)))}
	if !trusted {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
		ctx = r.Context()
	}
	ctx, span := t.tracer.Start(ctx, "oktafed-gateway "+r.Method, opts...)
	if id := r.Header.Get(HeaderRequestID); id != "" {
		span.SetAttributes(attribute.String("http.request.header.x-request-id", id))
	}
	return r.WithContext(ctx), span
}

// statusWriter records the status for the server span; Unwrap keeps
// flushing, trailers and upgrades working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// traced serves r through h inside a server span; trusted says whether
// r's trace context is continued (serverSpan).
func (t *tracing) traced(h http.Handler, w http.ResponseWriter, r *http.Request, trusted bool) {
	r, span := t.serverSpan(r, trusted)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
		span.End()
	}()
	h.ServeHTTP(sw, r)
}

// tracedDecide is decide inside a span naming the route and the verdict.
func (g *Gateway) tracedDecide(ctx context.Context, method, target string, authorization []string, grpc bool) decision {
	if !g.tr.on {
		return g.decide(ctx, method, target, authorization, grpc)
	}
	ctx, span := g.tr.tracer.Start(ctx, "oktafed.decision")
	d := g.decide(ctx, method, target, authorization, grpc)
	route := "-"
	if d.rt != nil {
		route = d.rt.name
	}
	span.SetAttributes(attribute.String("oktafed.route", route), attribute.Int("oktafed.status", d.status()))
	if d.p != nil {
		span.SetAttributes(attribute.String("oktafed.provider", d.p.Provider), attribute.String("oktafed.role", d.p.Role))
	}
	if d.authErr != nil {
		span.SetAttributes(attribute.String("oktafed.refused", d.authErr.Error()))
	}
	span.End()
	return d
}

// tracedVerifier puts the token check in a span.
type tracedVerifier struct {
	next interface {
		Verify(context.Context, string) (*verify.Principal, error)
	}
	tr *tracing
}

func (v tracedVerifier) Verify(ctx context.Context, token string) (*verify.Principal, error) {
	ctx, span := v.tr.tracer.Start(ctx, "oktafed.verify_token")
	defer span.End()
	p, err := v.next.Verify(ctx, token)
	if err != nil {
		span.SetStatus(codes.Error, "token refused")
		var ve *verify.Error
		if errors.As(err, &ve) {
			span.SetAttributes(attribute.String("oktafed.reason", ve.Reason.Error()))
		}
	} else {
		span.SetAttributes(attribute.String("oktafed.provider", p.Provider), attribute.Bool("oktafed.introspected", p.Introspected))
	}
	return p, err
}

// VerifyDPoP puts the check of a DPoP-bound token and its proof in a
// span; the verifiers the gateway wraps all check proofs.
func (v tracedVerifier) VerifyDPoP(ctx context.Context, token string, r verify.DPoPRequest) (*verify.Principal, error) {
	dv, ok := v.next.(guard.DPoPVerifier)
	if !ok {
		return nil, &verify.Error{Reason: verify.ErrMissingToken, Description: "DPoP is not accepted here: send a Bearer token"}
	}
	ctx, span := v.tr.tracer.Start(ctx, "oktafed.verify_token")
	defer span.End()
	span.SetAttributes(attribute.Bool("oktafed.dpop", true))
	p, err := dv.VerifyDPoP(ctx, token, r)
	if err != nil {
		span.SetStatus(codes.Error, "token refused")
	}
	return p, err
}

// tracedTransport makes a client span of each round trip and sends the
// trace on in traceparent.
type tracedTransport struct {
	base http.RoundTripper
	tr   *tracing
	name func(*http.Request) string
	kind trace.SpanKind
}

func (t tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.tr.tracer.Start(req.Context(), t.name(req), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("server.address", req.URL.Host)))
	defer span.End()
	// A RoundTripper must not change the request it was given.
	req = req.Clone(ctx)
	req.Header.Del("Tracestate") // the caller's, set again only when its trace is continued
	t.tr.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, resp.Status)
	}
	return resp, nil
}

// upstreamTransport traces the calls to one upstream.
func (t *tracing) upstreamTransport(base http.RoundTripper) http.RoundTripper {
	if !t.on {
		return base
	}
	return tracedTransport{base: base, tr: t, kind: trace.SpanKindClient, name: func(*http.Request) string { return "oktafed.upstream" }}
}

// issuerClient traces the verifier's calls: key set fetches, discovery
// and introspection.
func (t *tracing) issuerClient(c *http.Client) *http.Client {
	if !t.on {
		return c
	}
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc := *c
	cc.Transport = tracedTransport{base: base, tr: t, kind: trace.SpanKindClient, name: func(r *http.Request) string {
		switch p := r.URL.Path; {
		case strings.Contains(p, "introspect"):
			return "oktafed.introspection"
		case strings.Contains(p, "openid-configuration") || strings.Contains(p, "oauth-authorization-server"):
			return "oktafed.discovery"
		}
		return "oktafed.key_fetch"
	}}
	return &cc
}

// redisHook traces the Redis commands a traced request makes (revoking,
// the shared introspection cache); the background feed's own commands
// have no parent span and are not traced.
type redisHook struct{ tr *tracing }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmd)
		}
		ctx, span := h.tr.tracer.Start(ctx, "redis "+cmd.Name(), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", "redis"), attribute.String("db.operation.name", cmd.Name())))
		defer span.End()
		err := next(ctx, cmd)
		if err != nil && !errors.Is(err, redis.Nil) {
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return next(ctx, cmds)
		}
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		ctx, span := h.tr.tracer.Start(ctx, "redis pipeline", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("db.system.name", "redis"), attribute.StringSlice("db.operation.batch", names)))
		defer span.End()
		err := next(ctx, cmds)
		if err != nil && !errors.Is(err, redis.Nil) {
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

// instrumentRedis adds the hook when tracing is on.
func (t *tracing) instrumentRedis(c redis.UniversalClient) {
	if t.on && c != nil {
		c.AddHook(redisHook{tr: t})
	}
}
