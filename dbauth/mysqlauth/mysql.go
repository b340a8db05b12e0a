// Package mysqlauth connects to MySQL and MariaDB on RDS and Aurora
// through github.com/go-sql-driver/mysql with the passwords package
// dbauth supplies (an RDS IAM token from an Okta login or the AWS
// credential chain, or a Secrets Manager secret): a database/sql
// connector and the "oktafed-mysql" driver name. It requires TLS that
// verifies the server, sends IAM tokens with the cleartext password
// plugin RDS asks for, and retries a refused token once with fresh
// credentials. It links no PostgreSQL driver.
package mysqlauth

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/secret"
)

// DriverName is the database/sql driver name under which this package
// registers github.com/go-sql-driver/mysql with dbauth parameters in the
// DSN: sql.Open("oktafed-mysql", "alice@tcp(db:3306)/app?plugins=iam").
const DriverName = "oktafed-mysql"

// NewConnector parses dsn (a go-sql-driver/mysql DSN with dbauth
// parameters) and returns a connector; fields set in cfg win over DSN
// parameters. Use it with sql.OpenDB.
func NewConnector(dsn string, cfg dbauth.Config) (*dbauth.Connector, error) {
	rest, err := dbauth.SplitMySQLDSN(dsn, &cfg)
	if err != nil {
		return nil, err
	}
	myCfg, err := mysql.ParseDSN(rest)
	if err != nil {
		return nil, dbauth.DSNError(err, dsn)
	}
	a, err := dbauth.New(cfg)
	if err != nil {
		return nil, err
	}
	return NewConnectorFromConfig(myCfg, a)
}

// NewConnectorFromConfig returns a connector for myCfg authenticated
// through a. It requires TLS (tls=true when unset) and, for IAM tokens,
// enables the cleartext password plugin that RDS uses for them.
func NewConnectorFromConfig(myCfg *mysql.Config, a *dbauth.Auth) (*dbauth.Connector, error) {
	cfg := a.Config()
	myCfg = myCfg.Clone()
	if err := checkMySQLTLS(myCfg, cfg.InsecureUnverifiedDBTLS, cfg.RootCAs); err != nil {
		return nil, err
	}
	// RDS takes IAM tokens through mysql_clear_password, and a server
	// (or proxy) may ask for a secret's password the same way; TLS that
	// verifies the server, now required, keeps either off the wire in the
	// clear and away from an impostor.
	myCfg.AllowCleartextPasswords = true
	host, port := splitMySQLAddr(myCfg.Addr)
	hook := func(ctx context.Context, c *mysql.Config) error {
		if err := checkMySQLTLS(c, cfg.InsecureUnverifiedDBTLS, cfg.RootCAs); err != nil {
			return err
		}
		warnInsecure(cfg, host)
		l, err := a.Login(ctx, dbauth.Endpoint{Host: host, Port: port, DefaultPort: 3306, User: c.User, Password: secret.New(c.Passwd)})
		if err != nil {
			return err
		}
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
	return dbauth.NewConnector(a, inner, refusal), nil
}

// refusal reads a go-sql-driver/mysql error: error 1045 (access denied)
// is a refused login, and one worded "Access denied for user", as RDS
// refuses an IAM token, a refused token.
func refusal(err error) dbauth.Refusal {
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1045 {
		return dbauth.NotRefused
	}
	if strings.HasPrefix(myErr.Message, "Access denied for user") {
		return dbauth.RefusedToken
	}
	return dbauth.RefusedLogin
}

func splitMySQLAddr(addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

func init() {
	sql.Register(DriverName, dsnDriver{})
}

// dsnDriver opens connectors from DSNs with dbauth parameters.
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
