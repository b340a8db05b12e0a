package okta

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func parseFactors(t *testing.T, doc string) []rawFactor {
	t.Helper()
	var raws []rawFactor
	if err := json.Unmarshal([]byte(doc), &raws); err != nil {
		t.Fatal(err)
	}
	return raws
}

// A preferred factor that is enrolled but needs a browser is reported as
// such, not as missing; a factor that is truly absent still is.
func TestPreferredFactorEnrolledButUnusable(t *testing.T) {
	raws := parseFactors(t, `[
		{"id":"fwa1","factorType":"webauthn","provider":"FIDO","profile":{"authenticatorName":"MacBook Touch ID"}},
		{"id":"fu2f1","factorType":"u2f","provider":"FIDO","profile":{}},
		{"id":"dsf1","factorType":"web","provider":"DUO","profile":{}},
		{"id":"ost1","factorType":"token:software:totp","provider":"OKTA","profile":{}}
	]`)
	for _, tt := range []struct{ pref, want string }{
		{"webauthn", "WebAuthn"},
		{"u2f", "U2F"},
		{"DUO", "Duo"},
		{"push", "Duo"},
		{"fwa1", "WebAuthn"},
	} {
		_, err := (&MFA{Preferred: tt.pref}).pick(context.Background(), raws)
		if !errors.Is(err, ErrFactorUnusable) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "enrolled") || !strings.Contains(err.Error(), "totp") {
			t.Errorf("preferred %q: %v", tt.pref, err)
		}
	}
	_, err := (&MFA{Preferred: "sms"}).pick(context.Background(), raws)
	if err == nil || errors.Is(err, ErrFactorUnusable) || !strings.Contains(err.Error(), "no such factor") {
		t.Errorf("preferred sms, not enrolled: %v", err)
	}
	f, err := (&MFA{Preferred: "totp"}).pick(context.Background(), raws)
	if err != nil || f.ID != "ost1" {
		t.Errorf("preferred totp: %v %v", f, err)
	}
}

// E0000119 is a lockout, as E0000069 is.
func TestLockoutCodes(t *testing.T) {
	for _, code := range []string{"E0000069", "E0000119"} {
		e := &Error{Status: 403, Code: code, Summary: "User locked out"}
		if !errors.Is(e, ErrLockedOut) || !strings.Contains(e.Error(), "locked") {
			t.Errorf("%s: Is(ErrLockedOut)=%v, %q", code, errors.Is(e, ErrLockedOut), e.Error())
		}
	}
}
