package dbauth

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"strconv"

	"github.com/oktafed/oktafed/secret"

	"github.com/go-sql-driver/mysql"
)

// MySQLDriverName is the database/sql driver name under which this package
// registers github.com/go-sql-driver/mysql with dbauth parameters in the
// DSN: sql.Open("oktafed-mysql", "alice@tcp(db:3306)/app?plugins=iam").
const MySQLDriverName = "oktafed-mysql"

// MySQLConnector is a database/sql driver.Connector for MySQL and MariaDB
// that authenticates each new connection through an Auth.
type MySQLConnector struct {
	auth  *Auth
	inner driver.Connector
}

// NewMySQLConnector parses dsn (a go-sql-driver/mysql DSN with dbauth
// parameters) and returns a connector; fields set in cfg win over DSN
// parameters. Use it with sql.OpenDB.
func NewMySQLConnector(dsn string, cfg Config) (*MySQLConnector, error) {
	rest, err := SplitMySQLDSN(dsn, &cfg)
	if err != nil {
		return nil, scrub(err, dsn)
	}
	myCfg, err := mysql.ParseDSN(rest)
	if err != nil {
		return nil, driverParseError(err, dsn)
	}
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return NewMySQLConnectorFromConfig(myCfg, a)
}

// NewMySQLConnectorFromConfig returns a connector for myCfg authenticated
// through a. It requires TLS (tls=true when unset) and, for IAM tokens,
// enables the cleartext password plugin that RDS uses for them.
func NewMySQLConnectorFromConfig(myCfg *mysql.Config, a *Auth) (*MySQLConnector, error) {
	myCfg = myCfg.Clone()
	if err := checkMySQLTLS(myCfg, a.cfg.InsecureUnverifiedDBTLS, a.cfg.RootCAs); err != nil {
		return nil, err
	}
	// RDS takes IAM tokens through mysql_clear_password, and a server
	// (or proxy) may ask for a secret's password the same way; TLS that
	// verifies the server, now required, keeps either off the wire in the
	// clear and away from an impostor.
	myCfg.AllowCleartextPasswords = true
	host, port := splitMySQLAddr(myCfg.Addr)
	hook := func(ctx context.Context, c *mysql.Config) error {
		if err := checkMySQLTLS(c, a.cfg.InsecureUnverifiedDBTLS, a.cfg.RootCAs); err != nil {
			return err
		}
		a.warnInsecure(host)
		l, err := a.Login(ctx, Endpoint{Host: host, Port: port, DefaultPort: 3306, User: c.User, Password: secret.New(c.Passwd)})
		if err != nil {
			return err
		}
		recordLogin(ctx, l)
		c.User, c.Passwd = l.User, l.Password.Reveal()
		return nil
	}
	if err := myCfg.Apply(mysql.BeforeConnect(hook)); err != nil {
		return nil, fmt.Errorf("dbauth: %w", err)
	}
	inner, err := mysql.NewConnector(myCfg)
	if err != nil {
		return nil, fmt.Errorf("dbauth: %w", err)
	}
	return &MySQLConnector{auth: a, inner: inner}, nil
}

func splitMySQLAddr(addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// Connect opens a connection, retrying once with fresh credentials when
// the server refuses the login.
func (c *MySQLConnector) Connect(ctx context.Context) (driver.Conn, error) {
	return connectWithRetry(ctx, c.auth, c.inner.Connect)
}

// Driver returns go-sql-driver/mysql's driver.
func (c *MySQLConnector) Driver() driver.Driver { return c.inner.Driver() }

// Auth returns the connector's credential and token caches.
func (c *MySQLConnector) Auth() *Auth { return c.auth }

func init() {
	sql.Register(MySQLDriverName, mysqlDSNDriver{})
}

// mysqlDSNDriver opens connectors from DSNs with dbauth parameters.
type mysqlDSNDriver struct{}

func (mysqlDSNDriver) Open(dsn string) (driver.Conn, error) {
	c, err := NewMySQLConnector(dsn, Config{})
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

func (mysqlDSNDriver) OpenConnector(dsn string) (driver.Connector, error) {
	return NewMySQLConnector(dsn, Config{})
}
