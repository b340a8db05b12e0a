package rds

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // mysql_native_password is defined with SHA-1
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// MySQL capability flags the front looks at (protocol documentation's
// names).
const (
	capConnectWithDB      = 0x00000008
	capProtocol41         = 0x00000200
	capSSL                = 0x00000800
	capSecureConnection   = 0x00008000
	capPluginAuth         = 0x00080000
	capConnectAttrs       = 0x00100000
	capPluginAuthLenenc   = 0x00200000
	capCompress           = 0x00000020
	capDeprecateEOF       = 0x01000000
	capQueryAttributes    = 0x08000000
	maxHandshakePacketLen = 64 << 10
)

// Plugins and error numbers the front uses.
const (
	pluginNative          = "mysql_native_password"
	pluginClear           = "mysql_clear_password"
	erAccessDenied        = 1045
	erSecureTransport     = 3159
	erHandshake           = 1043
	erBackendUnreachable  = 2003
	sqlstateAccessDenied  = "28000"
	sqlstateGeneral       = "HY000"
	sqlstateHandshakeFail = "08S01"
)

// myPacket reads and writes MySQL packets: a 3-byte little-endian length,
// a sequence number and the payload. Login packets are small, so payloads
// split over several packets (length 0xFFFFFF) are refused.
type myPacket struct {
	rw  io.ReadWriter
	seq byte
}

func (p *myPacket) read() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(p.rw, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n > maxHandshakePacketLen {
		return nil, fmt.Errorf("login packet of %d bytes is too large", n)
	}
	if h[3] != p.seq {
		return nil, fmt.Errorf("packet sequence %d, want %d", h[3], p.seq)
	}
	p.seq++
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.rw, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func (p *myPacket) write(payload []byte) error {
	if len(payload) >= 0xFFFFFF {
		return errors.New("login packet too large")
	}
	buf := make([]byte, 4, 4+len(payload))
	buf[0], buf[1], buf[2], buf[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), p.seq
	p.seq++
	_, err := p.rw.Write(append(buf, payload...))
	return err
}

func (p *myPacket) writeErr(code uint16, state, msg string) error {
	b := []byte{0xFF, byte(code), byte(code >> 8), '#'}
	b = append(b, state...)
	b = append(b, msg...)
	return p.write(b)
}

// myGreeting is a protocol-10 initial handshake packet.
type myGreeting struct {
	version    string
	connID     uint32
	salt       []byte // 20 bytes of scramble
	caps       uint32
	charset    byte
	status     uint16
	authPlugin string
}

func parseGreeting(b []byte) (*myGreeting, error) {
	bad := errors.New("malformed initial handshake")
	if len(b) < 1 {
		return nil, bad
	}
	if b[0] == 0xFF {
		return nil, fmt.Errorf("server refused the connection: %s", parseErrPacket(b))
	}
	if b[0] != 10 {
		return nil, fmt.Errorf("handshake protocol %d is not 10", b[0])
	}
	b = b[1:]
	end := bytes.IndexByte(b, 0)
	if end < 0 {
		return nil, bad
	}
	g := &myGreeting{version: string(b[:end])}
	b = b[end+1:]
	// connection id(4) salt1(8) filler(1) caps low(2)
	if len(b) < 15 {
		return nil, bad
	}
	g.connID = binary.LittleEndian.Uint32(b)
	g.salt = append([]byte(nil), b[4:12]...)
	g.caps = uint32(binary.LittleEndian.Uint16(b[13:15]))
	b = b[15:]
	if len(b) == 0 {
		return g, nil
	}
	// charset(1) status(2) caps high(2) auth data len(1) reserved(10)
	if len(b) < 16 {
		return nil, bad
	}
	g.charset = b[0]
	g.status = binary.LittleEndian.Uint16(b[1:3])
	g.caps |= uint32(binary.LittleEndian.Uint16(b[3:5])) << 16
	authLen := int(b[5])
	b = b[16:]
	if g.caps&capSecureConnection != 0 {
		n := max(13, authLen-8)
		if len(b) < n {
			return nil, bad
		}
		part := b[:n]
		// The second part ends with a NUL that is not scramble.
		if i := bytes.IndexByte(part, 0); i >= 0 {
			part = part[:i]
		}
		g.salt = append(g.salt, part...)
		b = b[n:]
	}
	if g.caps&capPluginAuth != 0 {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			g.authPlugin = string(b[:i])
		} else {
			g.authPlugin = string(b)
		}
	}
	return g, nil
}

