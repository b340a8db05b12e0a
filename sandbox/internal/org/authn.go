package org

import (
	"net/http"
	"strings"
	"time"
	"unicode"
)

// Transaction states of the Classic Authentication API.
const (
	stateUnauthenticated = "UNAUTHENTICATED"
	stateMFAEnroll       = "MFA_ENROLL"
	stateMFARequired     = "MFA_REQUIRED"
	stateMFAChallenge    = "MFA_CHALLENGE"
	stateLockedOut       = "LOCKED_OUT"
	statePasswordExpired = "PASSWORD_EXPIRED"
	statePasswordWarn    = "PASSWORD_WARN"
	stateSuccess         = "SUCCESS"
)

// txn is an authentication transaction, named by its stateToken. The token
// stays the same for the whole transaction (clients poll with it) and dies
// when the transaction succeeds, is cancelled, expires or the user locks.
type txn struct {
	token      string
	user       *user
	status     string
	expiresAt  time.Time
	relayState string
	warn       bool // client asked for PASSWORD_WARN
	warnDone   bool // PASSWORD_WARN was skipped or the password changed

	mfaDone    bool
	pwdAt      time.Time
	factorAt   time.Time
	amr        []string
	factor     *factor // factor of the current MFA_CHALLENGE
	code       *issuedCode
	push       *pushChallenge
	pushResult string // last push outcome shown (REJECTED, TIMEOUT)
}

// issuedCode is an SMS or email passcode sent to the user.
type issuedCode struct {
	factorID, factorType string
	code                 string
	issuedAt, expiresAt  time.Time
}

const codeLifetime = 5 * time.Minute

// sessionToken is the one-time proof of a finished transaction.
type sessionToken struct {
	user      *user
	expiresAt time.Time
	pwdAt     time.Time
	factorAt  time.Time
	amr       []string
	mfa       bool
}

type authnRequest struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	StateToken string `json:"stateToken"`
	RelayState string `json:"relayState"`
	Options    struct {
		WarnBeforePasswordExpired bool `json:"warnBeforePasswordExpired"`
		MultiOptionalFactorEnroll bool `json:"multiOptionalFactorEnroll"`
	} `json:"options"`
}

type stateRequest struct {
	StateToken  string `json:"stateToken"`
	PassCode    string `json:"passCode"`
	OldPassword string `json:"oldPassword"`
	NewPassword string `json:"newPassword"`
}

// handleAuthn is primary authentication, or "get transaction state" when
// the body carries only a stateToken.
func (o *Org) handleAuthn(w http.ResponseWriter, r *http.Request) {
	var req authnRequest
	if err := decodeJSON(r, &req); err != nil {
		if o.allow(w, anonKey(r), o.pol.rateLimit) {
			errMalformed.write(w)
		}
		return
	}
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune(now)

	if req.Username == "" && req.StateToken != "" {
		t := o.liveTxn(req.StateToken, now)
		if !o.allowTxn(w, r, t) {
			return
		}
		if t == nil {
			errInvalidToken.write(w)
			return
		}
		writeJSON(w, http.StatusOK, o.txnBody(t, now))
		return
	}

	if !o.allow(w, authnKey(req.Username), o.pol.rateLimit) {
		return
	}
	if strings.TrimSpace(req.Username) == "" {
		errValidation.writeSummary(w, "Api validation failed: username", "username: The field cannot be left blank")
		return
	}
	u := o.usersByLogin[strings.ToLower(strings.TrimSpace(req.Username))]
	if u == nil || req.Password == "" {
		o.log.Info("primary authentication failed", "reason", "unknown user or empty password")
		errAuthFailed.write(w)
		return
	}
	if u.status == statusLockedOut {
		o.log.Info("primary authentication refused", "login", u.login, "reason", "locked out")
		o.writeLockedOut(w)
		return
	}
	if !secretEqual(u.password, req.Password) {
		o.log.Info("primary authentication failed", "login", u.login, "reason", "wrong password")
		if o.recordPasswordFailure(u) {
			o.writeLockedOut(w)
			return
		}
		errAuthFailed.write(w)
		return
	}
	u.failedPasswords = 0
	t := &txn{
		token: newToken("00", 30), user: u, relayState: req.RelayState,
		warn:  req.Options.WarnBeforePasswordExpired,
		pwdAt: now, amr: []string{"pwd"},
	}
	o.txns[t.token] = t
	o.step(w, t, now)
}

