package okta

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/internal/otpseed"
)

// Factor kinds: the normalised names MFA.Preferred takes and Factor.Kind
// reports.
const (
	KindPush     = "push"     // Okta Verify push
	KindTOTP     = "totp"     // Okta Verify or Google Authenticator codes
	KindSMS      = "sms"      // code by text message
	KindCall     = "call"     // code by voice call
	KindEmail    = "email"    // code by email
	KindHardware = "hardware" // YubiKey OTP and other token:hardware
	KindToken    = "token"    // RSA SecurID, Symantec VIP and other "token"
	KindQuestion = "question" // security question
)

// kindOrder is the order factors are tried when nothing else decides:
// quickest for the user first.
var kindOrder = []string{KindPush, KindTOTP, KindHardware, KindToken, KindSMS, KindCall, KindEmail, KindQuestion}

// Factor is an enrolled MFA factor.
type Factor struct {
	ID         string // e.g. opf1a2b3c
	Type       string // Okta's factorType, e.g. token:software:totp
	Provider   string // OKTA, GOOGLE, YUBICO, RSA, SYMANTEC, ...
	VendorName string
	// Kind is one of the Kind constants, or "" when this client cannot
	// use the factor (WebAuthn, U2F and others that need a browser).
	Kind string
	// Where the factor lives, for showing to the user: the (masked) phone
	// number, email address or device name, or the question text.
	Phone    string
	Email    string
	Device   string
	Question string

	verifyHref string
}

// String describes the factor for a picker, e.g. "Okta Verify push (iPhone)".
func (f Factor) String() string {
	var name string
	switch f.Kind {
	case KindPush:
		name = "Okta Verify push"
	case KindTOTP:
		switch f.Provider {
		case "GOOGLE":
			name = "Google Authenticator code"
		case "OKTA":
			name = "Okta Verify code"
		default:
			name = "authenticator app code"
		}
	case KindSMS:
		name = "SMS code"
	case KindCall:
		name = "voice call code"
	case KindEmail:
		name = "email code"
	case KindHardware:
		name = "hardware token"
	case KindToken:
		name = strings.TrimSpace(strings.ToLower(f.Provider) + " token code")
	case KindQuestion:
		name = "security question"
	default:
		name = f.Type + " (not supported here)"
	}
	switch {
	case f.Device != "":
		name += " (" + f.Device + ")"
	case f.Phone != "":
		name += " (" + f.Phone + ")"
	case f.Email != "":
		name += " (" + f.Email + ")"
	}
	return name
}

// rawFactor is a factor as the authn API describes it.
type rawFactor struct {
	ID         string `json:"id"`
	FactorType string `json:"factorType"`
	Provider   string `json:"provider"`
	VendorName string `json:"vendorName"`
	Profile    struct {
		PhoneNumber  string `json:"phoneNumber"`
		Email        string `json:"email"`
		Name         string `json:"name"`
		CredentialID string `json:"credentialId"`
		QuestionText string `json:"questionText"`
	} `json:"profile"`
	Embedded struct {
		Challenge struct {
			CorrectAnswer *int `json:"correctAnswer"`
		} `json:"challenge"`
	} `json:"_embedded"`
	Links struct {
		Verify links `json:"verify"`
	} `json:"_links"`
}

func (r rawFactor) factor() Factor {
	f := Factor{
		ID: r.ID, Type: r.FactorType, Provider: r.Provider, VendorName: r.VendorName,
		Phone: r.Profile.PhoneNumber, Email: r.Profile.Email, Device: r.Profile.Name,
		Question:   r.Profile.QuestionText,
		verifyHref: r.Links.Verify.href(),
	}
	switch r.FactorType {
	case "push":
		f.Kind = KindPush
	case "token:software:totp":
		f.Kind = KindTOTP
	case "sms":
		f.Kind = KindSMS
	case "call":
		f.Kind = KindCall
	case "email":
		f.Kind = KindEmail
	case "token:hardware":
		f.Kind = KindHardware
	case "token":
		f.Kind = KindToken
	case "question":
		f.Kind = KindQuestion
	}
	return f
}

// MFA says how Authenticate answers Okta's second-factor questions. The
// zero value picks a factor by itself and can only complete factors that
// need no input (push), so the CLI supplies the callbacks.
type MFA struct {
	// Preferred names the factor to use: a Kind ("push", "totp", "sms",
	// "call", "email", "hardware", "token", "question"), an Okta
	// factorType, or a factor ID. Empty lets the rules below decide.
	Preferred string
	// TOTPSeed is the base32 secret (or otpauth:// URL) of the user's TOTP
	// factor. With it, TOTP codes are computed here and a TOTP factor is
	// chosen when Preferred is empty.
	TOTPSeed secret.String
	// Choose picks among several usable factors. nil picks the first in
	// the order push, totp, hardware, token, sms, call, email, question.
	Choose func(ctx context.Context, factors []Factor) (Factor, error)
	// Code asks the user for a code (or a security-question answer). It
	// may return ErrResend for SMS, call and email factors to have Okta
	// send the code again.
	Code func(ctx context.Context, p CodePrompt) (string, error)
	// Waiting is called once when a push has been sent.
	Waiting func(f Factor)
	// PushNumber is called with the number the user must pick on their
	// phone when Okta uses number matching.
	PushNumber func(n int)
}

