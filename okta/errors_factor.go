package okta

import (
	"errors"
	"fmt"
	"strings"
)

// ErrFactorUnusable: the preferred factor is enrolled, but this client
// cannot use it (WebAuthn, U2F and Duo need a browser).
var ErrFactorUnusable = errors.New("the preferred MFA factor cannot be used from the command line")

// unusablePreferred returns an error matching ErrFactorUnusable when pref
// names one of the enrolled factors this client cannot use, so the person
// hears "enrolled but not usable here" rather than "no such factor"; nil
// otherwise. usable lists what can be chosen instead.
func unusablePreferred(pref string, unusable, usable []Factor) error {
	for _, f := range unusable {
		// Duo is the push factor of orgs that use it, so "push" names it
		// as far as the person is concerned.
		duoPush := strings.EqualFold(pref, KindPush) && strings.EqualFold(f.Provider, "DUO")
		if duoPush || strings.EqualFold(f.Type, pref) || strings.EqualFold(f.Provider, pref) || f.ID == pref {
			return fmt.Errorf("%w: your %s factor is enrolled, but it needs a browser; choose one of %s instead (--mfa, or mfa in the oktafed config)", ErrFactorUnusable, factorName(f), describe(usable))
		}
	}
	return nil
}

// factorName names a factor this client cannot use, for messages.
func factorName(f Factor) string {
	switch {
	case strings.EqualFold(f.Provider, "DUO"):
		return "Duo"
	case strings.EqualFold(f.Type, "webauthn"):
		return "WebAuthn (security key or biometric)"
	case strings.EqualFold(f.Type, "u2f"):
		return "U2F security key"
	}
	return clean(f.Type, 40)
}
