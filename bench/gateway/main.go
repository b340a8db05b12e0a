// Command gateway is the oktafed gateway's load test: it starts a sandbox
// Okta org, a trivial upstream and the gateway on 127.0.0.1, then drives
// each with wrk for a bounded time and prints requests per second and p99
// latency side by side: upstream alone, gateway on a public route (proxy
// cost only), gateway verifying a token with a role rule, and, when its
// binary is given, oauth2-proxy verifying the same bearer token; and nginx
// as a plain proxy_pass in front of the same upstream, the anchor for what
// proxying alone costs on this machine.
//
// With -gateway-bin the gateway measured is the oktafed-gateway binary,
// run as its own process as servers run it (./run builds it); without, or
// when profiling, it runs inside this process through package gateway.
//
//	go run ./gateway -d 10s -gateway-bin /tmp/oktafed-gateway -oauth2-proxy /tmp/o2p/oauth2-proxy
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

func main() {
	dur := flag.Duration("d", 10*time.Second, "wrk duration per scenario (at most 60s)")
	conns := flag.Int("c", 64, "wrk connections")
	threads := flag.Int("t", 2, "wrk threads")
	rounds := flag.Int("rounds", 1, "times each scenario runs; the best is kept")
	o2p := flag.String("oauth2-proxy", "", "oauth2-proxy binary; empty skips it")
	nginx := flag.String("nginx", "/usr/sbin/nginx", "nginx binary for the proxy_pass scenario; empty skips it")
	gwBin := flag.String("gateway-bin", "", "oktafed-gateway binary to measure as its own process; empty (or profiling) runs the gateway in this process")
	wrk := flag.String("wrk", "/usr/bin/wrk", "wrk binary")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the gateway process over every round of the token scenario to this file")
	mutexprofile := flag.String("mutexprofile", "", "write a mutex contention profile of the token scenario to this file")
	flag.Parse()
	profilePath, mutexPath = *cpuprofile, *mutexprofile
	if *dur > time.Minute || *dur <= 0 || *rounds < 1 || *rounds > 5 {
		fail(errors.New("-d must be in (0, 60s] and -rounds in [1, 5]"))
	}
	if profilePath != "" || mutexPath != "" {
		*gwBin = "" // the profiles are of this process
	}
	nginxBin = *nginx
	if err := run(*dur, *conns, *threads, *rounds, *o2p, *wrk, *gwBin); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/gateway:", err)
	os.Exit(1)
}

func listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	return ln
}

// profilePath, when set, names the CPU profile taken while the token
// scenario runs.
var profilePath, mutexPath string

// nginxBin is the nginx measured as a plain proxy_pass in front of the
// same upstream: the physical anchor for what a proxy costs here.
var nginxBin string

type result struct {
	name string
	rps  float64
	p99  time.Duration
	non2 int
}

