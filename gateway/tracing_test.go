package gateway_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// otlpCollector is an OTLP/HTTP trace receiver: it decodes what the
// exporter posts to /v1/traces with the OTLP protobuf types.
type otlpCollector struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string
}

func startCollector(t *testing.T) (*otlpCollector, string) {
	c := &otlpCollector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					c.service = append(c.service, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// inTrace returns the names of the spans of one trace.
func (c *otlpCollector) inTrace(traceID string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, s := range c.spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			out[s.Name]++
		}
	}
	return out
}

func (c *otlpCollector) named(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.spans {
		if s.Name == name {
			n++
		}
	}
	return n
}

// TestTracingExportsToOTLPCollector configures tracing from the standard
// OTEL_* variables, sends requests through the gateway and reads the
// export in an in-process OTLP/HTTP collector: the upstream's traceparent
// carries the trace id of the request's spans (decision, token check,
// upstream call), a caller's traceparent is continued, the revocation's
// Redis commands are spans of its trace, and the key fetch is exported.
func TestTracingExportsToOTLPCollector(t *testing.T) {
	col, colURL := startCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", colURL)
	t.Setenv("OTEL_SERVICE_NAME", "orders-gateway")
	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
	tp, shutdown, err := gateway.TracingFromEnv(context.Background(), os.Getenv)
	if err != nil || tp == nil {
		t.Fatalf("TracingFromEnv: %v (provider %v)", err, tp)
	}

	var mu sync.Mutex
	var parents []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("Traceparent"))
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	rs := testenv.Redis(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Redis.URL = "redis://" + rs.Addr() + "/0"
	cfg.Redis.Prefix = "test:tracing:"
	gw := startGatewayWith(t, cfg, gateway.Options{TracerProvider: tp})
	waitReady(t, gw)
	reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)

	if st, _, _ := do(t, "GET", gw.url+"/x", reader, nil); st != 200 {
		t.Fatalf("GET: %d", st)
	}
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	if st, _, _ := do(t, "GET", gw.url+"/y", reader, map[string]string{"Traceparent": "00-" + callerTrace + "-00f067aa0ba902b7-01"}); st != 200 {
		t.Fatalf("GET with a traceparent: %d", st)
	}
	if st := revoke(t, gw.url, admin, url.Values{"jti": {"AT.traced"}}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("flushing the spans: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(parents) != 2 {
		t.Fatalf("upstream got %d requests", len(parents))
	}
	for i, tp := range parents {
		parts := strings.Split(tp, "-")
		if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 {
			t.Fatalf("request %d: upstream traceparent %q is not W3C", i, tp)
		}
		names := col.inTrace(parts[1])
		for _, want := range []string{"oktafed-gateway GET", "oktafed.decision", "oktafed.verify_token", "oktafed.upstream"} {
			if names[want] != 1 {
				t.Errorf("request %d: trace %s has spans %v, want one %q", i, parts[1], names, want)
			}
		}
	}
	if got := strings.Split(parents[1], "-"); len(got) == 4 && got[1] != callerTrace {
		t.Errorf("the caller's trace %s was not continued: upstream got %s", callerTrace, parents[1])
	}
	col.mu.Lock()
	var revokeTrace string
	for _, s := range col.spans {
		if s.Name == "oktafed-gateway POST" {
			revokeTrace = hex.EncodeToString(s.TraceId)
		}
	}
	col.mu.Unlock()
	if names := col.inTrace(revokeTrace); names["redis pipeline"]+names["redis set"] == 0 || names["redis publish"] == 0 {
		t.Errorf("the revocation's trace has spans %v, want its Redis commands", names)
	}
	if col.named("oktafed.key_fetch") == 0 {
		t.Error("no key fetch span exported")
	}
	if len(col.service) == 0 || col.service[0] != "orders-gateway" {
		t.Errorf("service.name %v, want OTEL_SERVICE_NAME's orders-gateway", col.service)
	}
}

// TestTracingFromEnvOff: without OTEL_* variables, or with the SDK
// disabled, nothing is traced; unsupported settings are refused with
// what to do.
func TestTracingFromEnvOff(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"nothing set":   {},
		"sdk disabled":  {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
		"exporter none": {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
	} {
		tp, _, err := gateway.TracingFromEnv(context.Background(), func(k string) string { return env[k] })
		if err != nil || tp != nil {
			t.Errorf("%s: provider %v, err %v; want none", name, tp, err)
		}
	}
	for name, env := range map[string]map[string]string{
		"grpc protocol": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"zipkin":        {"OTEL_TRACES_EXPORTER": "zipkin"},
	} {
		if _, _, err := gateway.TracingFromEnv(context.Background(), func(k string) string { return env[k] }); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
