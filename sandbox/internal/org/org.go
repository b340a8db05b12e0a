// Package org holds the sandbox's Okta org: users, groups, factors, the
// Classic Authentication API (/api/v1/authn), the Sessions API, the AWS
// Account Federation SAML app and /.well-known/okta-organization.
//
// It behaves as Okta documents these APIs, so that clients written against
// the real service work unchanged and clients that cut corners fail: a
// stateToken never opens a session, the SAML assertion only comes after
// every required factor, TOTP codes are real RFC 6238 codes that cannot be
// replayed, and the assertion is signed with a key generated at start-up
// whose certificate is in the app's metadata.
//
// The configuration schema (the org: section of sandbox.yaml) is shown in
// full in testdata/example.yaml. Test helpers live under
// /sandbox/admin/org/ (approve or reject a pending push, read the last SMS
// or email code, unlock a user, list sessions); real Okta has no such paths.
//
// Every time decision (token and session expiry, TOTP steps, push delays,
// rate-limit windows, assertion validity) reads the injected clock.
package org

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// Options are the org's runtime dependencies.
type Options struct {
	Clock   clock.Clock
	BaseURL string // e.g. http://127.0.0.1:8443, no trailing slash
	Logger  *slog.Logger
}

// Org is a running sandbox org. It is safe for concurrent use.
type Org struct {
	clk      clock.Clock
	base     string
	baseURL  *url.URL
	log      *slog.Logger
	id, name string
	pipeline string
	tokens   []string
	pol      policy

	users        []*user
	usersByLogin map[string]*user // lower-cased login
	usersByID    map[string]*user
	groups       map[string]string // name → id
	apps         []*app
	appsByKey    map[string]*app // app id and external key

	limiter *rateLimiter

	mu            sync.Mutex // guards everything below and the mutable parts of users
	txns          map[string]*txn
	sessionTokens map[string]*sessionToken
	sessions      map[string]*session
	lastPrune     time.Time

	devices []DeviceApprover // set before serving, read-only after
	webSSO  WebSSORedeemer

	hosted   map[string]*hostedTxn // hosted sign-in page transactions (signin.go), guarded by mu
	webauthn *webauthnState        // guarded by mu (webauthn.go)
}

// User is what other sandbox parts learn about an authenticated user.
type User struct {
	ID, Login, Email, FirstName, LastName string
	Groups                                []string
}

// user is a configured user plus the state authentication changes.
type user struct {
	id, login, email, first, last string
	groups                        []string
	factors                       []*factor
	expireDays                    int

	// Mutable, guarded by Org.mu.
	password        string
	status          string
	passwordWarn    bool
	passwordChanged time.Time
	failedPasswords int
	failedMFA       int
	lastCode        *issuedCode
	pendingPush     *pushChallenge
}

type factor struct {
	id, kind             string // kind: totp, push, sms, email, webauthn
	factorType, provider string
	secret               string
	phone, email         string
	push                 PushConfig
	userVerification     string // webauthn: required, preferred or discouraged

	lastStep int64 // last accepted TOTP time step, guarded by Org.mu
}

