package dbauth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
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

// connectWithRetry runs connect once, and once more after an
// authentication failure whose login Auth agreed to refresh.
func connectWithRetry[T any](ctx context.Context, a *Auth, connect func(context.Context) (T, error)) (T, error) {
	cctx, slot := withLoginSlot(ctx)
	conn, err := connect(cctx)
	if err == nil || !IsAuthFailure(err) {
		return conn, explain(err)
	}
	l, ok := slot.get()
	if !ok || !a.Reject(l) {
		return conn, explain(err)
	}
	cctx, _ = withLoginSlot(ctx)
	conn, err = connect(cctx)
	if err != nil && IsAuthFailure(err) {
		return conn, fmt.Errorf("%w (refused again with fresh credentials: check that the database user exists, has IAM authentication enabled (GRANT rds_iam / IDENTIFIED WITH AWSAuthenticationPlugin) and that the role's policy allows rds-db:connect for it)", err)
	}
	return conn, explain(err)
}

// explain adds what to do next to errors whose cause is commonly
// misread.
func explain(err error) error {
	if err == nil {
		return nil
	}
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		return fmt.Errorf("%w (the server's certificate is not signed by a trusted CA: for RDS, download the RDS CA bundle and set sslrootcert (PostgreSQL) or register it with mysql.RegisterTLSConfig and set tls=NAME (MySQL))", err)
	}
	return err
}
