// Package sandbox runs a local Okta-compatible org and local AWS endpoints
// from one base URL on the loopback interface. It is meant for development
// and tests: users point their own integration tests at it, and oktafed's
// own tests use it.
//
// Users need Start (or New) and Config: the config's sections and their
// parts are named here (OrgConfig, AWSRoleConfig, RDSConfig, …), and a
// running Server's fields give a test the services to act on.
//
// The services live in internal packages, each a noun for what it holds:
// org (users, factors, authn, sessions, the AWS SAML app), authserver
// (OIDC authorization servers), iam (accounts, roles, providers, issued
// credentials and STS), identitycenter, secretsmanager and rds (IAM-auth
// database fronts). This package wires them together and dispatches
// requests to them.
package sandbox

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox/internal/authserver"
	"github.com/oktafed/oktafed/sandbox/internal/iam"
	"github.com/oktafed/oktafed/sandbox/internal/identitycenter"
	"github.com/oktafed/oktafed/sandbox/internal/org"
	"github.com/oktafed/oktafed/sandbox/internal/rds"
	"github.com/oktafed/oktafed/sandbox/internal/secretsmanager"
)

// Config is the whole of sandbox.yaml.
type Config struct {
	// Addr is where to listen. Default 127.0.0.1:0 (a free port).
	Addr string `yaml:"addr"`
	// Host is the host name in the sandbox's URLs (the org's base URL,
	// links, the WebAuthn RP ID); default the listen address. Set it to
	// localhost for security keys: browsers refuse WebAuthn on IP
	// addresses. Only loopback names are accepted.
	Host  string      `yaml:"host"`
	Org   OrgConfig   `yaml:"org"`
	OAuth OAuthConfig `yaml:"oauth"`
	AWS   AWSConfig   `yaml:"aws"`
	// SSO is IAM Identity Center (SSO OIDC and the access portal API).
	SSO SSOConfig `yaml:"sso"`
	// Secrets are Secrets Manager's secrets.
	Secrets []SecretConfig `yaml:"secrets"`
	// RDS are IAM-auth fronts for real PostgreSQL or MySQL servers, each on
	// its own loopback port, checking tokens signed with credentials this
	// sandbox issued.
	RDS []RDSConfig `yaml:"rds"`
	// Latency delays every answer of a service, to simulate the network
	// between a client and the real service (e.g. to measure how well a
	// client overlaps its calls). Zero, the default, adds nothing.
	Latency LatencyConfig `yaml:"latency"`
}

// LatencyConfig is the simulated network latency per service, e.g.
//
//	latency:
//	  okta: 50ms
//	  aws: 50ms
type LatencyConfig struct {
	// Okta is added to the org's and its authorization servers' answers.
	Okta time.Duration `yaml:"okta"`
	// AWS is added to STS, IAM, Secrets Manager and console sign-in.
	AWS time.Duration `yaml:"aws"`
	// SSO is added to IAM Identity Center (SSO OIDC and the portal).
	SSO time.Duration `yaml:"sso"`
}

// maxLatency bounds a configured latency: more is a typo, not a network.
const maxLatency = 10 * time.Second

func (l LatencyConfig) check() error {
	for name, d := range map[string]time.Duration{"okta": l.Okta, "aws": l.AWS, "sso": l.SSO} {
		if d < 0 || d > maxLatency {
			return fmt.Errorf("sandbox: latency.%s %s must be between 0 and %s", name, d, maxLatency)
		}
	}
	return nil
}

// ssoPaths are the paths IAM Identity Center answers (see identitycenter).
var ssoPaths = map[string]bool{"/client/register": true, "/device_authorization": true, "/token": true, "/federation/credentials": true, "/logout": true}