// New builds an org from its configuration. It generates each app's SAML
// signing key, so it takes a moment.
func New(cfg Config, opts Options) (*Org, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := strings.TrimRight(opts.BaseURL, "/")
	if base == "" {
		return nil, fmt.Errorf("org: Options.BaseURL is empty (pass the sandbox's base URL, e.g. http://127.0.0.1:8443)")
	}
	baseURL, err := url.Parse(base)
	if err != nil || baseURL.Scheme == "" || baseURL.Host == "" {
		return nil, fmt.Errorf("org: Options.BaseURL %q is not an absolute URL", opts.BaseURL)
	}
	pol, err := resolvePolicy(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("org: %w", err)
	}
	o := &Org{
		clk:           clock.Or(opts.Clock),
		base:          base,
		baseURL:       baseURL,
		log:           logger.With("component", "sandbox/org"),
		name:          orStr(cfg.Name, "sandbox"),
		id:            orStr(cfg.ID, newID("00o")),
		pipeline:      orStr(cfg.Pipeline, "v1"),
		tokens:        cfg.APITokens,
		pol:           pol,
		usersByLogin:  map[string]*user{},
		usersByID:     map[string]*user{},
		groups:        map[string]string{},
		appsByKey:     map[string]*app{},
		limiter:       newRateLimiter(),
		txns:          map[string]*txn{},
		sessionTokens: map[string]*sessionToken{},
		sessions:      map[string]*session{},
		hosted:        map[string]*hostedTxn{},
	}
	o.webauthn = newWebAuthnState(o)
	if err := checkID("id", cfg.ID); err != nil {
		return nil, fmt.Errorf("org: %w", err)
	}
	if o.pipeline != "v1" && o.pipeline != "idx" {
		return nil, fmt.Errorf("org: pipeline %q is not v1 or idx", cfg.Pipeline)
	}
	for i, t := range cfg.APITokens {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("org: api_tokens[%d] is empty", i)
		}
	}
	if err := o.loadGroups(cfg.Groups); err != nil {
		return nil, fmt.Errorf("org: %w", err)
	}
	if err := o.loadUsers(cfg.Users); err != nil {
		return nil, fmt.Errorf("org: %w", err)
	}
	if err := o.loadApps(cfg.Apps); err != nil {
		return nil, fmt.Errorf("org: %w", err)
	}
	return o, nil
}

func (o *Org) loadGroups(groups []GroupConfig) error {
	ids := map[string]bool{}
	for i, g := range groups {
		if strings.TrimSpace(g.Name) == "" {
			return fmt.Errorf("groups[%d]: name is required", i)
		}
		if _, dup := o.groups[g.Name]; dup {
			return fmt.Errorf("groups[%d]: group %q is listed twice", i, g.Name)
		}
		if err := checkID(fmt.Sprintf("groups[%d].id", i), g.ID); err != nil {
			return err
		}
		id := orStr(g.ID, newID("00g"))
		if ids[id] {
			return fmt.Errorf("groups[%d]: id %q is used twice", i, id)
		}
		ids[id] = true
		o.groups[g.Name] = id
	}
	return nil
}

func (o *Org) loadUsers(users []UserConfig) error {
	factorIDs := map[string]bool{}
	now := o.clk.Now()
	for i, uc := range users {
		where := fmt.Sprintf("users[%d]", i)
		login := strings.TrimSpace(uc.Login)
		if login == "" {
			return fmt.Errorf("%s: login is required", where)
		}
		where = fmt.Sprintf("users[%d] (%s)", i, login)
		if _, dup := o.usersByLogin[strings.ToLower(login)]; dup {
			return fmt.Errorf("%s: login is used twice", where)
		}
		if uc.Password == "" {
			return fmt.Errorf("%s: password is required", where)
		}
		if err := checkID(where+".id", uc.ID); err != nil {
			return err
		}
		status := orStr(uc.Status, statusActive)
		switch status {
		case statusActive, statusLockedOut, statusPasswordExpired:
		default:
			return fmt.Errorf("%s: status %q is not ACTIVE, LOCKED_OUT or PASSWORD_EXPIRED", where, uc.Status)
		}
		if uc.PasswordExpireDays < 0 {
			return fmt.Errorf("%s: password_expire_days is negative", where)
		}
		email := uc.Email
		if email == "" && strings.Contains(login, "@") {
			email = login
		}
		u := &user{
			id: orStr(uc.ID, newID("00u")), login: login, email: email,
			first: uc.FirstName, last: uc.LastName,
			expireDays: orInt(uc.PasswordExpireDays, 5),
			password:   uc.Password, status: status, passwordWarn: uc.PasswordWarn,
			passwordChanged: now.Add(-24 * time.Hour),
		}
		if _, dup := o.usersByID[u.id]; dup {
			return fmt.Errorf("%s: id %q is used twice", where, u.id)
		}
		for _, g := range uc.Groups {
			if _, ok := o.groups[g]; !ok {
				return fmt.Errorf("%s: group %q is not in the org's groups list (add it under groups:)", where, g)
			}
			u.groups = append(u.groups, g)
		}
		for j, fc := range uc.Factors {
			f, err := o.buildFactor(fmt.Sprintf("%s.factors[%d]", where, j), fc, u)
			if err != nil {
				return err
			}
			if factorIDs[f.id] {
				return fmt.Errorf("%s.factors[%d]: id %q is used twice", where, j, f.id)
			}
			factorIDs[f.id] = true
			u.factors = append(u.factors, f)
		}
		o.users = append(o.users, u)
		o.usersByLogin[strings.ToLower(login)] = u
		o.usersByID[u.id] = u
	}
	return nil
}

