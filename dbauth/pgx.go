package dbauth

import (
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"net"
	"os"
	"strings"

	"github.com/oktafed/oktafed/secret"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresDriverName is the database/sql driver name under which this
// package registers pgx with dbauth parameters in the DSN:
// sql.Open("oktafed-pgx", "postgres://alice@db:5432/app?plugins=iam").
const PostgresDriverName = "oktafed-pgx"

// PgxConnector is a database/sql driver.Connector for PostgreSQL over pgx
// that authenticates each new connection through an Auth.
type PgxConnector struct {
	auth  *Auth
	inner driver.Connector
}

// NewPgxConnector parses dsn (a pgx URL or keyword/value string with
// dbauth parameters) and returns a connector; fields set in cfg win over
// DSN parameters. Use it with sql.OpenDB.
func NewPgxConnector(dsn string, cfg Config) (*PgxConnector, error) {
	connCfg, a, err := ParsePgxConfig(dsn, cfg)
	if err != nil {
		return nil, err
	}
	return NewPgxConnectorFromConfig(connCfg, a), nil
}

// NewPgxConnectorFromConfig returns a connector for a pgx configuration
// made with ParsePgxConfig and an Auth.
func NewPgxConnectorFromConfig(connCfg *pgx.ConnConfig, a *Auth) *PgxConnector {
	inner := stdlib.GetConnector(*connCfg, stdlib.OptionBeforeConnect(PgxBeforeConnect(a)))
	return &PgxConnector{auth: a, inner: inner}
}

// Connect opens a connection, retrying once with fresh credentials when
// the server refuses the login.
func (c *PgxConnector) Connect(ctx context.Context) (driver.Conn, error) {
	return connectWithRetry(ctx, c.auth, c.inner.Connect)
}

// Driver returns pgx's database/sql driver.
func (c *PgxConnector) Driver() driver.Driver { return c.inner.Driver() }

// Auth returns the connector's credential and token caches.
func (c *PgxConnector) Auth() *Auth { return c.auth }

// ParsePgxConfig splits dbauth's parameters from dsn, parses the rest with
// pgx.ParseConfig and makes the connection TLS-only. fields set in cfg win
// over DSN parameters.
func ParsePgxConfig(dsn string, cfg Config) (*pgx.ConnConfig, *Auth, error) {
	rest, err := SplitPostgresDSN(dsn, &cfg)
	if err != nil {
		return nil, nil, scrub(err, dsn)
	}
	if !pgHasSSLMode(rest) {
		// Verify the server unless told otherwise: a token sent to an
		// impostor is a working credential for 15 minutes.
		rest = pgAddParam(rest, "sslmode", "verify-full")
	}
	connCfg, err := pgx.ParseConfig(rest)
	if err != nil {
		return nil, nil, driverParseError(err, dsn)
	}
	if err := checkPgTLS(&connCfg.Config, pgSSLMode(rest), cfg.InsecureUnverifiedDBTLS); err != nil {
		return nil, nil, err
	}
	withRootCAs(&connCfg.Config, cfg.RootCAs)
	a, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	return connCfg, a, nil
}

// pgHasSSLMode reports whether the connection string or environment picks
// an sslmode.
func pgHasSSLMode(dsn string) bool {
	if os.Getenv("PGSSLMODE") != "" {
		return true
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		_, q, _ := strings.Cut(dsn, "?")
		for part := range strings.SplitSeq(q, "&") {
			if k, _, _ := strings.Cut(part, "="); k == "sslmode" {
				return true
			}
		}
		return false
	}
	pairs, err := parseKeywordValue(dsn)
	if err != nil {
		return false
	}
	for _, p := range pairs {
		if p.key == "sslmode" {
			return true
		}
	}
	return false
}

func pgAddParam(dsn, k, v string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if strings.Contains(dsn, "?") {
			return dsn + "&" + k + "=" + v
		}
		return dsn + "?" + k + "=" + v
	}
	if strings.TrimSpace(dsn) == "" {
		return k + "=" + v
	}
	return dsn + " " + k + "=" + v
}

// PgxBeforeConnect returns a hook that sets the user and password of each
// new pgx connection from a: use it as pgxpool.Config.BeforeConnect or
// with stdlib.OptionBeforeConnect. The connection configuration must
// require TLS (ParsePgxConfig and ConfigurePool see to it).
func PgxBeforeConnect(a *Auth) func(context.Context, *pgx.ConnConfig) error {
	return func(ctx context.Context, c *pgx.ConnConfig) error {
		if err := checkPgTLS(&c.Config, pgSSLMode(c.ConnString()), a.cfg.InsecureUnverifiedDBTLS); err != nil {
			return err
		}
		a.warnInsecure(c.Host)
		ep := Endpoint{Host: c.Host, Port: int(c.Port), DefaultPort: 5432, User: c.User, Password: secret.New(c.Password)}
		l, err := a.Login(ctx, ep)
		if err != nil {
			return err
		}
		recordLogin(ctx, l)
		c.User, c.Password = l.User, l.Password.Reveal()
		signPerHost(c, a, ep, l)
		return nil
	}
}