// withLatency delays each request by its service's latency before
// handling it; a client that gives up stops the wait.
func withLatency(next http.Handler, l LatencyConfig) http.Handler {
	if l == (LatencyConfig{}) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := l.Okta
		switch p := r.URL.Path; {
		case p == "/" || p == "/federation":
			d = l.AWS
		case ssoPaths[p] || strings.HasPrefix(p, "/assignment/"):
			d = l.SSO
		}
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Options are runtime dependencies that do not belong in a config file.
type Options struct {
	// Clock tells the sandbox's time (token lifetimes, lockouts, TOTP
	// windows): any value with a Now method, the wall clock when nil.
	Clock  interface{ Now() time.Time }
	Logger *slog.Logger
	// AllowNonLoopback permits Addr to name a non-loopback interface.
	AllowNonLoopback bool
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultConfig returns the built-in demo org: a demo user with TOTP and
// push factors, an AWS SAML app with roles in two accounts, and the org and
// "default" authorization servers.
func DefaultConfig() Config {
	cfg, err := ParseConfig(defaultYAML)
	if err != nil {
		panic("sandbox: built-in default.yaml is invalid: " + err.Error())
	}
	return cfg
}

// ParseConfig reads a sandbox.yaml document. Unknown fields are errors, so a
// typo does not silently fall back to a default.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("sandbox config: %w", err)
	}
	return cfg, nil
}

// LoadConfig reads sandbox.yaml from path.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read sandbox config: %w (pass --config with a readable file, or omit it for the built-in demo org)", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Server is a running sandbox.
type Server struct {
	URL string // base URL, e.g. http://127.0.0.1:41234

	// RDS are the database fronts, in the order of Config.RDS.
	RDS []*RDSFront

	// The running services; a test acts on them as an administrator or
	// the service would through Server's methods (admin.go).
	org   *org.Org
	oauth *authserver.Servers
	aws   *iam.Service
	sso   *identitycenter.Service

	clock clock.Clock
	ln    net.Listener
	srv   *http.Server
	done  chan error
}

