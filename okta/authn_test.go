package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/internal/clock"
)

func TestAuthenticateWithoutMFA(t *testing.T) {
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, success())
	c, _ := newClient(t, f)
	res, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.SessionToken.Reveal() != testSessionToken || res.User.Login != "demo@example.com" || res.ExpiresAt.IsZero() {
		t.Fatalf("result = %+v", *res)
	}
	body := f.callsTo("/api/v1/authn")[0].body
	opts, _ := body["options"].(map[string]any)
	if body["username"] != "demo@example.com" || body["password"] != testPassword || opts["warnBeforePasswordExpired"] != true {
		t.Fatalf("authn body = %v", body)
	}
	for _, s := range []string{fmt.Sprint(res), fmt.Sprintf("%#v", res), fmt.Sprintf("%+v", res)} {
		if strings.Contains(s, testSessionToken) {
			t.Errorf("formatting the result shows the session token: %s", s)
		}
	}
}

func TestAuthenticateTOTPFromSeed(t *testing.T) {
	tests := []struct {
		name      string
		offset    time.Duration // into the 30 s window at start
		replayErr bool          // first code answered E0000082
		wantWait  time.Duration
	}{
		{"plenty of window left", 10 * time.Second, false, 0},
		{"window about to end waits for the next", 27 * time.Second, false, 3 * time.Second},
		{"exactly at the limit waits", 25*time.Second + time.Millisecond, false, 5*time.Second - time.Millisecond},
		{"already used code waits a window", 10 * time.Second, true, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOrg(t)
			c, s := newClient(t, f)
			clk := c.Clock.(*clock.Fake)
			clk.Set(testStart.Truncate(30 * time.Second).Add(tt.offset))
			var verifies atomic.Int32
			f.reply("POST /api/v1/authn", 200, mfaRequired(factorJSON("opf1", "push", "OKTA"), factorJSON("ost1", "token:software:totp", "OKTA")))
			f.handle("POST /api/v1/authn/factors/ost1/verify", func(w http.ResponseWriter, r *http.Request, body map[string]any) {
				if verifies.Add(1) == 1 && tt.replayErr {
					writeJSON(w, 403, oktaError("E0000082", "Each code can only be used once."))
					return
				}
				code, _ := body["passCode"].(string)
				now := clk.Now()
				// Okta would accept ±1 window; demand the exact one and
				// enough time left on it.
				ok, _ := totp.ValidateCustom(code, testSeed, now, totp.ValidateOpts{Period: 30, Digits: 6})
				left := 30*time.Second - time.Duration(now.Unix()%30)*time.Second - time.Duration(now.Nanosecond())
				if !ok || left < TOTPMinValidity || body["stateToken"] != testStateToken {
					writeJSON(w, 403, oktaError("E0000068", "Invalid Passcode/Answer"))
					return
				}
				writeJSON(w, 200, success())
			})
			res, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, &MFA{TOTPSeed: secret.New(testSeed)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Factor == nil || res.Factor.Kind != KindTOTP {
				t.Fatalf("factor = %v, want the TOTP factor (a seed was given)", res.Factor)
			}
			if got := s.total(); got != tt.wantWait {
				t.Fatalf("waited %v, want %v", got, tt.wantWait)
			}
		})
	}
}

func TestTOTPSeedForms(t *testing.T) {
	c := &Client{Clock: clock.NewFake(testStart)}
	want, _ := totp.GenerateCode(testSeed, testStart)
	for _, seed := range []string{
		testSeed,
		strings.ToLower(testSeed),
		"JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP",
		"otpauth://totp/Okta:demo@example.com?secret=" + testSeed + "&issuer=Okta",
	} {
		got, err := (&MFA{TOTPSeed: secret.New(seed)}).totpCode(context.Background(), c, false)
		if err != nil || got != want {
			t.Errorf("seed %q: code %q, %v; want %q", seed, got, err, want)
		}
	}
	for _, seed := range []string{"not base32 !!!", "otpauth://hotp/x?secret=AAAA", "  "} {
		_, err := (&MFA{TOTPSeed: secret.New(seed)}).totpCode(context.Background(), c, false)
		if err == nil {
			t.Errorf("seed %q accepted", seed)
		} else if strings.Contains(err.Error(), "base32 !!!") {
			t.Errorf("error quotes the seed: %v", err)
		}
	}
}

