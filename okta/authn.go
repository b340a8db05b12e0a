package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"
)

// Transaction states of the Classic Authentication API.
const (
	StatusSuccess           = "SUCCESS"
	StatusPasswordWarn      = "PASSWORD_WARN"
	StatusPasswordExpired   = "PASSWORD_EXPIRED"
	StatusLockedOut         = "LOCKED_OUT"
	StatusMFARequired       = "MFA_REQUIRED"
	StatusMFAChallenge      = "MFA_CHALLENGE"
	StatusMFAEnroll         = "MFA_ENROLL"
	StatusMFAEnrollActivate = "MFA_ENROLL_ACTIVATE"
	StatusRecovery          = "RECOVERY"
	StatusRecoveryChallenge = "RECOVERY_CHALLENGE"
	StatusPasswordReset     = "PASSWORD_RESET"
	StatusUnauthenticated   = "UNAUTHENTICATED"
)

// Factor results during MFA_CHALLENGE.
const (
	resultWaiting   = "WAITING"
	resultRejected  = "REJECTED"
	resultTimeout   = "TIMEOUT"
	resultChallenge = "CHALLENGE"
)

// maxSteps bounds the state machine so a confused server cannot keep the
// client looping.
const maxSteps = 50

// User is the person a transaction authenticates.
type User struct {
	ID        string
	Login     string
	FirstName string
	LastName  string
}

// Result is a finished authentication.
type Result struct {
	// SessionToken is the one-time token that CreateSession or
	// SAMLResponse redeem. It is short-lived (minutes) and secret.
	SessionToken secret.String
	// ExpiresAt is when SessionToken stops working.
	ExpiresAt time.Time
	User      User
	// Factor is the MFA factor that was verified, if any.
	Factor *Factor
	// Warnings are things the user should know, such as a password that
	// expires soon. They did not stop the sign-in.
	Warnings []string
}

// String hides the session token.
func (r *Result) String() string {
	return fmt.Sprintf("okta.Result{User: %s, ExpiresAt: %s, SessionToken: [redacted]}", r.User.Login, r.ExpiresAt.Format(time.RFC3339))
}

// GoString hides the session token from %#v.
func (r *Result) GoString() string { return r.String() }

// link is one entry of _links.
type link struct {
	Name string `json:"name"`
	Href string `json:"href"`
}

// links accepts a link or an array of links, as Okta uses both.
type links []link

func (l *links) UnmarshalJSON(b []byte) error {
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) > 0 && b[0] == '[' {
		var many []link
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*l = many
		return nil
	}
	var one link
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*l = links{one}
	return nil
}

func (l links) href() string {
	if len(l) == 0 {
		return ""
	}
	return l[0].Href
}