// New starts a sandbox listening on cfg.Addr.
func New(cfg Config, opts Options) (*Server, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if !opts.AllowNonLoopback {
		if err := requireLoopback(addr); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen on %s: %w (choose a free port with --addr 127.0.0.1:PORT)", addr, err)
	}
	s, err := NewWithListener(cfg, ln, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

// NewWithListener starts a sandbox on an existing listener.
func NewWithListener(cfg Config, ln net.Listener, opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clk := clock.Or(opts.Clock)
	base := "http://" + ln.Addr().String()
	if cfg.Host != "" {
		if cfg.Host != "localhost" && !isLoopbackIP(cfg.Host) {
			return nil, fmt.Errorf("sandbox: host %q is not localhost or a loopback address", cfg.Host)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		base = "http://" + net.JoinHostPort(cfg.Host, port)
	}
	if err := cfg.Latency.check(); err != nil {
		return nil, err
	}

	oktaOrg, err := org.New(cfg.Org, org.Options{Clock: clk, BaseURL: base, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("sandbox org: %w", err)
	}
	oauth, err := authserver.New(cfg.OAuth, authserver.Options{Clock: clk, BaseURL: base, Directory: directory{oktaOrg}, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("sandbox authorization servers: %w", err)
	}
	aws, err := iam.New(cfg.AWS, iam.Options{Clock: clk, BaseURL: base, HTTPClient: &http.Client{Timeout: 10 * time.Second}, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("sandbox aws: %w", err)
	}
	if err := wireSAMLTrust(cfg, oktaOrg, aws); err != nil {
		return nil, err
	}
	sso, err := identitycenter.New(cfg.SSO, identitycenter.Options{Clock: clk, BaseURL: base, Issuer: aws, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("sandbox sso: %w", err)
	}
	wireDevices(oktaOrg, oauth, sso)
	secrets, err := secretsmanager.New(cfg.Secrets, secretsmanager.Options{Auth: aws, Region: aws.Region(), DefaultAccount: firstAccount(aws), Clock: clk, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("sandbox secrets: %w", err)
	}

	mux := http.NewServeMux()
	oktaOrg.Register(mux)
	oauth.Register(mux)
	sso.Register(mux)
	// JSON-protocol AWS services register here by X-Amz-Target prefix.
	// The AWS console federation endpoint, for `oktafed console`.
	mux.Handle("/federation", aws.FederationHandler())
	targets := map[string]http.Handler{}
	targets["secretsmanager"] = secrets
	mux.Handle("/", awsDispatch(aws, targets))

	var fronts []*rds.Server
	for i, fc := range cfg.RDS {
		f, err := rds.New(fc, rds.Options{Verifier: aws, Clock: clk, Logger: logger})
		if err != nil {
			for _, f := range fronts {
				f.Close()
			}
			return nil, fmt.Errorf("sandbox rds[%d] (%s): %w", i, fc.Engine, err)
		}
		fronts = append(fronts, f)
	}

	s := &Server{
		URL: base, org: oktaOrg, oauth: oauth, aws: aws, sso: sso, RDS: fronts,
		clock: clk, ln: ln, done: make(chan error, 1),
		srv: &http.Server{Handler: withLatency(mux, cfg.Latency), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)},
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the sandbox at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	s.closeFronts()
	return err
}

func (s *Server) closeFronts() {
	for _, f := range s.RDS {
		f.Close()
	}
}

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	s.closeFronts()
	return err
}

// Addr returns the host:port the sandbox listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Banner is what the CLI prints when the sandbox starts.
func (s *Server) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, `oktafed sandbox: a local Okta org and AWS endpoints FOR DEVELOPMENT AND TESTS ONLY.
Nothing here is secure: keys are generated at start-up and every secret is in the config.
  Okta org:          %[1]s
  AWS endpoint:      %[1]s   (AWS_ENDPOINT_URL=%[1]s, or aws --endpoint-url %[1]s)
                     STS, Secrets Manager, IAM Identity Center, console sign-in (/federation)
  Org authz server:  %[1]s/.well-known/openid-configuration
`, s.URL)
	for _, f := range s.RDS {
		fmt.Fprintf(&b, "  RDS IAM-auth front: %s (tokens for %s)\n", f.Addr(), f.Endpoint())
	}
	return b.String()
}

// TB is the part of testing.TB that Start needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Start starts a sandbox for a test and stops it when the test ends.
func Start(t TB, cfg Config) *Server {
	t.Helper()
	return StartWithOptions(t, cfg, Options{})
}

// StartWithOptions is Start with runtime options, such as a fake clock.
func StartWithOptions(t TB, cfg Config, opts Options) *Server {
	t.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sandbox: address %q: %w (use 127.0.0.1:PORT)", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sandbox: refusing to listen on %q: the sandbox is for development and tests and binds loopback addresses only (use 127.0.0.1:PORT)", addr)
	}
	return nil
}

// directory adapts the org to the authorization servers' view of users.
type directory struct{ org *org.Org }

func (d directory) CheckPassword(ctx context.Context, login, password string) (*authserver.Identity, error) {
	u, err := d.org.CheckPassword(ctx, login, password)
	if err != nil {
		return nil, err
	}
	return &authserver.Identity{ID: u.ID, Login: u.Login, Email: u.Email, Name: strings.TrimSpace(u.FirstName + " " + u.LastName), Groups: u.Groups}, nil
}

// awsDispatch routes requests that no Okta path claimed to the AWS
// services: JSON-protocol calls by their X-Amz-Target prefix (e.g.
// "secretsmanager" for "secretsmanager.GetSecretValue"), query-protocol
// calls (an Action parameter, as STS takes) to IAM/STS.
func awsDispatch(aws *iam.Service, targets map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := r.Header.Get("X-Amz-Target"); t != "" && r.URL.Path == "/" {
			prefix, _, _ := strings.Cut(t, ".")
			if h, ok := targets[strings.ToLower(prefix)]; ok {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":"The sandbox does not serve %s"}`, strings.ReplaceAll(prefix, `"`, ""))
			return
		}
		if r.URL.Path == "/" && (r.Method == http.MethodPost || r.URL.Query().Get("Action") != "") {
			aws.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// firstAccount owns secrets whose config names no account.
func firstAccount(aws *iam.Service) string {
	if ids := aws.AccountIDs(); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
