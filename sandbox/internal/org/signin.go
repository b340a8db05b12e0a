package org

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// The hosted sign-in page is where a browser lands when it opens an app
// without an Okta session (/login/login.htm?fromURI=…), as Okta's hosted
// sign-in widget is. It is HTML and JavaScript that talk JSON to the
// /login/hosted/ endpoints below: password first, then the factor the
// user picks (a security key through navigator.credentials, a TOTP code,
// an Okta Verify push the page polls, an SMS or email code); a user whose security key is not set up yet registers one with
// navigator.credentials.create. On success the org sets its sid cookie
// and the page goes on to fromURI, so the AWS app answers with its
// SAMLResponse form, which posts to the AWS sign-in URL. Those endpoints
// are the sandbox's own: clients never call them, only the page does, as
// only Okta's widget calls its internal APIs.

// hostedTxn is one sign-in on the hosted page, between the password and
// the second factor. Guarded by Org.mu.
type hostedTxn struct {
	token     string
	user      *user
	from      string
	pwdAt     time.Time
	expiresAt time.Time
	webauthn  *webauthn.SessionData // the open ceremony, nil when none
	enrolling bool                  // the open ceremony registers a key
	push      *pushChallenge        // the push sent, nil when none
	code      *issuedCode           // the SMS or email code sent
}

func (o *Org) registerHostedSignIn(mux *http.ServeMux) {
	mux.HandleFunc("POST /login/hosted/authn", o.handleHostedAuthn)
	mux.HandleFunc("POST /login/hosted/webauthn/begin", o.handleHostedWebAuthnBegin)
	mux.HandleFunc("POST /login/hosted/webauthn/finish", o.handleHostedWebAuthnFinish)
	mux.HandleFunc("POST /login/hosted/totp", o.handleHostedTOTP)
	mux.HandleFunc("POST /login/hosted/push", o.handleHostedPush)
	mux.HandleFunc("POST /login/hosted/code/send", o.handleHostedSendCode)
	mux.HandleFunc("POST /login/hosted/code", o.handleHostedCode)
}

// hostedReply is every answer of the /login/hosted/ endpoints.
type hostedReply struct {
	Status     string         `json:"status,omitempty"` // MFA_REQUIRED, SUCCESS
	StateToken string         `json:"stateToken,omitempty"`
	Factors    []hostedFactor `json:"factors,omitempty"`
	Redirect   string         `json:"redirect,omitempty"`
	Error      string         `json:"error,omitempty"`
	// Options are WebAuthn's creation or request options ({publicKey: …}).
	Options any  `json:"options,omitempty"`
	Enroll  bool `json:"enroll,omitempty"`
	// CorrectAnswer is the number to tap in Okta Verify.
	CorrectAnswer int `json:"correctAnswer,omitempty"`
}

type hostedFactor struct {
	ID   string `json:"id"`
	Type string `json:"type"` // webauthn, totp, push, sms, email
}

func (o *Org) hostedError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, hostedReply{Error: msg})
}

// readHosted decodes a JSON body of the hosted page.
func readHosted(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		// A cross-site form post cannot send JSON without a preflight.
		writeJSON(w, http.StatusUnsupportedMediaType, hostedReply{Error: "The request must be JSON."})
		return false
	}
	if err := decodeJSON(r, v); err != nil {
		writeJSON(w, http.StatusBadRequest, hostedReply{Error: "The request could not be read."})
		return false
	}
	return true
}

// hostedFactors lists the factors the page can verify for u: all of them.
func hostedFactors(u *user) []hostedFactor {
	out := make([]hostedFactor, 0, len(u.factors))
	for _, f := range u.factors {
		out = append(out, hostedFactor{ID: f.id, Type: f.kind})
	}
	return out
}

