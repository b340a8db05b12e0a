package org

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestPrimaryAuthentication(t *testing.T) {
	h := newHarness(t, testConfig())
	tests := []struct {
		name       string
		body       any
		wantCode   int
		wantStatus string // transaction status on 200
		wantError  string // errorCode otherwise
	}{
		{"no factors succeeds", map[string]any{"username": "nofactor@example.com", "password": testPassword}, 200, stateSuccess, ""},
		{"login is case-insensitive", map[string]any{"username": "NoFactor@Example.com", "password": testPassword}, 200, stateSuccess, ""},
		{"factor enrolled needs MFA", map[string]any{"username": "totp@example.com", "password": testPassword}, 200, stateMFARequired, ""},
		{"wrong password", map[string]any{"username": "totp@example.com", "password": "nope"}, 401, "", "E0000004"},
		{"unknown user looks like a wrong password", map[string]any{"username": "ghost@example.com", "password": testPassword}, 401, "", "E0000004"},
		{"empty password", map[string]any{"username": "totp@example.com"}, 401, "", "E0000004"},
		{"missing username", map[string]any{"password": testPassword}, 400, "", "E0000001"},
		{"locked user", map[string]any{"username": "locked@example.com", "password": testPassword}, 200, stateLockedOut, ""},
		{"expired password", map[string]any{"username": "expired@example.com", "password": testPassword}, 200, statePasswordExpired, ""},
		{"warning requested", map[string]any{"username": "warn@example.com", "password": testPassword, "options": map[string]any{"warnBeforePasswordExpired": true}}, 200, statePasswordWarn, ""},
		{"warning not requested", map[string]any{"username": "warn@example.com", "password": testPassword}, 200, stateSuccess, ""},
		{"malformed body", "{not json", 400, "", "E0000003"},
		{"empty body", "", 400, "", "E0000003"},
		{"unknown state token", map[string]any{"stateToken": "00bogus"}, 401, "", "E0000011"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("/api/v1/authn", tc.body)
			if tc.wantError != "" {
				expectError(t, r, tc.wantCode, tc.wantError)
				return
			}
			expectStatus(t, r, tc.wantStatus)
		})
	}
}

func TestTransactionShapes(t *testing.T) {
	h := newHarness(t, testConfig())

	t.Run("SUCCESS", func(t *testing.T) {
		r := h.post("/api/v1/authn", map[string]any{"username": "nofactor@example.com", "password": testPassword, "relayState": "/after"})
		expectStatus(t, r, stateSuccess)
		if r.str("sessionToken") == "" || r.str("stateToken") != "" || r.str("relayState") != "/after" {
			t.Fatalf("SUCCESS shape: %s", r.raw)
		}
		if got := r.str("expiresAt"); got != oktaTime(t0.Add(5*time.Minute)) {
			t.Fatalf("sessionToken expiresAt = %s", got)
		}
		if r.str("_embedded", "user", "profile", "login") != "nofactor@example.com" || r.str("_embedded", "user", "id") == "" {
			t.Fatalf("embedded user: %s", r.raw)
		}
	})

	t.Run("MFA_REQUIRED", func(t *testing.T) {
		r := h.primary("sms@example.com", testPassword)
		expectStatus(t, r, stateMFARequired)
		if r.str("stateToken") == "" || r.str("expiresAt") != oktaTime(t0.Add(5*time.Minute)) {
			t.Fatalf("state token fields: %s", r.raw)
		}
		want := map[string][2]string{"smssms": {"sms", "+1 XXX-XXX-0100"}, "emfemail": {"email", "s...s@example.com"}}
		for id, w := range want {
			href := verifyHref(t, r, id)
			if href != h.srv.URL+"/api/v1/authn/factors/"+id+"/verify" {
				t.Fatalf("verify href %s", href)
			}
			for _, f := range dig(r.body, "_embedded", "factors").([]any) {
				if dig(f, "id") != id {
					continue
				}
				if dig(f, "factorType") != w[0] || dig(f, "provider") != "OKTA" {
					t.Fatalf("factor %s: %v", id, f)
				}
				prof := dig(f, "profile").(map[string]any)
				if prof["phoneNumber"] != w[1] && prof["email"] != w[1] {
					t.Fatalf("factor %s profile not masked as %q: %v", id, w[1], prof)
				}
			}
		}
		// Okta Verify factors show an empty profile until signed in.
		pr := h.primary("push@example.com", testPassword)
		for _, f := range dig(pr.body, "_embedded", "factors").([]any) {
			if prof, ok := dig(f, "profile").(map[string]any); !ok || len(prof) != 0 {
				t.Fatalf("Okta Verify factor profile before sign-in: %v", f)
			}
		}
		if r.str("_links", "cancel", "href") != h.srv.URL+"/api/v1/authn/cancel" {
			t.Fatalf("cancel link: %s", r.raw)
		}
	})

	t.Run("TOTP factor type", func(t *testing.T) {
		r := h.primary("totp@example.com", testPassword)
		if got := dig(r.body, "_embedded", "factors", "0", "factorType"); got != "token:software:totp" {
			t.Fatalf("factorType %v", got)
		}
	})

	t.Run("get transaction state", func(t *testing.T) {
		r := h.primary("totp@example.com", testPassword)
		g := h.post("/api/v1/authn", map[string]any{"stateToken": r.str("stateToken")})
		expectStatus(t, g, stateMFARequired)
		if g.str("stateToken") != r.str("stateToken") {
			t.Fatalf("state token changed")
		}
	})
}

