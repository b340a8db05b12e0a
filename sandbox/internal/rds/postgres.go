package rds

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// maxStartupBody bounds startup-phase messages from clients; a password
// message carrying a token is about 1.5 KiB.
const maxStartupBody = 64 << 10

// pgStartup is the client side of the login: what the client asked for.
type pgStartup struct {
	user, database string
	params         map[string]string
	version        uint32
}

func (s *Server) servePostgres(raw net.Conn) {
	clear := withDeadline(raw)
	conn := net.Conn(raw)
	be := newPgBackend(conn)
	tlsDone := false
	var st pgStartup
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if tlsDone {
				return
			}
			if _, err := conn.Write([]byte{'S'}); err != nil {
				return
			}
			tc := tls.Server(conn, s.tlsCfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, tlsDone = tc, true
			be = newPgBackend(conn)
		case *pgproto3.GSSEncRequest:
			if _, err := conn.Write([]byte{'N'}); err != nil {
				return
			}
		case *pgproto3.CancelRequest:
			s.forwardPgCancel(m)
			return
		case *pgproto3.StartupMessage:
			st = pgStartup{user: m.Parameters["user"], database: m.Parameters["database"], params: m.Parameters, version: m.ProtocolVersion}
			if st.database == "" {
				st.database = st.user
			}
			if !tlsDone {
				// RDS requires TLS for IAM authentication; this front
				// requires it for every login, so a token never travels in
				// the clear.
				s.refuse(st.user, raw.RemoteAddr().String(), &errRefused{"no TLS"})
				sendPgFatal(be, "28000", fmt.Sprintf("no pg_hba.conf entry for host %q, user %q, database %q, no encryption", hostOf(raw.RemoteAddr()), st.user, st.database))
				return
			}
			s.pgLogin(raw, conn, be, st, clear)
			return
		default:
			return
		}
	}
}

func newPgBackend(c net.Conn) *pgproto3.Backend {
	be := pgproto3.NewBackend(c, c)
	be.SetMaxBodyLen(maxStartupBody)
	return be
}

func hostOf(a net.Addr) string {
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

func sendPgFatal(be *pgproto3.Backend, code, msg string) {
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
	be.Flush()
}

func (s *Server) pgLogin(raw, conn net.Conn, be *pgproto3.Backend, st pgStartup, clearDeadline func()) {
	if st.version == pgproto3.ProtocolVersion32 {
		// The backend speaks 3.0; tell the client before authentication,
		// as a 3.0 server would.
		be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := be.Flush(); err != nil {
		return
	}
	if err := be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return
	}
	msg, err := be.Receive()
	if err != nil {
		return
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		sendPgFatal(be, "08P01", "expected a password response")
		return
	}
	if err := s.checkLogin(st.user, pw.Password); err != nil {
		s.refuse(st.user, raw.RemoteAddr().String(), err)
		sendPgFatal(be, "28P01", fmt.Sprintf("PAM authentication failed for user %q", st.user))
		return
	}

	if _, _, ok := s.backendLogin(st.user); !ok {
		s.refuse(st.user, raw.RemoteAddr().String(), &errRefused{"backend refused the login: " + noBackendUser})
		sendPgFatal(be, "28000", backendRefusal(st.user, noBackendUser))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	back, err := s.dialPgBackend(ctx, st)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			// The token was good; the backend has no such login. Say so,
			// so the client does not take it for a refused token.
			s.refuse(st.user, raw.RemoteAddr().String(), &errRefused{"backend refused the login: " + pgErr.Message})
			sendPgFatal(be, "28000", backendRefusal(st.user, pgErr.Message))
			return
		}
		if errors.As(err, &pgErr) {
			// Errors such as a missing database are the client's to see.
			be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: pgErr.Code, Message: pgErr.Message, Detail: pgErr.Detail, Hint: pgErr.Hint})
			be.Flush()
			return
		}
		s.log.Warn("sandbox rds: backend connect failed", "backend", s.cfg.Backend.Addr, "err", err)
		sendPgFatal(be, "08006", "the sandbox could not reach the backend database; check that it is running")
		return
	}
	// pgconn may still have a background read pending from its login
	// (it starts one when a write is slow); SyncConn ends it so no backend
	// byte is lost to it once the connection is relayed.
	if err := back.SyncConn(ctx); err != nil {
		back.Close(ctx)
		sendPgFatal(be, "08006", "the sandbox lost the backend connection during login")
		return
	}
	hj, err := back.Hijack()
	if err != nil {
		back.Close(ctx)
		return
	}
	untrack := s.trackBackend(hj.Conn)
	defer untrack()
	// Counted before the client hears of it, so Stats read after a
	// client's connect returns include it.
	s.accepted.Add(1)
	be.Send(&pgproto3.AuthenticationOk{})
	for k, v := range hj.ParameterStatuses {
		be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	// The backend's key, so a client's cancel request reaches the backend
	// through forwardPgCancel.
	be.Send(&pgproto3.BackendKeyData{ProcessID: hj.PID, SecretKey: hj.SecretKey})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: hj.TxStatus})
	if err := be.Flush(); err != nil {
		hj.Conn.Close()
		return
	}
	clearDeadline()
	relay(conn, hj.Conn)
}

func (s *Server) dialPgBackend(ctx context.Context, st pgStartup) (*pgconn.PgConn, error) {
	host, port, err := net.SplitHostPort(s.cfg.Backend.Addr)
	if err != nil {
		return nil, fmt.Errorf("backend address %q: %w", s.cfg.Backend.Addr, err)
	}
	user, password, _ := s.backendLogin(st.user)
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(host, port), Path: "/"}
	q := url.Values{"sslmode": {"disable"}}
	u.RawQuery = q.Encode()
	cfg, err := pgconn.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	p, _ := strconv.Atoi(port)
	cfg.Host, cfg.Port = host, uint16(p)
	cfg.User, cfg.Password, cfg.Database = user, password, st.database
	cfg.TLSConfig = s.cfg.Backend.TLS
	cfg.Fallbacks = nil
	for k, v := range st.params {
		switch k {
		case "user", "database":
		default:
			cfg.RuntimeParams[k] = v
		}
	}
	return pgconn.ConnectConfig(ctx, cfg)
}

// forwardPgCancel passes a cancel request to the backend, whose process
// id and key the client got from the relayed BackendKeyData.
func (s *Server) forwardPgCancel(m *pgproto3.CancelRequest) {
	c, err := net.DialTimeout("tcp", s.cfg.Backend.Addr, handshakeTimeout)
	if err != nil {
		return
	}
	defer c.Close()
	buf, err := m.Encode(nil)
	if err != nil {
		return
	}
	c.Write(buf)
	// The server closes the connection when done; wait for it so the
	// cancel is delivered before the client's next step.
	var b [1]byte
	c.Read(b[:])
}

// backendRefusal is the message a client gets when the front accepted its
// token but the real database behind it refused the user: a sandbox
// set-up problem, worded so it is not mistaken for a refused token.
func backendRefusal(user, backendMsg string) string {
	return fmt.Sprintf("sandbox rds: the IAM token for %q was accepted, but the backend database refused that user (%s): create the user on the backend server and give its password under backend.users", user, backendMsg)
}
