package org

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// Factor checks for Okta Direct Authentication: the org authorization
// server's direct grants (password then mfa-otp or mfa-oob, or an OTP or
// an Okta Verify push alone) verify the user's factors here, with the same
// rules as /api/v1/authn: a TOTP code is accepted once, failures count
// towards the lockout, and pushes answer as the factor's push: settings
// (or the admin endpoints) say.

var (
	// ErrNoFactor means the user has no factor of the kind asked for.
	ErrNoFactor = errors.New("okta: the user has no such factor enrolled")
	// ErrCodeReused means a TOTP code was right but already spent.
	ErrCodeReused = errors.New("okta: each code can only be used once")
)

// VerifyOTP checks a TOTP code of login's TOTP factor. It returns
// ErrAuthenticationFailed for a wrong code or unknown user, ErrCodeReused,
// ErrNoFactor or ErrLockedOut.
func (o *Org) VerifyOTP(ctx context.Context, login, code string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.usersByLogin[strings.ToLower(strings.TrimSpace(login))]
	if u == nil {
		return ErrAuthenticationFailed
	}
	if u.status == statusLockedOut {
		return ErrLockedOut
	}
	f := totpFactor(u)
	if f == nil {
		return ErrNoFactor
	}
	step, ok := matchTOTP(f.secret, strings.TrimSpace(code), now)
	if !ok {
		u.failedMFA++
		o.log.Info("direct authentication: wrong TOTP code", "login", u.login)
		if u.failedMFA >= o.pol.lockoutAttempts {
			u.failedMFA = 0
			o.lockOut(u)
			return ErrLockedOut
		}
		return ErrAuthenticationFailed
	}
	if step <= f.lastStep {
		return ErrCodeReused
	}
	f.lastStep = step
	u.failedMFA = 0
	return nil
}

// Push is an Okta Verify push sent for direct authentication.
type Push struct {
	o *Org
	u *user
	p *pushChallenge
}

// StartPush sends a push to login's Okta Verify. It returns ErrNoFactor
// when the user has no push factor, ErrLockedOut, or
// ErrAuthenticationFailed for an unknown user.
func (o *Org) StartPush(ctx context.Context, login string) (*Push, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.usersByLogin[strings.ToLower(strings.TrimSpace(login))]
	if u == nil {
		return nil, ErrAuthenticationFailed
	}
	if u.status == statusLockedOut {
		return nil, ErrLockedOut
	}
	var f *factor
	for _, c := range u.factors {
		if c.kind == "push" {
			f = c
			break
		}
	}
	if f == nil {
		return nil, ErrNoFactor
	}
	p := &pushChallenge{factor: f, started: now, numberChallenge: f.push.NumberChallenge,
		// The number goes out with the answer that sends the push.
		numberShown: true}
	if p.numberChallenge {
		p.correctAnswer = randomInt(10, 99)
	}
	u.pendingPush = p
	o.log.Info("direct authentication: push sent", "login", u.login)
	return &Push{o: o, u: u, p: p}, nil
}

// BindingCode is the number the person picks on the phone (Okta Verify's
// number challenge), or "" when the factor has none.
func (p *Push) BindingCode() string {
	if !p.p.numberChallenge {
		return ""
	}
	return strconv.Itoa(p.p.correctAnswer)
}

// Status is the push's state now: WAITING, SUCCESS, REJECTED or TIMEOUT.
func (p *Push) Status() string {
	o := p.o
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	res := o.pushOutcome(p.p, now)
	if res != resultWaiting && p.u.pendingPush == p.p {
		p.u.pendingPush = nil
	}
	if res == resultSuccess && p.u.status == statusLockedOut {
		return resultRejected
	}
	return res
}

// User returns an active (not locked out) user by login or id.
func (o *Org) User(ref string) (*User, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.lookupUser(ref)
	if u == nil || u.status == statusLockedOut {
		return nil, false
	}
	return u.public(), true
}
