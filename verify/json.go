package verify

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small strict JSON reader used for every structure that
// crosses a trust boundary (JOSE headers, claims, JWK sets, discovery and
// introspection documents). encoding/json is lenient in ways that matter for
// tokens: it keeps the last of two duplicate keys, matches keys without
// regard to case, and replaces invalid UTF-8. Attackers use each of those to
// make two parsers disagree about what a token says. The reader here rejects
// duplicate keys (compared after unescaping), invalid UTF-8, lone
// surrogates, control characters and trailing data, and it works on a string
// so that the values it hands out are substrings that cost no allocation.

// errJSON is wrapped by every syntax error of the strict reader.
var errJSON = errors.New("malformed JSON")

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 32

type jsonKind uint8

const (
	jsonString jsonKind = iota + 1
	jsonNumber
	jsonBool
	jsonNull
	jsonArray
	jsonObject
)

// jsonValue is one scanned value: its kind and its raw text (strings keep
// their quotes).
type jsonValue struct {
	kind jsonKind
	raw  string
}

type jsonScanner struct {
	s     string
	pos   int
	depth int
}

func jsonErr(msg string) error { return errors.Join(errJSON, errors.New(msg)) }

func (sc *jsonScanner) ws() {
	for sc.pos < len(sc.s) {
		switch sc.s[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

// value scans one JSON value. fields, when not nil, is called for each
// member of the value if it is an object; nested objects are still checked
// for duplicate keys.
func (sc *jsonScanner) value(fields func(key string, v jsonValue) error) (jsonValue, error) {
	sc.ws()
	if sc.pos >= len(sc.s) {
		return jsonValue{}, jsonErr("unexpected end of input")
	}
	start := sc.pos
	var kind jsonKind
	var err error
	switch c := sc.s[sc.pos]; {
	case c == '"':
		kind, err = jsonString, sc.str()
	case c == '{':
		kind, err = jsonObject, sc.object(fields)
	case c == '[':
		kind, err = jsonArray, sc.array()
	case c == 't':
		kind, err = jsonBool, sc.lit("true")
	case c == 'f':
		kind, err = jsonBool, sc.lit("false")
	case c == 'n':
		kind, err = jsonNull, sc.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		kind, err = jsonNumber, sc.number()
	default:
		return jsonValue{}, jsonErr("unexpected character")
	}
	if err != nil {
		return jsonValue{}, err
	}
	return jsonValue{kind: kind, raw: sc.s[start:sc.pos]}, nil
}

func (sc *jsonScanner) lit(word string) error {
	if !strings.HasPrefix(sc.s[sc.pos:], word) {
		return jsonErr("invalid literal")
	}
	sc.pos += len(word)
	return nil
}

func (sc *jsonScanner) number() error {
	s, i := sc.s, sc.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return jsonErr("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return jsonErr("invalid number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return jsonErr("invalid number")
		}
	}
	sc.pos = i
	return nil
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

func hex4(s string) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for i := 0; i < 4; i++ {
		h := hexVal(s[i])
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

// str scans a string starting at the opening quote, validating escapes,
// surrogate pairs and UTF-8.
func (sc *jsonScanner) str() error {
	s, i := sc.s, sc.pos+1
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			sc.pos = i + 1
			return nil
		case c < 0x20:
			return jsonErr("control character in string")
		case c == '\\':
			if i+1 >= len(s) {
				return jsonErr("truncated escape")
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r := hex4(s[i+2:])
				if r < 0 {
					return jsonErr("invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r >= 0xDC00 || i+1 >= len(s) || s[i] != '\\' || s[i+1] != 'u' {
						return jsonErr("lone surrogate")
					}
					r2 := hex4(s[i+2:])
					if r2 < 0xDC00 || r2 > 0xDFFF {
						return jsonErr("lone surrogate")
					}
					i += 6
				}
			default:
				return jsonErr("invalid escape")
			}
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				return jsonErr("invalid UTF-8")
			}
			i += n
		}
	}
	return jsonErr("unterminated string")
}

// unquote returns the text of a scanned string value. It allocates only when
// the string holds escapes.
func unquote(raw string) string {
	body := raw[1 : len(raw)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		switch body[i+1] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := hex4(body[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r = utf16.DecodeRune(r, hex4(body[i+2:]))
				i += 6
			}
			b.WriteRune(r)
			continue
		default: // '"', '\\', '/'
			b.WriteByte(body[i+1])
		}
		i += 2
	}
	return b.String()
}

func (sc *jsonScanner) enter() error {
	sc.depth++
	if sc.depth > maxJSONDepth {
		return jsonErr("nesting too deep")
	}
	return nil
}

func (sc *jsonScanner) array() error {
	if err := sc.enter(); err != nil {
		return err
	}
	sc.pos++ // '['
	sc.ws()
	if sc.pos < len(sc.s) && sc.s[sc.pos] == ']' {
		sc.pos++
		sc.depth--
		return nil
	}
	for {
		if _, err := sc.value(nil); err != nil {
			return err
		}
		sc.ws()
		if sc.pos >= len(sc.s) {
			return jsonErr("unterminated array")
		}
		switch sc.s[sc.pos] {
		case ',':
			sc.pos++
		case ']':
			sc.pos++
			sc.depth--
			return nil
		default:
			return jsonErr("expected , or ]")
		}
	}
}

// maxSmallKeys is how many keys an object may hold before duplicate
// detection switches from a linear scan to a map.
const maxSmallKeys = 16

func (sc *jsonScanner) object(fields func(key string, v jsonValue) error) error {
	if err := sc.enter(); err != nil {
		return err
	}
	sc.pos++ // '{'
	var small [maxSmallKeys]string
	n := 0
	var big map[string]struct{}
	sc.ws()
	if sc.pos < len(sc.s) && sc.s[sc.pos] == '}' {
		sc.pos++
		sc.depth--
		return nil
	}
	for {
		sc.ws()
		if sc.pos >= len(sc.s) || sc.s[sc.pos] != '"' {
			return jsonErr("expected object key")
		}
		start := sc.pos
		if err := sc.str(); err != nil {
			return err
		}
		key := unquote(sc.s[start:sc.pos])
		if big != nil {
			if _, dup := big[key]; dup {
				return jsonErr("duplicate key")
			}
			big[key] = struct{}{}
		} else {
			for _, k := range small[:n] {
				if k == key {
					return jsonErr("duplicate key")
				}
			}
			if n < maxSmallKeys {
				small[n] = key
				n++
			} else {
				big = make(map[string]struct{}, 2*maxSmallKeys)
				for _, k := range small[:n] {
					big[k] = struct{}{}
				}
				big[key] = struct{}{}
			}
		}
		sc.ws()
		if sc.pos >= len(sc.s) || sc.s[sc.pos] != ':' {
			return jsonErr("expected :")
		}
		sc.pos++
		v, err := sc.value(nil)
		if err != nil {
			return err
		}
		if fields != nil {
			if err := fields(key, v); err != nil {
				return err
			}
		}
		sc.ws()
		if sc.pos >= len(sc.s) {
			return jsonErr("unterminated object")
		}
		switch sc.s[sc.pos] {
		case ',':
			sc.pos++
		case '}':
			sc.pos++
			sc.depth--
			return nil
		default:
			return jsonErr("expected , or }")
		}
	}
}

// parseObject checks that s is exactly one JSON object (surrounding white
// space allowed) and calls fields for each top-level member.
func parseObject(s string, fields func(key string, v jsonValue) error) error {
	sc := jsonScanner{s: s}
	sc.ws()
	if sc.pos >= len(s) || s[sc.pos] != '{' {
		return jsonErr("not a JSON object")
	}
	if _, err := sc.value(fields); err != nil {
		return err
	}
	sc.ws()
	if sc.pos != len(s) {
		return jsonErr("trailing data after JSON object")
	}
	return nil
}

// eachElement calls fn for every element of an array value.
func eachElement(v jsonValue, fn func(e jsonValue) error) error {
	sc := jsonScanner{s: v.raw, pos: 1, depth: 1}
	sc.ws()
	if sc.pos < len(sc.s) && sc.s[sc.pos] == ']' {
		return nil
	}
	for {
		e, err := sc.value(nil)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		sc.ws()
		if sc.s[sc.pos] == ']' {
			return nil
		}
		sc.pos++ // ','; the array was validated when it was scanned
	}
}

// eachMember calls fn for every member of an object value.
func eachMember(v jsonValue, fn func(key string, e jsonValue) error) error {
	sc := jsonScanner{s: v.raw}
	_, err := sc.value(fn)
	return err
}

// stringValue returns the text of a string value or an error naming field.
func stringValue(field string, v jsonValue) (string, error) {
	if v.kind != jsonString {
		return "", errors.New(field + " must be a string")
	}
	return unquote(v.raw), nil
}

// stringList accepts a string, an array of strings, or null (none).
// Space-separated strings are split when split is set (OAuth scope
// strings).
func stringList(field string, v jsonValue, split bool) ([]string, error) {
	switch v.kind {
	case jsonNull:
		return nil, nil
	case jsonString:
		s := unquote(v.raw)
		if split {
			return strings.Fields(s), nil
		}
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	case jsonArray:
		n := strings.Count(v.raw, ",") + 1
		out := make([]string, 0, n)
		err := eachElement(v, func(e jsonValue) error {
			if e.kind != jsonString {
				return errors.New(field + " must hold only strings")
			}
			out = append(out, unquote(e.raw))
			return nil
		})
		return out, err
	}
	return nil, errors.New(field + " must be a string or an array of strings")
}

// maxNumericDate is 9999-12-31T23:59:59Z. Later dates are treated as
// malformed so arithmetic on them cannot overflow.
const maxNumericDate = 253402300799

// numericDate reads an RFC 7519 NumericDate. Fractions are allowed by the
// RFC and are truncated; strings, negatives, non-finite and absurdly large
// values are rejected.
func numericDate(field string, v jsonValue) (int64, error) {
	if v.kind != jsonNumber {
		return 0, errors.New(field + " must be a number")
	}
	raw := v.raw
	if raw[0] == '-' {
		return 0, errors.New(field + " must not be negative")
	}
	if len(raw) <= 12 && !strings.ContainsAny(raw, ".eE") {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err == nil && n <= maxNumericDate {
			return n, nil
		}
		return 0, errors.New(field + " is out of range")
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return 0, errors.New(field + " is out of range")
	}
	return int64(f), nil
}
