package org

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// session is an Okta SSO session, named by the sid cookie.
type session struct {
	id           string
	user         *user
	created      time.Time
	lastActivity time.Time
	pwdAt        time.Time
	factorAt     time.Time
	amr          []string
	mfa          bool
}

const sessionCookie = "sid"

// sessionExpiry is the earlier of the lifetime limit and the idle limit.
func (o *Org) sessionExpiry(s *session) time.Time {
	hard := s.created.Add(o.pol.sessionLifetime)
	idle := s.lastActivity.Add(o.pol.sessionIdle)
	if idle.Before(hard) {
		return idle
	}
	return hard
}

// redeem spends a sessionToken: it works once, before it expires.
func (o *Org) redeem(token string, now time.Time) *sessionToken {
	if token == "" {
		return nil
	}
	st := o.sessionTokens[token]
	if st == nil {
		return nil
	}
	delete(o.sessionTokens, token)
	if !now.Before(st.expiresAt) || st.user.status == statusLockedOut {
		return nil
	}
	return st
}

func (o *Org) createSession(st *sessionToken, now time.Time) *session {
	s := &session{
		id: newToken("102", 18), user: st.user, created: now, lastActivity: now,
		pwdAt: st.pwdAt, factorAt: st.factorAt, amr: st.amr, mfa: st.mfa,
	}
	o.sessions[s.id] = s
	o.log.Info("session created", "login", s.user.login)
	return s
}

// liveSession returns the unexpired session id, or nil. touch records
// activity, which pushes the idle limit out.
func (o *Org) liveSession(id string, now time.Time, touch bool) *session {
	s := o.sessions[id]
	if s == nil {
		return nil
	}
	if !now.Before(o.sessionExpiry(s)) || s.user.status == statusLockedOut {
		delete(o.sessions, id)
		return nil
	}
	if touch {
		s.lastActivity = now
	}
	return s
}

func (o *Org) cookieSession(r *http.Request, now time.Time, touch bool) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return o.liveSession(c.Value, now, touch)
}

func (o *Org) setSessionCookie(w http.ResponseWriter, s *session) {
	secure := o.baseURL.Scheme == "https"
	same := http.SameSiteLaxMode
	if secure {
		same = http.SameSiteNoneMode
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true, Secure: secure, SameSite: same})
}

func (o *Org) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: o.baseURL.Scheme == "https"})
}

// sessionBody renders s. Read through /api/v1/sessions/me its links name
// "me", as Okta's do, rather than the id.
func (o *Org) sessionBody(s *session, me bool) map[string]any {
	self := o.base + "/api/v1/sessions/" + s.id
	userHref := o.base + "/api/v1/users/" + s.user.id
	if me {
		self = o.base + "/api/v1/sessions/me"
		userHref = o.base + "/api/v1/users/me"
	}
	body := map[string]any{
		"id":                       s.id,
		"userId":                   s.user.id,
		"login":                    s.user.login,
		"createdAt":                oktaTime(s.created),
		"expiresAt":                oktaTime(o.sessionExpiry(s)),
		"status":                   "ACTIVE",
		"lastPasswordVerification": oktaTime(s.pwdAt),
		"amr":                      s.amr,
		"idp":                      map[string]any{"id": o.id, "type": "OKTA"},
		"mfaActive":                s.mfa,
		"_links": map[string]any{
			"self":    link(self, "GET", "DELETE"),
			"refresh": link(self+"/lifecycle/refresh", "POST"),
			"user":    map[string]any{"name": strings.TrimSpace(s.user.first + " " + s.user.last), "href": userHref, "hints": map[string]any{"allow": []string{"GET"}}},
		},
	}
	if !s.factorAt.IsZero() {
		body["lastFactorVerification"] = oktaTime(s.factorAt)
	}
	return body
}

// handleCreateSession exchanges a sessionToken for a session. Like Okta it
// returns the session object and sets no cookie; the id is the sid value.
func (o *Org) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SessionToken string `json:"sessionToken"`
	}
	if err := decodeJSON(r, &req); err != nil {
		errMalformed.write(w)
		return
	}
	if req.SessionToken == "" {
		errValidation.writeSummary(w, "Api validation failed: sessionToken", "sessionToken: The field cannot be left blank")
		return
	}
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune(now)
	st := o.redeem(req.SessionToken, now)
	if st == nil {
		errAuthFailed.write(w)
		return
	}
	writeJSON(w, http.StatusOK, o.sessionBody(o.createSession(st, now), false))
}