// writeLockedOut is Okta's LOCKED_OUT answer. It carries no stateToken:
// there is nothing a client can do with the transaction but start over once
// an administrator has unlocked the user.
func (o *Org) writeLockedOut(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":    stateLockedOut,
		"_embedded": map[string]any{},
		"_links":    map[string]any{},
	})
}

// liveTxn returns the unexpired transaction named by token, or nil.
func (o *Org) liveTxn(token string, now time.Time) *txn {
	if token == "" {
		return nil
	}
	t := o.txns[token]
	if t == nil {
		return nil
	}
	if !now.Before(t.expiresAt) {
		delete(o.txns, token)
		return nil
	}
	return t
}

// allowTxn rate-limits a stateToken request in its user's bucket, or in the
// client's anonymous bucket when the token names no transaction.
func (o *Org) allowTxn(w http.ResponseWriter, r *http.Request, t *txn) bool {
	if t == nil {
		return o.allow(w, anonKey(r), o.pol.rateLimit)
	}
	return o.allow(w, authnKey(t.user.login), o.pol.rateLimit)
}

// step moves t to the state its progress calls for and answers with it.
// The order follows Okta: factors first, then password expiry, then the
// optional expiry warning.
func (o *Org) step(w http.ResponseWriter, t *txn, now time.Time) {
	u := t.user
	t.expiresAt = now.Add(o.pol.stateTokenLifetime)
	switch {
	case o.mfaRequired(u) && !t.mfaDone:
		if len(u.factors) == 0 {
			t.status = stateMFAEnroll
		} else if t.status != stateMFAChallenge {
			t.status = stateMFARequired
		}
	case u.status == statusPasswordExpired:
		t.status = statePasswordExpired
	case u.passwordWarn && t.warn && !t.warnDone:
		t.status = statePasswordWarn
	default:
		t.status = stateSuccess
	}
	o.log.Info("authentication transaction", "login", u.login, "status", t.status)
	if t.status != stateSuccess {
		writeJSON(w, http.StatusOK, o.txnBody(t, now))
		return
	}
	delete(o.txns, t.token)
	if u.pendingPush != nil && u.pendingPush == t.push {
		u.pendingPush = nil
	}
	st := &sessionToken{user: u, expiresAt: now.Add(o.pol.sessionTokenLifetime), pwdAt: t.pwdAt, factorAt: t.factorAt, amr: t.amr, mfa: t.mfaDone}
	tok := newToken("20111", 36)
	o.sessionTokens[tok] = st
	body := map[string]any{
		"expiresAt":    oktaTime(st.expiresAt),
		"status":       stateSuccess,
		"sessionToken": tok,
		"_embedded":    map[string]any{"user": o.userBody(u)},
	}
	if t.relayState != "" {
		body["relayState"] = t.relayState
	}
	writeJSON(w, http.StatusOK, body)
}

func (o *Org) userBody(u *user) map[string]any {
	return map[string]any{
		"id":              u.id,
		"passwordChanged": oktaTime(u.passwordChanged),
		"profile": map[string]any{
			"login":     u.login,
			"firstName": u.first,
			"lastName":  u.last,
			"locale":    "en_US",
			"timeZone":  "America/Los_Angeles",
		},
	}
}

func (o *Org) authnURL(path string) string { return o.base + "/api/v1/authn" + path }

func (o *Org) verifyURL(f *factor) string { return o.authnURL("/factors/" + f.id + "/verify") }