func (o *Org) handleHostedAuthn(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		FromURI  string `json:"fromURI"`
	}
	if !readHosted(w, r, &req) {
		return
	}
	login := strings.TrimSpace(req.Username)
	if !o.allow(w, authnKey(login), o.pol.rateLimit) {
		return
	}
	from, _ := o.sameOriginRedirect(req.FromURI)
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune(now)
	u := o.usersByLogin[strings.ToLower(login)]
	if u == nil || req.Password == "" {
		o.hostedError(w, http.StatusUnauthorized, "Unable to sign in: the username or password is wrong.")
		return
	}
	if u.status == statusLockedOut {
		o.hostedError(w, http.StatusForbidden, "Your account is locked. Contact your administrator.")
		return
	}
	if !secretEqual(u.password, req.Password) {
		o.log.Info("hosted sign-in: wrong password", "login", u.login)
		o.recordPasswordFailure(u)
		o.hostedError(w, http.StatusUnauthorized, "Unable to sign in: the username or password is wrong.")
		return
	}
	u.failedPasswords = 0
	if u.status == statusPasswordExpired {
		o.hostedError(w, http.StatusForbidden, "Your password has expired: change it with the Authentication API first.")
		return
	}
	if !o.mfaRequired(u) {
		o.finishHosted(w, &hostedTxn{user: u, from: from, pwdAt: now}, now, nil)
		return
	}
	factors := hostedFactors(u)
	if len(factors) == 0 {
		o.hostedError(w, http.StatusForbidden, "You have no factor to verify: enroll one first.")
		return
	}
	t := &hostedTxn{token: newToken("00", 30), user: u, from: from, pwdAt: now, expiresAt: now.Add(o.pol.stateTokenLifetime)}
	o.hosted[t.token] = t
	writeJSON(w, http.StatusOK, hostedReply{Status: "MFA_REQUIRED", StateToken: t.token, Factors: factors})
}

// hostedCall reads a state-token request and finds its live transaction;
// it holds o.mu on success.
func (o *Org) hostedCall(w http.ResponseWriter, r *http.Request, req any, token func() string) (*hostedTxn, time.Time) {
	if !readHosted(w, r, req) {
		return nil, time.Time{}
	}
	now := o.clk.Now()
	o.mu.Lock()
	t := o.hosted[token()]
	if t == nil || !now.Before(t.expiresAt) || t.user.status == statusLockedOut {
		if t != nil {
			delete(o.hosted, t.token)
		}
		o.mu.Unlock()
		o.hostedError(w, http.StatusUnauthorized, "Your sign-in took too long. Sign in again.")
		return nil, time.Time{}
	}
	if !o.allow(w, authnKey(t.user.login), o.pol.rateLimit) {
		o.mu.Unlock()
		return nil, time.Time{}
	}
	t.expiresAt = now.Add(o.pol.stateTokenLifetime)
	return t, now
}

func (o *Org) handleHostedWebAuthnBegin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StateToken string `json:"stateToken"`
	}
	t, _ := o.hostedCall(w, r, &req, func() string { return req.StateToken })
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	f := webauthnFactor(t.user)
	if f == nil {
		o.hostedError(w, http.StatusBadRequest, "You have no security key factor.")
		return
	}
	opts, enroll, err := o.beginWebAuthn(t, f)
	if err != nil {
		o.hostedError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, hostedReply{Status: "MFA_CHALLENGE", StateToken: t.token, Options: opts, Enroll: enroll})
}

func (o *Org) handleHostedWebAuthnFinish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StateToken string          `json:"stateToken"`
		Credential json.RawMessage `json:"credential"`
	}
	t, now := o.hostedCall(w, r, &req, func() string { return req.StateToken })
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	f := webauthnFactor(t.user)
	if f == nil {
		o.hostedError(w, http.StatusBadRequest, "You have no security key factor.")
		return
	}
	if err := o.finishWebAuthn(t, f, req.Credential); err != nil {
		if o.failHostedMFA(w, t) {
			return
		}
		msg := err.Error()
		if errors.Is(err, errKeyRejected) {
			msg = msgKeyRejected
		}
		o.hostedError(w, http.StatusUnauthorized, msg)
		return
	}
	t.user.failedMFA = 0
	amr := []string{"pwd", "mfa", "hwk"}
	if uvRequirement(f) == "required" {
		amr = append(amr, "user")
	}
	o.finishHosted(w, t, now, amr)
}