func (o *Org) buildFactor(where string, fc FactorConfig, u *user) (*factor, error) {
	kind, ok := factorKinds[fc.Type]
	if !ok {
		return nil, fmt.Errorf("%s: type %q is not totp, push, sms, email or webauthn", where, fc.Type)
	}
	if err := checkID(where+".id", fc.ID); err != nil {
		return nil, err
	}
	f := &factor{
		id: orStr(fc.ID, newID(kind.prefix)), kind: fc.Type,
		factorType: kind.factorType, provider: kind.provider,
		push: fc.Push, lastStep: -1,
	}
	if fc.Type != "totp" && fc.Secret != "" {
		return nil, fmt.Errorf("%s: secret only applies to totp factors", where)
	}
	if fc.Type != "push" && fc.Push != (PushConfig{}) {
		return nil, fmt.Errorf("%s: push only applies to push factors", where)
	}
	if fc.Type != "webauthn" && fc.UserVerification != "" {
		return nil, fmt.Errorf("%s: user_verification only applies to webauthn factors", where)
	}
	switch fc.Type {
	case "totp":
		raw, err := decodeBase32Secret(fc.Secret)
		if err != nil || len(raw) < 10 {
			return nil, fmt.Errorf("%s: secret must be a base32 TOTP seed of at least 80 bits, such as JBSWY3DPEHPK3PXP", where)
		}
		f.secret = normalizeSecret(fc.Secret)
	case "sms":
		if strings.TrimSpace(fc.Phone) == "" {
			return nil, fmt.Errorf("%s: phone is required for sms factors", where)
		}
		f.phone = fc.Phone
	case "email":
		f.email = orStr(fc.Email, u.email)
		if f.email == "" {
			return nil, fmt.Errorf("%s: email is required (the user has no email address)", where)
		}
	case "webauthn":
		f.userVerification = orStr(fc.UserVerification, "preferred")
		switch f.userVerification {
		case "required", "preferred", "discouraged":
		default:
			return nil, fmt.Errorf("%s: user_verification %q is not required, preferred or discouraged", where, fc.UserVerification)
		}
	case "push":
		f.push.Result = orStr(f.push.Result, pushApprove)
		switch f.push.Result {
		case pushApprove, pushReject, pushTimeout, pushWait:
		default:
			return nil, fmt.Errorf("%s: push.result %q is not approve, reject, timeout or wait", where, fc.Push.Result)
		}
		if f.push.Delay < 0 {
			return nil, fmt.Errorf("%s: push.delay is negative", where)
		}
	}
	return f, nil
}

func (u *user) public() *User {
	return &User{ID: u.id, Login: u.login, Email: u.email, FirstName: u.first, LastName: u.last, Groups: append([]string(nil), u.groups...)}
}

func (u *user) factor(id string) *factor {
	for _, f := range u.factors {
		if f.id == id {
			return f
		}
	}
	return nil
}

// lookupUser finds a user by login (any case) or id.
func (o *Org) lookupUser(ref string) *user {
	if u := o.usersByID[ref]; u != nil {
		return u
	}
	return o.usersByLogin[strings.ToLower(strings.TrimSpace(ref))]
}

