package keystore

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzKeyRoundTrip checks that every valid key names exactly one item and
// reads back from it, and that no printing of a Secret shows its value.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add("dev", "password", "hunter2")
	f.Add("a:b/c%20", "okta-session", "x")
	f.Add("", "token", "")
	f.Fuzz(func(t *testing.T, profile, kind, value string) {
		k := Key{Profile: profile, Kind: Kind(kind)}
		if k.Validate() == nil {
			back, err := ParseKey(k.String())
			if err != nil || back != k {
				t.Fatalf("ParseKey(%q) = %+v, %v; want %+v", k.String(), back, err, k)
			}
		}
		if len(value) >= 4 && !strings.Contains("keystore.Secret{[redacted]}", value) {
			s := NewSecret(value)
			for _, verb := range []string{"%v", "%#v", "%s", "%q", "%x"} {
				if out := fmt.Sprintf(verb, s); strings.Contains(out, value) {
					t.Fatalf("%s printed the secret: %q", verb, out)
				}
			}
		}
	})
}