func (o *Org) handleHostedTOTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StateToken string `json:"stateToken"`
		PassCode   string `json:"passCode"`
	}
	t, now := o.hostedCall(w, r, &req, func() string { return req.StateToken })
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	f := totpFactor(t.user)
	if f == nil {
		o.hostedError(w, http.StatusBadRequest, "You have no TOTP factor.")
		return
	}
	step, ok := matchTOTP(f.secret, strings.TrimSpace(req.PassCode), now)
	if !ok {
		if o.failHostedMFA(w, t) {
			return
		}
		o.hostedError(w, http.StatusUnauthorized, "That code does not match. Try again.")
		return
	}
	if step <= f.lastStep {
		o.hostedError(w, http.StatusUnauthorized, "Each code can only be used once. Wait for a new code.")
		return
	}
	f.lastStep = step
	t.user.failedMFA = 0
	o.finishHosted(w, t, now, []string{"pwd", "mfa", "otp"})
}

// handleHostedPush sends an Okta Verify push on the first call and reports
// its state on the next ones (the page polls).
func (o *Org) handleHostedPush(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StateToken string `json:"stateToken"`
	}
	t, now := o.hostedCall(w, r, &req, func() string { return req.StateToken })
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	var f *factor
	for _, c := range t.user.factors {
		if c.kind == "push" {
			f = c
			break
		}
	}
	if f == nil {
		o.hostedError(w, http.StatusBadRequest, "You have no Okta Verify push factor.")
		return
	}
	if t.push == nil {
		p := &pushChallenge{factor: f, started: now, numberChallenge: f.push.NumberChallenge,
			// The number goes out with the answer that sends the push.
			numberShown: true}
		if p.numberChallenge {
			p.correctAnswer = randomInt(10, 99)
		}
		t.push = p
		t.user.pendingPush = p
		o.log.Info("hosted sign-in: push sent", "login", t.user.login)
	}
	switch o.pushOutcome(t.push, now) {
	case resultSuccess:
		t.user.pendingPush = nil
		t.user.failedMFA = 0
		o.finishHosted(w, t, now, []string{"pwd", "mfa", "swk"})
	case resultRejected:
		t.user.pendingPush, t.push = nil, nil
		o.hostedError(w, http.StatusForbidden, "You rejected this request in Okta Verify. Send another push to try again.")
	case resultTimeout:
		t.user.pendingPush, t.push = nil, nil
		o.hostedError(w, http.StatusForbidden, "The push was not answered in time. Send another push to try again.")
	default:
		writeJSON(w, http.StatusOK, hostedReply{Status: "MFA_CHALLENGE", StateToken: t.token, CorrectAnswer: t.push.correctAnswer})
	}
}

// hostedCodeFactor finds the SMS or email factor id of t's user.
func hostedCodeFactor(t *hostedTxn, id string) *factor {
	f := t.user.factor(id)
	if f == nil || (f.kind != "sms" && f.kind != "email") {
		return nil
	}
	return f
}

// handleHostedSendCode "sends" an SMS or email code (the admin endpoint
// reads it back, as for /api/v1/authn).
func (o *Org) handleHostedSendCode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StateToken string `json:"stateToken"`
		FactorID   string `json:"factorId"`
	}
	t, now := o.hostedCall(w, r, &req, func() string { return req.StateToken })
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	f := hostedCodeFactor(t, req.FactorID)
	if f == nil {
		o.hostedError(w, http.StatusBadRequest, "You have no such SMS or email factor.")
		return
	}
	c := &issuedCode{factorID: f.id, factorType: f.factorType, code: randomDigits(6), issuedAt: now, expiresAt: now.Add(codeLifetime)}
	t.code = c
	t.user.lastCode = c
	o.log.Info("hosted sign-in: passcode sent", "login", t.user.login, "factorType", f.factorType)
	writeJSON(w, http.StatusOK, hostedReply{Status: "MFA_CHALLENGE", StateToken: t.token})
}

