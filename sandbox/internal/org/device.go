package org

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DeviceApprover confirms a device authorization (RFC 8628) for the
// /activate page: an authorization server or IAM Identity Center. It
// reports ok=false when userCode is not one of its own, and an error
// whose text the page shows when the code is its own but cannot be used.
type DeviceApprover func(userCode string, u *User, approve bool) (client string, ok bool, err error)

// WebSSOGrant is what a redeemed web SSO token says: who, for which app.
type WebSSOGrant struct {
	Login    string
	AppID    string // the app's id or external key
	AMR      []string
	AuthTime time.Time
}

// WebSSORedeemer spends a web_sso_token minted by an authorization
// server's token exchange; ok=false for an unknown, used or expired token.
type WebSSORedeemer func(token string) (WebSSOGrant, bool)

// AddDeviceApprover lets the /activate page confirm codes of another
// sandbox part. Call it before serving requests.
func (o *Org) AddDeviceApprover(a DeviceApprover) { o.devices = append(o.devices, a) }

// SetWebSSORedeemer sets who checks /login/token/sso tokens. Call it
// before serving requests.
func (o *Org) SetWebSSORedeemer(r WebSSORedeemer) { o.webSSO = r }

func (o *Org) registerDevice(mux *http.ServeMux) {
	mux.HandleFunc("GET /activate", o.handleActivatePage)
	mux.HandleFunc("POST /activate", o.handleActivate)
	mux.HandleFunc("GET /login/signin", o.handleSignInPage)
	mux.HandleFunc("POST /login/signin", o.handleSignIn)
	mux.HandleFunc("POST /login/signin/verify", o.handleSignInVerify)
	mux.HandleFunc("POST /login/token/sso", o.handleTokenSSO)
	mux.HandleFunc("GET /login/token/sso", o.handleTokenSSOGet)
}

func (o *Org) renderPage(w http.ResponseWriter, status int, name string, p devicePage) {
	p.Org = o.name
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	// The pages take credentials: never inside another site's frame.
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, p.html(name))
}

// fromURI keeps a sign-in's destination on this org; /activate otherwise.
func (o *Org) fromURI(raw string) string {
	if t, ok := o.sameOriginRedirect(raw); ok {
		return t
	}
	return "/activate"
}

func (o *Org) redirectToSignIn(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login/signin?fromURI="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
}

func (o *Org) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	o.renderPage(w, http.StatusOK, "signin", devicePage{FromURI: o.fromURI(r.URL.Query().Get("fromURI"))})
}

// handleSignIn checks the password as /api/v1/authn does (the same
// lockout count), then asks for a TOTP code when the policy wants MFA.
func (o *Org) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		o.renderPage(w, http.StatusBadRequest, "signin", devicePage{Error: "The form could not be read."})
		return
	}
	from := o.fromURI(r.PostForm.Get("fromURI"))
	login := strings.TrimSpace(r.PostForm.Get("username"))
	if !o.allow(w, authnKey(login), o.pol.rateLimit) {
		return
	}
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune(now)
	u := o.usersByLogin[strings.ToLower(login)]
	failed := devicePage{FromURI: from, Username: login, Error: "Unable to sign in: the username or password is wrong."}
	if u == nil || r.PostForm.Get("password") == "" {
		o.renderPage(w, http.StatusUnauthorized, "signin", failed)
		return
	}
	if u.status == statusLockedOut {
		o.renderPage(w, http.StatusForbidden, "signin", devicePage{FromURI: from, Username: login, Error: "Your account is locked. Contact your administrator."})
		return
	}
	if !secretEqual(u.password, r.PostForm.Get("password")) {
		o.log.Info("sign-in page: wrong password", "login", u.login)
		o.recordPasswordFailure(u)
		o.renderPage(w, http.StatusUnauthorized, "signin", failed)
		return
	}
	u.failedPasswords = 0
	if u.status == statusPasswordExpired {
		o.renderPage(w, http.StatusForbidden, "signin", devicePage{FromURI: from, Username: login, Error: "Your password has expired: change it with the Authentication API first."})
		return
	}
	t := &txn{token: newToken("00", 30), user: u, pwdAt: now, amr: []string{"pwd"}, status: stateMFARequired, expiresAt: now.Add(o.pol.stateTokenLifetime)}
	if o.mfaRequired(u) {
		if totpFactor(u) == nil {
			o.renderPage(w, http.StatusForbidden, "signin", devicePage{FromURI: from, Username: login, Error: "This sign-in page verifies TOTP codes only, and you have no TOTP factor."})
			return
		}
		o.txns[t.token] = t
		o.renderPage(w, http.StatusOK, "mfa", devicePage{FromURI: from, StateToken: t.token})
		return
	}
	o.startPageSession(w, r, t, now, from)
}

func totpFactor(u *user) *factor {
	for _, f := range u.factors {
		if f.kind == "totp" {
			return f
		}
	}
	return nil
}

// startPageSession ends a page sign-in: a session cookie and the
// destination. Needs o.mu.
func (o *Org) startPageSession(w http.ResponseWriter, r *http.Request, t *txn, now time.Time, from string) {
	delete(o.txns, t.token)
	st := &sessionToken{user: t.user, pwdAt: t.pwdAt, factorAt: t.factorAt, amr: t.amr, mfa: t.mfaDone}
	o.setSessionCookie(w, o.createSession(st, now))
	http.Redirect(w, r, from, http.StatusFound)
}