func TestAuthenticateCodeCallbackRetries(t *testing.T) {
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, mfaRequired(factorJSON("ost1", "token:software:totp", "GOOGLE")))
	f.handle("POST /api/v1/authn/factors/ost1/verify", func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
		if body["passCode"] != "123456" {
			writeJSON(w, 403, oktaError("E0000068", "Invalid Passcode/Answer"))
			return
		}
		writeJSON(w, 200, success())
	})
	c, _ := newClient(t, f)
	var prompts []CodePrompt
	codes := []string{"000000", " 123 456 "}
	mfa := &MFA{Code: func(_ context.Context, p CodePrompt) (string, error) {
		prompts = append(prompts, p)
		return codes[len(prompts)-1], nil
	}}
	if _, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, mfa); err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 2 || prompts[0].Attempt != 1 || prompts[1].Attempt != 2 || !errors.Is(prompts[1].Problem, ErrInvalidCode) {
		t.Fatalf("prompts = %+v", prompts)
	}
	if got := prompts[0].Factor.String(); got != "Google Authenticator code" {
		t.Errorf("factor description = %q", got)
	}

	// Three wrong codes end the sign-in with ErrInvalidCode.
	mfa.Code = func(context.Context, CodePrompt) (string, error) { return "999999", nil }
	_, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, mfa)
	if !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("err = %v, want ErrInvalidCode", err)
	}
}

func TestAuthenticatePush(t *testing.T) {
	push := factorJSON("opf1", "push", "OKTA")
	withNumber := factorJSON("opf1", "push", "OKTA")
	withNumber["_embedded"] = map[string]any{"challenge": map[string]any{"correctAnswer": 42}}
	tests := []struct {
		name    string
		results []string // factorResult of successive answers; "SUCCESS" ends
		want    error
		polls   int
	}{
		{"approved after two polls", []string{"WAITING", "WAITING", "WAITING", "SUCCESS"}, nil, 3},
		{"rejected", []string{"WAITING", "REJECTED"}, ErrPushRejected, 1},
		{"timed out", []string{"WAITING", "WAITING", "TIMEOUT"}, ErrPushTimeout, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOrg(t)
			f.reply("POST /api/v1/authn", 200, mfaRequired(push, factorJSON("ost1", "token:software:totp", "OKTA")))
			var n atomic.Int32
			f.handle("POST /api/v1/authn/factors/opf1/verify", func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
				r := tt.results[n.Add(1)-1]
				if r == "SUCCESS" {
					writeJSON(w, 200, success())
					return
				}
				writeJSON(w, 200, challenge(withNumber, r, "/api/v1/authn/factors/opf1/verify"))
			})
			c, s := newClient(t, f)
			c.PollInterval = 3 * time.Second
			var numbers []int
			waiting := 0
			mfa := &MFA{Preferred: "push", PushNumber: func(n int) { numbers = append(numbers, n) }, Waiting: func(Factor) { waiting++ }}
			_, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, mfa)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if len(numbers) != 1 || numbers[0] != 42 || waiting != 1 {
				t.Errorf("PushNumber calls %v, Waiting calls %d; want [42] and 1", numbers, waiting)
			}
			if len(s.waits) != tt.polls || s.total() != time.Duration(tt.polls)*3*time.Second {
				t.Errorf("waits = %v, want %d of 3s", s.waits, tt.polls)
			}
		})
	}
}

