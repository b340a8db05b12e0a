package okta

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// Direct Authentication's refusals, in the shapes Okta's reference gives:
// an expired mfa_token or oob_code is access_denied, as a rejected push
// is, told apart by the description; a 429 on /challenge may come as an
// OAuth invalid_grant body; binding_code may be a number or a string.
func TestDirectPushAnswers(t *testing.T) {
	mfaRequiredBody := map[string]any{"error": "mfa_required", "error_description": "Verify with an additional authenticator.", "mfa_token": "mfa-TOKEN"}
	cases := []struct {
		name       string
		challenge  func(w http.ResponseWriter)
		poll       map[string]any
		wantNumber int
		want       error
		notWant    error
	}{
		{"binding_code as a number, then rejected",
			func(w http.ResponseWriter) {
				writeJSON(w, 200, map[string]any{"challenge_type": grantMFAOOB, "oob_code": "oob-1", "expires_in": 120, "interval": 1, "channel": "push", "binding_method": "transfer", "binding_code": 95})
			},
			map[string]any{"error": "access_denied", "error_description": "User rejected the push notification."}, 95, ErrPushRejected, ErrPushTimeout},
		{"binding_code as a string, then the oob_code expired",
			func(w http.ResponseWriter) {
				writeJSON(w, 200, map[string]any{"challenge_type": grantMFAOOB, "oob_code": "oob-1", "expires_in": 120, "interval": 1, "channel": "push", "binding_method": "transfer", "binding_code": "07"})
			},
			map[string]any{"error": "access_denied", "error_description": "The oob_code has expired."}, 7, ErrPushTimeout, ErrPushRejected},
		{"the mfa_token expired",
			func(w http.ResponseWriter) {
				writeJSON(w, 200, map[string]any{"challenge_type": grantMFAOOB, "oob_code": "oob-1", "expires_in": 120, "interval": 1, "channel": "push", "binding_method": "none"})
			},
			map[string]any{"error": "access_denied", "error_description": "The mfa_token is invalid or expired."}, 0, ErrPushTimeout, ErrPushRejected},
		{"rate limited on /challenge with an OAuth body",
			func(w http.ResponseWriter) {
				writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "invalid_grant", "error_description": "API call exceeded rate limit due to too many requests."})
			},
			nil, 0, ErrRateLimited, ErrInvalidCredentials},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeOrg(t)
			f.mux.HandleFunc("POST /oauth2/v1/token", func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				switch r.PostForm.Get("grant_type") {
				case grantPassword:
					writeJSON(w, http.StatusForbidden, mfaRequiredBody)
				case grantMFAOOB:
					writeJSON(w, http.StatusBadRequest, c.poll)
				}
			})
			f.mux.HandleFunc("POST /oauth2/v1/challenge", func(w http.ResponseWriter, _ *http.Request) { c.challenge(w) })
			cl, _ := newClient(t, f)
			cl.MaxRateLimitWait = 1 // give up on a 429 at once
			number := 0
			_, err := cl.DirectSignIn(context.Background(), "0oaclient", "user@example.com", testPassword, &MFA{Preferred: KindPush, PushNumber: func(n int) { number = n }})
			if !errors.Is(err, c.want) || errors.Is(err, c.notWant) {
				t.Fatalf("err = %v, want %v and not %v", err, c.want, c.notWant)
			}
			if number != c.wantNumber {
				t.Errorf("push number %d, want %d", number, c.wantNumber)
			}
			checkNoSecrets(t, err)
		})
	}
}

func TestBindingCodeShapes(t *testing.T) {
	for raw, want := range map[string]string{`95`: "95", `"95"`: "95", `null`: "", ``: ""} {
		if got, err := bindingCode([]byte(raw)); err != nil || got != want {
			t.Errorf("bindingCode(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{`{}`, `[1]`, `true`, `"123456789012345678901234"`} {
		if _, err := bindingCode([]byte(raw)); err == nil {
			t.Errorf("bindingCode(%s) accepted", raw)
		}
	}
}

// An MFA_CHALLENGE whose _embedded.factor is an array of one, as Okta's
// current reference shows it, is read like the single object.
func TestChallengeFactorAsArray(t *testing.T) {
	push := factorJSON("opf1", "push", "OKTA")
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, mfaRequired(push))
	polls := 0
	f.handle("POST /api/v1/authn/factors/opf1/verify", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		polls++
		if polls < 3 {
			doc := challenge(push, "WAITING", "/api/v1/authn/factors/opf1/verify")
			doc["_embedded"] = map[string]any{"factor": []any{push}}
			writeJSON(w, 200, doc)
			return
		}
		writeJSON(w, 200, success())
	})
	c, _ := newClient(t, f)
	res, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, &MFA{Preferred: KindPush})
	if err != nil || res.SessionToken.Reveal() != testSessionToken {
		t.Fatalf("Authenticate = %v, %v", res, err)
	}
	if polls != 3 {
		t.Errorf("polls = %d, want 3", polls)
	}
}
