// Package dbconn holds what package dbauth and its driver packages
// (pgxauth, mysqlauth) share about connection settings without linking a
// driver: libpq keyword/value connection strings and the refusal of TLS
// that does not verify the database server.
package dbconn

import (
	"errors"
	"fmt"
	"strings"
)

// InsecureParam is the DSN parameter that lets a password go over TLS
// that does not verify the server (dbauth.ParamInsecureDBTLS).
const InsecureParam = "insecure_unverified_db_tls"

// ErrUnverifiedTLS is matched by every refusal of a TLS setting that does
// not verify the database server.
var ErrUnverifiedTLS = errors.New("dbauth: the database server's certificate would not be verified")

// UnverifiedTLSError refuses a TLS setting: the password dbauth supplies
// (an IAM token works for 15 minutes, a secret until it rotates) would
// reach whoever answers at the address. Setting names the setting, Why
// says what it does wrong, Hint how to fix it.
type UnverifiedTLSError struct {
	Setting, Why, Hint string
}

func (e *UnverifiedTLSError) Error() string {
	return fmt.Sprintf("dbauth: %s %s, so the password dbauth supplies (an IAM token is a working credential for 15 minutes) could reach an impostor: %s; only for a local test server, %s=true sends it anyway (and warns on every connect)", e.Setting, e.Why, e.Hint, InsecureParam)
}

// Is makes errors.Is(err, ErrUnverifiedTLS) true.
func (e *UnverifiedTLSError) Is(target error) bool { return target == ErrUnverifiedTLS }

// Pair is one keyword=value setting of a libpq connection string, with
// the byte span [Start, End) it occupies so the others can be kept as they
// were.
type Pair struct {
	Key, Value string
	Start, End int
}

// ParseKeywordValue splits a libpq keyword/value connection string:
// settings are separated by whitespace, '=' may have spaces around it, and
// a value is either single-quoted (with \' and \\ escapes) or runs to the
// next whitespace (with backslash escapes).
func ParseKeywordValue(s string) ([]Pair, error) {
	var pairs []Pair
	i := 0
	isSpace := func(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v' }
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return pairs, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, fmt.Errorf("dbauth: connection string: expected keyword=value at byte %d", start)
		}
		i++ // '='
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("dbauth: connection string: unterminated quoted value for %s", key)
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				val.WriteByte(s[i])
				i++
			}
		}
		pairs = append(pairs, Pair{Key: key, Value: val.String(), Start: start, End: i})
	}
}
