package org

import (
	"errors"
	"net/http"
	"sort"
	"time"
)

// The sandbox-only admin API. Tests drive the simulated world through it:
// the phone that answers a push, the inbox that receives codes, the admin
// who unlocks users.

// Errors of the admin helpers.
var (
	ErrNoSuchUser    = errors.New("org: no such user")
	ErrNoPendingPush = errors.New("org: the user has no pending push")
	ErrNoCode        = errors.New("org: no code has been sent to the user")
	ErrAnswerNeeded  = errors.New("org: the push has a number challenge; give the number the user picks")
)

// PendingPush describes an unanswered Okta Verify push.
type PendingPush struct {
	FactorID        string    `json:"factorId"`
	SentAt          time.Time `json:"sentAt"`
	NumberChallenge bool      `json:"numberChallenge"`
	CorrectAnswer   int       `json:"correctAnswer,omitempty"`
}

// SentCode is the last SMS or email passcode sent to a user.
type SentCode struct {
	FactorID   string    `json:"factorId"`
	FactorType string    `json:"factorType"`
	Code       string    `json:"code"`
	IssuedAt   time.Time `json:"issuedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// SessionInfo summarises a live session.
type SessionInfo struct {
	ID           string    `json:"id"`
	UserID       string    `json:"userId"`
	Login        string    `json:"login"`
	CreatedAt    time.Time `json:"createdAt"`
	LastActivity time.Time `json:"lastActivity"`
	ExpiresAt    time.Time `json:"expiresAt"`
	MFA          bool      `json:"mfaActive"`
}

// livePush returns u's push if it is still waiting for an answer and its
// transaction is still alive.
func (o *Org) livePush(u *user, now time.Time) *pushChallenge {
	p := u.pendingPush
	if p == nil || p.decision != "" || o.pushOutcome(p, now) != resultWaiting {
		return nil
	}
	if t := o.liveTxn(p.txnToken, now); t == nil || t.push != p {
		u.pendingPush = nil
		return nil
	}
	return p
}

// PendingPush returns the waiting push of user (login or id).
func (o *Org) PendingPush(userRef string) (PendingPush, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.lookupUser(userRef)
	if u == nil {
		return PendingPush{}, ErrNoSuchUser
	}
	p := o.livePush(u, o.clk.Now())
	if p == nil {
		return PendingPush{}, ErrNoPendingPush
	}
	return PendingPush{FactorID: p.factor.id, SentAt: p.started, NumberChallenge: p.numberChallenge, CorrectAnswer: p.correctAnswer}, nil
}

// DecidePush answers the waiting push of user as the phone would. With a
// number challenge, approving needs the number the user picks: a wrong one
// rejects the push, as Okta Verify does. It returns the resulting factor
// result (SUCCESS or REJECTED), which the client sees on its next poll.
func (o *Org) DecidePush(userRef string, approve bool, answer int) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.lookupUser(userRef)
	if u == nil {
		return "", ErrNoSuchUser
	}
	p := o.livePush(u, o.clk.Now())
	if p == nil {
		return "", ErrNoPendingPush
	}
	switch {
	case !approve:
		p.decision = resultRejected
	case p.numberChallenge && answer == 0:
		return "", ErrAnswerNeeded
	case p.numberChallenge && answer != p.correctAnswer:
		p.decision = resultRejected
	default:
		p.decision = resultSuccess
	}
	o.log.Info("push answered by admin", "login", u.login, "result", p.decision)
	return p.decision, nil
}

// LastCode returns the last SMS or email code sent to user.
func (o *Org) LastCode(userRef string) (SentCode, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.lookupUser(userRef)
	if u == nil {
		return SentCode{}, ErrNoSuchUser
	}
	c := u.lastCode
	if c == nil {
		return SentCode{}, ErrNoCode
	}
	return SentCode{FactorID: c.factorID, FactorType: c.factorType, Code: c.code, IssuedAt: c.issuedAt, ExpiresAt: c.expiresAt}, nil
}

// Unlock ends a lockout and clears the failure counters of user.
func (o *Org) Unlock(userRef string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.lookupUser(userRef)
	if u == nil {
		return ErrNoSuchUser
	}
	if u.status == statusLockedOut {
		u.status = statusActive
	}
	u.failedPasswords, u.failedMFA = 0, 0
	o.log.Info("user unlocked", "login", u.login)
	return nil
}

// Sessions lists the live sessions, oldest first.
func (o *Org) Sessions() []SessionInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.clk.Now()
	out := []SessionInfo{}
	for id := range o.sessions {
		s := o.liveSession(id, now, false)
		if s == nil {
			continue
		}
		out = append(out, SessionInfo{ID: s.id, UserID: s.user.id, Login: s.user.login, CreatedAt: s.created, LastActivity: s.lastActivity, ExpiresAt: o.sessionExpiry(s), MFA: s.mfa})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

const adminPrefix = "/sandbox/admin/org"

func (o *Org) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET "+adminPrefix+"/users/{user}/push", o.adminGetPush)
	mux.HandleFunc("POST "+adminPrefix+"/users/{user}/push/approve", o.adminDecide(true))
	mux.HandleFunc("POST "+adminPrefix+"/users/{user}/push/reject", o.adminDecide(false))
	mux.HandleFunc("GET "+adminPrefix+"/users/{user}/code", o.adminLastCode)
	mux.HandleFunc("POST "+adminPrefix+"/users/{user}/unlock", o.adminUnlock)
	mux.HandleFunc("GET "+adminPrefix+"/sessions", o.adminSessions)
}

func adminError(w http.ResponseWriter, err error) {
	status := http.StatusNotFound
	if errors.Is(err, ErrAnswerNeeded) {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (o *Org) adminGetPush(w http.ResponseWriter, r *http.Request) {
	p, err := o.PendingPush(r.PathValue("user"))
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// adminDecide answers a push. The optional body {"answer": N} is the number
// the user picks on a number challenge.
func (o *Org) adminDecide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Answer int `json:"answer"`
		}
		if err := decodeJSON(r, &req); err != nil && !errors.Is(err, errEmptyBody) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON such as {\"answer\": 42}"})
			return
		}
		res, err := o.DecidePush(r.PathValue("user"), approve, req.Answer)
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"factorResult": res})
	}
}

func (o *Org) adminLastCode(w http.ResponseWriter, r *http.Request) {
	c, err := o.LastCode(r.PathValue("user"))
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (o *Org) adminUnlock(w http.ResponseWriter, r *http.Request) {
	if err := o.Unlock(r.PathValue("user")); err != nil {
		adminError(w, err)
		return
	}
	o.mu.Lock()
	u := o.lookupUser(r.PathValue("user"))
	body := map[string]any{"id": u.id, "status": u.status, "profile": map[string]any{"login": u.login}}
	o.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func (o *Org) adminSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, o.Sessions())
}
