package authserver

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Okta Direct Authentication on the org authorization server, as Okta's
// reference describes it:
//
//   - grant_type=password for a user whose sign-on policy wants a second
//     factor answers 403 {"error":"mfa_required","mfa_token":…} to a
//     client allowed an MFA grant;
//   - POST /oauth2/v1/challenge (mfa_token, challenge_types_supported,
//     channel_hint) answers {challenge_type, oob_code, expires_in,
//     interval, channel, binding_method[, binding_code]} for an Okta
//     Verify push, or {challenge_type} for an OTP;
//   - grant_type=http://auth0.com/oauth/grant-type/mfa-otp (mfa_token, otp)
//     and …/mfa-oob (mfa_token, oob_code, polled: authorization_pending
//     until the push is answered) finish the sign-in;
//   - POST /oauth2/v1/primary-authenticate (login_hint, channel_hint=push,
//     challenge_hint=urn:okta:params:oauth:grant-type:oob) and the grants
//     urn:okta:params:oauth:grant-type:oob (oob_code) and …:otp
//     (login_hint, otp) sign in with one factor alone.
//
// The factors are the org's (MFADirectory); clients get the direct grants
// only when their grant_types list them.

// Direct authentication grant types.
const (
	GrantMFAOOB = "http://auth0.com/oauth/grant-type/mfa-oob"
	GrantMFAOTP = "http://auth0.com/oauth/grant-type/mfa-otp"
	GrantOOB    = "urn:okta:params:oauth:grant-type:oob"
	GrantOTP    = "urn:okta:params:oauth:grant-type:otp"
)

var directGrants = []string{GrantMFAOOB, GrantMFAOTP, GrantOOB, GrantOTP}

func isDirectGrant(g string) bool {
	for _, d := range directGrants {
		if g == d {
			return true
		}
	}
	return false
}

// MFADirectory is what direct authentication needs of the org beyond
// passwords: its sign-on policy and the user's factors.
type MFADirectory interface {
	RequiresMFA(login string) bool
	// VerifyOTP checks a TOTP code (once per code, failures counted).
	VerifyOTP(ctx context.Context, login, code string) error
	// StartPush sends an Okta Verify push.
	StartPush(ctx context.Context, login string) (Push, error)
	// Identity looks up a user for the one-factor grants.
	Identity(login string) (*Identity, bool)
}

// Push is an Okta Verify push in flight.
type Push interface {
	// BindingCode is the number to pick on the phone, "" for none.
	BindingCode() string
	// Status is WAITING, SUCCESS, REJECTED or TIMEOUT.
	Status() string
}

const (
	mfaTokenLifetime = 5 * time.Minute
	oobLifetime      = 5 * time.Minute
	oobInterval      = 5 * time.Second
)

// mfaTxn is a password sign-in waiting for its second factor.
type mfaTxn struct {
	srv      *server
	client   *client
	user     *Identity
	scopes   []string
	authTime time.Time
	expires  time.Time
}

// oobTxn is a push waiting for its answer (oob_code).
type oobTxn struct {
	srv      *server
	client   *client
	user     *Identity
	mfaToken string // "" for a primary (one-factor) push
	push     Push
	expires  time.Time
}

// directStore holds the open direct-authentication transactions.
type directStore struct {
	mu   sync.Mutex
	mfa  map[string]*mfaTxn
	oobs map[string]*oobTxn
}

func (d *directStore) pruneLocked(now time.Time) {
	if d.mfa == nil {
		d.mfa, d.oobs = map[string]*mfaTxn{}, map[string]*oobTxn{}
	}
	// Expired transactions are remembered a while, so a late poll gets
	// Okta's answer for an expired one (access_denied), not an unknown one.
	for k, t := range d.mfa {
		if !now.Before(t.expires.Add(expiredMemory)) {
			delete(d.mfa, k)
		}
	}
	for k, t := range d.oobs {
		if !now.Before(t.expires.Add(expiredMemory)) {
			delete(d.oobs, k)
		}
	}
}

// expiredMemory is how long an expired mfa_token or oob_code is still
// recognised as expired.
const expiredMemory = 10 * time.Minute

// errExpired is Okta's answer to an mfa_token or oob_code that has
// expired: access_denied, which a push that was rejected also gets, told
// apart by its description.
func errExpired(what string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "access_denied", description: "The " + what + " has expired. Start the sign-in again."}
}

func (srv *server) mfaDirectory() MFADirectory {
	m, _ := srv.parent.dir.(MFADirectory)
	return m
}