func (g *myGreeting) encode() []byte {
	b := []byte{10}
	b = append(b, g.version...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, g.connID)
	b = append(b, g.salt[:8]...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(g.caps))
	b = append(b, g.charset)
	b = binary.LittleEndian.AppendUint16(b, g.status)
	b = binary.LittleEndian.AppendUint16(b, uint16(g.caps>>16))
	b = append(b, byte(len(g.salt)+1))
	b = append(b, make([]byte, 10)...)
	b = append(b, g.salt[8:]...)
	b = append(b, 0)
	b = append(b, g.authPlugin...)
	return append(b, 0)
}

// myResponse is a HandshakeResponse41, or the SSL request that precedes it
// (the same first 32 bytes).
type myResponse struct {
	caps       uint32
	maxPacket  uint32
	charset    byte
	user       string
	authResp   []byte
	database   string
	authPlugin string
	attrs      []byte // raw length-encoded attribute block, passed through
	sslOnly    bool   // the packet ended after 32 bytes: an SSL request
}

func parseResponse(b []byte) (*myResponse, error) {
	bad := errors.New("malformed handshake response")
	if len(b) < 32 {
		return nil, bad
	}
	r := &myResponse{
		caps:      binary.LittleEndian.Uint32(b),
		maxPacket: binary.LittleEndian.Uint32(b[4:]),
		charset:   b[8],
	}
	if r.caps&capProtocol41 == 0 {
		return nil, errors.New("client does not speak protocol 4.1")
	}
	b = b[32:]
	if len(b) == 0 {
		r.sslOnly = true
		return r, nil
	}
	end := bytes.IndexByte(b, 0)
	if end < 0 {
		return nil, bad
	}
	r.user = string(b[:end])
	b = b[end+1:]
	switch {
	case r.caps&capPluginAuthLenenc != 0:
		n, w, ok := readLenenc(b)
		if !ok || uint64(len(b)-w) < n {
			return nil, bad
		}
		r.authResp = b[w : w+int(n)]
		b = b[w+int(n):]
	case r.caps&capSecureConnection != 0:
		if len(b) < 1 || len(b)-1 < int(b[0]) {
			return nil, bad
		}
		r.authResp = b[1 : 1+int(b[0])]
		b = b[1+int(b[0]):]
	default:
		end := bytes.IndexByte(b, 0)
		if end < 0 {
			return nil, bad
		}
		r.authResp = b[:end]
		b = b[end+1:]
	}
	if r.caps&capConnectWithDB != 0 && len(b) > 0 {
		end := bytes.IndexByte(b, 0)
		if end < 0 {
			return nil, bad
		}
		r.database = string(b[:end])
		b = b[end+1:]
	}
	if r.caps&capPluginAuth != 0 && len(b) > 0 {
		end := bytes.IndexByte(b, 0)
		if end < 0 {
			r.authPlugin = string(b)
			b = nil
		} else {
			r.authPlugin = string(b[:end])
			b = b[end+1:]
		}
	}
	if r.caps&capConnectAttrs != 0 && len(b) > 0 {
		n, w, ok := readLenenc(b)
		if !ok || uint64(len(b)-w) < n {
			return nil, bad
		}
		r.attrs = b[:w+int(n)]
	}
	return r, nil
}

func (r *myResponse) encode() []byte {
	b := binary.LittleEndian.AppendUint32(nil, r.caps)
	b = binary.LittleEndian.AppendUint32(b, r.maxPacket)
	b = append(b, r.charset)
	b = append(b, make([]byte, 23)...)
	b = append(b, r.user...)
	b = append(b, 0)
	switch {
	case r.caps&capPluginAuthLenenc != 0:
		b = appendLenenc(b, uint64(len(r.authResp)))
		b = append(b, r.authResp...)
	default:
		b = append(b, byte(len(r.authResp)))
		b = append(b, r.authResp...)
	}
	if r.caps&capConnectWithDB != 0 {
		b = append(b, r.database...)
		b = append(b, 0)
	}
	if r.caps&capPluginAuth != 0 {
		b = append(b, r.authPlugin...)
		b = append(b, 0)
	}
	if r.caps&capConnectAttrs != 0 {
		if r.attrs == nil {
			b = append(b, 0)
		} else {
			b = append(b, r.attrs...)
		}
	}
	return b
}

