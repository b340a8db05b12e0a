package dbauth

import (
	"context"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Refusal is what a driver's error says about the login a connection sent,
// as the driver package that made the Connector reads it.
type Refusal int

const (
	// NotRefused: the error is not the server refusing the login (a
	// network error, a TLS failure, a missing database).
	NotRefused Refusal = iota
	// RefusedLogin: the server refused the user name and password
	// (PostgreSQL SQLSTATE 28P01 or 28000, MySQL error 1045), but not in
	// the words RDS uses for an IAM token.
	RefusedLogin
	// RefusedToken: RDS refused the IAM token itself (PostgreSQL "PAM
	// authentication failed for user", MySQL 1045 "Access denied for
	// user").
	RefusedToken
)

// Connector is a database/sql driver.Connector that authenticates each
// new connection through an Auth and, when the server refuses the login,
// tries once more with fresh credentials where that can help (see
// Auth.Reject). Packages dbauth/pgxauth and dbauth/mysqlauth make them.
type Connector struct {
	auth    *Auth
	inner   driver.Connector
	refusal func(error) Refusal
}

// NewConnector returns a Connector over inner, a driver's connector whose
// before-connect hook takes each connection's user and password from
// a.Login with the context it is given; refusal reads the driver's
// errors. It is the seam for a driver package; programs use pgxauth or
// mysqlauth.
func NewConnector(a *Auth, inner driver.Connector, refusal func(error) Refusal) *Connector {
	return &Connector{auth: a, inner: inner, refusal: refusal}
}

// Connect opens a connection, retrying once with fresh credentials when
// the server refuses the login.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	return c.auth.connect(ctx, c.inner.Connect, c.refusal)
}

// Driver returns the driver's database/sql driver.
func (c *Connector) Driver() driver.Driver { return c.inner.Driver() }

// Auth returns the connector's credential and token caches.
func (c *Connector) Auth() *Auth { return c.auth }

// refuses reports whether the server refused l itself: for a token, only
// RDS's refusal of the token (a missing role, a pg_hba rule or a refusal
// from behind a proxy is not about the token, and new credentials would
// not help); for a secret, any refused login.
func refuses(l Login, r Refusal) bool {
	switch {
	case l.token != nil:
		return r == RefusedToken
	case l.secret != nil:
		return r != NotRefused
	}
	return false
}

// loginSlot carries the Login that Auth.Login gave a driver's hook back to
// the Connector that called the driver, so it can Reject it.
type loginSlot struct {
	mu    sync.Mutex
	login Login
	set   bool
}

type loginSlotKey struct{}

func withLoginSlot(ctx context.Context) (context.Context, *loginSlot) {
	s := &loginSlot{}
	return context.WithValue(ctx, loginSlotKey{}, s), s
}

// recordLogin notes l as the login of the connect ctx belongs to, if a
// Connector started it; the last one counts (a connect that tries several
// hosts sends each its own).
func recordLogin(ctx context.Context, l Login) {
	if s, ok := ctx.Value(loginSlotKey{}).(*loginSlot); ok {
		s.mu.Lock()
		s.login, s.set = l, true
		s.mu.Unlock()
	}
}

func (s *loginSlot) get() (Login, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.login, s.set
}

// connect runs connect once, and once more after a refusal of the login
// that Reject judged worth retrying.
func (a *Auth) connect(ctx context.Context, connect func(context.Context) (driver.Conn, error), refusal func(error) Refusal) (driver.Conn, error) {
	cctx, slot := withLoginSlot(ctx)
	conn, err := connect(cctx)
	l, ok := slot.get()
	if err == nil {
		if ok {
			a.Accept(l)
		}
		return conn, nil
	}
	r := refusal(err)
	if !ok || !refuses(l, r) {
		return conn, a.explain(err, r, l, nil)
	}
	retry, did := a.reject(l)
	tried := []string{did}
	if !retry {
		return conn, a.explain(err, r, l, tried)
	}
	cctx, slot = withLoginSlot(ctx)
	conn, err = connect(cctx)
	l2, ok := slot.get()
	if err == nil {
		if ok {
			a.Accept(l2)
		}
		return conn, nil
	}
	r = refusal(err)
	if ok && refuses(l2, r) {
		_, did := a.reject(l2) // drop the token; the credentials are kept
		tried = append(tried, "that token was refused too", did)
	}
	return conn, a.explain(err, r, l2, tried)
}

// explain adds what to do next to errors whose cause is commonly
// misread, with a hint that fits where the error came from.
func (a *Auth) explain(err error, r Refusal, l Login, tried []string) error {
	var unknownCA x509.UnknownAuthorityError
	var le *loginError
	switch {
	case errors.As(err, &le):
		return err // Login has said what to do
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w (the database server's certificate is not signed by a trusted CA: for RDS, download the RDS CA bundle; for oktafed sandbox, write the front's CA with ca_file in its rds: section; then set sslrootcert=FILE (PostgreSQL) or register it with mysql.RegisterTLSConfig and set tls=NAME (MySQL))", err)
	case r == NotRefused:
		return err
	case l.secret != nil:
		return fmt.Errorf("%w (the password in secret %s was refused, even after reading the secret again: check that it holds the current password of user %s)", err, a.cfg.SecretID, l.User)
	case l.token != nil && r == RefusedToken:
		return fmt.Errorf("%w (the IAM token for user %s was refused; what this connect tried: %s. Check that the database user exists with IAM authentication enabled (PostgreSQL: GRANT rds_iam TO %s; MySQL: IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'), that the role's policy allows rds-db:connect for dbuser %s, and, with oktafed sandbox, that the front's allowed: section lists the role for it)", err, l.User, triedText(tried), l.User, l.User)
	case l.token != nil:
		return fmt.Errorf("%w (this is not a refusal of the IAM token: the database refused user %s after the token was checked; check that the user exists in the database itself (with oktafed sandbox: on the backend server, with its password under the front's backend.users))", err, l.User)
	}
	return err
}

// triedText says what a connect did after a refusal.
func triedText(tried []string) string {
	var parts []string
	for _, t := range tried {
		if t != "" {
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 {
		return "nothing: no retry was made"
	}
	return strings.Join(parts, "; ")
}
