package awsauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/keystore"
)

// KeyringSessions keeps Okta session cookies in a keystore.Store, in the
// form the oktafed CLI writes them, so programs reuse the CLI's session.
type KeyringSessions struct{ Store keystore.Store }

func sessionKey(profile string) keystore.Key {
	return keystore.Key{Profile: profile, Kind: keystore.KindOktaSession}
}

// LoadSession returns the saved cookie, or "" when there is none.
func (k KeyringSessions) LoadSession(_ context.Context, profile string) (string, time.Time, error) {
	v, err := k.Store.Get(sessionKey(profile))
	if errors.Is(err, keystore.ErrNotFound) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	sid, exp := DecodeSession(v.Reveal())
	return sid, exp, nil
}

// SaveSession stores the cookie and its expiry.
func (k KeyringSessions) SaveSession(_ context.Context, profile, sid string, exp time.Time) error {
	return k.Store.Set(sessionKey(profile), keystore.NewSecret(EncodeSession(sid, exp)))
}

// DeleteSession forgets the cookie.
func (k KeyringSessions) DeleteSession(_ context.Context, profile string) error {
	err := k.Store.Remove(sessionKey(profile))
	if errors.Is(err, keystore.ErrNotFound) {
		return nil
	}
	return err
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
