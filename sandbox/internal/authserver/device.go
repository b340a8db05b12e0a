package authserver

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Grant types of the device flow (RFC 8628) and of token exchange (RFC
// 8693), as Okta names them.
const (
	GrantDeviceCode    = "urn:ietf:params:oauth:grant-type:device_code"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Token types Okta's token exchange takes and issues.
const (
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeDeviceSecret = "urn:x-oath:params:oauth:token-type:device-secret"
	TokenTypeWebSSO       = "urn:okta:oauth:token-type:web_sso_token"
)

// Okta's scopes for app SSO and for device secrets (Native SSO); the org
// server defines them.
var deviceScopes = []ScopeConfig{
	{Name: "okta.apps.sso", Description: "Allows the app to sign you in to other apps."},
	{Name: "okta.apps.read", Description: "Allows the app to read your app links."},
	{Name: "device_sso", Description: "Allows the app to share your sign-in with other apps on this device."},
}

const (
	deviceCodeLifetime = 10 * time.Minute
	devicePollInterval = 5 * time.Second
	webSSOLifetime     = 5 * time.Minute
	appAudiencePrefix  = "urn:okta:apps:"
)

// ErrUnknownUserCode means a user code is not one of these servers'.
var ErrUnknownUserCode = errors.New("authserver: unknown user code")

// deviceStore holds device authorizations, device secrets and web SSO
// tokens of every server. Its maps are made on first use.
type deviceStore struct {
	mu       sync.Mutex
	byDevice map[string]*deviceAuth
	byUser   map[string]*deviceAuth
	secrets  map[string]*deviceSecret
	webSSO   map[string]*webSSOToken
}

type deviceAuth struct {
	srv               *server
	client            *client
	scopes            []string
	deviceCode        string
	userCode          string
	expires, lastPoll time.Time
	interval          time.Duration
	user              *Identity
	authTime          time.Time
	denied, used      bool
}

type deviceSecret struct {
	srv      *server
	clientID string
	user     *Identity
	scopes   []string
	authTime time.Time
	expires  time.Time
}

type webSSOToken struct {
	grant   WebSSOGrant
	expires time.Time
}

// WebSSOGrant is what a web SSO token stands for.
type WebSSOGrant struct {
	Login    string
	AppID    string
	AMR      []string
	AuthTime time.Time
}

func (d *deviceStore) initLocked() {
	if d.byDevice == nil {
		d.byDevice = map[string]*deviceAuth{}
		d.byUser = map[string]*deviceAuth{}
		d.secrets = map[string]*deviceSecret{}
		d.webSSO = map[string]*webSSOToken{}
	}
}

func (d *deviceStore) pruneLocked(now time.Time) {
	for k, a := range d.byDevice {
		if now.Sub(a.expires) > time.Minute {
			delete(d.byDevice, k)
			delete(d.byUser, a.userCode)
		}
	}
	for k, s := range d.secrets {
		if !now.Before(s.expires) {
			delete(d.secrets, k)
		}
	}
	for k, t := range d.webSSO {
		if !now.Before(t.expires) {
			delete(d.webSSO, k)
		}
	}
}

// userCodeChars leaves out vowels (no words) and look-alikes.
const userCodeChars = "BCDFGHJKLMNPQRSTVWXZ"

func newUserCode() (string, error) {
	id, err := randomID("")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i < 8; i++ {
		b.WriteByte(userCodeChars[int(id[i])%len(userCodeChars)])
	}
	return b.String(), nil
}

func normalizeUserCode(c string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(c), "-", ""))
}

