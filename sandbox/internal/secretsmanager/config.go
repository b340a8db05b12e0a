package secretsmanager

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/oktafed/oktafed/internal/lazyregexp"
)

// SecretConfig is one secret in the sandbox's `secrets:` list. Exactly one
// of String, JSON and Binary is set.
type SecretConfig struct {
	// Name is the secret's friendly name, e.g. demo/orders-db.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Account owns the secret; the sandbox's first account when empty.
	Account string `yaml:"account"`
	// String is the SecretString as is.
	String string `yaml:"string"`
	// JSON is a mapping stored as a JSON SecretString, the shape RDS and
	// most applications use ({"username": …, "password": …}).
	JSON map[string]any `yaml:"json"`
	// Binary is the SecretBinary, base64-encoded.
	Binary string `yaml:"binary"`
	// Readers are the role ARNs allowed to read the secret, standing in
	// for IAM policies. Empty: any identity of the owning account.
	Readers []string `yaml:"readers"`
}

// namePattern is the character set AWS allows in secret names.
var namePattern = lazyregexp.New(`^[A-Za-z0-9/_+=.@-]{1,512}$`)

var accountPattern = lazyregexp.New(`^[0-9]{12}$`)

// value turns the configured value into a string or bytes.
func (c SecretConfig) value() (str *string, bin []byte, err error) {
	set := 0
	for _, b := range []bool{c.String != "", c.JSON != nil, c.Binary != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, nil, errors.New("set exactly one of string, json and binary")
	}
	switch {
	case c.String != "":
		s := c.String
		return &s, nil, nil
	case c.JSON != nil:
		b, err := json.Marshal(c.JSON)
		if err != nil {
			return nil, nil, fmt.Errorf("json: %w", err)
		}
		s := string(b)
		return &s, nil, nil
	default:
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.Binary))
		if err != nil {
			return nil, nil, errors.New("binary must be base64")
		}
		return nil, b, nil
	}
}