func TestPushStopsWhenContextIsCancelled(t *testing.T) {
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, mfaRequired(factorJSON("opf1", "push", "OKTA")))
	f.reply("POST /api/v1/authn/factors/opf1/verify", 200, challenge(factorJSON("opf1", "push", "OKTA"), "WAITING", "/api/v1/authn/factors/opf1/verify"))
	f.reply("POST /api/v1/authn/cancel", 200, map[string]any{"status": "UNAUTHENTICATED"})
	c, s := newClient(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.cancel, s.after = cancel, 3
	_, err := c.Authenticate(ctx, "demo@example.com", testPassword, &MFA{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := len(f.callsTo("/api/v1/authn/factors/opf1/verify")); got != 3 {
		t.Errorf("verify/poll calls = %d, want 3", got)
	}
	cancels := f.callsTo("/api/v1/authn/cancel")
	if len(cancels) != 1 || cancels[0].body["stateToken"] != testStateToken {
		t.Errorf("the transaction was not cancelled: %v", cancels)
	}
}

func TestAuthenticateSMSWithResend(t *testing.T) {
	sms := factorJSON("sms1", "sms", "OKTA")
	sms["profile"] = map[string]any{"phoneNumber": "+1 XXX-XXX-1234"}
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, mfaRequired(sms))
	f.handle("POST /api/v1/authn/factors/sms1/verify", func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
		switch body["passCode"] {
		case nil:
			writeJSON(w, 200, challenge(sms, "CHALLENGE", "/api/v1/authn/factors/sms1/verify"))
		case "424242":
			writeJSON(w, 200, success())
		default:
			writeJSON(w, 403, oktaError("E0000068", "Invalid Passcode/Answer"))
		}
	})
	f.reply("POST /api/v1/authn/factors/sms1/verify/resend", 200, challenge(sms, "CHALLENGE", "/api/v1/authn/factors/sms1/verify"))
	c, _ := newClient(t, f)
	var prompts []CodePrompt
	mfa := &MFA{Code: func(_ context.Context, p CodePrompt) (string, error) {
		prompts = append(prompts, p)
		if len(prompts) == 1 {
			return "", ErrResend
		}
		return "424242", nil
	}}
	res, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, mfa)
	if err != nil {
		t.Fatal(err)
	}
	if res.Factor.Kind != KindSMS || res.Factor.String() != "SMS code (+1 XXX-XXX-1234)" {
		t.Errorf("factor = %s", res.Factor)
	}
	if len(f.callsTo("/api/v1/authn/factors/sms1/verify/resend")) != 1 {
		t.Errorf("no resend")
	}
	if len(prompts) != 2 || !prompts[0].Sent || prompts[1].Attempt != 1 {
		t.Errorf("prompts = %+v", prompts)
	}
}

func TestAuthenticatePasswordWarnIsSkipped(t *testing.T) {
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, map[string]any{
		"stateToken": testStateToken, "status": "PASSWORD_WARN",
		"_embedded": map[string]any{"policy": map[string]any{"expiration": map[string]any{"passwordExpireDays": 3}}},
		"_links":    map[string]any{"skip": map[string]any{"name": "skip", "href": f.srv.URL + "/api/v1/authn/skip"}},
	})
	f.reply("POST /api/v1/authn/skip", 200, success())
	c, _ := newClient(t, f)
	res, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "expires in 3 days") {
		t.Fatalf("warnings = %q", res.Warnings)
	}
	if skips := f.callsTo("/api/v1/authn/skip"); len(skips) != 1 || skips[0].body["stateToken"] != testStateToken {
		t.Fatalf("skip calls = %v", skips)
	}
}

func TestAuthenticateFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   map[string]any
		is     error
		want   string
	}{
		{"wrong password", 401, oktaError("E0000004", "Authentication failed"), ErrInvalidCredentials, "invalid username or password [Okta E0000004, errorId oae123]"},
		{"locked by error", 403, oktaError("E0000069", "User Locked"), ErrLockedOut, "locked"},
		{"locked state", 200, map[string]any{"status": "LOCKED_OUT"}, ErrLockedOut, "ask your Okta admin"},
		{"expired password", 200, map[string]any{"status": "PASSWORD_EXPIRED", "stateToken": testStateToken}, ErrPasswordExpired, "change it"},
		{"must enroll", 200, map[string]any{"status": "MFA_ENROLL", "stateToken": testStateToken}, ErrEnrollRequired, "enroll"},
		{"recovery", 200, map[string]any{"status": "RECOVERY", "stateToken": testStateToken}, nil, "recovery"},
		{"unknown state", 200, map[string]any{"status": "SOMETHING_NEW"}, nil, "SOMETHING_NEW"},
		{"not okta", 200, map[string]any{"hello": "world"}, nil, "no status"},
		{"validation", 400, map[string]any{"errorCode": "E0000001", "errorSummary": "Api validation failed: username", "errorCauses": []any{map[string]any{"errorSummary": "username: The field cannot be left blank"}}}, nil, "Api validation failed: username (username: The field cannot be left blank) [Okta E0000001"},
		{"proxy page", 502, nil, nil, "Okta answered HTTP 502 [Okta HTTP 502]"},
		{"only webauthn", 200, mfaRequired(factorJSON("fwf1", "webauthn", "FIDO")), ErrNoUsableFactor, "you have: webauthn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOrg(t)
			f.handle("POST /api/v1/authn", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				if tt.body == nil {
					w.WriteHeader(tt.status)
					fmt.Fprint(w, "<html>bad gateway "+testPassword+"</html>")
					return
				}
				writeJSON(w, tt.status, tt.body)
			})
			c, _ := newClient(t, f)
			_, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, &MFA{})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			checkNoSecrets(t, err)
		})
	}
}

func TestRateLimitIsWaitedOut(t *testing.T) {
	tests := []struct {
		name      string
		resetIn   time.Duration
		limited   int // 429s before success
		wantErr   error
		wantWaits []time.Duration
	}{
		{"waits until reset", 10 * time.Second, 1, nil, []time.Duration{11 * time.Second}},
		{"no header backs off", -1, 2, nil, []time.Duration{time.Second, 2 * time.Second}},
		{"reset too far away", 5 * time.Minute, 1, ErrRateLimited, nil},
		{"gives up after retries", 2 * time.Second, 10, ErrRateLimited, []time.Duration{3 * time.Second, 3 * time.Second, 3 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOrg(t)
			c, s := newClient(t, f)
			var n atomic.Int32
			f.handle("POST /api/v1/authn", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				if int(n.Add(1)) <= tt.limited {
					if tt.resetIn >= 0 {
						w.Header().Set("X-Rate-Limit-Reset", fmt.Sprint(c.Clock.Now().Add(tt.resetIn).Unix()))
					}
					writeJSON(w, 429, oktaError("E0000047", "API call exceeded rate limit due to too many requests."))
					return
				}
				writeJSON(w, 200, success())
			})
			_, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, nil)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if fmt.Sprint(s.waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits = %v, want %v", s.waits, tt.wantWaits)
			}
			var oe *Error
			if err != nil && (!errors.As(err, &oe) || oe.RetryAt.IsZero() || !strings.Contains(err.Error(), "retry after")) {
				t.Errorf("rate-limit error lacks the retry time: %v", err)
			}
		})
	}
}

