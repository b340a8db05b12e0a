// Package rds holds the sandbox's RDS IAM-authentication front: a listener
// on 127.0.0.1 that speaks the server side of the PostgreSQL or MySQL wire
// protocol far enough to receive the client's cleartext password, checks
// it as RDS checks an IAM authentication token, then logs in to a real
// PostgreSQL or MariaDB server with configured credentials and relays
// bytes both ways.
//
// A token is accepted when it is a SigV4 presigned URL for service rds-db
// signed by credentials the sandbox issued, still within its validity
// (at most 15 minutes), for Action=connect, for the connecting user
// (DBUser) and for this front's endpoint (host:port), and when the signer
// may connect as that user (Config.Allowed). Refusals look like RDS's:
// PostgreSQL FATAL 28P01 "PAM authentication failed for user", MySQL
// error 1045 "Access denied".
package rds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oktafed/oktafed/internal/atomicfile"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox/internal/iam"
)

// Engines the front speaks.
const (
	EnginePostgres = "postgres"
	EngineMySQL    = "mysql"
)

// Config describes one front.
type Config struct {
	// Engine is "postgres" or "mysql".
	Engine string `yaml:"engine"`
	// Addr is where to listen; default 127.0.0.1:0. Only loopback
	// addresses are accepted.
	Addr string `yaml:"addr"`
	// Endpoint is the host:port that tokens must be signed for, as a
	// client's iam_host and port name it; default: the listening address.
	Endpoint string `yaml:"endpoint"`
	// Region tokens must be scoped to; default: the verifier's region.
	Region string `yaml:"region"`
	// Allowed maps database users to the role ARNs (or IAM user ARNs)
	// whose credentials may sign their tokens. A role list containing "*"
	// allows any credential the sandbox issued; the user "*" applies to
	// users not listed. A nil map allows any issued credential for any
	// user.
	Allowed map[string][]string `yaml:"allowed"`
	// Passwords are users that log in with a plain password instead of a
	// token, as an RDS master user does.
	Passwords map[string]string `yaml:"passwords"`
	// Backend is the real database behind the front.
	Backend BackendConfig `yaml:"backend"`
	// CAFile, when set, is where the front writes the certificate it
	// generated at start-up (PEM), so clients can verify it:
	// sslrootcert=CAFILE with sslmode=verify-full (PostgreSQL), or a
	// tls.Config registered with mysql.RegisterTLSConfig (MySQL). The
	// file is replaced at each start, as the certificate is new.
	CAFile string `yaml:"ca_file"`
}

// BackendConfig is how the front logs in to the real database.
type BackendConfig struct {
	// Addr is the server's host:port.
	Addr string `yaml:"addr"`
	// User and Password log in for clients not listed in Users.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Users maps a client's database user to the backend password of the
	// same user, so that sessions run as that user.
	Users map[string]string `yaml:"users"`
	// TLS, when set, encrypts the backend connection (PostgreSQL only).
	TLS *tls.Config `yaml:"-"`
}

// Verifier checks SigV4 presigned URLs; *iam.Service implements it.
type Verifier interface {
	VerifyPresignedURL(rawURL, service, region string, now time.Time) (*iam.Caller, error)
}

// Options are runtime dependencies.
type Options struct {
	// Verifier checks tokens; required unless every user is in Passwords.
	Verifier Verifier
	// Clock is the time tokens are checked at; default: the verifier's.
	Clock  clock.Clock
	Logger *slog.Logger
	// Certificate is the front's TLS certificate; default: a generated
	// self-signed one for 127.0.0.1, ::1, localhost and the endpoint host.
	Certificate *tls.Certificate
}

// Stats counts what the front has done since it started.
type Stats struct {
	Accepted int64 // logins accepted and connected through
	Refused  int64 // logins refused (bad, expired or foreign tokens)
}