func (o *Org) handleHostedCode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		StateToken string `json:"stateToken"`
		FactorID   string `json:"factorId"`
		PassCode   string `json:"passCode"`
	}
	t, now := o.hostedCall(w, r, &req, func() string { return req.StateToken })
	if t == nil {
		return
	}
	defer o.mu.Unlock()
	f := hostedCodeFactor(t, req.FactorID)
	c := t.code
	if f == nil || c == nil || c.factorID != f.id || !now.Before(c.expiresAt) || !secretEqual(c.code, strings.TrimSpace(req.PassCode)) {
		if o.failHostedMFA(w, t) {
			return
		}
		o.hostedError(w, http.StatusUnauthorized, "That code does not match. Try again, or send a new one.")
		return
	}
	t.code = nil // one use
	t.user.failedMFA = 0
	o.finishHosted(w, t, now, []string{"pwd", "mfa", f.kind})
}

// failHostedMFA counts a failed second factor and reports whether it
// locked the user out (then it has answered).
func (o *Org) failHostedMFA(w http.ResponseWriter, t *hostedTxn) bool {
	t.user.failedMFA++
	if t.user.failedMFA < o.pol.lockoutAttempts {
		return false
	}
	t.user.failedMFA = 0
	delete(o.hosted, t.token)
	o.lockOut(t.user)
	o.hostedError(w, http.StatusForbidden, "Your account is locked. Contact your administrator.")
	return true
}

// finishHosted opens the session (amr nil: password only) and tells the
// page where to go. Needs o.mu.
func (o *Org) finishHosted(w http.ResponseWriter, t *hostedTxn, now time.Time, amr []string) {
	delete(o.hosted, t.token)
	st := &sessionToken{user: t.user, pwdAt: t.pwdAt, amr: []string{"pwd"}}
	if amr != nil {
		st.amr, st.mfa, st.factorAt = amr, true, now
	}
	o.setSessionCookie(w, o.createSession(st, now))
	writeJSON(w, http.StatusOK, hostedReply{Status: "SUCCESS", Redirect: t.from})
}

