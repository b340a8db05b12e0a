package iam

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The AWS federation endpoint (signin.aws.amazon.com/federation) turns
// temporary credentials into a console sign-in token, then a sign-in URL.
// The sandbox serves both actions so console hand-off can be tested: it
// checks the credentials as AWS does (the secret itself travels in the
// Session document) and, for Action=login, answers with a page naming the
// signed-in role instead of a console.

type signinToken struct {
	caller  *Caller
	expires time.Time
}

type federationState struct {
	mu     sync.Mutex
	tokens map[string]signinToken
}

// signinTokenLifetime is how long AWS accepts a sign-in token: 15 minutes.
const signinTokenLifetime = 15 * time.Minute

// CheckCredentials verifies a full set of credentials (access key, secret
// and session token), for endpoints that receive them rather than a
// signature, such as the federation endpoint's Session document.
func (s *Service) CheckCredentials(accessKeyID, secret, sessionToken string) (*Caller, error) {
	c, err := s.credentialFor(accessKeyID, sessionToken)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
		return nil, newError(CodeSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided.")
	}
	now := s.clock.Now()
	if !c.expiration.IsZero() && !now.Before(c.expiration) {
		return nil, newError(CodeExpiredToken, "The security token included in the request is expired")
	}
	return &Caller{AccessKeyID: c.accessKeyID, Account: c.account, ARN: c.arn, UserID: c.userID, RoleARN: c.roleARN, SessionName: c.sessionName, Expiration: c.expiration}, nil
}

// FederationHandler serves GET and POST /federation.
func (s *Service) FederationHandler() http.Handler {
	return http.HandlerFunc(s.serveFederation)
}

func (s *Service) serveFederation(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	switch r.Form.Get("Action") {
	case "getSigninToken":
		var sess struct {
			SessionID    string `json:"sessionId"`
			SessionKey   string `json:"sessionKey"`
			SessionToken string `json:"sessionToken"`
		}
		if err := json.Unmarshal([]byte(r.Form.Get("Session")), &sess); err != nil || sess.SessionID == "" {
			http.Error(w, "The Session parameter must be a JSON document with sessionId, sessionKey and sessionToken.", http.StatusBadRequest)
			return
		}
		if sess.SessionToken == "" {
			// AWS gives console sessions only to temporary credentials.
			http.Error(w, "Long-term credentials cannot sign in to the console; use temporary credentials.", http.StatusBadRequest)
			return
		}
		caller, err := s.CheckCredentials(sess.SessionID, sess.SessionKey, sess.SessionToken)
		if err != nil {
			http.Error(w, "The credentials in the Session parameter are not valid.", http.StatusForbidden)
			return
		}
		d := signinTokenLifetime
		if v := r.Form.Get("SessionDuration"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 900 || n > 43200 {
				http.Error(w, "SessionDuration must be between 900 and 43200 seconds.", http.StatusBadRequest)
				return
			}
		}
		b := make([]byte, 48)
		_, _ = rand.Read(b)
		tok := base64.RawURLEncoding.EncodeToString(b)
		s.fed.mu.Lock()
		if s.fed.tokens == nil {
			s.fed.tokens = map[string]signinToken{}
		}
		now := s.clock.Now()
		for k, v := range s.fed.tokens {
			if now.After(v.expires) {
				delete(s.fed.tokens, k)
			}
		}
		s.fed.tokens[tok] = signinToken{caller: caller, expires: now.Add(d)}
		s.fed.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"SigninToken": tok})
	case "login":
		tok := r.Form.Get("SigninToken")
		s.fed.mu.Lock()
		t, ok := s.fed.tokens[tok]
		delete(s.fed.tokens, tok) // one use, as AWS's are
		s.fed.mu.Unlock()
		if !ok || s.clock.Now().After(t.expires) {
			http.Error(w, "The sign-in token is not valid or has expired.", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>oktafed sandbox console</title><h1>Signed in</h1><p id=\"arn\">" + html.EscapeString(t.caller.ARN) + "</p><p>This is the sandbox: there is no console behind it.</p>"))
	default:
		http.Error(w, "Action must be getSigninToken or login.", http.StatusBadRequest)
	}
}
