// Package otpseed reads a TOTP seed as a person gives it and computes its
// codes: the one reading shared by the Okta client (okta.MFA.TOTPSeed)
// and the spent-step ledger (ledger.TOTP), so the two never disagree on a
// seed's period, digits or algorithm.
package otpseed

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Seed is a parsed TOTP seed. It does not print its secret.
type Seed struct {
	secret string
	opts   totp.ValidateOpts
}

// Parse reads a bare base32 secret (any case, spaces and padding allowed)
// or an otpauth://totp/ URL with its own period, digits and algorithm.
// Errors never hold the seed.
func Parse(seed string) (Seed, error) {
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	seed = strings.TrimSpace(seed)
	if strings.HasPrefix(strings.ToLower(seed), "otpauth://") {
		k, err := otp.NewKeyFromURL(seed)
		if err != nil || k.Type() != "totp" || k.Secret() == "" {
			return Seed{}, errors.New("the TOTP seed is an otpauth:// URL this client cannot read (want otpauth://totp/...?secret=...)")
		}
		opts.Period = uint(k.Period())
		opts.Digits = k.Digits()
		opts.Algorithm = k.Algorithm()
		seed = k.Secret()
	}
	if opts.Period == 0 {
		opts.Period = 30
	}
	seed = strings.ToUpper(strings.TrimRight(strings.Join(strings.Fields(seed), ""), "="))
	if seed == "" {
		return Seed{}, errors.New("the TOTP seed is empty")
	}
	return Seed{secret: seed, opts: opts}, nil
}

// Period is the length of the seed's time steps.
func (s Seed) Period() time.Duration { return time.Duration(s.opts.Period) * time.Second }

// Code is the seed's code for the time step that holds at.
func (s Seed) Code(at time.Time) (string, error) {
	code, err := totp.GenerateCodeCustom(s.secret, at, s.opts)
	if err != nil {
		// pquerna/otp's message does not include the secret.
		return "", fmt.Errorf("the TOTP seed is not valid base32: %w", err)
	}
	return code, nil
}

// String hides the secret.
func (s Seed) String() string { return "[TOTP seed]" }

// GoString hides the secret from %#v.
func (s Seed) GoString() string { return "[TOTP seed]" }