func TestRateLimitWaitHonoursContext(t *testing.T) {
	f := newFakeOrg(t)
	c, s := newClient(t, f)
	f.handle("POST /api/v1/authn", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("X-Rate-Limit-Reset", fmt.Sprint(c.Clock.Now().Add(20*time.Second).Unix()))
		writeJSON(w, 429, oktaError("E0000047", "rate limit"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.after = cancel, 1
	_, err := c.Authenticate(ctx, "demo@example.com", testPassword, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestFactorChoice(t *testing.T) {
	all := []map[string]any{
		factorJSON("sms1", "sms", "OKTA"),
		factorJSON("ost1", "token:software:totp", "OKTA"),
		factorJSON("gtt1", "token:software:totp", "GOOGLE"),
		factorJSON("opf1", "push", "OKTA"),
		factorJSON("emf1", "email", "OKTA"),
		factorJSON("fwf1", "webauthn", "FIDO"),
	}
	raws := func(ms ...map[string]any) []rawFactor {
		t.Helper()
		d, err := decodeTransaction([]byte(mustJSON(t, mfaRequired(ms...))))
		if err != nil {
			t.Fatal(err)
		}
		return d.Embedded.Factors
	}
	chooseLast := func(_ context.Context, fs []Factor) (Factor, error) { return fs[len(fs)-1], nil }
	tests := []struct {
		name    string
		mfa     MFA
		factors []map[string]any
		want    string // factor id, or "error: ..."
		offered int    // factors passed to Choose
	}{
		{"default order puts push first", MFA{}, all, "opf1", 0},
		{"seed picks totp", MFA{TOTPSeed: secret.New(testSeed)}, all, "ost1", 0},
		{"preferred kind", MFA{Preferred: "sms"}, all, "sms1", 0},
		{"preferred factorType", MFA{Preferred: "EMAIL"}, all, "emf1", 0},
		{"preferred id", MFA{Preferred: "gtt1"}, all, "gtt1", 0},
		{"preferred with several matches asks", MFA{Preferred: "totp", Choose: chooseLast}, all, "gtt1", 2},
		{"choose among usable only", MFA{Choose: chooseLast}, all, "emf1", 5},
		{"single factor needs no choice", MFA{Choose: chooseLast}, []map[string]any{factorJSON("sms1", "sms", "OKTA")}, "sms1", 0},
		{"preferred not enrolled", MFA{Preferred: "call"}, all, "error: no such factor; you have: push, totp, totp, sms, email", 0},
		{"choice outside the list", MFA{Choose: func(context.Context, []Factor) (Factor, error) { return Factor{ID: "x"}, nil }}, all, "error: not one of those offered", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offered := 0
			if tt.mfa.Choose != nil {
				inner := tt.mfa.Choose
				tt.mfa.Choose = func(ctx context.Context, fs []Factor) (Factor, error) {
					offered = len(fs)
					return inner(ctx, fs)
				}
			}
			f, err := tt.mfa.pick(context.Background(), raws(tt.factors...))
			got := f.ID
			if err != nil {
				got = "error: " + err.Error()
			}
			if !strings.HasPrefix(tt.want, "error: ") && got != tt.want || strings.HasPrefix(tt.want, "error: ") && !strings.Contains(got, strings.TrimPrefix(tt.want, "error: ")) {
				t.Fatalf("picked %q, want %q", got, tt.want)
			}
			if tt.offered != 0 && offered != tt.offered {
				t.Errorf("Choose saw %d factors, want %d", offered, tt.offered)
			}
		})
	}
}

func TestLinksOffTheOrgAreRefused(t *testing.T) {
	elsewhere := newFakeOrg(t)
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, map[string]any{"stateToken": testStateToken, "status": "PASSWORD_WARN",
		"_links": map[string]any{"skip": map[string]any{"href": elsewhere.srv.URL + "/api/v1/authn/skip"}}})
	c, _ := newClient(t, f)
	_, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, nil)
	if err == nil || !strings.Contains(err.Error(), "not the org") {
		t.Fatalf("err = %v", err)
	}
	if n := len(elsewhere.calls); n != 0 {
		t.Fatalf("the state token went to another host (%d requests)", n)
	}
}

func TestBaseURLChecks(t *testing.T) {
	for _, base := range []string{"", "example.okta.com", "http://example.okta.com", "ftp://example.okta.com"} {
		c := &Client{BaseURL: base}
		_, err := c.Authenticate(context.Background(), "u", testPassword, nil)
		if err == nil {
			t.Errorf("BaseURL %q accepted", base)
		}
	}
	for _, base := range []string{"https://example.okta.com/", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		if _, err := (&Client{BaseURL: base}).base(); err != nil {
			t.Errorf("BaseURL %q refused: %v", base, err)
		}
	}
}

func TestTransportErrorsDropQueries(t *testing.T) {
	f := newFakeOrg(t)
	c, _ := newClient(t, f)
	f.srv.Close()
	_, err := c.SAMLResponse(context.Background(), "/app/amazon_aws/0oa1/sso/saml", AppAuth{SessionToken: secret.New(testSessionToken)})
	if err == nil {
		t.Fatal("no error from a closed server")
	}
	checkNoSecrets(t, err)
	_, err = c.CreateSession(context.Background(), testSessionToken)
	checkNoSecrets(t, err)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResendTooSoonIsReportedNotWaited(t *testing.T) {
	sms := factorJSON("sms1", "sms", "OKTA")
	f := newFakeOrg(t)
	f.reply("POST /api/v1/authn", 200, mfaRequired(sms))
	f.handle("POST /api/v1/authn/factors/sms1/verify", func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
		if body["passCode"] == nil {
			writeJSON(w, 200, challenge(sms, "CHALLENGE", "/api/v1/authn/factors/sms1/verify"))
			return
		}
		writeJSON(w, 200, success())
	})
	f.handle("POST /api/v1/authn/factors/sms1/verify/resend", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("X-Rate-Limit-Reset", "1")
		writeJSON(w, 429, oktaError("E0000109", "An SMS message was recently sent. Please wait 30 seconds before trying again."))
	})
	c, s := newClient(t, f)
	var prompts []CodePrompt
	mfa := &MFA{Code: func(_ context.Context, p CodePrompt) (string, error) {
		prompts = append(prompts, p)
		if len(prompts) == 1 {
			return "", ErrResend
		}
		return "123456", nil
	}}
	if _, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, mfa); err != nil {
		t.Fatal(err)
	}
	if len(s.waits) != 0 {
		t.Errorf("waited %v for a resend", s.waits)
	}
	if len(prompts) != 2 || prompts[1].Problem == nil || !strings.Contains(prompts[1].Problem.Error(), "wait 30 seconds") {
		t.Fatalf("prompts = %+v", prompts)
	}
}