// mfaRequired answers a password grant that needs a second factor with an
// mfa_token, when the client may finish it with a direct MFA grant. nil
// means the password grant goes on as before.
func (srv *server) mfaRequired(cl *client, id *Identity, scopes []string) *oauthError {
	m := srv.mfaDirectory()
	if m == nil || !(cl.grantTypes[GrantMFAOTP] || cl.grantTypes[GrantMFAOOB]) || !m.RequiresMFA(id.Login) {
		return nil
	}
	tok, err := randomID("")
	if err != nil {
		return &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "The mfa_token could not be made."}
	}
	now := srv.parent.clk.Now()
	d := &srv.parent.direct
	d.mu.Lock()
	d.pruneLocked(now)
	d.mfa[tok] = &mfaTxn{srv: srv, client: cl, user: id, scopes: scopes, authTime: now, expires: now.Add(mfaTokenLifetime)}
	d.mu.Unlock()
	return &oauthError{status: http.StatusForbidden, code: "mfa_required", description: "Verify with an additional authenticator to complete the sign-in process.", mfaToken: tok}
}

// liveMFA returns the transaction of an mfa_token issued to cl by srv.
func (srv *server) liveMFA(cl *client, tok string) (*mfaTxn, *oauthError) {
	now := srv.parent.clk.Now()
	d := &srv.parent.direct
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneLocked(now)
	t := d.mfa[tok]
	if tok == "" || t == nil || t.srv != srv || t.client != cl {
		return nil, errInvalidGrant("The mfa_token is invalid, expired, or was issued to another client.")
	}
	if !now.Before(t.expires) {
		return nil, errExpired("mfa_token")
	}
	return t, nil
}

// serveChallenge is /v1/challenge: a second factor for an mfa_token.
func (srv *server) serveChallenge(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(r)
	var cl *client
	if oerr == nil {
		cl, oerr = srv.authenticateClient(r, form, srv.url("challenge"))
	}
	var t *mfaTxn
	if oerr == nil {
		t, oerr = srv.liveMFA(cl, form["mfa_token"])
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	types := strings.Fields(form["challenge_types_supported"])
	has := func(g string) bool { return cl.grantTypes[g] && contains(types, g) }
	channel := form["channel_hint"]
	switch {
	case has(GrantMFAOOB) && (channel == "push" || channel == "" && !has(GrantMFAOTP)):
		srv.startOOB(w, r, cl, t.user, form["mfa_token"])
	case has(GrantMFAOOB) && channel != "" && channel != "push":
		writeOAuthError(w, errInvalidRequest("The sandbox sends out-of-band challenges by Okta Verify push only (channel_hint=push)."))
	case has(GrantMFAOTP):
		noStore(w)
		writeJSON(w, http.StatusOK, map[string]any{"challenge_type": GrantMFAOTP})
	default:
		writeOAuthError(w, errInvalidRequest("None of the challenge_types_supported is allowed for this client (send %s or %s).", GrantMFAOOB, GrantMFAOTP))
	}
}

// servePrimaryAuthenticate is /v1/primary-authenticate: an Okta Verify
// push as the only factor.
func (srv *server) servePrimaryAuthenticate(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(r)
	var cl *client
	if oerr == nil {
		cl, oerr = srv.authenticateClient(r, form, srv.url("primary-authenticate"))
	}
	if oerr == nil && !cl.grantTypes[GrantOOB] {
		oerr = &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", description: "The client may not use the '" + GrantOOB + "' grant type."}
	}
	if oerr == nil && form["challenge_hint"] != GrantOOB {
		oerr = errInvalidRequest("challenge_hint must be %s.", GrantOOB)
	}
	if oerr == nil && form["channel_hint"] != "push" {
		oerr = errInvalidRequest("The sandbox sends out-of-band challenges by Okta Verify push only (channel_hint=push).")
	}
	var id *Identity
	if oerr == nil {
		m := srv.mfaDirectory()
		ok := false
		if m != nil {
			id, ok = m.Identity(form["login_hint"])
		}
		if !ok {
			oerr = errInvalidGrant("The login_hint names no user who can sign in this way.")
		}
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	srv.startOOB(w, r, cl, id, "")
}

// startOOB sends a push and answers with its oob_code.
func (srv *server) startOOB(w http.ResponseWriter, r *http.Request, cl *client, id *Identity, mfaToken string) {
	m := srv.mfaDirectory()
	if m == nil {
		writeOAuthError(w, errInvalidRequest("This authorization server has no factors to challenge."))
		return
	}
	p, err := m.StartPush(r.Context(), id.Login)
	if err != nil {
		writeOAuthError(w, errInvalidGrant("No Okta Verify push can be sent to this user: %v", err))
		return
	}
	code, err := randomID("ft")
	if err != nil {
		writeOAuthError(w, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "The oob_code could not be made."})
		return
	}
	now := srv.parent.clk.Now()
	d := &srv.parent.direct
	d.mu.Lock()
	d.pruneLocked(now)
	d.oobs[code] = &oobTxn{srv: srv, client: cl, user: id, mfaToken: mfaToken, push: p, expires: now.Add(oobLifetime)}
	d.mu.Unlock()
	body := map[string]any{
		"oob_code":       code,
		"expires_in":     int(oobLifetime / time.Second),
		"interval":       int(oobInterval / time.Second),
		"channel":        "push",
		"binding_method": "none",
	}
	if mfaToken != "" {
		body["challenge_type"] = GrantMFAOOB
	}
	if b := p.BindingCode(); b != "" {
		// Okta's examples write the number to pick as a JSON number.
		n, err := strconv.Atoi(b)
		if err != nil {
			writeOAuthError(w, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "The binding code is not a number."})
			return
		}
		body["binding_method"], body["binding_code"] = "transfer", n
	}
	noStore(w)
	writeJSON(w, http.StatusOK, body)
}

