package dbauth

import (
	"context"
	"encoding/binary"
	"net"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// watchLogin makes c report a refusal of l to a. pgxpool gives no hook
// for a failed connect, so the server's replies up to the end of
// authentication are read as they pass: an ErrorResponse with SQLSTATE
// 28P01 or 28000 rejects the login, and the pool's next connection then
// gets a fresh token instead of the refused one until it expires.
func watchLogin(c *pgx.ConnConfig, a *Auth, l Login) {
	prev := c.AfterNetConnect
	c.AfterNetConnect = func(ctx context.Context, cfg *pgconn.Config, conn net.Conn) (net.Conn, error) {
		if prev != nil {
			var err error
			if conn, err = prev(ctx, cfg, conn); err != nil {
				return nil, err
			}
		}
		return &startupWatcher{Conn: conn, onRefused: func() { a.Reject(l) }}, nil
	}
}

// startupWatcher parses the backend's messages until authentication ends.
type startupWatcher struct {
	net.Conn
	onRefused func()

	mu   sync.Mutex
	done bool
	buf  []byte // unparsed bytes of the current message
}

func (w *startupWatcher) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.observe(p[:n])
	}
	return n, err
}

func (w *startupWatcher) observe(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.buf = append(w.buf, b...)
	for len(w.buf) >= 5 {
		typ := w.buf[0]
		size := int(binary.BigEndian.Uint32(w.buf[1:5]))
		if size < 4 || size > 1<<16 {
			// Not a startup reply we understand; stop looking.
			w.done, w.buf = true, nil
			return
		}
		if len(w.buf) < 1+size {
			return
		}
		body := w.buf[5 : 1+size]
		switch typ {
		case 'R':
			if len(body) >= 4 && binary.BigEndian.Uint32(body) == 0 {
				w.done, w.buf = true, nil // AuthenticationOk
				return
			}
		case 'E':
			if code := errorCode(body); code == "28P01" || code == "28000" {
				w.onRefused()
			}
			w.done, w.buf = true, nil
			return
		}
		w.buf = w.buf[1+size:]
	}
}

// errorCode returns the SQLSTATE ('C' field) of an ErrorResponse body.
func errorCode(body []byte) string {
	for len(body) > 0 && body[0] != 0 {
		field := body[0]
		body = body[1:]
		end := 0
		for end < len(body) && body[end] != 0 {
			end++
		}
		if field == 'C' {
			return string(body[:end])
		}
		if end >= len(body) {
			return ""
		}
		body = body[end+1:]
	}
	return ""
}
