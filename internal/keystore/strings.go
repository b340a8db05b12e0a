package keystore

import (
	"context"
	"errors"
)

// Strings reads and writes a Store by profile and kind, as plain strings:
// the shape of awsauth.Keyring, which the CLI and awsauth share.
type Strings struct{ Store Store }

// Get returns the secret of profile's kind, or "" when there is none.
func (s Strings) Get(_ context.Context, profile, kind string) (string, error) {
	v, err := s.Store.Get(Key{Profile: profile, Kind: Kind(kind)})
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return v.Reveal(), nil
}

// Set stores value as profile's secret of kind.
func (s Strings) Set(_ context.Context, profile, kind, value string) error {
	return s.Store.Set(Key{Profile: profile, Kind: Kind(kind)}, NewSecret(value))
}

// Remove forgets profile's secret of kind; a missing one is not an error.
func (s Strings) Remove(_ context.Context, profile, kind string) error {
	return s.Store.Remove(Key{Profile: profile, Kind: Kind(kind)})
}