// Two windows in a row refused as already used means another sign-in with
// the same seed is running: the error says so and never blames the seed.
func TestTOTPReusedTwiceDoesNotBlameTheSeed(t *testing.T) {
	f := newFakeOrg(t)
	c, _ := newClient(t, f)
	c.Clock.(*clock.Fake).Set(testStart.Truncate(30 * time.Second).Add(5 * time.Second))
	f.reply("POST /api/v1/authn", 200, mfaRequired(factorJSON("ost1", "token:software:totp", "OKTA")))
	var verifies atomic.Int32
	f.handle("POST /api/v1/authn/factors/ost1/verify", func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		verifies.Add(1)
		writeJSON(w, 403, oktaError("E0000082", "Each code can only be used once."))
	})
	_, err := c.Authenticate(context.Background(), "demo@example.com", testPassword, &MFA{TOTPSeed: secret.New(testSeed)})
	if err == nil {
		t.Fatal("sign-in succeeded with every code refused as used")
	}
	if strings.Contains(err.Error(), "seed belongs") || !strings.Contains(err.Error(), "already used") {
		t.Errorf("error = %v; want one that says the codes were used, not that the seed is wrong", err)
	}
	if n := verifies.Load(); n != 2 {
		t.Errorf("%d verify calls, want 2 (this window, then the next)", n)
	}
}