// mfaRequired applies the sign-on policy to u.
func (o *Org) mfaRequired(u *user) bool {
	if o.pol.mfaRequired != nil {
		return *o.pol.mfaRequired
	}
	return len(u.factors) > 0
}

// RequiresMFA reports whether the org's sign-on policy demands a second
// factor from login. An OAuth server uses it to refuse grants (such as the
// resource owner password grant) that cannot carry one, as Okta does.
func (o *Org) RequiresMFA(login string) bool {
	u := o.lookupUser(login)
	return u != nil && o.mfaRequired(u)
}

// CheckPassword verifies a primary credential for OAuth grants that take
// one. It counts failures towards lockout like /api/v1/authn does and
// returns ErrAuthenticationFailed, ErrLockedOut or ErrPasswordExpired. It
// does not perform MFA; see RequiresMFA.
func (o *Org) CheckPassword(ctx context.Context, login, password string) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.usersByLogin[strings.ToLower(strings.TrimSpace(login))]
	if u == nil || password == "" {
		return nil, ErrAuthenticationFailed
	}
	if u.status == statusLockedOut {
		return nil, ErrLockedOut
	}
	if !secretEqual(u.password, password) {
		if o.recordPasswordFailure(u) {
			return nil, ErrLockedOut
		}
		return nil, ErrAuthenticationFailed
	}
	u.failedPasswords = 0
	if u.status == statusPasswordExpired {
		return nil, ErrPasswordExpired
	}
	return u.public(), nil
}

// recordPasswordFailure counts a wrong password and reports whether it
// locked the user out.
func (o *Org) recordPasswordFailure(u *user) bool {
	u.failedPasswords++
	if u.failedPasswords >= o.pol.lockoutAttempts {
		o.lockOut(u)
		return true
	}
	return false
}

func (o *Org) lockOut(u *user) {
	u.status = statusLockedOut
	u.pendingPush = nil
	// A locked user's transactions end with the lock, as in Okta.
	for k, t := range o.txns {
		if t.user == u {
			delete(o.txns, k)
		}
	}
	o.log.Info("user locked out", "login", u.login)
}

// SessionUser returns the user of the Okta session a request carries (sid
// cookie). Using the session counts as activity for the idle timeout.
func (o *Org) SessionUser(r *http.Request) (*User, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.cookieSession(r, o.clk.Now(), true)
	if s == nil {
		return nil, false
	}
	return s.user.public(), true
}

// AppInfo describes a SAML app for wiring other sandbox parts to it.
type AppInfo struct {
	ID, Label, ExternalKey string
	Issuer                 string // SAML issuer / metadata entityID
	SSOURL                 string // IdP-initiated sign-in URL
	MetadataURL            string
	ProviderARNs           []string // distinct SAML provider ARNs its roles name
}

// Apps lists the org's SAML apps.
func (o *Org) Apps() []AppInfo {
	out := make([]AppInfo, 0, len(o.apps))
	for _, a := range o.apps {
		info := AppInfo{ID: a.id, Label: a.label, ExternalKey: a.key, Issuer: a.issuer(), SSOURL: o.ssoURL(a), MetadataURL: o.base + "/app/" + a.key + "/sso/saml/metadata"}
		seen := map[string]bool{}
		for _, r := range a.roles {
			if !seen[r.provider] {
				seen[r.provider] = true
				info.ProviderARNs = append(info.ProviderARNs, r.provider)
			}
		}
		out = append(out, info)
	}
	return out
}

// SAMLMetadata returns the IdP metadata XML of the SAML app appID (its id
// or external key).
func (o *Org) SAMLMetadata(appID string) ([]byte, error) {
	a := o.appsByKey[appID]
	if a == nil {
		return nil, fmt.Errorf("org: no SAML app %q", appID)
	}
	return o.metadata(a)
}

// SAMLSigningCertificate returns the certificate that signs appID's
// assertions.
func (o *Org) SAMLSigningCertificate(appID string) (*x509.Certificate, error) {
	a := o.appsByKey[appID]
	if a == nil {
		return nil, fmt.Errorf("org: no SAML app %q", appID)
	}
	return a.cert, nil
}