// Server is a running front.
type Server struct {
	cfg      Config
	opts     Options
	log      *slog.Logger
	ln       net.Listener
	tlsCfg   *tls.Config
	certPEM  []byte
	endpoint string

	accepted, refused atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New starts a front listening on cfg.Addr.
func New(cfg Config, opts Options) (*Server, error) {
	switch cfg.Engine {
	case EnginePostgres, EngineMySQL:
	default:
		return nil, fmt.Errorf("sandbox rds: engine %q: use %q or %q", cfg.Engine, EnginePostgres, EngineMySQL)
	}
	if cfg.Backend.Addr == "" {
		return nil, errors.New("sandbox rds: backend.addr is required: the host:port of the real database")
	}
	if opts.Verifier == nil && len(cfg.Passwords) == 0 {
		return nil, errors.New("sandbox rds: Options.Verifier is required to check IAM tokens (pass the sandbox's *iam.Service)")
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := requireLoopback(addr); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox rds: listen on %s: %w (choose a free port)", addr, err)
	}
	s := &Server{cfg: cfg, opts: opts, log: log.With("engine", cfg.Engine), ln: ln, conns: map[net.Conn]struct{}{}}
	s.endpoint = cfg.Endpoint
	if s.endpoint == "" {
		s.endpoint = ln.Addr().String()
	}
	cert := opts.Certificate
	if cert == nil {
		host, _, _ := net.SplitHostPort(s.endpoint)
		c, certPEM, err := selfSignedCert(host)
		if err != nil {
			ln.Close()
			return nil, err
		}
		cert, s.certPEM = c, certPEM
	}
	if cfg.CAFile != "" {
		if s.certPEM == nil {
			ln.Close()
			return nil, errors.New("sandbox rds: ca_file is set but Options.Certificate was given: write its CA yourself, or drop ca_file")
		}
		// A certificate is public; 0644 lets a client running as another
		// user read it.
		if err := atomicfile.Write(cfg.CAFile, s.certPEM, 0o644); err != nil {
			ln.Close()
			return nil, fmt.Errorf("sandbox rds: write ca_file: %w", err)
		}
	}
	s.tlsCfg = tlsServerConfig(cert)
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// TB is the part of testing.TB that Start needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Start starts a front for a test and closes it when the test ends.
func Start(t TB, cfg Config, opts Options) *Server {
	t.Helper()
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("start sandbox rds front: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Addr returns the host:port the front listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Endpoint returns the host:port tokens must be signed for.
func (s *Server) Endpoint() string { return s.endpoint }

// CertPEM returns the generated self-signed certificate in PEM, for
// sslrootcert or a client's RootCAs; nil when Options.Certificate was set.
func (s *Server) CertPEM() []byte { return s.certPEM }

// ClientTLSConfig returns a client TLS configuration that trusts the
// generated certificate and verifies the host name serverName.
func (s *Server) ClientTLSConfig(serverName string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.certPEM)
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Refused: s.refused.Load()}
}

// Close stops listening and closes every relayed connection.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("sandbox rds: accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			defer c.Close()
			switch s.cfg.Engine {
			case EnginePostgres:
				s.servePostgres(c)
			case EngineMySQL:
				s.serveMySQL(c)
			}
		}()
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// track also registers backend connections so Close ends them.
func (s *Server) trackBackend(c net.Conn) func() {
	if !s.track(c) {
		c.Close()
		return func() {}
	}
	return func() { s.untrack(c) }
}

// handshakeTimeout bounds the login phase; relayed sessions have none.
const handshakeTimeout = 30 * time.Second

// errRefused is a login the front turned down; the reason goes to the log,
// never to the client, as RDS does.
type errRefused struct{ reason string }

func (e *errRefused) Error() string { return e.reason }

// checkLogin decides whether password logs user in: a configured plain
// password, or an IAM token checked as RDS checks it.
func (s *Server) checkLogin(user, password string) error {
	if want, ok := s.cfg.Passwords[user]; ok {
		if subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1 {
			return nil
		}
		return &errRefused{"wrong password"}
	}
	if s.opts.Verifier == nil {
		return &errRefused{"no verifier for IAM tokens"}
	}
	var now time.Time
	if s.opts.Clock != nil {
		now = s.opts.Clock.Now()
	}
	if err := notFromTheFuture(password, now); err != nil {
		return err
	}
	caller, err := s.opts.Verifier.VerifyPresignedURL(password, "rds-db", s.cfg.Region, now)
	if err != nil {
		return &errRefused{"token: " + iam.ErrorCodeOf(err) + ": " + err.Error()}
	}
	if caller.Params.Get("Action") != "connect" {
		return &errRefused{"token is not for Action=connect"}
	}
	if got := caller.Params.Get("DBUser"); got != user {
		return &errRefused{fmt.Sprintf("token is for DBUser %q, not %q", got, user)}
	}
	if !strings.EqualFold(caller.Host, s.endpoint) {
		return &errRefused{fmt.Sprintf("token is for endpoint %q, not %q", caller.Host, s.endpoint)}
	}
	if !s.allowed(user, caller) {
		return &errRefused{fmt.Sprintf("%s may not connect as %q (see allowed)", caller.ARN, user)}
	}
	return nil
}

func (s *Server) allowed(user string, c *iam.Caller) bool {
	if s.cfg.Allowed == nil {
		return true
	}
	principals, ok := s.cfg.Allowed[user]
	if !ok {
		principals = s.cfg.Allowed["*"]
	}
	for _, p := range principals {
		if p == "*" || (c.RoleARN != "" && p == c.RoleARN) || p == c.ARN {
			return true
		}
	}
	return false
}

// maxFutureSkew is how far ahead of the server's clock a token may be
// dated: SigV4 services refuse requests signed more than 5 minutes in the
// future, and a token dated later would outlive its 15 minutes.
const maxFutureSkew = 5 * time.Minute

// notFromTheFuture refuses a token whose X-Amz-Date is more than
// maxFutureSkew ahead of now (the wall clock when now is zero).
func notFromTheFuture(token string, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}
	// X-Amz-Date's value has no characters to escape; the verifier
	// words a malformed one.
	_, date, ok := strings.Cut(token, "X-Amz-Date=")
	if !ok || len(date) < 16 {
		return nil
	}
	signedAt, err := time.Parse("20060102T150405Z", date[:16])
	if err != nil {
		return nil
	}
	if signedAt.Sub(now) > maxFutureSkew {
		return &errRefused{fmt.Sprintf("token: RequestExpired: signed at %s, more than 5 minutes after the server time %s", signedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	}
	return nil
}

// backendLogin returns the backend user and password for a client's user:
// the user of the same name with its password under backend.users, or
// the backend's own login for a user with a plain password (passwords:).
// An IAM user with no backend.users entry gets nothing (ok false): it
// never runs as the backend's administrator.
func (s *Server) backendLogin(user string) (string, string, bool) {
	if pw, ok := s.cfg.Backend.Users[user]; ok {
		return user, pw, true
	}
	if _, ok := s.cfg.Passwords[user]; ok {
		return s.cfg.Backend.User, s.cfg.Backend.Password, true
	}
	return "", "", false
}

// noBackendUser is the backend refusal given for an IAM user missing from
// backend.users.
const noBackendUser = "no backend.users entry for this user"

func (s *Server) refuse(user, remote string, err error) {
	s.refused.Add(1)
	s.log.Info("sandbox rds: login refused", "user", user, "remote", remote, "reason", err.Error())
}

// relay copies bytes both ways until either side closes, then closes both.
func relay(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Closing both ends unblocks the other direction.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sandbox rds: address %q: %w (use 127.0.0.1:PORT)", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sandbox rds: refusing to listen on %q: the front binds loopback addresses only (use 127.0.0.1:PORT)", addr)
	}
	return nil
}

// selfSignedCert makes a certificate for the loopback names and host, good
// for a day, which clients can trust directly as a root.
func selfSignedCert(host string) (*tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "oktafed sandbox rds", Organization: []string{"oktafed sandbox"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	} else if host != "" && host != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox rds: make TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, certPEM, nil
}

// withDeadline sets a deadline on c for the login phase and returns a
// function that clears it.
func withDeadline(c net.Conn) func() {
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	return func() { c.SetDeadline(time.Time{}) }
}

func tlsServerConfig(cert *tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// timeNowPlus is a deadline d from now; zero clears the deadline.
func timeNowPlus(d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}