// transaction is an /api/v1/authn answer.
type transaction struct {
	StateToken   string    `json:"stateToken"`
	SessionToken string    `json:"sessionToken"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Status       string    `json:"status"`
	FactorResult string    `json:"factorResult"`
	Embedded     struct {
		User struct {
			ID      string `json:"id"`
			Profile struct {
				Login     string `json:"login"`
				FirstName string `json:"firstName"`
				LastName  string `json:"lastName"`
			} `json:"profile"`
			PasswordChanged time.Time `json:"passwordChanged"`
		} `json:"user"`
		Factors rawFactors `json:"factors"`
		// Factor is one object in most answers, an array of one in
		// others (as Okta's current reference shows): both are read.
		Factor rawFactors `json:"factor"`
		Policy struct {
			Expiration struct {
				PasswordExpireDays *int `json:"passwordExpireDays"`
			} `json:"expiration"`
		} `json:"policy"`
	} `json:"_embedded"`
	Links struct {
		Next   links `json:"next"`
		Skip   links `json:"skip"`
		Cancel links `json:"cancel"`
		Resend links `json:"resend"`
	} `json:"_links"`
}

// rawFactors is _embedded.factors: an array in MFA_REQUIRED, but Okta's
// reference also shows the challenged factor there as a single object
// (MFA_CHALLENGE answers of push verification), so both are read.
type rawFactors []rawFactor

func (f *rawFactors) UnmarshalJSON(b []byte) error {
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) > 0 && b[0] == '{' {
		var one rawFactor
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*f = rawFactors{one}
		return nil
	}
	var many []rawFactor
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*f = many
	return nil
}

// challenged is the factor an MFA_CHALLENGE answer is about: _embedded.factor,
// or the one entry of _embedded.factors.
func (t *transaction) challenged() *rawFactor {
	if len(t.Embedded.Factor) == 1 {
		return &t.Embedded.Factor[0]
	}
	if len(t.Embedded.Factors) == 1 {
		return &t.Embedded.Factors[0]
	}
	return nil
}

// decodeTransaction reads an authn answer, rejecting ones without a status
// so a wrong URL (some other JSON API) is caught early.
func decodeTransaction(data []byte) (*transaction, error) {
	var t transaction
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("okta: the authentication answer is not valid JSON (%v)", err)
	}
	if t.Status == "" {
		return nil, errors.New("okta: the authentication answer has no status: is the org URL an Okta org?")
	}
	return &t, nil
}

// stateRequest is the body of every step after the first.
type stateRequest struct {
	StateToken string `json:"stateToken"`
	PassCode   string `json:"passCode,omitempty"`
	Answer     string `json:"answer,omitempty"`
}

// post sends a step of the transaction and decodes the answer.
func (c *Client) post(ctx context.Context, ref string, body any) (*transaction, error) {
	return c.postReq(ctx, ref, body, false)
}

func (c *Client) postReq(ctx context.Context, ref string, body any, noRetry bool) (*transaction, error) {
	u, err := c.resolve(ref)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if _, err := c.doJSON(ctx, request{method: http.MethodPost, url: u, body: body, noRetry: noRetry}, &raw); err != nil {
		return nil, err
	}
	return decodeTransaction(raw)
}

// Authenticate signs username in with password, walking the transaction
// through password warnings and MFA until Okta issues a session token.
// mfa says how to pick and answer factors; it may be nil when the org asks
// for no MFA. Cancelling ctx stops at once (push polling included) and
// cancels the Okta transaction.
func (c *Client) Authenticate(ctx context.Context, username, password string, mfa *MFA) (*Result, error) {
	if username == "" {
		return nil, errors.New("okta: no username given")
	}
	if password == "" {
		return nil, errors.New("okta: no password given")
	}
	if mfa == nil {
		mfa = &MFA{}
	}
	body := map[string]any{
		"username": username,
		"password": password,
		"options": map[string]bool{
			"warnBeforePasswordExpired": true,
			"multiOptionalFactorEnroll": false,
		},
	}
	t, err := c.post(ctx, "/api/v1/authn", body)
	if err != nil {
		return nil, err
	}
	a := &authn{c: c, mfa: mfa, res: &Result{}}
	res, err := a.run(ctx, t)
	if err != nil && ctx.Err() != nil && a.stateToken != "" {
		a.cancel()
	}
	return res, err
}

// authn is one run of the state machine.
type authn struct {
	c          *Client
	mfa        *MFA
	res        *Result
	stateToken string
	cancelHref string
}

// cancel ends the Okta transaction so a pending push stops showing on the
// user's phone. It uses its own short deadline: ctx is already done.
func (a *authn) cancel() {
	ref := a.cancelHref
	if ref == "" {
		ref = "/api/v1/authn/cancel"
	}
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_, _ = a.c.post(ctx, ref, stateRequest{StateToken: a.stateToken})
}

func (a *authn) run(ctx context.Context, t *transaction) (*Result, error) {
	for step := 0; step < maxSteps; step++ {
		if t.StateToken != "" {
			a.stateToken = t.StateToken
		}
		if h := t.Links.Cancel.href(); h != "" {
			a.cancelHref = h
		}
		if u := t.Embedded.User; u.ID != "" {
			a.res.User = User{ID: u.ID, Login: u.Profile.Login, FirstName: u.Profile.FirstName, LastName: u.Profile.LastName}
		}
		var err error
		switch t.Status {
		case StatusSuccess:
			if t.SessionToken == "" {
				return nil, errors.New("okta: sign-in succeeded but Okta returned no session token")
			}
			a.res.SessionToken = secret.New(t.SessionToken)
			a.res.ExpiresAt = t.ExpiresAt
			return a.res, nil
		case StatusPasswordWarn:
			a.res.Warnings = append(a.res.Warnings, passwordWarning(t))
			skip := t.Links.Skip.href()
			if skip == "" {
				skip = "/api/v1/authn/skip"
			}
			t, err = a.c.post(ctx, skip, stateRequest{StateToken: a.stateToken})
		case StatusPasswordExpired:
			return nil, ErrPasswordExpired
		case StatusLockedOut:
			return nil, ErrLockedOut
		case StatusMFAEnroll, StatusMFAEnrollActivate:
			return nil, ErrEnrollRequired
		case StatusRecovery, StatusRecoveryChallenge, StatusPasswordReset:
			return nil, errors.New("okta: a password recovery is in progress for this account: finish or cancel it in a browser, then sign in again")
		case StatusUnauthenticated:
			return nil, errors.New("okta: Okta wants a different sign-in flow for this account (UNAUTHENTICATED): sign in to Okta in a browser once to see why")
		case StatusMFARequired:
			var f Factor
			if f, err = a.mfa.pick(ctx, t.Embedded.Factors); err == nil {
				a.res.Factor = &f
				t, err = a.verify(ctx, f, nil)
			}
		case StatusMFAChallenge:
			// Only reached when a step answered with a challenge we did
			// not start (e.g. a resumed transaction): continue it.
			cf := t.challenged()
			if cf == nil {
				return nil, errors.New("okta: MFA challenge without a factor")
			}
			f := cf.factor()
			a.res.Factor = &f
			t, err = a.verify(ctx, f, t)
		default:
			return nil, fmt.Errorf("okta: unexpected sign-in state %q", clean(t.Status, 40))
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("okta: the sign-in did not finish after many steps; start again")
}

func passwordWarning(t *transaction) string {
	if d := t.Embedded.Policy.Expiration.PasswordExpireDays; d != nil {
		switch *d {
		case 0:
			return "your Okta password expires today: change it soon in a browser"
		case 1:
			return "your Okta password expires in 1 day: change it soon in a browser"
		default:
			return fmt.Sprintf("your Okta password expires in %d days: change it soon in a browser", *d)
		}
	}
	return "your Okta password expires soon: change it in a browser"
}

// verify answers one factor until the transaction moves past MFA. started
// is the challenge already in progress, if any.
func (a *authn) verify(ctx context.Context, f Factor, started *transaction) (*transaction, error) {
	switch f.Kind {
	case KindPush:
		return a.verifyPush(ctx, f, started)
	case KindSMS, KindCall, KindEmail:
		return a.verifySent(ctx, f, started)
	case KindTOTP, KindHardware, KindToken, KindQuestion:
		return a.verifyCode(ctx, f)
	}
	return nil, fmt.Errorf("okta: factor %s cannot be used from the command line", f)
}

func (a *authn) verifyURL(f Factor) string {
	if f.verifyHref != "" {
		return f.verifyHref
	}
	return "/api/v1/authn/factors/" + url.PathEscape(f.ID) + "/verify"
}

// maxCodeAttempts is how many wrong codes a user may type before the
// sign-in stops; Okta's lockout counts them too.
const maxCodeAttempts = 3

// verifyCode handles factors where the user (or the TOTP seed) supplies a
// code straight away.
func (a *authn) verifyCode(ctx context.Context, f Factor) (*transaction, error) {
	var last error
	for attempt := 1; attempt <= maxCodeAttempts; attempt++ {
		var code string
		var err error
		seeded := f.Kind == KindTOTP && !a.mfa.TOTPSeed.IsZero()
		if seeded {
			code, err = a.mfa.totpCode(ctx, a.c, attempt > 1)
		} else {
			code, err = a.mfa.askCode(ctx, CodePrompt{Factor: f, Attempt: attempt, Problem: last})
		}
		if err != nil {
			return nil, err
		}
		req := stateRequest{StateToken: a.stateToken, PassCode: code}
		if f.Kind == KindQuestion {
			req = stateRequest{StateToken: a.stateToken, Answer: code}
		}
		t, err := a.c.post(ctx, a.verifyURL(f), req)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, ErrInvalidCode) {
			return nil, err
		}
		last = err
		if seeded {
			var oe *Error
			// A reused code means this window's code was spent already
			// (by another run); the next window's code will do. A wrong
			// code means the seed is not this factor's.
			if errors.As(err, &oe) && oe.Code == "E0000082" {
				if attempt == 1 {
					continue
				}
				// Two windows in a row already spent: another sign-in with
				// the same seed is running. The seed is fine.
				return nil, fmt.Errorf("okta: the TOTP codes of this window and the next were already used, likely by another sign-in with the same seed running at the same time: wait 30 s and try again (%w)", err)
			}
			return nil, fmt.Errorf("okta: the configured TOTP seed produced a code Okta refused: check the seed belongs to this user's authenticator (%w)", err)
		}
	}
	return nil, last
}

// verifySent handles SMS, voice call and email: ask Okta to send a code,
// then verify what the user types, with resends on request.
func (a *authn) verifySent(ctx context.Context, f Factor, started *transaction) (*transaction, error) {
	t := started
	if t == nil {
		var err error
		if t, err = a.c.post(ctx, a.verifyURL(f), stateRequest{StateToken: a.stateToken}); err != nil {
			return nil, err
		}
		if t.Status != StatusMFAChallenge {
			return t, nil
		}
	}
	next := t.Links.Next.href()
	if next == "" {
		next = a.verifyURL(f)
	}
	resend := t.Links.Resend.href()
	var last error
	for attempt := 1; attempt <= maxCodeAttempts; {
		code, err := a.mfa.askCode(ctx, CodePrompt{Factor: f, Attempt: attempt, Problem: last, Sent: true})
		if errors.Is(err, ErrResend) {
			if resend == "" {
				resend = a.verifyURL(f) + "/resend"
			}
			// Okta refuses resends that come too soon (E0000109); tell
			// the user at the next prompt rather than wait in silence.
			_, err := a.c.postReq(ctx, resend, stateRequest{StateToken: a.stateToken}, true)
			var oe *Error
			if err != nil && !(errors.As(err, &oe) && oe.Status == http.StatusTooManyRequests) {
				return nil, err
			}
			last = err
			continue
		}
		if err != nil {
			return nil, err
		}
		t, err := a.c.post(ctx, next, stateRequest{StateToken: a.stateToken, PassCode: code})
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, ErrInvalidCode) {
			return nil, err
		}
		last = err
		attempt++
	}
	return nil, last
}

// verifyPush sends an Okta Verify push and polls until it is answered.
func (a *authn) verifyPush(ctx context.Context, f Factor, started *transaction) (*transaction, error) {
	t := started
	if t == nil {
		var err error
		if t, err = a.c.post(ctx, a.verifyURL(f), stateRequest{StateToken: a.stateToken}); err != nil {
			return nil, err
		}
	}
	if a.mfa.Waiting != nil {
		a.mfa.Waiting(f)
	}
	shown := false
	for polls := 0; ; polls++ {
		if t.Status != StatusMFAChallenge {
			return t, nil
		}
		switch t.FactorResult {
		case resultRejected:
			return nil, ErrPushRejected
		case resultTimeout:
			return nil, ErrPushTimeout
		case resultWaiting, "":
		default:
			return nil, fmt.Errorf("okta: unexpected push result %q", clean(t.FactorResult, 40))
		}
		// The number may come with any poll, usually not the first: the
		// phone shows the challenge a moment after the push arrives.
		if cf := t.challenged(); !shown && cf != nil {
			if n := cf.Embedded.Challenge.CorrectAnswer; n != nil {
				shown = true
				if a.mfa.PushNumber != nil {
					a.mfa.PushNumber(*n)
				}
			}
		}
		next := t.Links.Next.href()
		if next == "" {
			return nil, errors.New("okta: push challenge has no poll link")
		}
		if err := a.c.sleep(ctx, a.c.pollInterval()); err != nil {
			return nil, err
		}
		var err error
		if t, err = a.c.post(ctx, next, stateRequest{StateToken: a.stateToken}); err != nil {
			return nil, err
		}
	}
}
