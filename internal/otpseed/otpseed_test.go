package otpseed_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/internal/otpseed"
)

const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func TestParse(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	want, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		secret,
		strings.ToLower(secret),
		" JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP ",
		secret + "====",
		"otpauth://totp/Okta:demo?secret=" + secret + "&issuer=Okta",
	} {
		s, err := otpseed.Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if got, err := s.Code(at); err != nil || got != want || s.Period() != 30*time.Second {
			t.Errorf("Parse(%q): code %q, %v, period %s; want %q, 30s", in, got, err, s.Period(), want)
		}
	}
	// A URL's own period and digits are kept.
	s, err := otpseed.Parse("otpauth://totp/x?secret=" + secret + "&period=60&digits=8")
	if err != nil || s.Period() != time.Minute {
		t.Fatalf("period 60: %v, %s", err, s.Period())
	}
	if c, err := s.Code(at); err != nil || len(c) != 8 {
		t.Fatalf("digits 8: %q, %v", c, err)
	}
	for _, bad := range []string{"", "  ", "====", "otpauth://hotp/x?secret=" + secret, "otpauth://totp/x", "otpauth://totp/x?secret="} {
		if _, err := otpseed.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	// Not base32: refused when a code is asked, with a message without the seed.
	s, err = otpseed.Parse("not-base32-!!")
	if err == nil {
		_, err = s.Code(at)
	}
	if err == nil || strings.Contains(err.Error(), "NOT-BASE32") {
		t.Errorf("a bad seed: %v", err)
	}
	if p := fmt.Sprintf("%v %+v %#v %s", s, s, s, s); strings.Contains(p, "JBSW") || strings.Contains(p, "NOT-BASE32") {
		t.Errorf("the seed prints: %s", p)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(secret)
	f.Add("otpauth://totp/x?secret=" + secret + "&period=0&digits=8&algorithm=SHA256")
	f.Add("otpauth://totp/x?secret=%zz")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := otpseed.Parse(in)
		if err != nil {
			return
		}
		if s.Period() <= 0 {
			t.Fatalf("Parse(%q): period %s", in, s.Period())
		}
		_, _ = s.Code(time.Unix(1_700_000_000, 0))
	})
}
