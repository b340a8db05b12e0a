package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
)

// Headers an upstream names in Connection are hop-by-hop: they are for
// the gateway, never for the client (RFC 9110 section 7.6.1).
// httputil.ReverseProxy removes them, but it reads them from the parsed
// response, and Go's transport deletes the whole Connection header of an
// HTTP/1.1 response that says "close" (it only keeps the fact, as
// Response.Close). "Connection: close, X-Secret" then let X-Secret
// through. So HTTP/1.x upstream connections are read through headConn,
// which notes the Connection values of each response head as the bytes go
// by, and the proxy removes what the upstream named whatever else
// Connection said. HTTP/2 responses keep their Connection header (and may
// not carry one at all), so the proxy's own removal covers them.

// headConn is an upstream HTTP/1.x connection that notes the Connection
// header of the response heads it reads. It only looks: the bytes reach
// Go's transport unchanged. Heads are found without parsing bodies: a
// head starts where a request takes the connection (httptrace GotConn,
// when the previous response has been read to its end), and the heads of
// 1xx responses are followed by another head.
type headConn struct {
	net.Conn
	mu      sync.Mutex
	inHead  bool     // reading a head; false: a body, or idle
	atStart bool     // the next line is a status line
	status  int      // of the head being read
	line    []byte   // the line being read, up to maxHeadLine
	long    bool     // the line is longer than maxHeadLine
	folded  bool     // the last header line was Connection (for obs-fold)
	values  []string // Connection values of the head being read
	// valuesLong: a Connection line of the head being read was too long
	// to note.
	valuesLong bool
	final      []string // Connection values of the last final (non-1xx) head
	unknown    bool     // the last final head had a Connection line too long to note
}

// maxHeadLine bounds the part of a head line headConn keeps; a longer
// Connection line cannot be noted and its response is refused.
const maxHeadLine = 16 << 10

func newHeadConn(c net.Conn) *headConn { return &headConn{Conn: c, inHead: true, atStart: true} }

// expectHead says the next bytes read start a response head: a request
// has taken the connection.
func (c *headConn) expectHead() {
	c.mu.Lock()
	c.inHead, c.atStart, c.line, c.long, c.folded, c.values, c.valuesLong = true, true, c.line[:0], false, false, nil, false
	c.mu.Unlock()
}

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scan(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// scan notes what the head lines in b say; bytes outside heads are
// skipped.
func (c *headConn) scan(b []byte) {
	for len(b) > 0 && c.inHead {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if room := maxHeadLine - len(c.line); len(part) > room {
			part, c.long = part[:room], true
		}
		c.line = append(c.line, part...)
		if i < 0 {
			return
		}
		b = b[i+1:]
		c.endLine()
	}
}

// endLine handles one complete head line, as textproto reads it: CR LF or
// LF ends it, a line starting with space or tab continues the previous
// header, an empty line ends the head.
func (c *headConn) endLine() {
	line := bytes.TrimSuffix(c.line, []byte{'\r'})
	long := c.long
	c.line, c.long = c.line[:0], false
	switch {
	case c.atStart:
		c.atStart = false
		c.status = 0
		// "HTTP/1.1 103 Early Hints"
		if len(line) >= 12 && bytes.HasPrefix(line, []byte("HTTP/")) && line[8] == ' ' {
			for _, d := range line[9:12] {
				if d < '0' || d > '9' {
					c.status = 0
					break
				}
				c.status = c.status*10 + int(d-'0')
			}
		}
	case len(line) == 0 && !long:
		if c.status >= 100 && c.status < 200 && c.status != http.StatusSwitchingProtocols {
			// Another head follows this informational one.
			c.atStart, c.folded, c.values, c.valuesLong = true, false, nil, false
			return
		}
		c.final, c.unknown = c.values, c.valuesLong
		c.inHead, c.folded, c.values, c.valuesLong = false, false, nil, false
	case line[0] == ' ' || line[0] == '\t':
		// An obsolete line fold: textproto joins it to the previous
		// line with one space.
		if c.folded {
			if long || len(c.values) == 0 {
				c.valuesLong = c.valuesLong || long
				return
			}
			c.values[len(c.values)-1] += " " + string(bytes.Trim(line, " \t"))
		}
	default:
		name, value, ok := bytes.Cut(line, []byte{':'})
		c.folded = ok && len(name) == len("connection") && strings.EqualFold(string(name), "connection")
		if c.folded {
			c.addValue(value, long)
		}
	}
}

func (c *headConn) addValue(v []byte, long bool) {
	if long {
		c.valuesLong = true // could not be noted whole
		return
	}
	c.values = append(c.values, string(v))
}

// connectionNamed returns the names the last final head's Connection
// header gave, and false when one of its lines was too long to note.
func (c *headConn) connectionNamed() ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unknown {
		return nil, false
	}
	var names []string
	for _, v := range c.final {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = textproto.TrimString(tok); tok != "" {
				names = append(names, tok)
			}
		}
	}
	return names, true
}

// gotConn is the request's httptrace hook: the request has taken an
// upstream connection, so the next head read on it is its response's.
func (f *forward) gotConn(info httptrace.GotConnInfo) {
	if hc, ok := info.Conn.(*headConn); ok {
		hc.expectHead()
		f.hc = hc
	}
}

// errHopUnknown refuses a response whose Connection header could not be
// noted whole (a line longer than maxHeadLine).
var errHopUnknown = errors.New("the upstream's Connection header is too long to tell which headers it names")

// removeNamedHop removes the headers the upstream named in a Connection
// header that Go's transport removed (a close response). It reports false
// when that header could not be noted whole; the response is then
// refused.
func removeNamedHop(res *http.Response, f *forward) bool {
	if !res.Close || f == nil || f.hc == nil || res.Header["Connection"] != nil {
		return true
	}
	names, ok := f.hc.connectionNamed()
	for _, n := range names {
		res.Header.Del(n)
	}
	return ok
}

// dialHTTPS dials an https:// upstream and makes the TLS handshake itself,
// so that an HTTP/1.1 connection can be read through headConn above TLS;
// a connection that negotiated h2 is handed over as the *tls.Conn the
// transport needs for HTTP/2.
func dialHTTPS(d *net.Dialer, cfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			c.ServerName = host
		}
		c.NextProtos = []string{"h2", "http/1.1"}
		tc := tls.Client(raw, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			return tc, nil
		}
		return newHeadConn(tc), nil
	}
}