func (o *Org) notFoundSession(w http.ResponseWriter, id string) {
	errNotFound.writeSummary(w, "Not found: Resource not found: "+id+" (Session)")
}

func (o *Org) handleGetMySession(w http.ResponseWriter, r *http.Request) {
	o.serveMySession(w, r, false)
}

func (o *Org) handleRefreshMySession(w http.ResponseWriter, r *http.Request) {
	o.serveMySession(w, r, true)
}

// serveMySession answers with the session of the request's sid cookie;
// refresh extends it, as lifecycle/refresh does.
func (o *Org) serveMySession(w http.ResponseWriter, r *http.Request, refresh bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.cookieSession(r, o.clk.Now(), refresh)
	if s == nil {
		o.notFoundSession(w, "me")
		return
	}
	writeJSON(w, http.StatusOK, o.sessionBody(s, true))
}

func (o *Org) handleDeleteMySession(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.cookieSession(r, o.clk.Now(), false)
	if s == nil {
		o.notFoundSession(w, "me")
		return
	}
	delete(o.sessions, s.id)
	o.clearSessionCookie(w)
	o.log.Info("session closed", "login", s.user.login)
	w.WriteHeader(http.StatusNoContent)
}

func (o *Org) handleGetSession(w http.ResponseWriter, r *http.Request) {
	o.serveSessionByID(w, r, false)
}

func (o *Org) handleRefreshSession(w http.ResponseWriter, r *http.Request) {
	o.serveSessionByID(w, r, true)
}

// serveSessionByID answers with the session named in the path; refresh
// extends it, as the lifecycle/refresh call does.
func (o *Org) serveSessionByID(w http.ResponseWriter, r *http.Request, refresh bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := r.PathValue("sessionId")
	s := o.liveSession(id, o.clk.Now(), refresh)
	if s == nil {
		o.notFoundSession(w, id)
		return
	}
	writeJSON(w, http.StatusOK, o.sessionBody(s, false))
}

func (o *Org) handleDeleteSession(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := r.PathValue("sessionId")
	s := o.liveSession(id, o.clk.Now(), false)
	if s == nil {
		o.notFoundSession(w, id)
		return
	}
	delete(o.sessions, id)
	w.WriteHeader(http.StatusNoContent)
}

// sameOriginRedirect accepts a redirect target on this org only: an
// absolute URL with the base URL's scheme and host, or a local path. Okta
// likewise refuses redirectUrl values outside its trusted origins.
func (o *Org) sameOriginRedirect(raw string) (string, bool) {
	if raw == "" || strings.ContainsAny(raw, "\\\r\n\t") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(raw, "//") {
			return "", false
		}
		return raw, true
	}
	if !strings.EqualFold(u.Scheme, o.baseURL.Scheme) || !strings.EqualFold(u.Host, o.baseURL.Host) || u.User != nil {
		return "", false
	}
	return u.String(), true
}

func (o *Org) handleSessionCookieRedirect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target, ok := o.sameOriginRedirect(q.Get("redirectUrl"))
	if !ok {
		o.errorPage(w, http.StatusBadRequest, "Invalid redirect", "The redirectUrl parameter must be a URL on this Okta org.")
		return
	}
	now := o.clk.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune(now)
	st := o.redeem(q.Get("token"), now)
	if st == nil {
		o.errorPage(w, http.StatusForbidden, "Sign-in link expired", "The session token is invalid, expired or already used. Sign in again.")
		return
	}
	o.setSessionCookie(w, o.createSession(st, now))
	http.Redirect(w, r, target, http.StatusFound)
}

func (o *Org) errorPage(w http.ResponseWriter, status int, title, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, errorPageHTML(o.name, title, message))
}

// handleLoginPage is where unauthenticated app requests land: the hosted
// sign-in page (signin.go). API clients authenticate through
// /api/v1/authn instead and come back with a sessionToken.
func (o *Org) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	o.serveHostedSignIn(w, r)
}
