package sso

import (
	"testing"
	"time"
)

// FuzzParseToken feeds cache files as other tools (or damage) leave them:
// ParseToken must never panic, and what it accepts must survive a round
// trip through the format oktafed writes.
func FuzzParseToken(f *testing.F) {
	f.Add([]byte(`{"startUrl":"https://x.awsapps.com/start","region":"us-east-1","accessToken":"a","expiresAt":"2030-01-02T03:04:05Z","clientId":"c","clientSecret":"s","registrationExpiresAt":"2030-03-01T00:00:00Z","refreshToken":"r"}`))
	f.Add([]byte(`{"accessToken":"a","expiresAt":"2030-01-02T03:04:05UTC"}`))
	f.Add([]byte(`{"accessToken":"a","expiresAt":"2030-01-02T03:04:05.123+02:00"}`))
	f.Add([]byte(`{"accessToken":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseToken(data)
		if err != nil {
			return
		}
		out, err := tok.cacheFile()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseToken(out)
		if err != nil {
			t.Fatalf("re-read of %s: %v", out, err)
		}
		if back.AccessToken.Reveal() != tok.AccessToken.Reveal() || !back.ExpiresAt.Equal(tok.ExpiresAt.Truncate(time.Second)) {
			t.Fatalf("round trip changed the token: %v vs %v", back, tok)
		}
	})
}
