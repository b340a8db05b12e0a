// Package pgxauth connects to PostgreSQL on RDS and Aurora through pgx
// with the passwords package dbauth supplies (an RDS IAM token from an
// Okta login or the AWS credential chain, or a Secrets Manager secret):
// a database/sql connector, the "oktafed-pgx" driver name, and a pgxpool
// configuration. It requires TLS that verifies the server, and retries a
// refused token once with fresh credentials, also inside a pool's connect
// (see ConfigurePool). It links no MySQL driver.
package pgxauth

import (
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbconn"
	"github.com/oktafed/oktafed/secret"
)

// DriverName is the database/sql driver name under which this package
// registers pgx with dbauth parameters in the DSN:
// sql.Open("oktafed-pgx", "postgres://alice@db:5432/app?plugins=iam").
const DriverName = "oktafed-pgx"

// NewConnector parses dsn (a pgx URL or keyword/value string with dbauth
// parameters) and returns a connector; fields set in cfg win over DSN
// parameters. Use it with sql.OpenDB.
func NewConnector(dsn string, cfg dbauth.Config) (*dbauth.Connector, error) {
	connCfg, a, err := parseConfig(dsn, cfg)
	if err != nil {
		return nil, err
	}
	return NewConnectorFromConfig(connCfg, a), nil
}

// NewConnectorFromConfig returns a connector for a pgx configuration and
// an Auth; each connect requires TLS that verifies the server.
func NewConnectorFromConfig(connCfg *pgx.ConnConfig, a *dbauth.Auth) *dbauth.Connector {
	inner := stdlib.GetConnector(*connCfg, stdlib.OptionBeforeConnect(BeforeConnect(a)))
	return dbauth.NewConnector(a, inner, refusal)
}

// refusal reads a pgx error: SQLSTATE 28P01 (invalid password) or 28000
// (invalid authorization, which RDS returns for a bad IAM token) is a
// refused login, and one whose message is RDS's "PAM authentication
// failed for user" (RDS checks tokens through PAM) a refused token.
func refusal(err error) dbauth.Refusal {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || (pgErr.Code != "28P01" && pgErr.Code != "28000") {
		return dbauth.NotRefused
	}
	if strings.HasPrefix(pgErr.Message, "PAM authentication failed") {
		return dbauth.RefusedToken
	}
	return dbauth.RefusedLogin
}

// splitDSN takes dbauth's parameters out of dsn into cfg and returns the
// rest for pgx, with sslmode=verify-full where the DSN names no sslmode:
// the server is verified unless told otherwise, since a token sent to an
// impostor is a working credential for 15 minutes.
func splitDSN(dsn string, cfg *dbauth.Config) (string, error) {
	rest, err := dbauth.SplitPostgresDSN(dsn, cfg)
	if err != nil {
		return "", err
	}
	if !pgHasSSLMode(rest) {
		rest = pgAddParam(rest, "sslmode", "verify-full")
	}
	return rest, nil
}

