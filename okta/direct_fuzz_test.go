package okta

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDirectAnswers feeds direct authentication's parsers what a hostile
// or broken server could send: no panic, bounded poll intervals and
// expiries, a numeric binding code, and an oob_code whenever a push
// challenge is accepted.
func FuzzDirectAnswers(f *testing.F) {
	f.Add([]byte(`{"challenge_type":"http://auth0.com/oauth/grant-type/mfa-oob","oob_code":"ft1","expires_in":300,"interval":5,"channel":"push","binding_method":"none"}`), 403)
	f.Add([]byte(`{"oob_code":"ft1","expires_in":300,"interval":5,"channel":"push","binding_method":"transfer","binding_code":"95"}`), 200)
	f.Add([]byte(`{"oob_code":"ft1","expires_in":300,"interval":5,"channel":"push","binding_method":"transfer","binding_code":95}`), 200)
	f.Add([]byte(`{"oob_code":"ft1","binding_method":"transfer","binding_code":1e3}`), 200)
	f.Add([]byte(`{"challenge_type":"http://auth0.com/oauth/grant-type/mfa-otp"}`), 200)
	f.Add([]byte(`{"error":"mfa_required","error_description":"x","mfa_token":"m"}`), 403)
	f.Add([]byte(`{"oob_code":"x","interval":1e300,"expires_in":-5,"binding_method":"transfer","binding_code":"<script>"}`), 400)
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, data []byte, status int) {
		if c, err := parseChallenge(data, now); err == nil && c.ChallengeType != grantMFAOTP {
			if c.OOBCode == "" || strings.ContainsAny(c.OOBCode, " \n") {
				t.Fatalf("accepted oob_code %q", c.OOBCode)
			}
			if c.Interval <= 0 || c.Interval > maxInterval {
				t.Fatalf("interval %s", c.Interval)
			}
			if !c.ExpiresAt.After(now) || c.ExpiresAt.Sub(now) > maxLifetime {
				t.Fatalf("expiry %s", c.ExpiresAt)
			}
			if c.BindingMethod == "transfer" {
				if _, err := strconv.Atoi(c.BindingCode); err != nil {
					t.Fatalf("binding code %q", c.BindingCode)
				}
			}
			_ = c.String()
		}
		if tok, ok := mfaRequiredToken(status, data); ok && (tok == "" || len(tok) > 4096) {
			t.Fatalf("mfa_token %q", tok)
		}
		_ = directError(status, data, "client", grantPassword)
	})
}
