package org

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// pushChallenge is one Okta Verify push sent to the simulated phone.
type pushChallenge struct {
	factor          *factor
	txnToken        string
	started         time.Time
	numberChallenge bool
	correctAnswer   int
	decision        string // set by the admin endpoint: SUCCESS or REJECTED
	// polls counts verify calls after the one that sent the push.
	polls int
	// numberShown is set once a poll answer has carried correctAnswer: a
	// person cannot tap the number before the client could show it.
	numberShown bool
}

// Factor results a push poll reports.
const (
	resultWaiting  = "WAITING"
	resultSuccess  = "SUCCESS"
	resultRejected = "REJECTED"
	resultTimeout  = "TIMEOUT"
)

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// handleVerify verifies (or, for SMS, email and push, challenges and polls)
// a factor of the transaction's user.
func (o *Org) handleVerify(w http.ResponseWriter, r *http.Request) {
	var req stateRequest
	t, now := o.stateCall(w, r, &req)
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	if t.status != stateMFARequired && t.status != stateMFAChallenge {
		errWrongState.write(w, errWrongState.summary)
		return
	}
	f := t.user.factor(r.PathValue("factorId"))
	if f == nil {
		errNotFound.writeSummary(w, fmt.Sprintf("Not found: Resource not found: %s (UserFactor)", r.PathValue("factorId")))
		return
	}
	if t.factor != nil && t.factor != f {
		// Choosing another factor abandons the current challenge.
		o.clearChallenge(t)
	}
	switch f.kind {
	case "totp":
		o.verifyTOTP(w, t, f, req.PassCode, now)
	case "sms", "email":
		o.verifyCode(w, t, f, req.PassCode, now)
	case "push":
		o.verifyPush(w, t, f, now)
	default:
		// WebAuthn needs a browser ceremony: the hosted sign-in page.
		errValidation.writeSummary(w, "Api validation failed: factorType", "factorType: this factor is verified on the sign-in page in a browser")
	}
}

func (o *Org) clearChallenge(t *txn) {
	if t.push != nil && t.user.pendingPush == t.push {
		t.user.pendingPush = nil
	}
	t.factor, t.code, t.push, t.pushResult = nil, nil, nil, ""
}

// matchTOTP checks code against the steps around now (±1, as Okta allows
// for clock drift) and returns the matching step.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		s := step + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

func (o *Org) verifyTOTP(w http.ResponseWriter, t *txn, f *factor, code string, now time.Time) {
	if code == "" {
		errPasscode.write(w, "Your passcode doesn't match our records. Please try again.")
		return
	}
	step, ok := matchTOTP(f.secret, code, now)
	if !ok {
		o.mfaFailure(w, t, "wrong TOTP code")
		return
	}
	if step <= f.lastStep {
		// A code (or an older one) already spent: Okta refuses replays so
		// an observed code cannot be reused.
		o.log.Info("factor verification refused", "login", t.user.login, "reason", "TOTP replay")
		errPasscodeReplay.write(w)
		return
	}
	f.lastStep = step
	o.mfaSuccess(w, t, f, "otp", now)
}

func (o *Org) verifyCode(w http.ResponseWriter, t *txn, f *factor, code string, now time.Time) {
	if code == "" {
		if t.code == nil || t.code.factorID != f.id || !now.Before(t.code.expiresAt) {
			o.issueCode(t, f, now)
		}
		t.factor = f
		t.status = stateMFAChallenge
		o.step(w, t, now)
		return
	}
	c := t.code
	if c == nil || c.factorID != f.id || !now.Before(c.expiresAt) || !secretEqual(c.code, code) {
		o.mfaFailure(w, t, "wrong "+f.kind+" code")
		return
	}
	t.code = nil // one use
	o.mfaSuccess(w, t, f, f.kind, now)
}

// issueCode "sends" a passcode; tests read it back from the admin endpoint.
func (o *Org) issueCode(t *txn, f *factor, now time.Time) {
	c := &issuedCode{factorID: f.id, factorType: f.factorType, code: randomDigits(6), issuedAt: now, expiresAt: now.Add(codeLifetime)}
	t.code = c
	t.user.lastCode = c
	o.log.Info("passcode sent", "login", t.user.login, "factorType", f.factorType)
}