func run(dur time.Duration, conns, threads, rounds int, o2pBin, wrkBin, gwBin string) error {
	sb, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
	if err != nil {
		return err
	}
	defer sb.Close()

	// The upstream answers a small fixed body, like a health or lookup
	// endpoint: the cheaper it is, the more the proxy's own cost shows.
	upLn := listen()
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})}
	go upstream.Serve(upLn)
	defer upstream.Close()
	upURL := "http://" + upLn.Addr().String()

	var gwURL string
	if gwBin != "" {
		u, stop, err := startGatewayBinary(gwBin, sb, upURL)
		if err != nil {
			return err
		}
		defer stop()
		gwURL = u
	} else {
		u, stop, err := startGateway(sb, upURL)
		if err != nil {
			return err
		}
		defer stop()
		gwURL = u
	}

	tok, err := sb.MintAccessToken("default", map[string]any{
		"sub": "bench@example.com", "cid": "0oa1demoservice00001", "scp": []string{"orders.read"}, "groups": []string{"readers"},
	}, 2*time.Hour)
	if err != nil {
		return err
	}

	type scenario struct {
		name, url, token string
	}
	const (
		nameDirect = "upstream direct"
		namePublic = "gateway, public route (no auth)"
		nameBytes  = "gateway, public route + token bytes"
		nameToken  = "gateway, token + role rule"
		nameO2P    = "oauth2-proxy, bearer token"
		nameNginx  = "nginx proxy_pass (no auth)"
	)
	// "public route + token bytes" sends the same Authorization header to
	// the public route, where it is not checked but still read, forwarded
	// and read again by the upstream: it separates the cost of carrying
	// a 1 KB header from the cost of checking it.
	scenarios := []scenario{
		{nameDirect, upURL + "/", ""},
		{namePublic, gwURL + "/public/x", ""},
		{nameBytes, gwURL + "/public/x", tok},
		{nameToken, gwURL + "/x", tok},
	}
	if nginxBin != "" {
		u, stop, err := startNginx(nginxBin, upURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nginx skipped:", err)
		} else {
			defer stop()
			scenarios = append(scenarios, scenario{nameNginx, u + "/public/x", ""})
		}
	}
	if o2pBin != "" {
		u, stop, err := startOAuth2Proxy(o2pBin, sb, upURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "oauth2-proxy skipped:", err)
		} else {
			defer stop()
			scenarios = append(scenarios, scenario{nameO2P, u + "/x", tok})
		}
	}
	// Every scenario must answer 200 before it is measured.
	for _, s := range scenarios {
		if err := check(s.url, s.token); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	best := map[string]result{}
	var prof *os.File
	if profilePath != "" {
		if prof, err = os.Create(profilePath); err != nil {
			return err
		}
		defer prof.Close()
	}
	for r := 0; r < rounds; r++ {
		// Each round starts one scenario later, so none always runs right
		// after the same neighbour (and its garbage, its warm caches).
		order := append(slices.Clone(scenarios[r%len(scenarios):]), scenarios[:r%len(scenarios)]...)
		for _, s := range order {
			profiling := prof != nil && s.name == nameToken && r == 0
			if mutexPath != "" && s.name == nameToken && r == 0 {
				runtime.SetMutexProfileFraction(1)
				runtime.SetBlockProfileRate(1000)
			}
			if profiling {
				if err := pprof.StartCPUProfile(prof); err != nil {
					return err
				}
			}
			res, err := runWrk(wrkBin, s.url, s.token, dur, conns, threads)
			if profiling {
				pprof.StopCPUProfile()
			}
			if mutexPath != "" && s.name == nameToken && r == 0 {
				runtime.SetMutexProfileFraction(0)
				runtime.SetBlockProfileRate(0)
				for _, kind := range []string{"mutex", "block"} {
					f, err := os.Create(mutexPath + "." + kind)
					if err != nil {
						return err
					}
					_ = pprof.Lookup(kind).WriteTo(f, 0)
					f.Close()
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			res.name = s.name
			if res.rps > best[s.name].rps {
				best[s.name] = res
			}
		}
	}
	fmt.Printf("wrk -t%d -c%d -d%s on 127.0.0.1, GOMAXPROCS=%s, best of %d\n\n", threads, conns, dur, os.Getenv("GOMAXPROCS"), rounds)
	fmt.Printf("%-34s %12s %10s %8s\n", "scenario", "req/s", "p99", "non-2xx")
	for _, s := range scenarios {
		r := best[s.name]
		fmt.Printf("%-34s %12.0f %10s %8d\n", r.name, r.rps, r.p99.Round(10*time.Microsecond), r.non2)
	}
	auth, noauth, bytes := best[nameToken], best[namePublic], best[nameBytes]
	fmt.Printf("\nauth / no-auth throughput: %.2f\n", auth.rps/noauth.rps)
	fmt.Printf("auth / public route with the same header: %.2f\n", auth.rps/bytes.rps)
	if n, ok := best[nameNginx]; ok {
		fmt.Printf("gateway (public) / nginx proxy_pass throughput: %.2f\n", noauth.rps/n.rps)
		fmt.Printf("gateway (auth) / nginx proxy_pass throughput: %.2f\n", auth.rps/n.rps)
	}
	if o, ok := best[nameO2P]; ok {
		fmt.Printf("gateway (auth) / oauth2-proxy throughput: %.2f   p99 %s vs %s\n", auth.rps/o.rps, auth.p99.Round(10*time.Microsecond), o.p99.Round(10*time.Microsecond))
	}
	return nil
}

func check(u, token string) error {
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP99     = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\s*$`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
	reSockErr = regexp.MustCompile(`Socket errors:.*`)
)

func runWrk(bin, u, token string, dur time.Duration, conns, threads int) (result, error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(dur.Seconds())) + "s", "--latency", "--timeout", "5s"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	args = append(args, u)
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	s := string(out)
	var r result
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reP99.FindStringSubmatch(s); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
		r.p99 = time.Duration(v * float64(unit))
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		r.non2, _ = strconv.Atoi(m[1])
	}
	if e := reSockErr.FindString(s); e != "" {
		fmt.Fprintf(os.Stderr, "%s: %s\n", u, e)
	}
	return r, nil
}

// startOAuth2Proxy runs oauth2-proxy in bearer-token mode against the
// sandbox's "default" authorization server.
func startOAuth2Proxy(bin string, sb *sandbox.Server, upstream string) (string, func(), error) {
	ln := listen()
	addr := ln.Addr().String()
	ln.Close()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cmd := exec.Command(bin,
		"--http-address="+addr,
		"--upstream="+upstream+"/",
		"--provider=oidc",
		"--oidc-issuer-url="+sb.Issuer("default"),
		"--client-id=0oa1demoservice00001",
		"--client-secret=demo-service-secret-not-secret",
		"--oidc-extra-audience=api://default",
		"--oidc-email-claim=sub",
		"--insecure-oidc-allow-unverified-email=true",
		"--skip-jwt-bearer-tokens=true",
		"--email-domain=*",
		"--cookie-secret="+base64.RawURLEncoding.EncodeToString(secret),
		"--cookie-secure=false",
		"--request-logging=false",
		"--auth-logging=false",
		"--standard-logging=false",
	)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	var tail []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if len(tail) < 20 {
				tail = append(tail, sc.Text())
			}
		}
	}()
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	u := "http://" + addr
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(u + "/ping"); err == nil {
			resp.Body.Close()
			return u, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("oauth2-proxy did not start: %s", strings.Join(tail, "\n"))
}

// startGateway runs the gateway inside this process, where -cpuprofile
// and -mutexprofile can see it.
func startGateway(sb *sandbox.Server, upURL string) (string, func(), error) {
	cfg := gateway.Config{
		Upstream: upURL,
		Issuers:  []verify.ProviderConfig{{Name: "okta", Type: verify.ProviderOkta, BaseURL: sb.URL, AuthServerID: "default", Audiences: []string{"api://default"}}},
		Groups:   gateway.GroupsConfig{Write: []string{"developers"}, ReadOnly: []string{"readers"}},
		Routes: []gateway.Route{
			{Prefix: "/public/", Rule: guard.Rule{Public: true}},
			{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}, Scopes: []string{"orders.read"}}},
		},
	}
	// Access logs off for the measurement, as for oauth2-proxy below:
	// the comparison is of the proxies, not of their loggers.
	gw, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", nil, err
	}
	gwLn := listen()
	ctx, cancel := context.WithCancel(context.Background())
	go gw.Serve(ctx, gwLn)
	stop := func() { cancel(); gw.Close() }
	for i := 0; !gw.Ready(); i++ {
		if i > 500 {
			stop()
			return "", nil, errors.New("gateway never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "http://" + gwLn.Addr().String(), stop, nil
}

// startGatewayBinary runs the oktafed-gateway binary with the same
// configuration as startGateway, given as a server is given it: the
// environment variables and a YAML file for the routes.
func startGatewayBinary(bin string, sb *sandbox.Server, upURL string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "oktafed-gwbench-")
	if err != nil {
		return "", nil, err
	}
	conf := dir + "/gateway.yaml"
	routes := "routes:\n  - {prefix: /public/, public: true}\n  - {prefix: /, roles: [read], scopes: [orders.read]}\n"
	if err := os.WriteFile(conf, []byte(routes), 0o600); err != nil {
		return "", nil, err
	}
	ln := listen()
	addr := ln.Addr().String()
	ln.Close()
	aln := listen()
	adminAddr := aln.Addr().String()
	aln.Close()
	cmd := exec.Command(bin, "--listen", addr, "--admin-listen", adminAddr, "--config", conf, "--access-log", "off", "--drain", "0")
	cmd.Env = append(os.Environ(), "OKTA_BASE_URL="+sb.URL, "OKTA_AUTH_SERVER_ID=default", "OKTA_AUDIENCE=api://default",
		"WRITE_GROUPS=developers", "READ_ONLY_GROUPS=readers", "GATEWAY_UPSTREAM="+upURL, "OKTA_ORG_DOMAIN=", "REDIS_URL=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := stopProcess(cmd, dir, 20*time.Second)
	u := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get("http://" + adminAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return u, stop, nil
			}
		}
		if i > 500 {
			stop()
			return "", nil, fmt.Errorf("%s never became ready: %s", bin, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startNginx runs nginx as a plain reverse proxy (proxy_pass with upstream
// keep-alive, as deployments configure it) in front of upstream.
func startNginx(bin, upstream string) (string, func(), error) {
	if _, err := os.Stat(bin); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "oktafed-gwbench-nginx-")
	if err != nil {
		return "", nil, err
	}
	ln := listen()
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`worker_processes %d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    upstream app { server %[3]s; keepalive 128; }
    server {
        listen %[4]s;
        location / {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
    }
}
`, runtime.NumCPU(), dir, strings.TrimPrefix(upstream, "http://"), addr)
	if err := os.WriteFile(dir+"/nginx.conf", []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", dir+"/nginx.conf", "-g", "daemon off;")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := stopProcess(cmd, dir, 10*time.Second)
	u := "http://" + addr
	for i := 0; ; i++ {
		if check(u+"/", "") == nil {
			return u, stop, nil
		}
		if i > 500 {
			stop()
			return "", nil, fmt.Errorf("nginx did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopProcess returns a function that interrupts cmd, kills it if it has
// not exited within grace, and removes its directory.
func stopProcess(cmd *exec.Cmd, dir string, grace time.Duration) func() {
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
}
