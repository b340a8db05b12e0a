package okta

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzDeviceAnswers feeds the device flow's parsers what a hostile or
// broken server could send: they must not panic, must keep verification
// links to http(s), and must keep printable text short.
func FuzzDeviceAnswers(f *testing.F) {
	f.Add([]byte(`{"device_code":"d","user_code":"BCDF-GHJK","verification_uri":"https://x.okta.com/activate","verification_uri_complete":"https://x.okta.com/activate?user_code=BCDF-GHJK","expires_in":600,"interval":5}`), 400)
	f.Add([]byte(`{"access_token":"a","id_token":"i","refresh_token":"r","device_secret":"s","scope":"openid","expires_in":3600}`), 200)
	f.Add([]byte(`{"error":"authorization_pending","error_description":"wait"}`), 400)
	f.Add([]byte(`{"device_code":"d","user_code":"u","verification_uri":"javascript:alert(1)"}`), 200)
	f.Add([]byte(`{"expires_in":1e300}`), 500)
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, data []byte, status int) {
		if d, err := parseDeviceAuthorization(data, now); err == nil {
			for _, l := range []string{d.VerificationURI, d.VerificationURIComplete} {
				if l != "" && !strings.HasPrefix(l, "https://") && !strings.HasPrefix(l, "http://") {
					t.Fatalf("accepted link %q", l)
				}
			}
			if d.Interval <= 0 || d.ExpiresAt.Before(now) {
				t.Fatalf("interval %v expires %v", d.Interval, d.ExpiresAt)
			}
		}
		if tok, _, err := parseTokens(data, now); err == nil && (tok.AccessToken.IsZero() || tok.ExpiresAt.After(now.Add(maxLifetime))) {
			t.Fatalf("tokens %v", tok)
		}
		err := parseOAuthError(status, data)
		var oe *OAuthError
		if errors.As(err, &oe) && (len(oe.Code) > 64+3 || len(oe.Description) > 300+3 || strings.ContainsAny(oe.Description, "\n\r\x1b")) {
			t.Fatalf("unclean error %q", oe.Description)
		}
		if _, err := AppIDFromURL(string(data)); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}
