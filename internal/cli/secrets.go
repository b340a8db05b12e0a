package cli

import "errors"

// openSecrets opens the keystore. Bound to package keystore once it lands.
func openSecrets(ios *IOStreams) (secretStore, error) {
	return nil, errors.New("the keyring is not available yet")
}
