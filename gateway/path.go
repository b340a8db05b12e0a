package gateway

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Routing is decided on one canonical path and exactly that path is
// forwarded. Upstreams disagree on how to read anything else: Tomcat cuts
// ";" path parameters, IIS and Windows drop a trailing "." or space and
// treat "\" as "/", WSGI servers percent-decode once more, and a proxy
// that matched "/public/..;/admin" as "/public/" would hand "/admin" to
// such an upstream. So the gateway refuses (400) every path a common
// upstream could read as a different one, instead of guessing how it
// would.

// pathError is why a request path was refused; its text goes to the
// client.
type pathError string

func (e pathError) Error() string { return string(e) }

// requestPath returns the raw path of a request target as the client sent
// it: origin-form "/a/b?q", absolute-form "http://h/a/b?q" (the path
// part) or HTTP/2's :path. Fragments never reach a server.
func requestPath(requestURI string) string {
	s := requestURI
	if !strings.HasPrefix(s, "/") {
		// absolute-form: skip scheme://authority.
		if i := strings.Index(s, "://"); i >= 0 {
			rest := s[i+3:]
			j := strings.IndexAny(rest, "/?")
			if j < 0 || rest[j] == '?' {
				return ""
			}
			s = rest[j:]
		}
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	return s
}

// canonicalPath checks a raw request path and returns its decoded,
// canonical form, or why it is refused.
func canonicalPath(raw string) (string, error) {
	if raw == "" || raw[0] != '/' {
		return "", pathError("the path must start with /")
	}
	// Fast path: nothing to decode and nothing suspicious needs only the
	// segment checks.
	clean := true
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c == '%' || c == ';' || c == '\\' || c <= ' ' || c >= 0x7f {
			clean = false
			break
		}
	}
	decoded := raw
	if !clean {
		var b strings.Builder
		b.Grow(len(raw))
		for i := 0; i < len(raw); i++ {
			c := raw[i]
			switch {
			case c == '%':
				if i+2 >= len(raw) || !ishex(raw[i+1]) || !ishex(raw[i+2]) {
					return "", pathError("malformed percent-encoding in the path")
				}
				d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
				switch {
				case d == '/' || d == '\\' || d == '.' || d == ';':
					return "", pathError("encoded '/', '\\', '.' or ';' in the path: send the plain path")
				case d < 0x20 || d == 0x7f:
					return "", pathError("control character in the path")
				case d == '%' && i+4 < len(raw) && ishex(raw[i+3]) && ishex(raw[i+4]):
					return "", pathError("double percent-encoding in the path")
				}
				b.WriteByte(d)
				i += 2
			case c < 0x20 || c == 0x7f:
				return "", pathError("control character in the path")
			case c == ' ':
				return "", pathError("space in the path: percent-encode it")
			case c == '\\':
				return "", pathError("backslash in the path: use /")
			case c == ';':
				return "", pathError("';' path parameters are not accepted")
			case c >= 0x80:
				return "", pathError("raw non-ASCII byte in the path: percent-encode it")
			default:
				b.WriteByte(c)
			}
		}
		decoded = b.String()
		if !utf8.ValidString(decoded) {
			return "", pathError("the path does not decode to UTF-8")
		}
	}
	// Segments: no empty ones (except a trailing slash), no dot segments,
	// none ending in '.' or space (Windows strips them).
	rest := decoded[1:]
	for rest != "" {
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case seg == "" && more:
			return "", pathError("empty segment (//) in the path")
		case seg == "." || seg == "..":
			return "", pathError("dot segment in the path")
		case seg != "" && (seg[len(seg)-1] == '.' || seg[len(seg)-1] == ' '):
			return "", pathError("a path segment ends in '.' or space")
		}
		rest = tail
	}
	return decoded, nil
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// validMethod reports whether m is an HTTP token (RFC 9110 section 5.6.2)
// without lower-case letters. Methods are case-sensitive: a server may
// read "delete" as DELETE (Flask does) while a rule for DELETE would not
// match it, so the gateway accepts only the canonical upper-case form.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// foldPath maps every rune to the smallest rune of its case-folding orbit
// (so "A", "a" and the Kelvin sign all meet), for case-insensitive
// routes. It folds more than an ASCII-only upstream would, which errs on
// the side of the stricter route.
func foldPath(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if m < utf8.RuneSelf && 'A' <= m && m <= 'Z' {
		m += 'a' - 'A'
	}
	return m
}
