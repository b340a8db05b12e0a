package okta

import (
	"context"
	"strings"
	"testing"
)

// FuzzDecodeOktaJSON feeds arbitrary bytes to the decoders of authn answers
// and error bodies, and runs factor selection on whatever factors come out.
func FuzzDecodeOktaJSON(f *testing.F) {
	for _, v := range []any{
		success(),
		mfaRequired(factorJSON("opf1", "push", "OKTA"), factorJSON("ost1", "token:software:totp", "GOOGLE"), factorJSON("x", "webauthn", "FIDO")),
		challenge(factorJSON("opf1", "push", "OKTA"), "WAITING", "/next"),
		oktaError("E0000004", "Authentication failed"),
	} {
		b, err := jsonMarshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"status":"MFA_CHALLENGE","_links":{"next":[{"href":"/a"}],"resend":{"href":"/b"}}}`))
	f.Add([]byte(`{"errorCode":"E\u0000","errorCauses":[{"errorSummary":"\u001b[31m"}]}`))
	// The reference's MFA_CHALLENGE with the challenged factor as one object
	// under "factors", and an Okta Verify factor with an empty profile.
	f.Add([]byte(`{"status":"MFA_CHALLENGE","factorResult":"WAITING","_embedded":{"factors":{"id":"opf1","factorType":"push","provider":"OKTA","profile":{},"_embedded":{"challenge":{"correctAnswer":92}}}},"_links":{"next":{"name":"poll","href":"/v"}}}`))
	f.Add([]byte(`{"status":"MFA_REQUIRED","_embedded":{"factors":[{"id":"opf1","factorType":"push","provider":"OKTA","profile":{}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := parseError(400, data)
		msg := e.Error()
		if strings.ContainsAny(msg, "\x00\x1b\r\n") {
			t.Fatalf("error message has control characters: %q", msg)
		}
		tx, err := decodeTransaction(data)
		if err != nil {
			return
		}
		if tx.Status == "" {
			t.Fatal("decoded a transaction without status")
		}
		if cf := tx.challenged(); cf != nil {
			_ = cf.factor().String()
		}
		for _, pref := range []string{"", "push", "totp"} {
			mfa := &MFA{Preferred: pref}
			fac, err := mfa.pick(context.Background(), tx.Embedded.Factors)
			if err == nil && (fac.ID == "" || fac.Kind == "") {
				t.Fatalf("picked an unusable factor %+v", fac)
			}
		}
	})
}