// ParsePoolConfig is pgxpool.ParseConfig for a DSN with dbauth
// parameters: the returned configuration requires TLS and authenticates
// each new pool connection through the returned Auth.
func ParsePoolConfig(dsn string, cfg Config) (*pgxpool.Config, *Auth, error) {
	rest, err := SplitPostgresDSN(dsn, &cfg)
	if err != nil {
		return nil, nil, scrub(err, dsn)
	}
	if !pgHasSSLMode(rest) {
		rest = pgAddParam(rest, "sslmode", "verify-full")
	}
	pc, err := pgxpool.ParseConfig(rest)
	if err != nil {
		return nil, nil, driverParseError(err, dsn)
	}
	a, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := ConfigurePool(pc, a); err != nil {
		return nil, nil, err
	}
	return pc, a, nil
}

// ConfigurePool makes pc authenticate new connections through a, keeping
// any BeforeConnect already set (it runs first), and requires TLS. A
// refused token is retried inside the same connect with a fresh one, as
// the database/sql connectors do, so an expiry or a revoked session
// reaches the application as no error at all (see watchLogin).
func ConfigurePool(pc *pgxpool.Config, a *Auth) error {
	if err := checkPgTLS(&pc.ConnConfig.Config, pgSSLMode(pc.ConnString()), a.cfg.InsecureUnverifiedDBTLS); err != nil {
		return err
	}
	withRootCAs(&pc.ConnConfig.Config, a.cfg.RootCAs)
	prev := pc.BeforeConnect
	pc.BeforeConnect = func(ctx context.Context, c *pgx.ConnConfig) error {
		if prev != nil {
			if err := prev(ctx, c); err != nil {
				return err
			}
		}
		if err := checkPgTLS(&c.Config, pgSSLMode(c.ConnString()), a.cfg.InsecureUnverifiedDBTLS); err != nil {
			return err
		}
		a.warnInsecure(c.Host)
		ep := Endpoint{Host: c.Host, Port: int(c.Port), DefaultPort: 5432, User: c.User, Password: secret.New(c.Password)}
		l, err := a.Login(ctx, ep)
		if err != nil {
			return a.explain(err, Login{}, nil)
		}
		c.User, c.Password = l.User, l.Password.Reveal()
		signPerHost(c, a, ep, l)
		watchLogin(c, a, l, ep)
		return nil
	}
	return nil
}

func init() {
	sql.Register(PostgresDriverName, pgxDSNDriver{})
}

// pgxDSNDriver opens connectors from DSNs with dbauth parameters. Each
// sql.Open makes one connector and so one Auth; open the *sql.DB once and
// share it, as database/sql intends.
type pgxDSNDriver struct{}

func (pgxDSNDriver) Open(dsn string) (driver.Conn, error) {
	c, err := NewPgxConnector(dsn, Config{})
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

func (pgxDSNDriver) OpenConnector(dsn string) (driver.Connector, error) {
	return NewPgxConnector(dsn, Config{})
}

// signPerHost makes a connection with fallback hosts (a multi-host DSN,
// host=a,b) send each host a token signed for that host: RDS checks the
// token's host and port, and pgx sends one password to every host it
// tries. The host is the name the TLS handshake verified (ServerName),
// the port the one dialled; the first host's login l is reused for it.
func signPerHost(c *pgx.ConnConfig, a *Auth, ep Endpoint, l Login) {
	if len(c.Fallbacks) == 0 {
		return
	}
	firstHost, firstPort := c.Host, int(c.Port)
	prev := c.AfterNetConnect
	c.AfterNetConnect = func(ctx context.Context, cfg *pgconn.Config, conn net.Conn) (net.Conn, error) {
		if prev != nil {
			var err error
			if conn, err = prev(ctx, cfg, conn); err != nil {
				return nil, err
			}
		}
		host, port := attemptAddr(conn)
		if host == "" || (host == firstHost && port == firstPort) {
			cfg.Password = l.Password.Reveal()
			recordLogin(ctx, l)
			return conn, nil
		}
		e := ep
		e.Host, e.Port = host, port
		hl, err := a.Login(ctx, e)
		if err != nil {
			return nil, err
		}
		cfg.Password = hl.Password.Reveal()
		recordLogin(ctx, hl)
		return conn, nil
	}
}

// attemptAddr is the host name a connection's TLS handshake verified and
// the port it dialled.
func attemptAddr(conn net.Conn) (string, int) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return "", 0
	}
	host := tc.ConnectionState().ServerName
	port := 0
	if addr, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		port = addr.Port
	}
	if host == "" {
		if addr, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			host = addr.IP.String()
		}
	}
	return host, port
}
