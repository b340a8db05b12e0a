package dbauth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// IsAuthFailure reports whether err is the server refusing a login:
// PostgreSQL SQLSTATE 28P01 (invalid password) or 28000 (invalid
// authorization, which RDS returns for a bad IAM token), or MySQL error
// 1045 (access denied).
func IsAuthFailure(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "28P01" || pgErr.Code == "28000"
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1045
	}
	return false
}

// isTokenRefusal reports whether err is the refusal RDS gives a bad IAM
// token: PostgreSQL "PAM authentication failed for user" (RDS checks
// tokens through PAM), MySQL 1045 "Access denied for user". Other login
// errors (a missing role, a pg_hba rule, a refusal from behind a proxy)
// are not about the token, and new credentials would not help.
func isTokenRefusal(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return (pgErr.Code == "28P01" || pgErr.Code == "28000") && strings.HasPrefix(pgErr.Message, "PAM authentication failed")
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == 1045 && strings.HasPrefix(myErr.Message, "Access denied for user")
	}
	return false
}

// refuses reports whether err is the server refusing l itself.
func refuses(l Login, err error) bool {
	switch {
	case l.token != nil:
		return isTokenRefusal(err)
	case l.secret != nil:
		return IsAuthFailure(err)
	}
	return false
}

// loginSlot carries the Login that a driver's BeforeConnect hook used back
// to the connector that called the driver, so it can Reject it.
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

// connectWithRetry runs connect once, and once more after a refusal of
// the login that Auth judged worth retrying (see Auth.Reject).
func connectWithRetry[T any](ctx context.Context, a *Auth, connect func(context.Context) (T, error)) (T, error) {
	cctx, slot := withLoginSlot(ctx)
	conn, err := connect(cctx)
	l, ok := slot.get()
	if err == nil {
		if ok {
			a.Accept(l)
		}
		return conn, nil
	}
	if !ok || !refuses(l, err) {
		return conn, a.explain(err, l, nil)
	}
	retry, did := a.reject(l)
	tried := []string{did}
	if !retry {
		return conn, a.explain(err, l, tried)
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
	if ok && refuses(l2, err) {
		_, did := a.reject(l2) // drop the token; the credentials are kept
		tried = append(tried, "that token was refused too", did)
	}
	return conn, a.explain(err, l2, tried)
}

// explain adds what to do next to errors whose cause is commonly
// misread, with a hint that fits where the error came from.
func (a *Auth) explain(err error, l Login, tried []string) error {
	if err == nil {
		return nil
	}
	var unknownCA x509.UnknownAuthorityError
	var le *loginError
	switch {
	case errors.As(err, &le) && errors.As(err, &unknownCA):
		return fmt.Errorf("%w (the identity provider's TLS certificate is not trusted: check idp_endpoint names the Okta org's https URL, add the CA that signed it to the system roots (SSL_CERT_FILE), or, for a local test org only, set ssl_secure=false / sslInsecure=true)", err)
	case errors.As(err, &le):
		return err
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w (the database server's certificate is not signed by a trusted CA: for RDS, download the RDS CA bundle; for oktafed sandbox, write the front's CA with ca_file in its rds: section; then set sslrootcert=FILE (PostgreSQL) or register it with mysql.RegisterTLSConfig and set tls=NAME (MySQL))", err)
	}
	if !IsAuthFailure(err) {
		return err
	}
	switch {
	case l.secret != nil:
		return fmt.Errorf("%w (the password in secret %s was refused, even after reading the secret again: check that it holds the current password of user %s)", err, a.cfg.SecretID, l.User)
	case l.token != nil && isTokenRefusal(err):
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