func TestMFARequiredWithoutFactorsIsEnroll(t *testing.T) {
	cfg := testConfig()
	cfg.Policy.MFARequired = ptr(true)
	h := newHarness(t, cfg)
	r := h.primary("nofactor@example.com", testPassword)
	expectStatus(t, r, stateMFAEnroll)
	if r.str("sessionToken") != "" {
		t.Fatal("MFA_ENROLL must not carry a sessionToken")
	}
}

func TestMFANotRequiredByPolicy(t *testing.T) {
	cfg := testConfig()
	cfg.Policy.MFARequired = ptr(false)
	h := newHarness(t, cfg)
	expectStatus(t, h.primary("totp@example.com", testPassword), stateSuccess)
}

func TestTOTP(t *testing.T) {
	h := newHarness(t, testConfig())
	begin := func() (href, state string) {
		t.Helper()
		r := h.primary("totp@example.com", testPassword)
		expectStatus(t, r, stateMFARequired)
		return verifyHref(t, r, "osttotp"), r.str("stateToken")
	}

	href, st := begin()
	expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": "000000"}), 403, "E0000068")
	expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": "12345"}), 403, "E0000068")
	expectError(t, h.post(href, map[string]any{"stateToken": st}), 403, "E0000068")
	// A code two steps old is outside the ±1 window.
	expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": h.totp(h.clk.Now().Add(-60 * time.Second))}), 403, "E0000068")

	code := h.totp(h.clk.Now())
	ok := h.post(href, map[string]any{"stateToken": st, "passCode": code})
	expectStatus(t, ok, stateSuccess)
	if ok.str("sessionToken") == "" {
		t.Fatalf("no sessionToken: %s", ok.raw)
	}

	t.Run("state token dies with success", func(t *testing.T) {
		expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": code}), 401, "E0000011")
	})
	t.Run("replayed code refused", func(t *testing.T) {
		href, st := begin()
		expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": code}), 403, "E0000082")
	})
	t.Run("previous step accepted once", func(t *testing.T) {
		h.clk.Advance(30 * time.Second)
		href, st := begin()
		// The code of the step just used is spent; the step before is older
		// still, so only a fresh code works.
		expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": h.totp(h.clk.Now().Add(-30 * time.Second))}), 403, "E0000082")
		expectStatus(t, h.post(href, map[string]any{"stateToken": st, "passCode": h.totp(h.clk.Now())}), stateSuccess)
	})
	t.Run("drift of one step", func(t *testing.T) {
		h.clk.Advance(90 * time.Second)
		href, st := begin()
		expectStatus(t, h.post(href, map[string]any{"stateToken": st, "passCode": h.totp(h.clk.Now().Add(30 * time.Second))}), stateSuccess)
	})
	t.Run("state token expires", func(t *testing.T) {
		h.clk.Advance(90 * time.Second)
		href, st := begin()
		h.clk.Advance(5*time.Minute + time.Second)
		expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": h.totp(h.clk.Now())}), 401, "E0000011")
	})
	t.Run("unknown factor", func(t *testing.T) {
		_, st := begin()
		expectError(t, h.post("/api/v1/authn/factors/ostnope/verify", map[string]any{"stateToken": st, "passCode": "123456"}), 404, "E0000007")
	})
	t.Run("another user's factor", func(t *testing.T) {
		r := h.primary("push@example.com", testPassword)
		expectError(t, h.post("/api/v1/authn/factors/osttotp/verify", map[string]any{"stateToken": r.str("stateToken"), "passCode": h.totp(h.clk.Now())}), 404, "E0000007")
	})
}

