// Package keystore keeps oktafed's secrets (Okta passwords, TOTP seeds,
// Okta session cookies, tokens) in the operating system's keyring, or in an
// encrypted file where there is none.
//
// Values travel as Secret, which prints as "[redacted]" under every fmt
// verb, in slog and in JSON, so a stray log line cannot leak one.
package keystore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
)

// Kind is what sort of secret a Key names.
type Kind string

// The kinds oktafed stores.
const (
	KindPassword    Kind = "password"     // the Okta password
	KindTOTPSeed    Kind = "totp-seed"    // base32 seed of a TOTP factor
	KindOktaSession Kind = "okta-session" // the sid cookie of an Okta session
	KindToken       Kind = "token"        // an OAuth or API token
)

// Key names one secret: which oktafed profile it belongs to and what it is.
type Key struct {
	Profile string
	Kind    Kind
}

// keyPrefix namespaces oktafed's items among everything else in a keyring.
const keyPrefix = "oktafed:"

// String is the item name in the keyring, e.g. "oktafed:dev:password". The
// profile is escaped so any profile name maps to exactly one item.
func (k Key) String() string {
	return keyPrefix + url.PathEscape(k.Profile) + ":" + string(k.Kind)
}

// Validate reports keys that cannot be stored.
func (k Key) Validate() error {
	if k.Profile == "" {
		return errors.New("keystore: key has no profile")
	}
	if k.Kind == "" || strings.ContainsAny(string(k.Kind), ":/%") || strings.TrimSpace(string(k.Kind)) != string(k.Kind) {
		return fmt.Errorf("keystore: invalid kind %q", string(k.Kind))
	}
	return nil
}

// ParseKey reads an item name made by Key.String.
func ParseKey(s string) (Key, error) {
	rest, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return Key{}, fmt.Errorf("keystore: %q is not an oktafed item", s)
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return Key{}, fmt.Errorf("keystore: %q has no kind", s)
	}
	profile, err := url.PathUnescape(rest[:i])
	if err != nil {
		return Key{}, fmt.Errorf("keystore: %q: bad profile escape", s)
	}
	k := Key{Profile: profile, Kind: Kind(rest[i+1:])}
	if err := k.Validate(); err != nil {
		return Key{}, err
	}
	return k, nil
}

// Secret is a secret value. Only Reveal returns it; every other way of
// printing or encoding it gives "[redacted]".
type Secret struct {
	// A pointer-free struct keeps == usable and the zero value empty.
	v string
}

const redacted = "[redacted]"

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret value. Call it only where the value is used.
func (s Secret) Reveal() string { return s.v }

// IsZero reports an empty secret.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer with the redaction.
func (s Secret) String() string { return redacted }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return "keystore.Secret{" + redacted + "}" }

// Format handles every fmt verb (%x and %q included) with the redaction.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, redacted)
}

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps encoding/json from writing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText keeps text encoders (YAML, XML, slog's text handler on
// nested values) from writing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// ErrNotFound means the store holds nothing under the key.
var ErrNotFound = errors.New("keystore: no such secret")

// Store keeps secrets. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the secret under key, or an error matching ErrNotFound.
	Get(key Key) (Secret, error)
	// Set stores value under key, replacing what was there.
	Set(key Key, value Secret) error
	// Remove deletes the secret under key; a missing one is not an error.
	Remove(key Key) error
}

// Memory is a Store in process memory, for tests and for runs that must
// not persist anything. Its zero value is ready to use.
type Memory struct {
	mu sync.Mutex
	m  map[Key]string
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{} }

// Get implements Store.
func (m *Memory) Get(key Key) (Secret, error) {
	if err := key.Validate(); err != nil {
		return Secret{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	if !ok {
		return Secret{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return NewSecret(v), nil
}

// Set implements Store.
func (m *Memory) Set(key Key, value Secret) error {
	if err := key.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[Key]string{}
	}
	m.m[key] = value.Reveal()
	return nil
}

// Remove implements Store.
func (m *Memory) Remove(key Key) error {
	if err := key.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
	return nil
}

// Keys lists the stored keys, for tests and "forget everything" commands.
func (m *Memory) Keys() []Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]Key, 0, len(m.m))
	for k := range m.m {
		keys = append(keys, k)
	}
	return keys
}