// Register adds the org's endpoints to mux.
func (o *Org) Register(mux *http.ServeMux) {
	// Classic Authentication API.
	mux.HandleFunc("POST /api/v1/authn", o.handleAuthn)
	mux.HandleFunc("POST /api/v1/authn/factors/{factorId}/verify", o.handleVerify)
	mux.HandleFunc("POST /api/v1/authn/factors/{factorId}/verify/resend", o.handleResend)
	mux.HandleFunc("POST /api/v1/authn/cancel", o.handleCancel)
	mux.HandleFunc("POST /api/v1/authn/previous", o.handlePrevious)
	mux.HandleFunc("POST /api/v1/authn/skip", o.handleSkip)
	mux.HandleFunc("POST /api/v1/authn/credentials/change_password", o.handleChangePassword)

	// Sessions API.
	mux.HandleFunc("POST /api/v1/sessions", o.api("sessions", o.handleCreateSession))
	mux.HandleFunc("GET /api/v1/sessions/me", o.api("sessions", o.handleGetMySession))
	mux.HandleFunc("DELETE /api/v1/sessions/me", o.api("sessions", o.handleDeleteMySession))
	mux.HandleFunc("POST /api/v1/sessions/me/lifecycle/refresh", o.api("sessions", o.handleRefreshMySession))
	mux.HandleFunc("GET /api/v1/sessions/{sessionId}", o.api("sessions", o.adminToken(o.handleGetSession)))
	mux.HandleFunc("DELETE /api/v1/sessions/{sessionId}", o.api("sessions", o.adminToken(o.handleDeleteSession)))
	mux.HandleFunc("POST /api/v1/sessions/{sessionId}/lifecycle/refresh", o.api("sessions", o.adminToken(o.handleRefreshSession)))
	mux.HandleFunc("/api/v1/", o.api("other", o.unknownAPI(mux)))

	mux.HandleFunc("GET /login/sessionCookieRedirect", o.handleSessionCookieRedirect)
	mux.HandleFunc("GET /login/login.htm", o.handleLoginPage)
	o.registerHostedSignIn(mux)

	// AWS Account Federation app.
	mux.HandleFunc("GET /app/amazon_aws/{appId}/sso/saml", o.handleSSO)
	mux.HandleFunc("GET /home/amazon_aws/{appId}/{n}", o.handleAppHome)
	mux.HandleFunc("GET /app/{externalKey}/sso/saml/metadata", o.handleMetadata)

	mux.HandleFunc("GET /.well-known/okta-organization", o.handleOrganization)

	// Device activation and web SSO pages (device.go).
	o.registerDevice(mux)

	o.registerAdmin(mux)
}

// unknownAPI answers /api/v1 paths no route claims: 405 when another method
// would have matched, else 404, both with Okta's error bodies.
func (o *Org) unknownAPI(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			if m == r.Method {
				continue
			}
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/v1/" {
				errMethod.write(w)
				return
			}
		}
		errNotFound.writeSummary(w, "Not found: Resource not found: "+r.URL.Path)
	}
}

func (o *Org) handleOrganization(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id":       o.id,
		"pipeline": o.pipeline,
		"_links":   map[string]any{"organization": map[string]any{"href": o.base}},
	})
}

// prune drops expired transactions, tokens and sessions. It runs at most
// once a minute of clock time so busy tests do not pay for it per request.
func (o *Org) prune(now time.Time) {
	if now.Sub(o.lastPrune) < time.Minute {
		return
	}
	o.lastPrune = now
	for k, t := range o.txns {
		if !now.Before(t.expiresAt) {
			delete(o.txns, k)
		}
	}
	for k, st := range o.sessionTokens {
		if !now.Before(st.expiresAt) {
			delete(o.sessionTokens, k)
		}
	}
	for k, s := range o.sessions {
		if !now.Before(o.sessionExpiry(s)) {
			delete(o.sessions, k)
		}
	}
	o.limiter.prune(now)
}
