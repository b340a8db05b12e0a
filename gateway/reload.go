package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A configuration reload builds a new generation of the gateway (routes,
// upstreams, rules, verifier) beside the running one and, once it has
// passed every check New makes and its issuers' keys are loaded, makes it
// serve every request that arrives from then on. Requests under way finish
// on the generation that took them. The generations share what outlives a
// configuration: the listener, readiness and draining state, the Redis
// connection with the revocation list, the in-memory revocation list, and
// the metrics.

// reloadWarmTimeout bounds how long a reload waits for new issuers' keys
// before giving up and keeping the running configuration.
const reloadWarmTimeout = 30 * time.Second

// reloadState is shared by every generation of one gateway.
type reloadState struct {
	mu   sync.Mutex               // one reload at a time
	live atomic.Pointer[Gateway]  // nil: the first generation serves
	gen  atomic.Int64             // the live generation, from 1
	opts Options                  // the first generation's options, prev unset
	ctx  context.Context          // ends at Close: background key refreshes
	stop context.CancelFunc       // ends ctx
	own  context.CancelFunc       // stops the live generation's own key refresh
	last atomic.Pointer[[32]byte] // hash of the file last loaded by WatchFile

	generation prometheus.GaugeFunc
	reloads    *prometheus.CounterVec
	lastOK     prometheus.Gauge
}

func newReloadState(opts Options) *reloadState {
	st := &reloadState{opts: opts}
	st.ctx, st.stop = context.WithCancel(context.Background())
	st.gen.Store(1)
	st.generation = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "oktafed_gateway_config_generation",
		Help: "The configuration generation serving new requests: 1 at start, one more for each successful reload.",
	}, func() float64 { return float64(st.gen.Load()) })
	st.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oktafed_gateway_config_reloads_total",
		Help: "Configuration reloads by result: ok, or failed (the running configuration was kept).",
	}, []string{"result"})
	st.lastOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "oktafed_gateway_config_last_reload_success_timestamp_seconds",
		Help: "Unix time the live configuration was loaded (at start or by the last successful reload).",
	})
	st.lastOK.SetToCurrentTime()
	st.reloads.WithLabelValues("ok")
	st.reloads.WithLabelValues("failed")
	return st
}

// register adds the reload series, and the Redis ones when rr is set, to
// the first generation's registry, which every generation shares.
func (st *reloadState) register(reg *prometheus.Registry, rr *redisRevocations) {
	reg.MustRegister(st.generation, st.reloads, st.lastOK)
	if rr != nil {
		rr.registerMetrics(reg)
	}
}

func (st *reloadState) close() {
	if st == nil {
		return
	}
	st.stop()
}

// inherit gives a new generation the state the previous one shares, or
// fresh state for the first.
func (g *Gateway) inherit(opts Options) {
	if prev := opts.prev; prev != nil {
		g.keysReady, g.draining, g.reload = prev.keysReady, prev.draining, prev.reload
		return
	}
	g.keysReady, g.draining = new(atomic.Bool), new(atomic.Bool)
	g.reload = newReloadState(opts)
}

// shareRedis takes the previous generation's Redis connection and
// revocation list (or its in-memory list without Redis).
func (g *Gateway) shareRedis(prev *Gateway, introspection bool) {
	g.revs, g.redis, g.rshared = prev.revs, prev.redis, prev.rshared
	if g.rshared != nil && introspection {
		g.shared = g.rshared.cache
	}
}

// current is the generation serving new requests.
func (g *Gateway) current() *Gateway {
	if c := g.reload.live.Load(); c != nil {
		return c
	}
	return g
}

func (g *Gateway) serveLive(w http.ResponseWriter, r *http.Request) {
	cur := g.current()
	cur.withRequestID(r)
	if cur.tr.on {
		cur.tr.traced(cur.handler, w, r, cur.fwd.trustedPeer(r.RemoteAddr))
		return
	}
	cur.handler.ServeHTTP(w, r)
}

// Generation is the number of the configuration serving new requests: 1
// at start, one more for each successful Reload.
func (g *Gateway) Generation() int64 { return g.reload.gen.Load() }

// Reload validates cfg as New does (and as oktafed-gateway --check does),
// loads the keys of issuers the running configuration does not have, and
// then serves every new request with it; requests under way finish with
// the configuration that took them. On any error the running
// configuration stays in place, the error says why, and it is logged.
//
// Redis settings apply only at a restart: a cfg that changes them is
// refused. Settings of the listener (listen, tls, timeouts.read_header,
// timeouts.idle, timeouts.drain, shutdown_timeout) are logged as waiting
// for a restart and the rest is applied.
func (g *Gateway) Reload(ctx context.Context, cfg Config) error {
	st := g.reload
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := g.current()
	next, err := g.build(ctx, cur, cfg)
	if err != nil {
		st.reloads.WithLabelValues("failed").Inc()
		g.log.Error("configuration reload failed; the running configuration is kept", "generation", st.gen.Load(), "err", err.Error())
		return err
	}
	st.live.Store(next)
	gen := st.gen.Add(1)
	st.reloads.WithLabelValues("ok").Inc()
	st.lastOK.SetToCurrentTime()
	g.log.Info("configuration reloaded", "generation", gen, "routes", len(next.routes.routes), "issuers", next.v.Issuers())
	return nil
}

