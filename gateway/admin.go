package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The admin listener serves what operators and orchestrators ask the
// gateway about itself: /healthz, /readyz and /metrics (and pprof when
// admin_pprof is on). It is a listener of its own, as oauth2-proxy,
// Pomerium and Oathkeeper have, so none of it is published with the proxy
// port, and the upstream's own paths of those names stay reachable
// through the proxy.

// DefaultAdminListen is Config.AdminListen when unset.
const DefaultAdminListen = "127.0.0.1:9090"

// AdminListenOff, as Config.AdminListen, disables the admin listener.
const AdminListenOff = "off"

// Admin paths.
const (
	pathHealth  = "/healthz"
	pathReady   = "/readyz"
	pathMetrics = "/metrics"
)

// AdminHandler returns the admin listener's handler: /healthz, /readyz,
// /metrics, and /debug/pprof/ when Config.AdminPprof is set; 404
// elsewhere.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathHealth, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+pathReady, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		ok, msg := g.current().readiness()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(msg + "\n"))
	})
	mux.HandleFunc("GET "+pathMetrics, func(w http.ResponseWriter, r *http.Request) {
		// The live generation's registry: a reload builds a new one.
		promhttp.HandlerFor(g.current().metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
	if g.current().cfg.AdminPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ServeAdmin serves AdminHandler on ln. It keeps answering while Serve
// drains (so /readyz reports 503 to the orchestrator) and returns once
// ctx is done and Serve has returned, or StopDuration after ctx ends.
func (g *Gateway) ServeAdmin(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g.AdminHandler(),
		ReadHeaderTimeout: g.timeouts.ReadHeader,
		ReadTimeout:       g.timeouts.ReadHeader,
		WriteTimeout:      time.Minute, // pprof profiles take up to 30s by default
		IdleTimeout:       g.timeouts.Idle,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	g.log.Info("gateway admin listening", "addr", ln.Addr().String(), "pprof", g.cfg.AdminPprof)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(g.StopDuration() + time.Second)
	defer t.Stop()
	select {
	case <-g.served:
	case <-t.C:
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
