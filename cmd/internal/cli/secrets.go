package cli

import (
	"context"

	"github.com/oktafed/oktafed/internal/keystore"
)

// keyringStore is a keystore.Store as the CLI's secretStore (doctor reads
// the store itself).
type keyringStore struct{ s keystore.Store }

func (k keyringStore) Get(ctx context.Context, profile, kind string) (string, error) {
	return keystore.Strings{Store: k.s}.Get(ctx, profile, kind)
}

func (k keyringStore) Set(ctx context.Context, profile, kind, value string) error {
	return keystore.Strings{Store: k.s}.Set(ctx, profile, kind, value)
}

func (k keyringStore) Remove(ctx context.Context, profile, kind string) error {
	return keystore.Strings{Store: k.s}.Remove(ctx, profile, kind)
}

// openSecrets is the run's keyring: the OS keyring, or the encrypted-file
// keyring where there is none (passphrase from OKTAFED_KEYRING_PASSWORD or
// a prompt), opened once.
func openSecrets(ios *IOStreams) (secretStore, error) {
	return ios.factory().keyring()
}