// readLenenc reads a length-encoded integer, returning it and its width.
func readLenenc(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xFC:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case 0xFD:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case 0xFE:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	case 0xFB, 0xFF:
		return 0, 0, false
	}
	return uint64(b[0]), 1, true
}

func appendLenenc(b []byte, n uint64) []byte {
	switch {
	case n < 0xFB:
		return append(b, byte(n))
	case n < 1<<16:
		return append(b, 0xFC, byte(n), byte(n>>8))
	case n < 1<<24:
		return append(b, 0xFD, byte(n), byte(n>>8), byte(n>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xFE), n)
}

func parseErrPacket(b []byte) string {
	if len(b) < 3 || b[0] != 0xFF {
		return "malformed error packet"
	}
	code := binary.LittleEndian.Uint16(b[1:])
	msg := b[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		msg = msg[6:]
	}
	return fmt.Sprintf("error %d: %s", code, msg)
}

// nativeScramble computes a mysql_native_password response:
// SHA1(password) XOR SHA1(salt + SHA1(SHA1(password))).
func nativeScramble(salt []byte, password string) []byte {
	if password == "" {
		return nil
	}
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	h := sha1.New()
	h.Write(salt)
	h.Write(h2[:])
	h3 := h.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

// frontCaps are the capabilities the front may pass on: the protocol
// features a relayed session can use unchanged. Compression is left out
// because the front reads login packets uncompressed.
const frontCaps = 0x0000000F | capConnectWithDB | 0x00000010 | 0x00000080 | capProtocol41 |
	0x00000400 | capSSL | 0x00002000 | capSecureConnection | 0x00010000 | 0x00020000 |
	0x00040000 | capPluginAuth | capConnectAttrs | capPluginAuthLenenc | 0x00800000 | capDeprecateEOF

func (s *Server) serveMySQL(raw net.Conn) {
	clearDeadline := withDeadline(raw)
	// The backend's greeting decides the capabilities and server version
	// the client sees, so the relayed session matches the real server.
	back, err := net.DialTimeout("tcp", s.cfg.Backend.Addr, handshakeTimeout)
	if err != nil {
		s.log.Warn("sandbox rds: backend connect failed", "backend", s.cfg.Backend.Addr, "err", err)
		(&myPacket{rw: raw}).writeErr(erBackendUnreachable, sqlstateGeneral, "The sandbox could not reach the backend database; check that it is running")
		return
	}
	untrack := s.trackBackend(back)
	defer untrack()
	defer back.Close()
	back.SetDeadline(timeNowPlus(handshakeTimeout))
	bp := &myPacket{rw: back}
	gb, err := bp.read()
	if err != nil {
		return
	}
	bg, err := parseGreeting(gb)
	if err != nil {
		s.log.Warn("sandbox rds: backend greeting", "err", err)
		return
	}

	salt := make([]byte, 20)
	rand.Read(salt)
	for i := range salt {
		// Scramble bytes are printable and never NUL, as servers make them.
		salt[i] = 0x21 + salt[i]%0x5E
	}
	greet := &myGreeting{
		version: bg.version, connID: bg.connID, salt: salt,
		caps: (bg.caps & frontCaps) | capSSL | capPluginAuth | capSecureConnection, charset: bg.charset, status: bg.status,
		authPlugin: pluginNative,
	}
	cp := &myPacket{rw: raw}
	if err := cp.write(greet.encode()); err != nil {
		return
	}
	b, err := cp.read()
	if err != nil {
		return
	}
	resp, err := parseResponse(b)
	if err != nil {
		cp.writeErr(erHandshake, sqlstateHandshakeFail, "Bad handshake")
		return
	}
	if !resp.sslOnly || resp.caps&capSSL == 0 {
		s.refuse(resp.user, raw.RemoteAddr().String(), &errRefused{"no TLS"})
		cp.writeErr(erSecureTransport, sqlstateGeneral, "Connections using insecure transport are prohibited while --require_secure_transport=ON.")
		return
	}
	tc := tls.Server(raw, s.tlsCfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	cp.rw = tc
	if b, err = cp.read(); err != nil {
		return
	}
	if resp, err = parseResponse(b); err != nil || resp.sslOnly {
		cp.writeErr(erHandshake, sqlstateHandshakeFail, "Bad handshake")
		return
	}
	// Ask for the password in the clear, as RDS does for IAM users; TLS
	// protects it.
	if err := cp.write(append(append([]byte{0xFE}, pluginClear...), 0)); err != nil {
		return
	}
	if b, err = cp.read(); err != nil {
		return
	}
	password := string(bytes.TrimSuffix(b, []byte{0}))
	host := hostOf(raw.RemoteAddr())
	if err := s.checkLogin(resp.user, password); err != nil {
		s.refuse(resp.user, raw.RemoteAddr().String(), err)
		cp.writeErr(erAccessDenied, sqlstateAccessDenied, fmt.Sprintf("Access denied for user '%s'@'%s' (using password: YES)", resp.user, host))
		return
	}

	user, pw, ok := s.backendLogin(resp.user)
	if !ok {
		s.refuse(resp.user, raw.RemoteAddr().String(), &errRefused{"backend refused the login: " + noBackendUser})
		cp.writeErr(erAccessDenied, sqlstateAccessDenied, backendRefusal(resp.user, noBackendUser))
		return
	}
	breq := &myResponse{
		caps:      resp.caps &^ (capSSL | capCompress) & (bg.caps | capPluginAuth),
		maxPacket: resp.maxPacket, charset: resp.charset,
		user: user, database: resp.database, authPlugin: pluginNative, attrs: resp.attrs,
		authResp: nativeScramble(bg.salt, pw),
	}
	breq.caps |= capPluginAuth | capSecureConnection | capProtocol41
	if resp.database != "" {
		breq.caps |= capConnectWithDB
	}
	if err := bp.write(breq.encode()); err != nil {
		return
	}
	for range 3 {
		b, err := bp.read()
		if err != nil {
			return
		}
		switch {
		case len(b) > 0 && b[0] == 0x00:
			// OK: hand it to the client under the client's sequence,
			// counted first so Stats read after the client's connect
			// returns include it.
			s.accepted.Add(1)
			if err := cp.write(b); err != nil {
				return
			}
			back.SetDeadline(timeNowPlus(0))
			clearDeadline()
			relay(tc, back)
			return
		case len(b) > 0 && b[0] == 0xFF:
			if len(b) >= 3 && int(b[1])|int(b[2])<<8 == erAccessDenied {
				// The token was good; the backend has no such login.
				msg := b[3:]
				if len(msg) >= 6 && msg[0] == '#' {
					msg = msg[6:]
				}
				s.refuse(resp.user, raw.RemoteAddr().String(), &errRefused{"backend refused the login: " + string(msg)})
				cp.writeErr(erAccessDenied, sqlstateAccessDenied, backendRefusal(resp.user, string(msg)))
				return
			}
			if err := cp.write(b); err != nil {
				return
			}
			return
		case len(b) > 0 && b[0] == 0xFE:
			// Auth switch: "plugin\0data".
			rest := b[1:]
			end := bytes.IndexByte(rest, 0)
			if end < 0 || string(rest[:end]) != pluginNative {
				s.log.Warn("sandbox rds: backend asked for an unsupported auth plugin; give the backend user mysql_native_password")
				cp.writeErr(erHandshake, sqlstateHandshakeFail, "The sandbox could not log in to the backend database")
				return
			}
			newSalt := bytes.TrimSuffix(rest[end+1:], []byte{0})
			if err := bp.write(nativeScramble(newSalt, pw)); err != nil {
				return
			}
		default:
			s.log.Warn("sandbox rds: unexpected backend login reply")
			cp.writeErr(erHandshake, sqlstateHandshakeFail, "The sandbox could not log in to the backend database")
			return
		}
	}
}
