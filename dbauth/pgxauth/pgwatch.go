package pgxauth

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/oktafed/oktafed/dbauth"
)

// watchLogin makes the pool connection being set up in c retry a refused
// login transparently. pgxpool gives no hook around a failed connect, and
// pgconn stops at SQLSTATE 28P01 without trying again, so the retry
// happens on the wire, inside the one connect the pool asked for: the
// server's replies are read as they pass until authentication ends; when
// the server refuses the token that a cleartext password request carried
// (as RDS asks for IAM tokens), the refusal is held back, Auth.Reject
// drops the token (and, once, the AWS credentials), and a second
// connection to the same server repeats the startup with a fresh token.
// pgx sees one connect that took two round trips longer. When a retry
// cannot help (Reject says so, the server asked for SCRAM, or the second
// attempt is refused too) the server's error reaches pgx unchanged.
func watchLogin(c *pgx.ConnConfig, a *dbauth.Auth, l dbauth.Login, ep dbauth.Endpoint) {
	prev := c.AfterNetConnect
	c.AfterNetConnect = func(ctx context.Context, cfg *pgconn.Config, conn net.Conn) (net.Conn, error) {
		if prev != nil {
			var err error
			if conn, err = prev(ctx, cfg, conn); err != nil {
				return nil, err
			}
		}
		w := &startupRelay{ctx: ctx, cfg: cfg, a: a, set: a.Config(), login: l, ep: ep}
		w.setConn(conn)
		return w, nil
	}
}

// maxStartupMessage bounds what is buffered before authentication ends;
// startup replies are small, and anything larger is passed through.
const maxStartupMessage = 1 << 16

// startupRelay is the net.Conn pgconn uses for a pool connection while it
// authenticates. After authentication it only passes bytes through.
type startupRelay struct {
	ctx   context.Context // the connect's; bounds a retry
	cfg   *pgconn.Config
	a     *dbauth.Auth
	set   dbauth.Config // a's settings: its logger, timeout and plugin
	ep    dbauth.Endpoint
	login dbauth.Login

	connMu sync.Mutex
	conn   net.Conn

	sentMu sync.Mutex
	sent   []byte // client bytes until authentication ends (the startup message first)

	// Read state, touched by the reading goroutine only.
	done      bool // authentication ended: pass through
	cleartext bool // the server asked for a cleartext password
	retried   bool
	in, out   []byte
	readErr   error
}

func (w *startupRelay) setConn(c net.Conn) {
	w.connMu.Lock()
	w.conn = c
	w.connMu.Unlock()
}

func (w *startupRelay) cur() net.Conn {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	return w.conn
}

func (w *startupRelay) Write(p []byte) (int, error) {
	w.sentMu.Lock()
	if len(w.sent) < maxStartupMessage {
		w.sent = append(w.sent, p...)
	}
	w.sentMu.Unlock()
	return w.cur().Write(p)
}

func (w *startupRelay) Read(p []byte) (int, error) {
	for {
		if len(w.out) > 0 {
			n := copy(p, w.out)
			w.out = w.out[n:]
			return n, nil
		}
		if w.readErr != nil {
			return 0, w.readErr
		}
		if w.done {
			return w.cur().Read(p)
		}
		var buf [4096]byte
		conn := w.cur()
		n, err := conn.Read(buf[:])
		w.in = append(w.in, buf[:n]...)
		w.process()
		if w.cur() != conn {
			continue // retried: the refused connection's end is no news
		}
		if err != nil {
			// Whatever partial message there is belongs to pgx, with the
			// error after it.
			if !w.done {
				w.passThrough()
			}
			w.readErr = err
		}
	}
}

// process moves complete server messages from in to out, acting on the
// ones that end authentication.
func (w *startupRelay) process() {
	for !w.done && len(w.in) >= 5 {
		typ := w.in[0]
		size := int(binary.BigEndian.Uint32(w.in[1:5]))
		if size < 4 || size > maxStartupMessage {
			w.passThrough() // not a startup reply this understands
			return
		}
		if len(w.in) < 1+size {
			return
		}
		msg := w.in[:1+size]
		body := msg[5:]
		switch typ {
		case 'R':
			if len(body) >= 4 {
				switch binary.BigEndian.Uint32(body) {
				case 0: // AuthenticationOk
					w.a.Accept(w.login)
					w.out = append(w.out, msg...)
					w.in = w.in[1+size:]
					w.passThrough()
					return
				case 3: // AuthenticationCleartextPassword
					w.cleartext = true
				}
			}
		case 'E':
			pgErr := &pgconn.PgError{Code: errorField(body, 'C'), Message: errorField(body, 'M')}
			if w.refuses(pgErr) {
				if w.a.Reject(w.login) && w.cleartext && !w.retried && w.retry() {
					// The new connection answers from here on; nothing
					// more can come from the refused one.
					w.in = nil
					return
				}
			}
			w.out = append(w.out, msg...)
			w.in = w.in[1+size:]
			w.passThrough()
			return
		}
		w.out = append(w.out, msg...)
		w.in = w.in[1+size:]
	}
}

// refuses reports whether err is the server refusing the login sent: for
// an IAM token, RDS's refusal of the token itself (other refusals are not
// about the token, and a new one would not help); for a secret, any
// refused login.
func (w *startupRelay) refuses(err error) bool {
	r := refusal(err)
	if w.set.Plugin == dbauth.PluginSecrets {
		return r != dbauth.NotRefused
	}
	return r == dbauth.RefusedToken
}