// serveHostedSignIn renders the page.
func (o *Org) serveHostedSignIn(w http.ResponseWriter, r *http.Request) {
	from, _ := o.sameOriginRedirect(r.URL.Query().Get("fromURI"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	// fromURI goes into a script as a JSON string: encoding/json escapes
	// <, > and & too, so it cannot close the script element.
	fromJSON, _ := json.Marshal(from)
	_, _ = io.WriteString(w, strings.NewReplacer("{{.Org}}", html.EscapeString(o.name), "{{.FromURI}}", string(fromJSON)).Replace(hostedPage))
}

// The page's element ids (username, password, submit, factor-<type>,
// passcode, verify, error, status) are stable for tests and for people's
// scripts. The page is filled by plain replacement rather than with
// html/template, whose method lookups would turn off the linker's
// dead-code elimination for every binary that links the sandbox (see
// pages.go); {{.Org}} is HTML-escaped, {{.FromURI}} a JSON string.
const hostedPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign In - {{.Org}}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:10% auto}label{display:block;margin:.5em 0}.hidden{display:none}#error{color:#b00}</style>
</head>
<body>
<h1>Sign In</h1>
<p id="error" role="alert"></p>
<p id="status" aria-live="polite"></p>
<form id="signin">
<label>Username <input id="username" name="username" autocomplete="username webauthn"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="submit" type="submit">Sign In</button>
</form>
<div id="factors" class="hidden"></div>
<form id="totp" class="hidden">
<label><span id="codelabel">Code from your authenticator app</span> <input id="passcode" inputmode="numeric" autocomplete="one-time-code"></label>
<button id="verify" type="submit">Verify</button>
</form>
<p><small>{{.Org}} (oktafed sandbox)</small></p>
<script>
(function () {
  "use strict";
  var fromURI = {{.FromURI}};
  var stateToken = "";
  var current = null;
  var labels = {webauthn: "Use a security key or biometric authenticator", totp: "Enter a code from your authenticator app",
    push: "Send a push to Okta Verify", sms: "Send a code by SMS", email: "Send a code by email"};
  var $ = function (id) { return document.getElementById(id); };
  function say(id, text) { $(id).textContent = text || ""; }
  function b64u(buf) {
    var s = String.fromCharCode.apply(null, new Uint8Array(buf));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  async function post(path, body) {
    var r = await fetch(path, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"}, body: JSON.stringify(body)});
    var j = {};
    try { j = await r.json(); } catch (e) { j = {error: "The sign-in service answered " + r.status + "."}; }
    return j;
  }
  function handle(j) {
    if (j.error) { say("error", j.error); say("status", ""); return; }
    say("error", "");
    if (j.status === "SUCCESS") {
      say("status", "Signed in.");
      if (j.redirect) { window.location.assign(j.redirect); }
      return;
    }
    if (j.status === "MFA_REQUIRED") {
      stateToken = j.stateToken;
      $("signin").classList.add("hidden");
      var box = $("factors");
      box.textContent = "";
      box.classList.remove("hidden");
      j.factors.forEach(function (f) {
        var b = document.createElement("button");
        b.id = "factor-" + f.type;
        b.type = "button";
        b.textContent = labels[f.type] || f.type;
        b.onclick = function () { choose(f); };
        box.appendChild(b);
      });
      if (j.factors.length === 1) { choose(j.factors[0]); }
    }
  }
  function choose(f) {
    current = f;
    say("error", "");
    if (f.type === "webauthn") { securityKey(); return; }
    if (f.type === "push") { push(); return; }
    if (f.type === "sms" || f.type === "email") { sendCode(f); return; }
    codeForm("Code from your authenticator app");
  }
  function codeForm(label) {
    say("codelabel", label);
    $("totp").classList.remove("hidden");
    $("passcode").focus();
  }
  async function sendCode(f) {
    var j = await post("/login/hosted/code/send", {stateToken: stateToken, factorId: f.id});
    if (j.error) { handle(j); return; }
    codeForm(f.type === "sms" ? "Code sent by SMS" : "Code sent by email");
  }
  async function push() {
    say("status", "Push sent: approve it in Okta Verify…");
    for (;;) {
      var j = await post("/login/hosted/push", {stateToken: stateToken});
      if (j.status !== "MFA_CHALLENGE") { handle(j); return; }
      if (j.correctAnswer) { say("status", "In Okta Verify, tap " + j.correctAnswer + "."); }
      await new Promise(function (r) { setTimeout(r, 2000); });
    }
  }
  async function securityKey() {
    say("status", "Waiting for your security key…");
    var j = await post("/login/hosted/webauthn/begin", {stateToken: stateToken});
    if (j.error) { handle(j); return; }
    var pk = j.options.publicKey, cred, body;
    pk.challenge = unb64u(pk.challenge);
    try {
      if (j.enroll) {
        say("status", "Set up your security key: touch it now.");
        pk.user.id = unb64u(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
        cred = await navigator.credentials.create({publicKey: pk});
        body = {id: cred.id, rawId: b64u(cred.rawId), type: cred.type,
          response: {clientDataJSON: b64u(cred.response.clientDataJSON), attestationObject: b64u(cred.response.attestationObject),
            transports: cred.response.getTransports ? cred.response.getTransports() : []},
          clientExtensionResults: cred.getClientExtensionResults()};
      } else {
        (pk.allowCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
        cred = await navigator.credentials.get({publicKey: pk});
        body = {id: cred.id, rawId: b64u(cred.rawId), type: cred.type,
          response: {clientDataJSON: b64u(cred.response.clientDataJSON), authenticatorData: b64u(cred.response.authenticatorData),
            signature: b64u(cred.response.signature), userHandle: cred.response.userHandle ? b64u(cred.response.userHandle) : ""},
          clientExtensionResults: cred.getClientExtensionResults()};
      }
    } catch (e) {
      say("status", "");
      say("error", "The security key was not used (" + e.name + "). Choose it again to retry.");
      return;
    }
    handle(await post("/login/hosted/webauthn/finish", {stateToken: stateToken, credential: body}));
  }
  $("signin").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    say("status", "Signing in…");
    handle(await post("/login/hosted/authn", {username: $("username").value, password: $("password").value, fromURI: fromURI}));
  });
  $("totp").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (current && current.type !== "totp") {
      handle(await post("/login/hosted/code", {stateToken: stateToken, factorId: current.id, passCode: $("passcode").value}));
      return;
    }
    handle(await post("/login/hosted/totp", {stateToken: stateToken, passCode: $("passcode").value}));
  });
})();
</script>
</body></html>
`