// factorBody is a factor as the transaction shows it; profiles are masked
// like Okta masks them.
func (o *Org) factorBody(f *factor, u *user) map[string]any {
	profile := map[string]any{}
	switch f.kind {
	case "totp":
		profile["credentialId"] = u.login
	case "push":
		profile["credentialId"] = u.login
		profile["deviceType"] = "SmartPhone_IPhone"
		profile["name"] = "Sandbox iPhone"
		profile["platform"] = "IOS"
		profile["version"] = "17.4"
	case "sms":
		profile["phoneNumber"] = maskPhone(f.phone)
	case "email":
		profile["email"] = maskEmail(f.email)
	}
	return map[string]any{
		"id":         f.id,
		"factorType": f.factorType,
		"provider":   f.provider,
		"vendorName": f.provider,
		"profile":    profile,
	}
}

func maskPhone(p string) string {
	digits := make([]rune, 0, len(p))
	for _, r := range p {
		if unicode.IsDigit(r) {
			digits = append(digits, r)
		}
	}
	if len(digits) < 4 {
		return "XXX-XXX-XXXX"
	}
	return "+1 XXX-XXX-" + string(digits[len(digits)-4:])
}

func maskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return "…"
	}
	r := []rune(local)
	return string(r[0]) + "..." + string(r[len(r)-1]) + "@" + domain
}

var passwordComplexity = map[string]any{
	"minLength":       8,
	"minLowerCase":    1,
	"minUpperCase":    1,
	"minNumber":       1,
	"minSymbol":       0,
	"excludeUsername": true,
}

// txnBody renders a transaction that has not succeeded.
func (o *Org) txnBody(t *txn, now time.Time) map[string]any {
	u := t.user
	embedded := map[string]any{"user": o.userBody(u)}
	links := map[string]any{"cancel": link(o.authnURL("/cancel"), "POST")}
	body := map[string]any{
		"stateToken": t.token,
		"expiresAt":  oktaTime(t.expiresAt),
		"status":     t.status,
		"_embedded":  embedded,
		"_links":     links,
	}
	if t.relayState != "" {
		body["relayState"] = t.relayState
	}
	switch t.status {
	case stateMFAEnroll:
		embedded["factors"] = []any{}
	case stateMFARequired:
		factors := make([]any, 0, len(u.factors))
		for _, f := range u.factors {
			fb := o.factorBody(f, u)
			if f.provider == "OKTA" && (f.kind == "push" || f.kind == "totp") {
				// Okta Verify's device details are not released before
				// the second factor: the list shows an empty profile.
				fb["profile"] = map[string]any{}
			}
			fb["_links"] = map[string]any{"verify": link(o.verifyURL(f), "POST")}
			factors = append(factors, fb)
		}
		embedded["factors"] = factors
		embedded["policy"] = map[string]any{
			"allowRememberDevice":             false,
			"rememberDeviceLifetimeInMinutes": 0,
			"rememberDeviceByDefault":         false,
			"factorsPolicyInfo":               map[string]any{},
		}
	case stateMFAChallenge:
		f := t.factor
		fb := o.factorBody(f, u)
		embedded["factor"] = fb
		links["prev"] = link(o.authnURL("/previous"), "POST")
		switch f.kind {
		case "push":
			result := t.pushResult
			if result == "" {
				result = "WAITING"
			}
			body["factorResult"] = result
			if result == "WAITING" {
				links["next"] = namedLink("poll", o.verifyURL(f), "POST")
				// The number shows once the phone displays the challenge:
				// in a later poll, never in the answer that sent the push.
				if t.push != nil && t.push.numberChallenge && t.push.polls > 0 {
					fb["_embedded"] = map[string]any{"challenge": map[string]any{"correctAnswer": t.push.correctAnswer}}
					t.push.numberShown = true
				}
			} else {
				links["next"] = namedLink("verify", o.verifyURL(f), "POST")
			}
			links["resend"] = []any{namedLink("push", o.verifyURL(f)+"/resend", "POST")}
		case "sms", "email":
			links["next"] = namedLink("verify", o.verifyURL(f), "POST")
			links["resend"] = []any{namedLink(f.kind, o.verifyURL(f)+"/resend", "POST")}
		default:
			links["next"] = namedLink("verify", o.verifyURL(f), "POST")
		}
	case statePasswordExpired, statePasswordWarn:
		pol := map[string]any{"complexity": passwordComplexity}
		if t.status == statePasswordWarn {
			pol["expiration"] = map[string]any{"passwordExpireDays": u.expireDays}
			links["skip"] = namedLink("skip", o.authnURL("/skip"), "POST")
		}
		embedded["policy"] = pol
		links["next"] = namedLink("changePassword", o.authnURL("/credentials/change_password"), "POST")
	}
	return body
}