// serveDeviceAuthorize starts a device authorization (RFC 8628 3.1).
func (srv *server) serveDeviceAuthorize(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(r)
	var cl *client
	if oerr == nil {
		cl, oerr = srv.authenticateClient(r, form, srv.url("device/authorize"))
	}
	if oerr == nil && !cl.grantTypes[GrantDeviceCode] {
		oerr = &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", description: "The client is not allowed to use the device authorization grant."}
	}
	var scopes []string
	if oerr == nil {
		scopes, oerr = srv.resolveScopes(cl, form["scope"], false)
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	dc, err1 := randomID("")
	uc, err2 := newUserCode()
	if err1 != nil || err2 != nil {
		writeOAuthError(w, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "The device code could not be made."})
		return
	}
	now := srv.parent.clk.Now()
	d := &srv.parent.dev
	d.mu.Lock()
	d.initLocked()
	d.pruneLocked(now)
	for d.byUser[uc] != nil {
		uc, _ = newUserCode()
	}
	a := &deviceAuth{srv: srv, client: cl, scopes: scopes, deviceCode: dc, userCode: uc, expires: now.Add(deviceCodeLifetime), interval: devicePollInterval}
	d.byDevice[dc] = a
	d.byUser[uc] = a
	d.mu.Unlock()
	verify := srv.parent.base + "/activate"
	srv.parent.log.Info("authserver: device authorization started", "server", srv.label(), "client_id", cl.id)
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               dc,
		"user_code":                 uc,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?user_code=" + uc,
		"expires_in":                int(deviceCodeLifetime / time.Second),
		"interval":                  int(devicePollInterval / time.Second),
	})
}

// ApproveDevice records a signed-in user's answer to a device
// authorization. It returns the client id for the page to show, or
// ErrUnknownUserCode.
func (s *Servers) ApproveDevice(userCode string, u *Identity, approve bool) (string, error) {
	now := s.clk.Now()
	d := &s.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	a := d.byUser[normalizeUserCode(userCode)]
	if a == nil {
		return "", ErrUnknownUserCode
	}
	if !now.Before(a.expires) {
		return "", errors.New("this code has expired; start the sign-in again on your device")
	}
	if a.user != nil || a.denied || a.used {
		return "", errors.New("this code was already used")
	}
	if approve {
		a.user, a.authTime = u, now
	} else {
		a.denied = true
	}
	s.log.Info("authserver: device authorization answered", "client_id", a.client.id, "login", u.Login, "approved", approve)
	return a.client.id, nil
}

// deviceGrant answers a device_code token request (RFC 8628 3.5).
func (srv *server) deviceGrant(cl *client, form map[string]string) (grant, *oauthError) {
	code := form["device_code"]
	if code == "" {
		return grant{}, errInvalidRequest("The 'device_code' parameter is required.")
	}
	now := srv.parent.clk.Now()
	d := &srv.parent.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	a := d.byDevice[code]
	if a == nil || a.srv != srv || a.client != cl || a.used {
		return grant{}, errInvalidGrant("The device code is invalid or was already used.")
	}
	if !now.Before(a.expires) {
		return grant{}, &oauthError{status: http.StatusBadRequest, code: "expired_token", description: "The device code has expired."}
	}
	if a.denied {
		a.used = true
		return grant{}, &oauthError{status: http.StatusBadRequest, code: "access_denied", description: "The user denied the request."}
	}
	if a.user == nil {
		early := !a.lastPoll.IsZero() && now.Sub(a.lastPoll) < a.interval
		a.lastPoll = now
		if early {
			// RFC 8628 3.5: the client must add 5 seconds to its interval.
			a.interval += 5 * time.Second
			return grant{}, &oauthError{status: http.StatusBadRequest, code: "slow_down", description: "The client is polling too quickly."}
		}
		return grant{}, &oauthError{status: http.StatusBadRequest, code: "authorization_pending", description: "The device authorization is pending. Please try again later."}
	}
	a.used = true
	return grant{client: cl, user: a.user, scopes: a.scopes, authTime: a.authTime}, nil
}

// addDeviceSecret mints a device secret when device_sso was granted.
func (srv *server) addDeviceSecret(g grant, resp *tokenResponse) error {
	if g.user == nil || !hasScope(g.scopes, "device_sso") {
		return nil
	}
	sec, err := randomID("")
	if err != nil {
		return err
	}
	now := srv.parent.clk.Now()
	d := &srv.parent.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	d.secrets[sec] = &deviceSecret{srv: srv, clientID: g.client.id, user: g.user, scopes: g.scopes, authTime: g.authTime, expires: now.Add(srv.refreshIdle)}
	resp.DeviceSecret = sec
	return nil
}