func TestLockout(t *testing.T) {
	cfg := testConfig()
	cfg.Policy.LockoutAttempts = 3
	h := newHarness(t, cfg)

	for i := 1; i < 3; i++ {
		expectError(t, h.primary("nofactor@example.com", "wrong"), 401, "E0000004")
	}
	// A success in between resets the count.
	expectStatus(t, h.primary("nofactor@example.com", testPassword), stateSuccess)
	for i := 1; i < 3; i++ {
		expectError(t, h.primary("nofactor@example.com", "wrong"), 401, "E0000004")
	}
	expectStatus(t, h.primary("nofactor@example.com", "wrong"), stateLockedOut)
	// Locked: even the right password says LOCKED_OUT and no token.
	r := h.primary("nofactor@example.com", testPassword)
	expectStatus(t, r, stateLockedOut)
	if r.str("stateToken") != "" || r.str("sessionToken") != "" {
		t.Fatalf("LOCKED_OUT leaked a token: %s", r.raw)
	}
	if _, err := h.org.CheckPassword(context.Background(), "nofactor@example.com", testPassword); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("CheckPassword on locked user: %v", err)
	}

	if r := h.post("/sandbox/admin/org/users/nofactor@example.com/unlock", nil); r.code != 200 || r.str("status") != statusActive {
		t.Fatalf("unlock: %d %s", r.code, r.raw)
	}
	expectStatus(t, h.primary("nofactor@example.com", testPassword), stateSuccess)

	t.Run("failed passcodes lock too", func(t *testing.T) {
		r := h.primary("totp@example.com", testPassword)
		href := verifyHref(t, r, "osttotp")
		for i := 1; i < 3; i++ {
			expectError(t, h.post(href, map[string]any{"stateToken": r.str("stateToken"), "passCode": "000000"}), 403, "E0000068")
		}
		expectError(t, h.post(href, map[string]any{"stateToken": r.str("stateToken"), "passCode": "000000"}), 403, "E0000069")
		// The transaction ended with the lock.
		expectError(t, h.post(href, map[string]any{"stateToken": r.str("stateToken"), "passCode": h.totp(h.clk.Now())}), 401, "E0000011")
		expectStatus(t, h.primary("totp@example.com", testPassword), stateLockedOut)
	})
}

func TestRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.Policy.RateLimit = 3
	h := newHarness(t, cfg)
	reset := strconv.FormatInt(t0.Add(time.Minute).Unix(), 10)
	for i := 0; i < 3; i++ {
		r := h.primary("nofactor@example.com", "wrong")
		expectError(t, r, 401, "E0000004")
		if got := r.header.Get("X-Rate-Limit-Remaining"); got != strconv.Itoa(2-i) {
			t.Fatalf("request %d: remaining %q", i, got)
		}
		if r.header.Get("X-Rate-Limit-Limit") != "3" || r.header.Get("X-Rate-Limit-Reset") != reset {
			t.Fatalf("headers: %v", r.header)
		}
	}
	r := h.primary("nofactor@example.com", testPassword)
	expectError(t, r, 429, "E0000047")
	if r.header.Get("X-Rate-Limit-Remaining") != "0" || r.header.Get("X-Rate-Limit-Reset") != reset {
		t.Fatalf("429 headers: %v", r.header)
	}
	// Other users have their own budget.
	expectStatus(t, h.primary("sms@example.com", testPassword), stateMFARequired)
	// The next window starts afresh.
	h.clk.Advance(time.Minute)
	expectStatus(t, h.primary("nofactor@example.com", testPassword), stateSuccess)

	t.Run("headers on every api response", func(t *testing.T) {
		for _, p := range []string{"/api/v1/sessions/me", "/api/v1/nothing-here"} {
			r := h.do(http.MethodGet, p, nil)
			if r.header.Get("X-Rate-Limit-Limit") == "" || r.header.Get("X-Rate-Limit-Remaining") == "" || r.header.Get("X-Rate-Limit-Reset") == "" {
				t.Fatalf("%s: no rate-limit headers: %v", p, r.header)
			}
		}
	})
	t.Run("state token calls count for the user", func(t *testing.T) {
		h.clk.Advance(time.Minute)
		r := h.primary("sms@example.com", testPassword)
		for i := 0; i < 2; i++ {
			expectStatus(t, h.post("/api/v1/authn", map[string]any{"stateToken": r.str("stateToken")}), stateMFARequired)
		}
		expectError(t, h.post("/api/v1/authn", map[string]any{"stateToken": r.str("stateToken")}), 429, "E0000047")
	})
}

