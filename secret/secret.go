// Package secret holds String, the type of every field that carries a
// password, token, key or cookie: it prints as [redacted] under every fmt
// verb (%v, %+v, %#v, %s, %q, %x, %d, …), in log/slog (text and JSON
// handlers) and in encoding/json, so a value logged, wrapped into an
// error or marshalled by mistake shows nothing. Reveal is the one way to
// read it, and a reviewer can find every use.
//
// String keeps its value behind a pointer: where fmt does not call a
// field's methods (unexported fields, and the whole value once fmt is
// reporting a bad verb such as %s on a pointer) it prints an address,
// never the text. It cannot be compared with ==, so no comparison of
// secrets hides in a struct equality by mistake: use Equal or IsZero.
package secret

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what a String prints as.
const Redacted = "[redacted]"

// String is a secret string. The zero value is the empty secret.
type String struct {
	_ [0]func() // not comparable
	p *string
}

// New returns s as a secret.
func New(s string) String {
	if s == "" {
		return String{}
	}
	return String{p: &s}
}

// Reveal returns the secret itself: for the wire, never for display.
func (s String) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s.Reveal() == "" }

// Equal reports whether s and o hold the same secret, in constant time.
func (s String) Equal(o String) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// String implements fmt.Stringer.
func (s String) String() string { return Redacted }

// GoString implements fmt.GoStringer.
func (s String) GoString() string { return `secret.String("` + Redacted + `")` }

// Format prints Redacted under every verb, %q quoted.
func (s String) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprint(f, `"`+Redacted+`"`)
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, Redacted)
	default:
		fmt.Fprint(f, Redacted)
	}
}

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON writes Redacted: a secret never leaves through
// encoding/json. Wire formats that must carry it copy Reveal into a
// plain field of their own.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText writes Redacted, for encoders that use encoding.TextMarshaler.
func (s String) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalJSON reads a JSON string, so wire types can hold a String.
func (s *String) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = New(v)
	return nil
}