// build makes the generation that would follow cur, warmed and ready.
func (g *Gateway) build(ctx context.Context, cur *Gateway, cfg Config) (*Gateway, error) {
	st := g.reload
	if !reflect.DeepEqual(cur.cfg.Redis, cfg.Redis) {
		return nil, errors.New("the redis settings changed: they apply only when the gateway restarts; restore them to reload, or restart the gateway")
	}
	if restart := restartOnly(cur.cfg, cfg); len(restart) > 0 {
		g.log.Warn("configuration reload: these settings apply only when the gateway restarts", "settings", restart)
	}
	opts := st.opts
	opts.prev = cur
	// The same issuers keep the same verifier, keys and token cache.
	newVC, err := cfg.VerifyConfig()
	if err != nil {
		return nil, err
	}
	if oldVC, err := cur.cfg.VerifyConfig(); err == nil && reflect.DeepEqual(oldVC, newVC) {
		opts.Verifier = cur.v
	}
	next, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if next.v == cur.v {
		return next, nil
	}
	wctx, cancel := context.WithTimeout(ctx, reloadWarmTimeout)
	defer cancel()
	if err := next.v.Warm(wctx); err != nil {
		return nil, fmt.Errorf("cannot load the issuers' keys of the new configuration: %w (check the issuer URLs and that they answer)", err)
	}
	rctx, stop := context.WithCancel(st.ctx)
	next.v.RefreshInBackground(rctx)
	if st.own != nil {
		st.own() // the replaced generation's own verifier
	} else if cur.stopWarm != nil {
		cur.stopWarm() // the first generation's verifier, refreshed by Serve
	}
	st.own = stop
	g.keysReady.Store(true)
	return next, nil
}

// restartOnly names the settings that differ between a and b and that
// only a restart applies.
func restartOnly(a, b Config) []string {
	var out []string
	for _, f := range []struct {
		name string
		same bool
	}{
		{"listen", a.Listen == b.Listen || b.Listen == ""},
		{"tls", a.TLS == b.TLS},
		{"timeouts.read_header", a.Timeouts.ReadHeader == b.Timeouts.ReadHeader},
		{"timeouts.idle", a.Timeouts.Idle == b.Timeouts.Idle},
		{"timeouts.drain", a.Timeouts.Drain == b.Timeouts.Drain},
		{"shutdown_timeout", a.ShutdownTimeout == b.ShutdownTimeout || b.ShutdownTimeout <= 0},
	} {
		if !f.same {
			out = append(out, f.name)
		}
	}
	return out
}

// WatchFile polls path every interval and calls reload when its content
// changes, until ctx ends. It compares content, not times, so a
// Kubernetes ConfigMap update (an atomic swap of a symbolic link) and an
// editor's rename are seen alike; a file that cannot be read is skipped
// and logged, and the running configuration stays. Reloads after SIGHUP
// record the content they loaded through ConfigLoaded, so the watch does
// not load the same file twice; call ConfigLoaded before starting the
// watch so a change made meanwhile is not taken as the baseline.
func (g *Gateway) WatchFile(ctx context.Context, path string, every time.Duration, reload func()) {
	if every <= 0 {
		return
	}
	if g.reload.last.Load() == nil {
		g.ConfigLoaded(path)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if !warned {
				g.log.Warn("configuration watch: cannot read the file; the running configuration is kept", "path", path, "err", err.Error())
				warned = true
			}
			continue
		}
		warned = false
		sum := sha256.Sum256(b)
		if last := g.reload.last.Load(); last != nil && bytes.Equal(last[:], sum[:]) {
			continue
		}
		g.log.Info("configuration watch: the file changed; reloading", "path", path)
		g.reload.last.Store(&sum)
		reload()
	}
}

// ConfigLoaded records the content of path as the one last loaded, for
// WatchFile.
func (g *Gateway) ConfigLoaded(path string) {
	if path == "" {
		return
	}
	if b, err := os.ReadFile(path); err == nil {
		sum := sha256.Sum256(b)
		g.reload.last.Store(&sum)
	}
}

// ReloadFailed records a reload that failed before Reload could be
// called (the file did not parse): it counts it and logs why, and the
// running configuration stays.
func (g *Gateway) ReloadFailed(trigger string, err error) {
	g.reload.reloads.WithLabelValues("failed").Inc()
	g.log.Error("configuration reload failed; the running configuration is kept",
		"trigger", trigger, "generation", g.reload.gen.Load(), "err", err.Error())
}