// pushFlow starts a push for login and returns the verify href and token.
func pushFlow(t *testing.T, h *harness, login string) (href, state string, first reply) {
	t.Helper()
	r := h.primary(login, testPassword)
	expectStatus(t, r, stateMFARequired)
	factors := dig(r.body, "_embedded", "factors").([]any)
	href = dig(factors[0], "_links", "verify", "href").(string)
	state = r.str("stateToken")
	first = h.post(href, map[string]any{"stateToken": state})
	expectStatus(t, first, stateMFAChallenge)
	if first.str("factorResult") != resultWaiting {
		t.Fatalf("first push answer: %s", first.raw)
	}
	// As in Okta's reference: the poll link is next, named poll; the
	// Authentication API has no separate poll link.
	if first.str("_links", "next", "name") != "poll" || first.str("_links", "next", "href") != href || dig(first.body, "_links", "poll") != nil {
		t.Fatalf("poll links: %s", first.raw)
	}
	// The number challenge never comes with the answer that sent the push.
	if dig(first.body, "_embedded", "factor", "_embedded") != nil {
		t.Fatalf("the push answer already carries a challenge: %s", first.raw)
	}
	return href, state, first
}

func TestPush(t *testing.T) {
	tests := []struct {
		name    string
		login   string
		advance time.Duration
		admin   func(h *harness, answer int) // optional, runs before polling
		want    string                       // final factorResult or SUCCESS
		number  bool
	}{
		{name: "approve after delay with number challenge", login: "push@example.com", advance: 2 * time.Second, want: resultSuccess, number: true},
		{name: "reject", login: "reject@example.com", want: resultRejected},
		{name: "timeout", login: "timeout@example.com", advance: 10 * time.Second, want: resultTimeout},
		{name: "wait then admin approves the right number", login: "wait@example.com", number: true, want: resultSuccess, admin: func(h *harness, answer int) {
			if r := h.post("/sandbox/admin/org/users/wait@example.com/push/approve", map[string]any{"answer": answer}); r.code != 200 || r.str("factorResult") != resultSuccess {
				h.t.Fatalf("approve: %d %s", r.code, r.raw)
			}
		}},
		{name: "wait then admin picks the wrong number", login: "wait@example.com", number: true, want: resultRejected, admin: func(h *harness, answer int) {
			wrong := answer%90 + 10
			if wrong == answer {
				wrong++
			}
			if r := h.post("/sandbox/admin/org/users/wait@example.com/push/approve", map[string]any{"answer": wrong}); r.code != 200 || r.str("factorResult") != resultRejected {
				h.t.Fatalf("approve: %d %s", r.code, r.raw)
			}
		}},
		{name: "wait then admin rejects", login: "plainwait@example.com", want: resultRejected, admin: func(h *harness, _ int) {
			if r := h.post("/sandbox/admin/org/users/plainwait@example.com/push/reject", nil); r.code != 200 {
				h.t.Fatalf("reject: %d %s", r.code, r.raw)
			}
		}},
		{name: "wait then admin approves", login: "plainwait@example.com", want: resultSuccess, admin: func(h *harness, _ int) {
			if r := h.post("/sandbox/admin/org/users/plainwait@example.com/push/approve", nil); r.code != 200 {
				h.t.Fatalf("approve: %d %s", r.code, r.raw)
			}
		}},
		{name: "unanswered push times out", login: "plainwait@example.com", advance: 5 * time.Minute, want: resultTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig())
			href, state, _ := pushFlow(t, h, tc.login)
			answer := 0
			if tc.number {
				// It arrives with a later poll.
				first := h.post(href, map[string]any{"stateToken": state})
				if v, ok := dig(first.body, "_embedded", "factor", "_embedded", "challenge", "correctAnswer").(float64); ok {
					answer = int(v)
				}
				if answer == 0 {
					t.Fatalf("no number challenge in the poll: %s", first.raw)
				}
			}
			if tc.number {
				p, err := h.org.PendingPush(tc.login)
				if err != nil || p.CorrectAnswer != answer {
					t.Fatalf("PendingPush = %+v, %v", p, err)
				}
			}
			if tc.advance > 0 {
				// Still waiting just before the phone answers.
				h.clk.Advance(tc.advance - time.Millisecond)
				poll := h.post(href, map[string]any{"stateToken": state})
				if poll.str("factorResult") != resultWaiting {
					t.Fatalf("early poll: %s", poll.raw)
				}
				h.clk.Advance(time.Millisecond)
			}
			if tc.admin != nil {
				tc.admin(h, answer)
			}
			poll := h.post(href, map[string]any{"stateToken": state})
			if tc.want == resultSuccess {
				expectStatus(t, poll, stateSuccess)
				if poll.str("sessionToken") == "" {
					t.Fatalf("no sessionToken: %s", poll.raw)
				}
				return
			}
			expectStatus(t, poll, stateMFAChallenge)
			if poll.str("factorResult") != tc.want || poll.str("_links", "next", "name") != "verify" {
				t.Fatalf("poll: %s", poll.raw)
			}
			// Verifying again sends a new push.
			again := h.post(href, map[string]any{"stateToken": state})
			if again.str("factorResult") != resultWaiting {
				t.Fatalf("new push: %s", again.raw)
			}
		})
	}
}