// parseConfig splits dbauth's parameters from dsn, parses the rest with
// pgx.ParseConfig and makes the connection TLS-only. Fields set in cfg win
// over DSN parameters.
func parseConfig(dsn string, cfg dbauth.Config) (*pgx.ConnConfig, *dbauth.Auth, error) {
	rest, err := splitDSN(dsn, &cfg)
	if err != nil {
		return nil, nil, err
	}
	connCfg, err := pgx.ParseConfig(rest)
	if err != nil {
		return nil, nil, dbauth.DSNError(err, dsn)
	}
	if err := checkPgTLS(&connCfg.Config, pgSSLMode(rest), cfg.InsecureUnverifiedDBTLS); err != nil {
		return nil, nil, err
	}
	withRootCAs(&connCfg.Config, cfg.RootCAs)
	a, err := dbauth.New(cfg)
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
	pairs, err := dbconn.ParseKeywordValue(dsn)
	if err != nil {
		return false
	}
	for _, p := range pairs {
		if p.Key == "sslmode" {
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

// BeforeConnect returns a hook that sets the user and password of each
// new pgx connection from a: use it as pgxpool.Config.BeforeConnect or
// with stdlib.OptionBeforeConnect. The connection configuration must
// require TLS that verifies the server.
func BeforeConnect(a *dbauth.Auth) func(context.Context, *pgx.ConnConfig) error {
	return func(ctx context.Context, c *pgx.ConnConfig) error {
		cfg := a.Config()
		if err := checkPgTLS(&c.Config, pgSSLMode(c.ConnString()), cfg.InsecureUnverifiedDBTLS); err != nil {
			return err
		}
		warnInsecure(cfg, c.Host)
		ep := dbauth.Endpoint{Host: c.Host, Port: int(c.Port), DefaultPort: 5432, User: c.User, Password: secret.New(c.Password)}
		l, err := a.Login(ctx, ep)
		if err != nil {
			return err
		}
		c.User, c.Password = l.User, l.Password.Reveal()
		signPerHost(c, a, ep)
		return nil
	}
}

// ParsePoolConfig is pgxpool.ParseConfig for a DSN with dbauth
// parameters: the returned configuration requires TLS and authenticates
// each new pool connection through the returned Auth.
func ParsePoolConfig(dsn string, cfg dbauth.Config) (*pgxpool.Config, *dbauth.Auth, error) {
	rest, err := splitDSN(dsn, &cfg)
	if err != nil {
		return nil, nil, err
	}
	pc, err := pgxpool.ParseConfig(rest)
	if err != nil {
		return nil, nil, dbauth.DSNError(err, dsn)
	}
	a, err := dbauth.New(cfg)
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
func ConfigurePool(pc *pgxpool.Config, a *dbauth.Auth) error {
	cfg := a.Config()
	if err := checkPgTLS(&pc.ConnConfig.Config, pgSSLMode(pc.ConnString()), cfg.InsecureUnverifiedDBTLS); err != nil {
		return err
	}
	withRootCAs(&pc.ConnConfig.Config, cfg.RootCAs)
	prev := pc.BeforeConnect
	pc.BeforeConnect = func(ctx context.Context, c *pgx.ConnConfig) error {
		if prev != nil {
			if err := prev(ctx, c); err != nil {
				return err
			}
		}
		if err := checkPgTLS(&c.Config, pgSSLMode(c.ConnString()), cfg.InsecureUnverifiedDBTLS); err != nil {
			return err
		}
		warnInsecure(cfg, c.Host)
		ep := dbauth.Endpoint{Host: c.Host, Port: int(c.Port), DefaultPort: 5432, User: c.User, Password: secret.New(c.Password)}
		l, err := a.Login(ctx, ep)
		if err != nil {
			return err
		}
		c.User, c.Password = l.User, l.Password.Reveal()
		signPerHost(c, a, ep)
		watchLogin(c, a, l, ep)
		return nil
	}
	return nil
}

func init() {
	sql.Register(DriverName, dsnDriver{})
}

// dsnDriver opens connectors from DSNs with dbauth parameters. Each
// sql.Open makes one connector and so one Auth; open the *sql.DB once and
// share it, as database/sql intends.
type dsnDriver struct{}

func (dsnDriver) Open(dsn string) (driver.Conn, error) {
	c, err := NewConnector(dsn, dbauth.Config{})
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

func (dsnDriver) OpenConnector(dsn string) (driver.Connector, error) {
	return NewConnector(dsn, dbauth.Config{})
}

// signPerHost makes a connection with fallback hosts (a multi-host DSN,
// host=a,b) send each host a token signed for that host: RDS checks the
// token's host and port, and pgx sends one password to every host it
// tries. The host is the name the TLS handshake verified (ServerName),
// the port the one dialled. The first host's login is asked of a again
// (the cached one) so that a Connector rejects the login of the host
// that refused it.
func signPerHost(c *pgx.ConnConfig, a *dbauth.Auth, ep dbauth.Endpoint) {
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
		e := ep
		if host, port := attemptAddr(conn); host != "" && (host != firstHost || port != firstPort) {
			e.Host, e.Port = host, port
		}
		hl, err := a.Login(ctx, e)
		if err != nil {
			return nil, err
		}
		cfg.Password = hl.Password.Reveal()
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