// directGrant handles the four direct grants of the token endpoint.
func (srv *server) directGrant(ctx context.Context, cl *client, gt string, form map[string]string) (grant, *oauthError) {
	m := srv.mfaDirectory()
	if m == nil {
		return grant{}, errInvalidGrant("This authorization server has no factors to verify.")
	}
	switch gt {
	case GrantMFAOTP:
		t, oerr := srv.liveMFA(cl, form["mfa_token"])
		if oerr != nil {
			return grant{}, oerr
		}
		if form["otp"] == "" {
			return grant{}, errInvalidRequest("The 'otp' parameter is required.")
		}
		if err := m.VerifyOTP(ctx, t.user.Login, form["otp"]); err != nil {
			return grant{}, otpRefused(err)
		}
		srv.endMFA(form["mfa_token"])
		return grant{client: cl, user: t.user, scopes: t.scopes, authTime: t.authTime}, nil
	case GrantOTP:
		scopes, oerr := srv.resolveScopes(cl, form["scope"], false)
		if oerr != nil {
			return grant{}, oerr
		}
		id, ok := m.Identity(form["login_hint"])
		if !ok || form["otp"] == "" {
			return grant{}, errInvalidGrant("The login_hint and otp are required and must name a user with a TOTP factor.")
		}
		if err := m.VerifyOTP(ctx, id.Login, form["otp"]); err != nil {
			return grant{}, otpRefused(err)
		}
		return grant{client: cl, user: id, scopes: scopes, authTime: srv.parent.clk.Now()}, nil
	default: // GrantMFAOOB, GrantOOB
		var t *mfaTxn
		if gt == GrantMFAOOB {
			var oerr *oauthError
			if t, oerr = srv.liveMFA(cl, form["mfa_token"]); oerr != nil {
				return grant{}, oerr
			}
		}
		now := srv.parent.clk.Now()
		d := &srv.parent.direct
		d.mu.Lock()
		d.pruneLocked(now)
		o := d.oobs[form["oob_code"]]
		d.mu.Unlock()
		if o == nil || o.srv != srv || o.client != cl || (gt == GrantMFAOOB) != (o.mfaToken != "") || (t != nil && o.mfaToken != form["mfa_token"]) {
			return grant{}, errInvalidGrant("The oob_code is invalid, expired, or belongs to another sign-in.")
		}
		if !now.Before(o.expires) {
			return grant{}, errExpired("oob_code")
		}
		switch o.push.Status() {
		case "SUCCESS":
		case "REJECTED":
			srv.endOOB(form["oob_code"])
			return grant{}, &oauthError{status: http.StatusBadRequest, code: "access_denied", description: "The user rejected the Okta Verify push."}
		case "TIMEOUT":
			srv.endOOB(form["oob_code"])
			return grant{}, &oauthError{status: http.StatusBadRequest, code: "expired_token", description: "The Okta Verify push timed out."}
		default:
			return grant{}, &oauthError{status: http.StatusBadRequest, code: "authorization_pending", description: "No user response received on the out-of-band authenticator yet. Continue polling to wait for a response."}
		}
		srv.endOOB(form["oob_code"])
		if t != nil {
			srv.endMFA(form["mfa_token"])
			return grant{client: cl, user: t.user, scopes: t.scopes, authTime: t.authTime}, nil
		}
		scopes, oerr := srv.resolveScopes(cl, form["scope"], false)
		if oerr != nil {
			return grant{}, oerr
		}
		return grant{client: cl, user: o.user, scopes: scopes, authTime: now}, nil
	}
}

func (srv *server) endMFA(tok string) {
	d := &srv.parent.direct
	d.mu.Lock()
	delete(d.mfa, tok)
	d.mu.Unlock()
}

func (srv *server) endOOB(code string) {
	d := &srv.parent.direct
	d.mu.Lock()
	delete(d.oobs, code)
	d.mu.Unlock()
}

// ErrOTPReused is what an MFADirectory returns for a right code that was
// already spent.
var ErrOTPReused = errors.New("each code can only be used once")

func otpRefused(err error) *oauthError {
	if errors.Is(err, ErrOTPReused) {
		return errInvalidGrant("Each code can only be used once. Wait for a new code.")
	}
	return errInvalidGrant("The one-time passcode is invalid, or the user cannot sign in with one.")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