func TestPushAdminErrors(t *testing.T) {
	h := newHarness(t, testConfig())
	if r := h.post("/sandbox/admin/org/users/wait@example.com/push/approve", nil); r.code != 404 {
		t.Fatalf("no pending push: %d %s", r.code, r.raw)
	}
	pushFlow(t, h, "wait@example.com")
	if r := h.do(http.MethodGet, "/sandbox/admin/org/users/wait@example.com/push", nil); r.code != 200 || dig(r.body, "correctAnswer") == nil {
		t.Fatalf("get push: %d %s", r.code, r.raw)
	}
	if r := h.post("/sandbox/admin/org/users/wait@example.com/push/approve", nil); r.code != 400 {
		t.Fatalf("approve without answer: %d %s", r.code, r.raw)
	}
	if r := h.post("/sandbox/admin/org/users/ghost@example.com/push/approve", nil); r.code != 404 {
		t.Fatalf("unknown user: %d %s", r.code, r.raw)
	}
	// Once the transaction has expired its push cannot be answered.
	h.clk.Advance(5 * time.Minute)
	if _, err := h.org.DecidePush("wait@example.com", true, 11); !errors.Is(err, ErrNoPendingPush) {
		t.Fatalf("push of an expired transaction: %v", err)
	}
}

func TestPushResendAndCancel(t *testing.T) {
	h := newHarness(t, testConfig())
	href, state, first := pushFlow(t, h, "wait@example.com")
	resend := h.post(href+"/resend", map[string]any{"stateToken": state})
	expectStatus(t, resend, stateMFAChallenge)
	if resend.str("factorResult") != resultWaiting {
		t.Fatalf("resend: %s", resend.raw)
	}
	_ = first
	c := h.post("/api/v1/authn/cancel", map[string]any{"stateToken": state})
	expectStatus(t, c, stateUnauthenticated)
	// The transaction and its push are gone.
	expectError(t, h.post(href, map[string]any{"stateToken": state}), 401, "E0000011")
	if _, err := h.org.PendingPush("wait@example.com"); !errors.Is(err, ErrNoPendingPush) {
		t.Fatalf("push survived cancel: %v", err)
	}
}

