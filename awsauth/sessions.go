package awsauth

import (
	"context"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/keystore"
)

// Keyring keeps a profile's secrets by kind ("okta-session", "password",
// …) as the oktafed CLI does. A Resolver without Sessions opens the CLI's
// own (the OS keyring, or the encrypted file); a program may keep the
// secrets in one of its own. Implementations are safe for concurrent use.
type Keyring interface {
	// Get returns the secret, or "" when there is none.
	Get(ctx context.Context, profile, kind string) (string, error)
	// Set stores value, replacing what was there.
	Set(ctx context.Context, profile, kind, value string) error
	// Remove forgets the secret; a missing one is not an error.
	Remove(ctx context.Context, profile, kind string) error
}

// KeyringSessions keeps Okta session cookies in a Keyring, in the form
// the oktafed CLI writes them, so programs reuse the CLI's session.
type KeyringSessions struct{ Keyring Keyring }

var sessionKind = string(keystore.KindOktaSession)

// LoadSession returns the saved cookie, or "" when there is none.
func (k KeyringSessions) LoadSession(ctx context.Context, profile string) (string, time.Time, error) {
	v, err := k.Keyring.Get(ctx, profile, sessionKind)
	if err != nil || v == "" {
		return "", time.Time{}, err
	}
	sid, exp := DecodeSession(v)
	return sid, exp, nil
}

// SaveSession stores the cookie and its expiry.
func (k KeyringSessions) SaveSession(ctx context.Context, profile, sid string, exp time.Time) error {
	return k.Keyring.Set(ctx, profile, sessionKind, EncodeSession(sid, exp))
}

// DeleteSession forgets the cookie.
func (k KeyringSessions) DeleteSession(ctx context.Context, profile string) error {
	return k.Keyring.Remove(ctx, profile, sessionKind)
}

// EncodeSession is the keyring form of an Okta session: the sid cookie, a
// "|", and the expiry in RFC 3339 (empty when Okta did not say).
func EncodeSession(sid string, exp time.Time) string {
	v := sid + "|"
	if !exp.IsZero() {
		v += exp.UTC().Format(time.RFC3339)
	}
	return v
}

// DecodeSession reads EncodeSession's form. An unreadable expiry is zero,
// which means "until Okta ends it": Okta is asked, so nothing is lost.
func DecodeSession(v string) (sid string, exp time.Time) {
	sid, expText, _ := strings.Cut(v, "|")
	exp, _ = time.Parse(time.RFC3339, expText)
	return sid, exp
}