// stateCall decodes a stateToken body, rate-limits and resolves the
// transaction. It returns nil (having answered) when the caller must stop.
// On success o.mu is held and the caller must unlock it.
func (o *Org) stateCall(w http.ResponseWriter, r *http.Request, req *stateRequest) (*txn, time.Time) {
	if err := decodeJSON(r, req); err != nil {
		if o.allow(w, anonKey(r), o.pol.rateLimit) {
			errMalformed.write(w)
		}
		return nil, time.Time{}
	}
	now := o.clk.Now()
	o.mu.Lock()
	o.prune(now)
	t := o.liveTxn(req.StateToken, now)
	if !o.allowTxn(w, r, t) {
		o.mu.Unlock()
		return nil, now
	}
	if t == nil {
		o.mu.Unlock()
		errInvalidToken.write(w)
		return nil, now
	}
	return t, now
}

func (o *Org) handleCancel(w http.ResponseWriter, r *http.Request) {
	var req stateRequest
	t, _ := o.stateCall(w, r, &req)
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	delete(o.txns, t.token)
	if t.push != nil && t.user.pendingPush == t.push {
		t.user.pendingPush = nil
	}
	o.log.Info("authentication transaction cancelled", "login", t.user.login)
	body := map[string]any{"status": stateUnauthenticated, "_embedded": map[string]any{}}
	if t.relayState != "" {
		body["relayState"] = t.relayState
	}
	writeJSON(w, http.StatusOK, body)
}

func (o *Org) handlePrevious(w http.ResponseWriter, r *http.Request) {
	var req stateRequest
	t, now := o.stateCall(w, r, &req)
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	if t.status != stateMFAChallenge {
		errWrongState.write(w, errWrongState.summary)
		return
	}
	o.clearChallenge(t)
	t.status = stateMFARequired
	o.step(w, t, now)
}

func (o *Org) handleSkip(w http.ResponseWriter, r *http.Request) {
	var req stateRequest
	t, now := o.stateCall(w, r, &req)
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	if t.status != statePasswordWarn {
		errWrongState.write(w, errWrongState.summary)
		return
	}
	t.warnDone = true
	o.step(w, t, now)
}

func (o *Org) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	var req stateRequest
	t, now := o.stateCall(w, r, &req)
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	if t.status != statePasswordExpired && t.status != statePasswordWarn {
		errWrongState.write(w, errWrongState.summary)
		return
	}
	u := t.user
	if !secretEqual(u.password, req.OldPassword) {
		o.log.Info("password change refused", "login", u.login, "reason", "wrong old password")
		errUpdateCreds.write(w, "oldPassword: The credentials provided were incorrect.")
		return
	}
	if msg := checkComplexity(u, req.OldPassword, req.NewPassword); msg != "" {
		errComplexity.write(w, "password: "+msg)
		return
	}
	u.password = req.NewPassword
	u.status = statusActive
	u.passwordWarn = false
	u.passwordChanged = now
	t.warnDone = true
	o.log.Info("password changed", "login", u.login)
	o.step(w, t, now)
}

// checkComplexity applies the sandbox's password policy, which mirrors
// Okta's default: 8 characters, lower, upper, digit, no part of the login.
func checkComplexity(u *user, oldPw, newPw string) string {
	const rules = "Password requirements were not met. Password requirements: at least 8 characters, a lowercase letter, an uppercase letter, a number, no parts of your username."
	var lower, upper, digit bool
	for _, r := range newPw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if len([]rune(newPw)) < 8 || !lower || !upper || !digit {
		return rules
	}
	local, _, _ := strings.Cut(strings.ToLower(u.login), "@")
	if len(local) >= 3 && strings.Contains(strings.ToLower(newPw), local) {
		return rules
	}
	if newPw == oldPw {
		return "Password has been used too recently"
	}
	return ""
}