func (w *startupRelay) passThrough() {
	w.done = true
	w.out = append(w.out, w.in...)
	w.in = nil
	w.sentMu.Lock()
	w.sent = nil
	w.sentMu.Unlock()
}

// retry opens a second connection to the same server, repeats the
// client's startup message, answers the password request with a fresh
// login and, on success, makes the second connection the one pgx uses.
func (w *startupRelay) retry() bool {
	w.retried = true
	l, err := w.a.Login(w.ctx, w.ep)
	if err != nil || l.User != w.login.User {
		return false
	}
	w.sentMu.Lock()
	startup := slices.Clone(w.sent)
	w.sentMu.Unlock()
	if len(startup) < 8 {
		return false
	}
	n := int(binary.BigEndian.Uint32(startup))
	if n < 8 || n > len(startup) {
		return false
	}
	startup = startup[:n]
	old := w.cur()
	c, err := w.redial(old)
	if err != nil {
		w.set.Logger.Info("dbauth: could not retry a refused pool login", "err", err)
		return false
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if dl, has := w.ctx.Deadline(); has {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(w.set.HTTPTimeout))
	}
	if _, err := c.Write(startup); err != nil {
		return false
	}
	// Skip what pgx has already seen (a protocol negotiation) up to the
	// password request.
	for {
		typ, body, err := readMessage(c)
		if err != nil {
			return false
		}
		if typ == 'R' && len(body) >= 4 {
			if binary.BigEndian.Uint32(body) != 3 {
				return false
			}
			break
		}
		if typ != 'v' && typ != 'N' {
			return false
		}
	}
	pw := make([]byte, 0, 6+len(l.Password.Reveal()))
	pw = append(pw, 'p', 0, 0, 0, 0)
	pw = append(pw, []byte(l.Password.Reveal())...)
	pw = append(pw, 0)
	binary.BigEndian.PutUint32(pw[1:5], uint32(len(pw)-1))
	if _, err := c.Write(pw); err != nil {
		return false
	}
	c.SetDeadline(time.Time{})
	ok = true
	w.login = l
	w.setConn(c)
	old.Close()
	w.set.Logger.Info("dbauth: retried a refused pool login with a fresh token", "host", w.ep.Host, "user", l.User)
	return true
}

// redial connects to the server old is connected to, with the same TLS
// set-up (the PostgreSQL SSLRequest, or direct TLS).
func (w *startupRelay) redial(old net.Conn) (net.Conn, error) {
	tc, ok := old.(*tls.Conn)
	if !ok {
		return nil, errors.New("not a TLS connection")
	}
	state := tc.ConnectionState()
	tlsCfg := w.cfg.TLSConfig
	if tlsCfg == nil || (tlsCfg.ServerName != state.ServerName && state.ServerName != "") {
		tlsCfg = nil
		for _, fb := range w.cfg.Fallbacks {
			if fb.TLSConfig != nil && fb.TLSConfig.ServerName == state.ServerName {
				tlsCfg = fb.TLSConfig
				break
			}
		}
	}
	if tlsCfg == nil {
		return nil, errors.New("no TLS configuration for the server")
	}
	tlsCfg = tlsCfg.Clone()
	dial := w.cfg.DialFunc
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(w.ctx, "tcp", old.RemoteAddr().String())
	if err != nil {
		return nil, err
	}
	if state.NegotiatedProtocol == "postgresql" {
		tlsCfg.NextProtos = []string{"postgresql"}
	} else {
		// SSLRequest, answered with one byte: 'S' to go ahead.
		if _, err := raw.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
			raw.Close()
			return nil, err
		}
		var b [1]byte
		if _, err := io.ReadFull(raw, b[:]); err != nil || b[0] != 'S' {
			raw.Close()
			return nil, errors.New("the server refused TLS on the second connection")
		}
	}
	c := tls.Client(raw, tlsCfg)
	if err := c.HandshakeContext(w.ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// readMessage reads one backend message.
func readMessage(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := int(binary.BigEndian.Uint32(hdr[1:]))
	if size < 4 || size > maxStartupMessage {
		return 0, nil, errors.New("malformed message")
	}
	body := make([]byte, size-4)
	_, err := io.ReadFull(r, body)
	return hdr[0], body, err
}

func (w *startupRelay) Close() error {
	return w.cur().Close()
}

func (w *startupRelay) LocalAddr() net.Addr                { return w.cur().LocalAddr() }
func (w *startupRelay) RemoteAddr() net.Addr               { return w.cur().RemoteAddr() }
func (w *startupRelay) SetDeadline(t time.Time) error      { return w.cur().SetDeadline(t) }
func (w *startupRelay) SetReadDeadline(t time.Time) error  { return w.cur().SetReadDeadline(t) }
func (w *startupRelay) SetWriteDeadline(t time.Time) error { return w.cur().SetWriteDeadline(t) }

// errorField returns one field ('C' SQLSTATE, 'M' message) of an
// ErrorResponse body.
func errorField(body []byte, want byte) string {
	for len(body) > 0 && body[0] != 0 {
		field := body[0]
		body = body[1:]
		end := 0
		for end < len(body) && body[end] != 0 {
			end++
		}
		if field == want {
			return string(body[:end])
		}
		if end >= len(body) {
			return ""
		}
		body = body[end+1:]
	}
	return ""
}
