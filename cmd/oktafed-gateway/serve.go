package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/gateway"
)

type serveOptions struct {
	configPath   string
	listen       string
	adminListen  string
	upstream     string
	tlsCert      string
	tlsKey       string
	redisURL     string
	redisFailure string
	realm        string
	logFormat    string
	accessLog    string
	drain        time.Duration
	drainSet     bool
	output       string
	check        bool
	watch        time.Duration
}

func newServeCmd(s streams) *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "oktafed-gateway",
		Short: "Run a reverse proxy that admits only valid Okta access tokens",
		Long: `Run a reverse proxy in front of an HTTP or gRPC service. Every request must
carry a bearer token from a trusted issuer (Okta, Auth0, any OIDC issuer,
Vertica-style JWT or IDP records); routes require scopes and roles granted
by group (ADMIN_GROUPS, WRITE_GROUPS, READ_ONLY_GROUPS). The verified
identity reaches the upstream in X-Auth-* headers; clients cannot set them
in any spelling (X_Auth_User included).

Without routes in --config the default policy applies: a token needs a
role; readers may GET, HEAD and OPTIONS; writers and admins may use every
method; only admins may revoke. ALLOW_NO_ROLE=true admits tokens without
a role as readers. Paths are routed and forwarded in one canonical form;
";" parameters, "\", control bytes, encoded "/" "\" ".", dot segments and
segments ending in "." or space are refused with 400.

Configuration comes from --config (YAML) and environment variables; flags
win over both:
  OKTA_ORG_DOMAIN       host name only, e.g. example.okta.com (or OKTA_DOMAIN)
  OKTA_BASE_URL         scheme and host instead of https://OKTA_ORG_DOMAIN,
                        e.g. http://127.0.0.1:8443 for oktafed sandbox
  OKTA_AUDIENCE, OKTA_AUTH_SERVER_ID, OKTA_ALLOW_ORG_SERVER
  OKTA_CLIENT_IDS       accepted client ids (OKTA_CLIENT_ID is refused)
  AUTH0_DOMAIN, AUTH0_AUDIENCE, AUTH0_CLIENT_IDS, AUTH0_BASE_URL
  AUTH_PROVIDERS        okta, auth0: keep only these (default: those set)
  ADMIN_GROUPS, WRITE_GROUPS, READ_ONLY_GROUPS, GROUPS_CLAIM, ALLOW_NO_ROLE
  GATEWAY_UPSTREAM, GATEWAY_LISTEN, GATEWAY_ADMIN_LISTEN, GATEWAY_REALM,
  GATEWAY_CONFIG
  REDIS_URL, REDIS_FAILURE_MODE (closed or open)
  OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP, e.g. http://collector:4318) turns
                        tracing on; OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and
                        the other standard OTEL_* variables apply

The admin listener (--admin-listen, default 127.0.0.1:9090) serves
/healthz, /readyz (ready once issuer keys and, with Redis, the revocation
list are loaded; 503 while draining) and /metrics (Prometheus); the proxy
port forwards those paths to the upstream like any other, and serves POST
/_oktafed/revocations (admin role). On SIGTERM it answers /readyz with
503 and keeps serving for --drain, then stops.

SIGHUP reloads the configuration (file, environment and flags, checked as
--check does); new requests use it once it is valid and its issuers' keys
are loaded, requests under way finish with the old one, and an invalid
file changes nothing (the log says why). --watch-config 10s reloads when
the file's content changes (Kubernetes ConfigMap updates). Redis settings,
the listen addresses and TLS apply only at a restart.`,
		Example: `  OKTA_ORG_DOMAIN=example.okta.com OKTA_AUDIENCE=api://default \
    oktafed-gateway --upstream http://127.0.0.1:9000
  oktafed-gateway --config gateway.yaml --redis-url redis://127.0.0.1:6379/0
  oktafed-gateway --config gateway.yaml --check --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.drainSet = cmd.Flags().Changed("drain")
			return serve(cmd.Context(), s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.configPath, "config", "", "gateway YAML file (also GATEWAY_CONFIG)")
	f.StringVar(&opts.listen, "listen", "", "address to serve on (default 127.0.0.1:8080; also GATEWAY_LISTEN)")
	f.StringVar(&opts.adminListen, "admin-listen", "", "address of the admin listener for /healthz, /readyz and /metrics (default "+gateway.DefaultAdminListen+"; off disables it; also GATEWAY_ADMIN_LISTEN)")
	f.StringVar(&opts.upstream, "upstream", "", "default upstream: http://, h2c:// (gRPC) or https:// host:port (also GATEWAY_UPSTREAM)")
	f.StringVar(&opts.tlsCert, "tls-cert", "", "PEM certificate to serve TLS with (also GATEWAY_TLS_CERT)")
	f.StringVar(&opts.tlsKey, "tls-key", "", "PEM private key for --tls-cert (also GATEWAY_TLS_KEY)")
	f.StringVar(&opts.redisURL, "redis-url", "", "Redis shared by replicas for revocations and introspection results (also REDIS_URL)")
	f.StringVar(&opts.redisFailure, "redis-failure", "", "when the revocation list cannot be read from Redis: closed (refuse tokens; default) or open (also REDIS_FAILURE_MODE)")
	f.StringVar(&opts.realm, "realm", "", "realm named in WWW-Authenticate challenges")
	f.StringVar(&opts.logFormat, "log-format", "json", "event log format on standard error: json or text")
	f.StringVar(&opts.accessLog, "access-log", "json", "per-request access log: json (in the --log-format) or off")
	f.DurationVar(&opts.drain, "drain", gateway.DefaultDrain, "after SIGTERM, keep serving this long with /readyz answering 503, then stop (0 stops at once)")
	f.StringVarP(&opts.output, "output", "o", "text", "output format of --check: text or json")
	f.BoolVar(&opts.check, "check", false, "validate the configuration, print the routes and exit")
	f.DurationVar(&opts.watch, "watch-config", 0, "reload when the --config file's content changes, checking this often, e.g. 10s (0: only on SIGHUP; also GATEWAY_WATCH_CONFIG)")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"json", "text"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("access-log", cobra.FixedCompletions([]string{"json", "off"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("redis-failure", cobra.FixedCompletions([]string{gateway.FailClosed, gateway.FailOpen}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// loadConfig merges file, environment and flags, in that order.
func loadConfig(s streams, opts serveOptions) (gateway.Config, error) {
	var cfg gateway.Config
	path := opts.configPath
	if path == "" {
		path = s.getenv("GATEWAY_CONFIG")
	}
	if path != "" {
		var err error
		if cfg, err = gateway.LoadFile(path); err != nil {
			return cfg, err
		}
	}
	if err := cfg.ApplyEnv(s.getenv); err != nil {
		return cfg, err
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{{&cfg.Listen, opts.listen}, {&cfg.AdminListen, opts.adminListen}, {&cfg.Upstream, opts.upstream}, {&cfg.TLS.CertFile, opts.tlsCert}, {&cfg.TLS.KeyFile, opts.tlsKey}, {&cfg.Redis.URL, opts.redisURL}, {&cfg.Redis.OnFailure, opts.redisFailure}, {&cfg.Realm, opts.realm}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if opts.drainSet {
		cfg.Timeouts.Drain = opts.drain
		if opts.drain == 0 {
			cfg.Timeouts.Drain = -1 // Timeouts: negative means none
		}
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.AdminListen == "" {
		cfg.AdminListen = gateway.DefaultAdminListen
	}
	if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
		return cfg, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	return cfg, nil
}

func serve(ctx context.Context, s streams, opts serveOptions) error {
	if opts.output != "text" && opts.output != "json" {
		return fmt.Errorf("--output %q: choose text or json", opts.output)
	}
	cfg, err := loadConfig(s, opts)
	if err != nil {
		return err
	}
	var handler slog.Handler
	// Durations as Go duration strings ("1.5s"), never raw nanoseconds.
	hopts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}}
	switch opts.logFormat {
	case "json":
		handler = slog.NewJSONHandler(s.ErrOut, hopts)
	case "text":
		handler = slog.NewTextHandler(s.ErrOut, hopts)
	default:
		return fmt.Errorf("--log-format %q: choose json or text", opts.logFormat)
	}
	if opts.accessLog != "json" && opts.accessLog != "off" {
		return fmt.Errorf("--access-log %q: choose json or off", opts.accessLog)
	}
	if opts.drain < 0 {
		return fmt.Errorf("--drain %s: give a positive duration, e.g. 5s", opts.drain)
	}
	if opts.check {
		return printCheck(s, cfg, opts.output)
	}
	if opts.watch == 0 {
		if v := s.getenv("GATEWAY_WATCH_CONFIG"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("GATEWAY_WATCH_CONFIG=%q: give a duration such as 10s, or leave it unset", v)
			}
			opts.watch = d
		}
	}
	if opts.watch < 0 {
		return fmt.Errorf("--watch-config %s: give a positive duration, e.g. 10s", opts.watch)
	}
	logger := slog.New(handler)
	tp, shutdownTracing, err := gateway.TracingFromEnv(ctx, s.getenv)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			logger.Warn("flushing traces at exit failed", "err", err.Error())
		}
	}()
	gw, err := gateway.New(cfg, gateway.Options{Logger: logger, NoAccessLog: opts.accessLog == "off", TracerProvider: tp})
	if err != nil {
		return err
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose a free address with --listen)", cfg.Listen, err)
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	admin := "off"
	adminDone := make(chan error, 1)
	if cfg.AdminListen != gateway.AdminListenOff {
		aln, err := net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listener on %s: %w (choose a free address with --admin-listen, or off)", cfg.AdminListen, err)
		}
		admin = "http://" + aln.Addr().String()
		go func() { adminDone <- gw.ServeAdmin(ctx, aln) }()
	} else {
		adminDone <- nil
	}
	// main must not exit before the drain and the graceful shutdown end.
	stopGrace.Store(int64(gw.StopDuration() + 2*time.Second))
	// In the log's own format: a JSON log holds only JSON lines.
	logger.Info(fmt.Sprintf("oktafed-gateway on %s://%s for issuers %s (admin: %s); Ctrl-C stops it gracefully", scheme, ln.Addr(), strings.Join(gw.Verifier().Issuers(), ", "), admin),
		"addr", ln.Addr().String(), "admin", admin, "issuers", gw.Verifier().Issuers())
	startReloads(ctx, s, opts, gw)
	err = gw.Serve(ctx, ln)
	if aerr := <-adminDone; err == nil && aerr != nil {
		err = fmt.Errorf("admin listener: %w", aerr)
	}
	return err
}

// printCheck validates cfg without serving and describes it.
func printCheck(s streams, cfg gateway.Config, output string) error {
	vc, err := checkIssuers(cfg)
	if err != nil {
		return err
	}
	type route struct {
		Prefix   string   `json:"prefix"`
		Methods  []string `json:"methods,omitempty"`
		Public   bool     `json:"public,omitempty"`
		Scopes   []string `json:"scopes,omitempty"`
		Roles    []string `json:"roles,omitempty"`
		Upstream string   `json:"upstream"`
		// The route options that change what is admitted.
		AllowNoRole     bool   `json:"allow_no_role,omitempty"`
		CaseInsensitive bool   `json:"case_insensitive,omitempty"`
		UpstreamTimeout string `json:"upstream_timeout,omitempty"`
	}
	out := struct {
		Listen  string   `json:"listen"`
		Issuers []string `json:"issuers"`
		Routes  []route  `json:"routes"`
		Redis   bool     `json:"redis"`
	}{Listen: cfg.Listen, Issuers: vc, Redis: cfg.Redis.Enabled()}
	for _, r := range cfg.EffectiveRoutes() {
		up := r.Upstream
		if up == "" {
			up = cfg.Upstream
		}
		rr := route{Prefix: r.Prefix, Methods: r.Methods, Public: r.Public, Scopes: r.Scopes, Roles: r.Roles, Upstream: up,
			AllowNoRole: r.AllowNoRole, CaseInsensitive: r.CaseInsensitive}
		if r.UpstreamTimeout > 0 {
			rr.UpstreamTimeout = r.UpstreamTimeout.String()
		}
		out.Routes = append(out.Routes, rr)
	}
	if output == "json" {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(s.Out, "listen:  %s\nissuers: %s\nredis:   %t\nroutes:\n", out.Listen, strings.Join(out.Issuers, ", "), out.Redis)
	for _, r := range out.Routes {
		methods := "any"
		if len(r.Methods) > 0 {
			methods = strings.Join(r.Methods, ",")
		}
		rule := "valid token"
		switch {
		case r.Public:
			rule = "public"
		case len(r.Roles) > 0 || len(r.Scopes) > 0:
			rule = fmt.Sprintf("roles=%s scopes=%s", strings.Join(r.Roles, "|"), strings.Join(r.Scopes, ","))
			if slices.Contains(r.Roles, "read") {
				rule += " (read: GET/HEAD/OPTIONS)"
			}
		}
		fmt.Fprintf(s.Out, "  %-24s %-12s %-36s -> %s\n", r.Prefix, methods, rule, r.Upstream)
	}
	return nil
}

// checkIssuers builds the gateway without Redis or network I/O and
// returns its issuers.
func checkIssuers(cfg gateway.Config) ([]string, error) {
	// --check must not need Redis; the rest of its settings are still checked.
	cfg.Redis.URL, cfg.Redis.Addrs = "", nil
	gw, err := gateway.New(cfg, gateway.Options{})
	if err != nil {
		return nil, err
	}
	defer gw.Close()
	return gw.Verifier().Issuers(), nil
}