func (o *Org) verifyPush(w http.ResponseWriter, t *txn, f *factor, now time.Time) {
	if t.push == nil || t.push.factor != f {
		o.startPush(t, f, now)
		o.step(w, t, now)
		return
	}
	t.push.polls++
	switch res := o.pushOutcome(t.push, now); res {
	case resultSuccess:
		t.user.pendingPush = nil
		o.mfaSuccess(w, t, f, "swk", now)
	case resultRejected, resultTimeout:
		// The push is over; the next verify call sends a new one.
		t.user.pendingPush = nil
		t.push = nil
		t.pushResult = res
		o.log.Info("push finished", "login", t.user.login, "result", res)
		o.step(w, t, now)
	default:
		o.step(w, t, now)
	}
}

func (o *Org) startPush(t *txn, f *factor, now time.Time) {
	p := &pushChallenge{factor: f, txnToken: t.token, started: now, numberChallenge: f.push.NumberChallenge}
	if p.numberChallenge {
		p.correctAnswer = randomInt(10, 99)
	}
	t.push = p
	t.pushResult = ""
	t.factor = f
	t.status = stateMFAChallenge
	t.user.pendingPush = p
	o.log.Info("push sent", "login", t.user.login)
}

// pushOutcome decides what a poll at now reports: an admin decision wins,
// then the factor's scripted answer once its delay has passed (and, for a
// scripted approval of a number challenge, once a poll has shown the
// number); anything still open at the push timeout has timed out.
func (o *Org) pushOutcome(p *pushChallenge, now time.Time) string {
	if p.decision != "" {
		return p.decision
	}
	elapsed := now.Sub(p.started)
	cfg := p.factor.push
	shown := !p.numberChallenge || p.numberShown || cfg.Result != pushApprove
	if cfg.Result != pushWait && shown && elapsed >= cfg.Delay && cfg.Delay < o.pol.pushTimeout {
		switch cfg.Result {
		case pushApprove:
			return resultSuccess
		case pushReject:
			return resultRejected
		case pushTimeout:
			return resultTimeout
		}
	}
	if elapsed >= o.pol.pushTimeout {
		return resultTimeout
	}
	return resultWaiting
}

func (o *Org) mfaSuccess(w http.ResponseWriter, t *txn, f *factor, amr string, now time.Time) {
	o.log.Info("factor verified", "login", t.user.login, "factorType", f.factorType)
	t.user.failedMFA = 0
	t.mfaDone = true
	t.factorAt = now
	t.amr = append(t.amr, "mfa", amr)
	o.clearChallenge(t)
	t.status = ""
	o.step(w, t, now)
}

// mfaFailure counts a wrong passcode; enough of them lock the user out as
// wrong passwords do.
func (o *Org) mfaFailure(w http.ResponseWriter, t *txn, reason string) {
	u := t.user
	u.failedMFA++
	o.log.Info("factor verification failed", "login", u.login, "reason", reason)
	if u.failedMFA >= o.pol.lockoutAttempts {
		u.failedMFA = 0
		o.lockOut(u)
		errUserLocked.write(w)
		return
	}
	errPasscode.write(w, "Your passcode doesn't match our records. Please try again.")
}

// handleResend sends the current challenge again: a new code or a new push.
func (o *Org) handleResend(w http.ResponseWriter, r *http.Request) {
	var req stateRequest
	t, now := o.stateCall(w, r, &req)
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	f := t.user.factor(r.PathValue("factorId"))
	if f == nil {
		errNotFound.writeSummary(w, fmt.Sprintf("Not found: Resource not found: %s (UserFactor)", r.PathValue("factorId")))
		return
	}
	if t.status != stateMFAChallenge || t.factor != f {
		errWrongState.write(w, errWrongState.summary)
		return
	}
	switch f.kind {
	case "sms", "email":
		if f.kind == "sms" && t.code != nil && now.Sub(t.code.issuedAt) < 30*time.Second {
			errSMSRecentlySent.write(w)
			return
		}
		o.issueCode(t, f, now)
	case "push":
		o.clearChallenge(t)
		o.startPush(t, f, now)
	default:
		errWrongState.write(w, errWrongState.summary)
		return
	}
	o.step(w, t, now)
}
