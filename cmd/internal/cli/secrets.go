package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/keystore"
)

// keyringStore adapts a keystore.Store to the CLI's secretStore.
type keyringStore struct{ s keystore.Store }

func (k keyringStore) Get(_ context.Context, profile, kind string) (string, error) {
	v, err := k.s.Get(keystore.Key{Profile: profile, Kind: keystore.Kind(kind)})
	if errors.Is(err, keystore.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return v.Reveal(), nil
}

func (k keyringStore) Set(_ context.Context, profile, kind, value string) error {
	return k.s.Set(keystore.Key{Profile: profile, Kind: keystore.Kind(kind)}, keystore.NewSecret(value))
}

func (k keyringStore) Remove(_ context.Context, profile, kind string) error {
	return k.s.Remove(keystore.Key{Profile: profile, Kind: keystore.Kind(kind)})
}

func (k keyringStore) sessions() federation.SessionCache {
	return awsauth.KeyringSessions{Store: k.s}
}

// openSecrets opens the OS keyring, or the encrypted-file keyring where
// there is none (passphrase from OKTAFED_KEYRING_PASSWORD or a prompt).
func openSecrets(ios *IOStreams) (secretStore, error) {
	opts := keystore.Options{Getenv: ios.getenv}
	if ios.InTTY && ios.ErrTTY {
		opts.Passphrase = func(prompt string) (string, error) { return newPrompter(ios).Password(prompt) }
	}
	kr, err := keystore.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open the keyring: %w", err)
	}
	return keyringStore{kr}, nil
}