func TestSMSAndEmail(t *testing.T) {
	for _, tc := range []struct{ factorID, kind string }{{"smssms", "sms"}, {"emfemail", "email"}} {
		t.Run(tc.kind, func(t *testing.T) {
			h := newHarness(t, testConfig())
			r := h.primary("sms@example.com", testPassword)
			href := verifyHref(t, r, tc.factorID)
			st := r.str("stateToken")

			// A passcode before any was sent is simply wrong.
			expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": "123456"}), 403, "E0000068")

			ch := h.post(href, map[string]any{"stateToken": st})
			expectStatus(t, ch, stateMFAChallenge)
			if ch.str("_links", "next", "name") != "verify" || ch.str("_links", "resend", "0", "href") != href+"/resend" || ch.str("_embedded", "factor", "id") != tc.factorID {
				t.Fatalf("challenge links: %s", ch.raw)
			}
			code := h.do(http.MethodGet, "/sandbox/admin/org/users/sms@example.com/code", nil)
			if code.code != 200 || len(code.str("code")) != 6 || code.str("factorId") != tc.factorID {
				t.Fatalf("admin code: %d %s", code.code, code.raw)
			}

			if tc.kind == "sms" {
				expectError(t, h.post(href+"/resend", map[string]any{"stateToken": st}), 429, "E0000109")
				h.clk.Advance(30 * time.Second)
			}
			rs := h.post(href+"/resend", map[string]any{"stateToken": st})
			expectStatus(t, rs, stateMFAChallenge)
			fresh, err := h.org.LastCode("sms@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if fresh.Code != code.str("code") {
				// The old code is replaced by the resend.
				expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": code.str("code")}), 403, "E0000068")
			}
			ok := h.post(href, map[string]any{"stateToken": st, "passCode": fresh.Code})
			expectStatus(t, ok, stateSuccess)
		})
	}

	t.Run("code expires", func(t *testing.T) {
		cfg := testConfig()
		cfg.Policy.StateTokenLifetime = 10 * time.Minute
		h := newHarness(t, cfg)
		r := h.primary("sms@example.com", testPassword)
		href := verifyHref(t, r, "smssms")
		st := r.str("stateToken")
		h.post(href, map[string]any{"stateToken": st})
		c, _ := h.org.LastCode("sms@example.com")
		h.clk.Advance(5 * time.Minute)
		expectError(t, h.post(href, map[string]any{"stateToken": st, "passCode": c.Code}), 403, "E0000068")
	})
}