func (o *Org) handleSignInVerify(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		o.renderPage(w, http.StatusBadRequest, "signin", devicePage{Error: "The form could not be read."})
		return
	}
	from := o.fromURI(r.PostForm.Get("fromURI"))
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	t := o.liveTxn(r.PostForm.Get("stateToken"), now)
	if t == nil || t.status != stateMFARequired {
		o.renderPage(w, http.StatusUnauthorized, "signin", devicePage{FromURI: from, Error: "Your sign-in took too long. Sign in again."})
		return
	}
	if !o.allow(w, authnKey(t.user.login), o.pol.rateLimit) {
		return
	}
	u, f := t.user, totpFactor(t.user)
	step, ok := matchTOTP(f.secret, strings.TrimSpace(r.PostForm.Get("passcode")), now)
	switch {
	case !ok:
		u.failedMFA++
		o.log.Info("sign-in page: wrong TOTP code", "login", u.login)
		if u.failedMFA >= o.pol.lockoutAttempts {
			u.failedMFA = 0
			o.lockOut(u)
			o.renderPage(w, http.StatusForbidden, "signin", devicePage{FromURI: from, Error: "Your account is locked. Contact your administrator."})
			return
		}
		o.renderPage(w, http.StatusUnauthorized, "mfa", devicePage{FromURI: from, StateToken: t.token, Error: "That code does not match. Try again."})
		return
	case step <= f.lastStep:
		o.renderPage(w, http.StatusUnauthorized, "mfa", devicePage{FromURI: from, StateToken: t.token, Error: "Each code can only be used once. Wait for a new code."})
		return
	}
	f.lastStep = step
	u.failedMFA = 0
	t.mfaDone, t.factorAt = true, now
	t.amr = append(t.amr, "mfa", "otp")
	o.startPageSession(w, r, t, now, from)
}

func (o *Org) handleActivatePage(w http.ResponseWriter, r *http.Request) {
	u, ok := o.SessionUser(r)
	if !ok {
		o.redirectToSignIn(w, r)
		return
	}
	o.renderPage(w, http.StatusOK, "activate", devicePage{Username: u.Login, UserCode: r.URL.Query().Get("user_code")})
}

// handleActivate hands a signed-in user's decision to whichever approver
// owns the code. The session cookie is SameSite=Lax, so another site
// cannot post here on the user's behalf.
func (o *Org) handleActivate(w http.ResponseWriter, r *http.Request) {
	u, ok := o.SessionUser(r)
	if !ok {
		http.Redirect(w, r, "/login/signin?fromURI="+url.QueryEscape("/activate"), http.StatusFound)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		o.renderPage(w, http.StatusBadRequest, "activate", devicePage{Username: u.Login, Error: "The form could not be read."})
		return
	}
	if !o.allow(w, authnKey(u.Login), o.pol.rateLimit) {
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("user_code"))
	approve := r.PostForm.Get("action") != "deny"
	for _, a := range o.devices {
		client, mine, err := a(code, u, approve)
		if !mine {
			continue
		}
		if err != nil {
			o.renderPage(w, http.StatusBadRequest, "activate", devicePage{Username: u.Login, UserCode: code, Error: err.Error()})
			return
		}
		if !approve {
			o.renderPage(w, http.StatusOK, "done", devicePage{Title: "Sign-in denied", Message: "The device was not signed in. You may close this window."})
			return
		}
		o.renderPage(w, http.StatusOK, "done", devicePage{Title: "Device activated", Message: "You are signed in to " + client + " on your device. You may close this window."})
		return
	}
	o.renderPage(w, http.StatusBadRequest, "activate", devicePage{Username: u.Login, UserCode: code, Error: "That code is not valid. Check the code on your device and try again."})
}

// handleTokenSSO redeems a web_sso_token: it opens an Okta session for
// the token's user and sends the browser on to the token's app, which
// answers with its SAML form.
// handleTokenSSOGet refuses a token in the URL: current Okta clients post
// it in the body, and a token in a URL ends up in proxy and server logs.
func (o *Org) handleTokenSSOGet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	o.errorPage(w, http.StatusMethodNotAllowed, "Invalid request", "Post the token in the request body (token=…), not in the URL.")
}

// handleTokenSSO redeems a web SSO token posted as a form body
// (token=…): it opens a session, sets its sid cookie and redirects to the
// app's sign-in URL, which a client following redirects with that cookie
// answers with the SAML page (200), as Okta does.
func (o *Org) handleTokenSSO(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		o.errorPage(w, http.StatusBadRequest, "Invalid request", "The request body is not a form.")
		return
	}
	tok := r.PostForm.Get("token")
	if o.webSSO == nil || tok == "" {
		o.errorPage(w, http.StatusBadRequest, "Invalid token", "The token is missing or this org does not accept web SSO tokens.")
		return
	}
	g, ok := o.webSSO(tok)
	if !ok {
		o.errorPage(w, http.StatusForbidden, "Invalid token", "The token is invalid, expired or already used. Get a new one.")
		return
	}
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune(now)
	u := o.usersByLogin[strings.ToLower(g.Login)]
	a := o.appsByKey[g.AppID]
	if u == nil || u.status == statusLockedOut || a == nil {
		o.errorPage(w, http.StatusForbidden, "Invalid token", "The token names no active user or app of this org.")
		return
	}
	mfa := false
	for _, m := range g.AMR {
		if m == "mfa" {
			mfa = true
		}
	}
	st := &sessionToken{user: u, pwdAt: g.AuthTime, amr: g.AMR, mfa: mfa}
	if mfa {
		st.factorAt = g.AuthTime
	}
	o.setSessionCookie(w, o.createSession(st, now))
	http.Redirect(w, r, o.ssoURL(a), http.StatusFound)
}
