package gateway_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// TestForwardAuthNginxUnderWrk drives nginx alone and nginx asking the
// gateway (auth_request, the configuration docs/gateway.md shows) on the same upstream
// with wrk, alternating, and reports the throughput ratio. Every request
// must be answered 200 in both. OKTAFED_WRK_DURATION (default 2s) and
// OKTAFED_WRK_ROUNDS (default 2; the best round of each is kept) lengthen
// it for figures.
func TestForwardAuthNginxUnderWrk(t *testing.T) {
	wrk := testenv.Wrk(t)
	dur := 2 * time.Second
	if v := os.Getenv("OKTAFED_WRK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Minute {
			t.Fatalf("OKTAFED_WRK_DURATION=%q: give a duration up to 1m", v)
		}
		dur = d
	}
	rounds := 2
	if v := os.Getenv("OKTAFED_WRK_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			t.Fatalf("OKTAFED_WRK_ROUNDS=%q: give 1 to 10", v)
		}
		rounds = n
	}
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Role") == "" && r.Header.Get("X-Bench-Plain") == "" {
			w.WriteHeader(http.StatusTeapot) // forward-auth let a request through without identity
			return
		}
		w.Write([]byte("ok\n"))
	}))
	t.Cleanup(up.Close)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	cfg := oktaConfig(t, sb, "")
	cfg.ForwardAuth.Only = true
	cfg.Routes = hostileRoutes()
	gw := startGatewayWith(t, cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	waitReady(t, gw)
	withAuth := testenv.Nginx(t, testenv.NginxOptions{Server: nginxConf(t, upAddr, strings.TrimPrefix(gw.url, "http://"))})
	alone := testenv.Nginx(t, testenv.NginxOptions{Server: func(port int) string {
		return fmt.Sprintf(`upstream app { server %s; keepalive 16; }
server {
    listen 127.0.0.1:%d;
    location / {
        proxy_set_header X-Bench-Plain 1;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://app;
    }
}
`, upAddr, port)
	}})
	tok := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
	// The floor auth_request itself costs: a Go server that replays the
	// gateway's answer for this token (the same identity headers, so
	// nginx and the upstream carry the same bytes) without deciding.
	st, answer, _ := faCall(t, gw.url, "GET", gateway.DefaultForwardAuthPath, map[string]string{"Authorization": "Bearer " + tok, "X-Original-URI": "/x", "X-Original-Method": "GET"})
	if st != 200 {
		t.Fatalf("forward-auth: %d", st)
	}
	floorAuth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range answer {
			if strings.HasPrefix(k, "X-Auth-") || k == "Cache-Control" {
				w.Header()[k] = v
			}
		}
	}))
	t.Cleanup(floorAuth.Close)
	floor := testenv.Nginx(t, testenv.NginxOptions{Server: nginxConf(t, upAddr, strings.TrimPrefix(floorAuth.URL, "http://"))})

	run := func(url string) float64 {
		t.Helper()
		cmd := exec.Command(wrk, "-t1", "-c16", "-d"+dur.String(), "--timeout", "10s", "-H", "Authorization: Bearer "+tok, url)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("wrk: %v\n%s", err, out)
		}
		s := string(out)
		if strings.Contains(s, "Non-2xx") {
			t.Fatalf("non-2xx answers under load (%s):\n%s", url, s)
		}
		if m := wrkSocketErrors.FindStringSubmatch(s); m != nil {
			t.Fatalf("socket errors under load (%s): %s", url, m[0])
		}
		m := wrkRate.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("wrk output without a rate:\n%s", s)
		}
		r, _ := strconv.ParseFloat(m[1], 64)
		return r
	}
	urls := []string{alone.URL() + "/x", withAuth.URL() + "/x", floor.URL() + "/x"}
	best := make([]float64, len(urls))
	for i := range rounds {
		// Each round starts one scenario later, so none always follows
		// the same neighbour.
		for j := range urls {
			k := (i + j) % len(urls)
			best[k] = max(best[k], run(urls[k]))
		}
	}
	t.Logf("wrk -t1 -c16 -d%s, best of %d rounds: nginx alone %.0f req/s; nginx + oktafed forward-auth %.0f req/s (ratio %.2f); nginx + a Go auth server replaying the same answer without deciding %.0f req/s (ratio %.2f; oktafed / that floor %.2f)",
		dur, rounds, best[0], best[1], best[1]/best[0], best[2], best[2]/best[0], best[1]/best[2])
}