func TestPasswordStates(t *testing.T) {
	h := newHarness(t, testConfig())

	t.Run("warn then skip", func(t *testing.T) {
		r := h.post("/api/v1/authn", map[string]any{"username": "warn@example.com", "password": testPassword, "options": map[string]any{"warnBeforePasswordExpired": true}})
		expectStatus(t, r, statePasswordWarn)
		if r.str("_links", "skip", "href") != h.srv.URL+"/api/v1/authn/skip" || dig(r.body, "_embedded", "policy", "expiration", "passwordExpireDays") != float64(3) {
			t.Fatalf("PASSWORD_WARN shape: %s", r.raw)
		}
		s := h.post("/api/v1/authn/skip", map[string]any{"stateToken": r.str("stateToken")})
		expectStatus(t, s, stateSuccess)
	})

	t.Run("skip is not allowed when expired", func(t *testing.T) {
		r := h.primary("expired@example.com", testPassword)
		expectStatus(t, r, statePasswordExpired)
		expectError(t, h.post("/api/v1/authn/skip", map[string]any{"stateToken": r.str("stateToken")}), 403, "E0000079")
	})

	t.Run("expired then change", func(t *testing.T) {
		r := h.primary("expired@example.com", testPassword)
		expectStatus(t, r, statePasswordExpired)
		if r.str("_links", "next", "name") != "changePassword" || r.str("_links", "skip", "href") != "" {
			t.Fatalf("PASSWORD_EXPIRED links: %s", r.raw)
		}
		st := r.str("stateToken")
		change := func(oldPw, newPw string) reply {
			return h.post("/api/v1/authn/credentials/change_password", map[string]any{"stateToken": st, "oldPassword": oldPw, "newPassword": newPw})
		}
		expectError(t, change("wrong", "Brand-New-Pass-2"), 403, "E0000014")
		for _, weak := range []string{"short1A", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere", "expired-Pass-1", testPassword} {
			if r := change(testPassword, weak); r.code != 403 || (r.str("errorCode") != "E0000080") {
				t.Fatalf("weak password %q: %d %s", weak, r.code, r.raw)
			}
		}
		expectStatus(t, change(testPassword, "Brand-New-Pass-2"), stateSuccess)
		expectError(t, h.primary("expired@example.com", testPassword), 401, "E0000004")
		expectStatus(t, h.primary("expired@example.com", "Brand-New-Pass-2"), stateSuccess)
	})

	t.Run("MFA comes before the expired password", func(t *testing.T) {
		cfg := testConfig()
		cfg.Users[0].Status = statusPasswordExpired
		h := newHarness(t, cfg)
		r := h.primary("totp@example.com", testPassword)
		expectStatus(t, r, stateMFARequired)
		expectError(t, h.post("/api/v1/authn/credentials/change_password", map[string]any{"stateToken": r.str("stateToken"), "oldPassword": testPassword, "newPassword": "Brand-New-Pass-2"}), 403, "E0000079")
		v := h.post(verifyHref(t, r, "osttotp"), map[string]any{"stateToken": r.str("stateToken"), "passCode": h.totp(h.clk.Now())})
		expectStatus(t, v, statePasswordExpired)
	})
}

func TestPreviousAndWrongState(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.primary("sms@example.com", testPassword)
	st := r.str("stateToken")
	expectError(t, h.post("/api/v1/authn/previous", map[string]any{"stateToken": st}), 403, "E0000079")
	expectError(t, h.post(verifyHref(t, r, "smssms")+"/resend", map[string]any{"stateToken": st}), 403, "E0000079")
	ch := h.post(verifyHref(t, r, "smssms"), map[string]any{"stateToken": st})
	expectStatus(t, ch, stateMFAChallenge)
	if ch.str("_links", "prev", "href") != h.srv.URL+"/api/v1/authn/previous" {
		t.Fatalf("prev link: %s", ch.raw)
	}
	back := h.post("/api/v1/authn/previous", map[string]any{"stateToken": st})
	expectStatus(t, back, stateMFARequired)
	expectError(t, h.post("/api/v1/authn/cancel", map[string]any{"stateToken": "nope"}), 401, "E0000011")
	expectError(t, h.post("/api/v1/authn/cancel", "[]"), 400, "E0000003")
}

func TestCheckPassword(t *testing.T) {
	cfg := testConfig()
	cfg.Policy.LockoutAttempts = 2
	h := newHarness(t, cfg)
	ctx := context.Background()
	u, err := h.org.CheckPassword(ctx, "TOTP@example.com", testPassword)
	if err != nil || u.ID != "00utotp" || u.FirstName != "Tia" || len(u.Groups) != 2 {
		t.Fatalf("CheckPassword = %+v, %v", u, err)
	}
	if !h.org.RequiresMFA("totp@example.com") || h.org.RequiresMFA("nofactor@example.com") {
		t.Fatal("RequiresMFA does not follow the default policy")
	}
	for _, tc := range []struct {
		login, pw string
		want      error
	}{
		{"ghost@example.com", testPassword, ErrAuthenticationFailed},
		{"expired@example.com", testPassword, ErrPasswordExpired},
		{"locked@example.com", testPassword, ErrLockedOut},
		{"nofactor@example.com", "wrong", ErrAuthenticationFailed},
		{"nofactor@example.com", "wrong", ErrLockedOut},
		{"nofactor@example.com", testPassword, ErrLockedOut},
	} {
		if _, err := h.org.CheckPassword(ctx, tc.login, tc.pw); !errors.Is(err, tc.want) {
			t.Fatalf("CheckPassword(%s) = %v, want %v", tc.login, err, tc.want)
		}
	}
}