// CodePrompt is what Code is asked.
type CodePrompt struct {
	Factor Factor
	// Attempt counts from 1; above 1 the previous code was refused.
	Attempt int
	// Problem is why the previous code was refused, if it was.
	Problem error
	// Sent is true when Okta has just sent the code by SMS, call or email
	// (so the prompt can offer a resend).
	Sent bool
}

func (m *MFA) askCode(ctx context.Context, p CodePrompt) (string, error) {
	if m.Code == nil {
		return "", fmt.Errorf("okta: the %s factor needs a code, and no way to ask for one was given", p.Factor)
	}
	code, err := m.Code(ctx, p)
	if err != nil {
		return "", err
	}
	code = strings.TrimSpace(code)
	if p.Factor.Kind != KindQuestion {
		code = strings.ReplaceAll(code, " ", "")
	}
	if code == "" {
		return "", errors.New("okta: no code was entered")
	}
	return code, nil
}

// pick chooses the factor to verify.
func (m *MFA) pick(ctx context.Context, raws []rawFactor) (Factor, error) {
	var usable, unusable []Factor
	for _, r := range raws {
		f := r.factor()
		if f.ID == "" {
			continue
		}
		if f.Kind == "" {
			unusable = append(unusable, f)
		} else {
			usable = append(usable, f)
		}
	}
	if len(usable) == 0 {
		if len(unusable) > 0 {
			return Factor{}, fmt.Errorf("%w; you have: %s", ErrNoUsableFactor, describe(unusable))
		}
		return Factor{}, ErrNoUsableFactor
	}
	sort.SliceStable(usable, func(i, j int) bool { return kindRank(usable[i].Kind) < kindRank(usable[j].Kind) })

	pref := strings.TrimSpace(m.Preferred)
	if pref != "" {
		var match []Factor
		for _, f := range usable {
			if strings.EqualFold(f.Kind, pref) || strings.EqualFold(f.Type, pref) || f.ID == pref {
				match = append(match, f)
			}
		}
		if len(match) == 0 {
			if err := unusablePreferred(pref, unusable, usable); err != nil {
				return Factor{}, err
			}
			return Factor{}, fmt.Errorf("okta: MFA %q was asked for, but your Okta account has no such factor; you have: %s (change the MFA setting, or enroll the factor in Okta)", clean(pref, 40), describe(usable))
		}
		usable = match
	} else if !m.TOTPSeed.IsZero() {
		for _, f := range usable {
			if f.Kind == KindTOTP {
				return f, nil
			}
		}
	}
	if len(usable) == 1 || m.Choose == nil {
		return usable[0], nil
	}
	f, err := m.Choose(ctx, append([]Factor(nil), usable...))
	if err != nil {
		return Factor{}, err
	}
	for _, u := range usable {
		if u.ID == f.ID {
			return u, nil
		}
	}
	return Factor{}, fmt.Errorf("okta: the chosen factor %s is not one of those offered", f)
}

func kindRank(k string) int {
	for i, o := range kindOrder {
		if o == k {
			return i
		}
	}
	return len(kindOrder)
}

func describe(fs []Factor) string {
	var names []string
	for _, f := range fs {
		n := f.Kind
		if n == "" {
			n = f.Type
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// TOTPMinValidity is how long a generated TOTP code must stay valid. A code
// with less of its 30-second window left could expire on the way to Okta,
// so the client waits for the next window instead.
const TOTPMinValidity = 5 * time.Second

// totpCode computes the code to send now. It waits for the next window
// when the current one is about to end, or when next is set (the current
// window's code was already used).
func (m *MFA) totpCode(ctx context.Context, c *Client, next bool) (string, error) {
	seed, err := otpseed.Parse(m.TOTPSeed.Reveal())
	if err != nil {
		return "", fmt.Errorf("okta: %w", err)
	}
	period := seed.Period()
	now := c.clock().Now()
	// Windows count from the Unix epoch, not from Go's zero time.
	secs, step := now.Unix(), int64(period/time.Second)
	start := time.Unix(secs-secs%step, 0)
	if left := start.Add(period).Sub(now); next || left < TOTPMinValidity {
		if err := c.sleep(ctx, left); err != nil {
			return "", err
		}
		now = c.clock().Now()
		if now.Before(start.Add(period)) {
			now = start.Add(period)
		}
	}
	code, err := seed.Code(now)
	if err != nil {
		return "", fmt.Errorf("okta: %w", err)
	}
	return code, nil
}