// tokenExchange trades an ID token plus an actor (access token or device
// secret) of the same user for a web SSO token for one app, as Okta's
// token exchange does for audience urn:okta:apps:{appId}.
func (srv *server) tokenExchange(cl *client, form map[string]string) (*tokenResponse, *oauthError) {
	if form["subject_token"] == "" || form["actor_token"] == "" {
		return nil, errInvalidRequest("The 'subject_token' and 'actor_token' parameters are required.")
	}
	if form["subject_token_type"] != TokenTypeIDToken {
		return nil, errInvalidRequest("The 'subject_token_type' must be %s.", TokenTypeIDToken)
	}
	if rt := form["requested_token_type"]; rt != "" && rt != TokenTypeWebSSO {
		return nil, errInvalidRequest("The 'requested_token_type' must be %s.", TokenTypeWebSSO)
	}
	appID, ok := strings.CutPrefix(form["audience"], appAudiencePrefix)
	if !ok || appID == "" || len(appID) > 64 {
		return nil, errInvalidRequest("The 'audience' must be %s{appId}.", appAudiencePrefix)
	}
	now := srv.parent.clk.Now()
	invalidSubject := errInvalidGrant("The subject token is invalid or expired.")
	vt, err := srv.verifyJWT(form["subject_token"], now)
	if err != nil || !now.Before(vt.exp) || !strings.HasPrefix(vt.jti, "ID.") {
		return nil, invalidSubject
	}
	if aud, _ := vt.claims["aud"].(string); aud != cl.id {
		return nil, invalidSubject
	}
	sub, _ := vt.claims["sub"].(string)

	var user *Identity
	var scopes []string
	var authTime time.Time
	switch form["actor_token_type"] {
	case TokenTypeAccessToken:
		at, rec, ok := srv.activeAccess(form["actor_token"])
		if !ok || rec == nil || rec.user == nil || rec.clientID != cl.id {
			return nil, errInvalidGrant("The actor token is invalid or expired.")
		}
		user, scopes = rec.user, stringList(at.claims["scp"])
		authTime, _ = numericClaim(at.claims["auth_time"])
	case TokenTypeDeviceSecret:
		d := &srv.parent.dev
		d.mu.Lock()
		d.initLocked()
		sec := d.secrets[form["actor_token"]]
		if sec != nil && (sec.srv != srv || sec.clientID != cl.id || !now.Before(sec.expires)) {
			sec = nil
		}
		if sec != nil {
			user, scopes, authTime = sec.user, sec.scopes, sec.authTime
		}
		d.mu.Unlock()
		if sec == nil {
			return nil, errInvalidGrant("The device secret is invalid or expired.")
		}
	default:
		return nil, errInvalidRequest("The 'actor_token_type' must be %s or %s.", TokenTypeAccessToken, TokenTypeDeviceSecret)
	}
	if user.ID != sub {
		return nil, errInvalidGrant("The subject and actor tokens belong to different users.")
	}
	if !slices.Contains(scopes, "okta.apps.sso") {
		return nil, errInvalidScope("The tokens were not granted the 'okta.apps.sso' scope.")
	}
	tok, err := randomID("")
	if err != nil {
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "The token could not be issued."}
	}
	d := &srv.parent.dev
	d.mu.Lock()
	d.initLocked()
	d.pruneLocked(now)
	d.webSSO[tok] = &webSSOToken{grant: WebSSOGrant{Login: user.Login, AppID: appID, AMR: []string{"pwd"}, AuthTime: authTime}, expires: now.Add(webSSOLifetime)}
	d.mu.Unlock()
	srv.parent.log.Info("authserver: web SSO token issued", "server", srv.label(), "client_id", cl.id, "app", appID)
	return &tokenResponse{TokenType: "N_A", IssuedTokenType: TokenTypeWebSSO, AccessToken: tok, ExpiresIn: int64(webSSOLifetime / time.Second), Scope: strings.Join(scopes, " ")}, nil
}

// RedeemWebSSOToken spends a web SSO token. Each works once, for five
// minutes.
func (s *Servers) RedeemWebSSOToken(token string) (WebSSOGrant, bool) {
	now := s.clk.Now()
	d := &s.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initLocked()
	t := d.webSSO[token]
	if t == nil {
		return WebSSOGrant{}, false
	}
	delete(d.webSSO, token)
	if !now.Before(t.expires) {
		return WebSSOGrant{}, false
	}
	return t.grant, true
}
