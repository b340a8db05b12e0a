package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Register adds the servers' endpoints to mux. Custom servers share
// wildcard patterns so an unknown server ID gets Okta's 404 body; the org
// server's paths are fixed. Nothing here is a catch-all.
func (s *Servers) Register(mux *http.ServeMux) {
	custom := func(r *http.Request) *server { return s.custom[r.PathValue("id")] }
	for _, e := range s.endpointTable() {
		mux.Handle("/oauth2/{id}"+e.path, s.wrap(custom, e))
		if e.path == "/.well-known/oauth-authorization-server" {
			// RFC 8414's own location for a path issuer, which Okta also
			// serves.
			mux.Handle("/.well-known/oauth-authorization-server/oauth2/{id}", s.wrap(custom, e))
		}
	}
	if s.org != nil {
		org := func(*http.Request) *server { return s.org }
		for _, e := range s.endpointTable() {
			if e.name == "oauth-authorization-server" {
				// Okta's reference: OAuth 2.0 metadata "is only
				// available on custom authorization servers".
				continue
			}
			path := "/oauth2" + e.path
			if strings.HasPrefix(e.path, "/.well-known/") {
				path = e.path
			}
			mux.Handle(path, s.wrap(org, e))
		}
	}
	mux.HandleFunc("POST /sandbox/admin/oauth/{id}/rotate", s.adminRotate)
	mux.HandleFunc("POST /sandbox/admin/oauth/{id}/revoke", s.adminRevoke)
}

// endpoint is one of a server's endpoints, relative to /oauth2/{id} (or
// /oauth2 and the root for the org server).
type endpoint struct {
	name    string
	path    string
	methods []string
	handle  func(*server, http.ResponseWriter, *http.Request)
}

func (s *Servers) endpointTable() []endpoint {
	get := []string{http.MethodGet, http.MethodHead}
	post := []string{http.MethodPost}
	return []endpoint{
		{"openid-configuration", "/.well-known/openid-configuration", get, func(srv *server, w http.ResponseWriter, r *http.Request) { srv.serveDiscovery(w, true) }},
		{"oauth-authorization-server", "/.well-known/oauth-authorization-server", get, func(srv *server, w http.ResponseWriter, r *http.Request) { srv.serveDiscovery(w, false) }},
		{"keys", "/v1/keys", get, (*server).serveKeys},
		{"token", "/v1/token", post, (*server).serveToken},
		{"introspect", "/v1/introspect", post, (*server).serveIntrospect},
		{"revoke", "/v1/revoke", post, (*server).serveRevoke},
		{"device-authorize", "/v1/device/authorize", post, (*server).serveDeviceAuthorize},
		{"challenge", "/v1/challenge", post, (*server).serveChallenge},
		{"primary-authenticate", "/v1/primary-authenticate", post, (*server).servePrimaryAuthenticate},
		{"userinfo", "/v1/userinfo", []string{http.MethodGet, http.MethodPost}, (*server).serveUserinfo},
	}
}

// wrap resolves the server, checks the method and applies the rate limit.
// Methods are checked here rather than in the pattern so a wrong method
// gets Okta's 405 instead of falling through to another handler.
func (s *Servers) wrap(find func(*http.Request) *server, e endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv := find(r)
		if srv == nil {
			writeOktaError(w, http.StatusNotFound, "E0000007", fmt.Sprintf("Not found: Resource not found: %s (AuthorizationServer)", r.PathValue("id")))
			return
		}
		if !slices.Contains(e.methods, r.Method) {
			w.Header().Set("Allow", strings.Join(e.methods, ", "))
			writeOktaError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
			return
		}
		if !s.limit.allow(w, srv.label()+" "+e.name, s.clk.Now()) {
			if e.name == "challenge" {
				// Direct Authentication's /challenge answers its rate
				// limit in an OAuth body, as its other refusals.
				writeOAuthError(w, &oauthError{status: http.StatusTooManyRequests, code: "invalid_grant", description: "API call exceeded rate limit due to too many requests."})
				return
			}
			writeOktaError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
			return
		}
		e.handle(srv, w, r)
	})
}

// discovery is an OpenID Provider / OAuth authorization server metadata
// document with the fields Okta publishes, less the endpoints the sandbox
// does not serve (authorize, logout, client registration): a third-party
// library reading it finds only endpoints that answer.
type discovery struct {
	Issuer                                     string   `json:"issuer"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint,omitempty"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestObjectSigningAlgValuesSupported     []string `json:"request_object_signing_alg_values_supported"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported"`
}

var supportedClaims = []string{
	"iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time", "amr", "idp", "nonce",
	"name", "nickname", "preferred_username", "given_name", "middle_name", "family_name",
	"email", "email_verified", "profile", "zoneinfo", "locale", "address", "phone_number",
	"picture", "website", "gender", "birthdate", "updated_at", "at_hash", "c_hash",
}

func (srv *server) serveDiscovery(w http.ResponseWriter, openid bool) {
	authMethods := []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone}
	algs := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		algs[i] = string(a)
	}
	var scopes []string
	for _, sc := range srv.scopes {
		if srv.id == "" || slices.ContainsFunc(oidcScopes, func(o ScopeConfig) bool { return o.Name == sc.Name }) || sc.Discoverable {
			scopes = append(scopes, sc.Name)
		}
	}
	d := discovery{
		Issuer:                            srv.issuer,
		TokenEndpoint:                     srv.url("token"),
		JWKSURI:                           srv.url("keys"),
		ResponseTypesSupported:            []string{"code", "id_token", "code id_token", "code token", "id_token token", "code id_token token"},
		ResponseModesSupported:            []string{"query", "fragment", "form_post", "okta_post_message"},
		GrantTypesSupported:               srv.grants,
		SubjectTypesSupported:             []string{"public"},
		ScopesSupported:                   scopes,
		TokenEndpointAuthMethodsSupported: authMethods,
		TokenEndpointAuthSigningAlgValuesSupported: algs,
		ClaimsSupported:                           supportedClaims,
		CodeChallengeMethodsSupported:             []string{"S256"},
		IntrospectionEndpoint:                     srv.url("introspect"),
		IntrospectionEndpointAuthMethodsSupported: authMethods,
		RevocationEndpoint:                        srv.url("revoke"),
		RevocationEndpointAuthMethodsSupported:    authMethods,
		RequestParameterSupported:                 true,
		RequestObjectSigningAlgValuesSupported:    []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"},
		DPoPSigningAlgValuesSupported:             dpopAlgNames,
	}
	if slices.Contains(srv.grants, GrantDeviceCode) {
		d.DeviceAuthorizationEndpoint = srv.url("device/authorize")
	}
	if openid {
		// The OAuth metadata document leaves out the OIDC-only fields.
		d.UserinfoEndpoint = srv.url("userinfo")
		d.IDTokenSigningAlgValuesSupported = []string{"RS256"}
	}
	writeJSON(w, http.StatusOK, d)
}

// maxJWKSAge caps the JWKS max-age when no rotation is scheduled.
const maxJWKSAge = 24 * time.Hour

func (srv *server) serveKeys(w http.ResponseWriter, r *http.Request) {
	now := srv.parent.clk.Now()
	srv.mu.Lock()
	if err := srv.keys.advance(now); err != nil {
		srv.mu.Unlock()
		srv.parent.log.Error("authserver: key rotation failed", "server", srv.label(), "err", err)
		writeOktaError(w, http.StatusInternalServerError, "E0000009", "Internal Server Error")
		return
	}
	var set jose.JSONWebKeySet
	for _, k := range srv.keys.published() {
		set.Keys = append(set.Keys, k.publicJWK())
	}
	age := maxJWKSAge
	if srv.keys.interval > 0 {
		// Caches expire when the next scheduled key takes over.
		age = min(age, srv.keys.next.Sub(now))
	}
	srv.mu.Unlock()
	secs := int64(age / time.Second)
	w.Header().Set("Cache-Control", "max-age="+strconv.FormatInt(secs, 10)+", must-revalidate")
	w.Header().Set("Expires", now.Add(time.Duration(secs)*time.Second).UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, set)
}

func (srv *server) serveToken(w http.ResponseWriter, r *http.Request) {
	resp, oerr := srv.token(r)
	if oerr != nil {
		srv.parent.log.Info("authserver: token request refused", "server", srv.label(), "error", oerr.code, "error_description", oerr.description)
		writeOAuthError(w, oerr)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

// token handles a token request and returns the response body or an
// OAuth error.
func (srv *server) token(r *http.Request) (*tokenResponse, *oauthError) {
	form, oerr := readForm(r)
	if oerr != nil {
		return nil, oerr
	}
	gt := form["grant_type"]
	if gt == "" {
		return nil, errInvalidRequest("The 'grant_type' parameter is required.")
	}
	cl, oerr := srv.authenticateClient(r, form, srv.url("token"))
	if oerr != nil {
		return nil, oerr
	}
	if !slices.Contains(srv.grants, gt) {
		return nil, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type",
			description: fmt.Sprintf("The grant type '%s' is not supported by this authorization server (supported: %s).", gt, strings.Join(srv.grants, ", "))}
	}
	if !cl.grantTypes[gt] {
		return nil, &oauthError{status: http.StatusBadRequest, code: "unauthorized_client",
			description: fmt.Sprintf("The client may not use the '%s' grant type.", gt)}
	}
	jkt, oerr := srv.checkDPoP(r, cl)
	if oerr != nil {
		return nil, oerr
	}
	var g grant
	switch gt {
	case GrantClientCredentials:
		scopes, oerr := srv.resolveScopes(cl, form["scope"], true)
		if oerr != nil {
			return nil, oerr
		}
		g = grant{client: cl, scopes: scopes}
	case GrantPassword:
		user, pass := form["username"], form["password"]
		if user == "" || pass == "" {
			return nil, errInvalidRequest("The 'username' and 'password' parameters are required.")
		}
		scopes, oerr := srv.resolveScopes(cl, form["scope"], false)
		if oerr != nil {
			return nil, oerr
		}
		if srv.parent.dir == nil {
			return nil, errInvalidGrant("The credentials provided were invalid.")
		}
		id, err := srv.parent.dir.CheckPassword(r.Context(), user, pass)
		if err != nil || id == nil {
			srv.parent.log.Info("authserver: password grant refused", "server", srv.label(), "client_id", cl.id, "err", err)
			return nil, errInvalidGrant("The credentials provided were invalid.")
		}
		if oerr := srv.mfaRequired(cl, id, scopes); oerr != nil {
			return nil, oerr
		}
		g = grant{client: cl, user: id, scopes: scopes, authTime: srv.parent.clk.Now()}
	case GrantMFAOTP, GrantMFAOOB, GrantOTP, GrantOOB:
		var oerr *oauthError
		if g, oerr = srv.directGrant(r.Context(), cl, gt, form); oerr != nil {
			return nil, oerr
		}
	case GrantRefreshToken:
		var oerr *oauthError
		g, oerr = srv.refreshGrant(cl, form)
		if oerr != nil {
			return nil, oerr
		}
	case GrantDeviceCode:
		var oerr *oauthError
		if g, oerr = srv.deviceGrant(cl, form); oerr != nil {
			return nil, oerr
		}
	case GrantTokenExchange:
		return srv.tokenExchange(cl, form)
	}
	g.jkt = jkt
	resp, err := srv.issue(g)
	if err == nil && gt == GrantDeviceCode {
		err = srv.addDeviceSecret(g, resp)
	}
	if err != nil {
		srv.parent.log.Error("authserver: issuing tokens failed", "server", srv.label(), "err", err)
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "The tokens could not be issued."}
	}
	srv.parent.log.Info("authserver: tokens issued", "server", srv.label(), "client_id", cl.id, "grant_type", gt, "scope", resp.Scope)
	return resp, nil
}

// userScopes are the OIDC scopes that only make sense with a user.
var userScopes = map[string]bool{"openid": true, "profile": true, "email": true, "address": true, "phone": true, "offline_access": true, "groups": true}

// resolveScopes checks the requested scope parameter against the server
// and the client. An empty request gets the server's default scopes.
func (srv *server) resolveScopes(cl *client, requested string, clientCredentials bool) ([]string, *oauthError) {
	names := strings.Fields(requested)
	if len(names) == 0 {
		if len(srv.defaults) == 0 {
			return nil, errInvalidScope("No scope was requested and the authorization server has no default scopes; send the 'scope' parameter.")
		}
		names = srv.defaults
	}
	var out []string
	for _, n := range names {
		if slices.Contains(out, n) {
			continue
		}
		if !srv.scopeSet[n] {
			return nil, errInvalidScope("The scope '%s' is not configured on this authorization server.", n)
		}
		if cl.scopes != nil && !cl.scopes[n] {
			return nil, errInvalidScope("The client may not request the scope '%s'.", n)
		}
		if clientCredentials && userScopes[n] {
			return nil, errInvalidScope("The scope '%s' needs a user and cannot be granted to client_credentials.", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// refreshGrant checks a refresh_token grant and returns what it grants.
func (srv *server) refreshGrant(cl *client, form map[string]string) (grant, *oauthError) {
	tok := form["refresh_token"]
	if tok == "" {
		return grant{}, errInvalidRequest("The 'refresh_token' parameter is required.")
	}
	now := srv.parent.clk.Now()
	invalid := errInvalidGrant("The refresh token is invalid or expired.")
	srv.mu.Lock()
	rec, ok := srv.refresh[tok]
	if !ok || rec.revoked || rec.clientID != cl.id || srv.refreshExpired(rec, now) {
		srv.mu.Unlock()
		return grant{}, invalid
	}
	orig := rec.scopes
	srv.mu.Unlock()

	scopes := orig
	if req := strings.Fields(form["scope"]); len(req) > 0 {
		scopes = nil
		for _, n := range req {
			if !slices.Contains(orig, n) {
				return grant{}, errInvalidScope("The scope '%s' was not granted with the refresh token.", n)
			}
			if !slices.Contains(scopes, n) {
				scopes = append(scopes, n)
			}
		}
	}
	srv.mu.Lock()
	rec.lastUsed = now
	g := grant{client: cl, user: rec.user, scopes: scopes, authTime: rec.authTime, refresh: tok}
	srv.mu.Unlock()
	return g, nil
}

// introspection is an RFC 7662 response.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	Username  string `json:"username,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       any    `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	UID       string `json:"uid,omitempty"`
	// Custom holds the access token's custom claims (groups, …), which
	// Okta returns alongside the standard members.
	Custom map[string]any `json:"-"`
}

// standardAccessClaims are the access-token claims introspection reports
// under RFC 7662 names, or not at all.
var standardAccessClaims = map[string]bool{
	"ver": true, "jti": true, "iss": true, "aud": true, "iat": true, "exp": true, "nbf": true,
	"cid": true, "uid": true, "scp": true, "sub": true, "auth_time": true,
}

// MarshalJSON writes the standard members and then the custom claims,
// which never override a standard member.
func (in introspection) MarshalJSON() ([]byte, error) {
	type plain introspection
	base, err := json.Marshal(plain(in))
	if err != nil || len(in.Custom) == 0 {
		return base, err
	}
	var merged map[string]any
	if err := json.Unmarshal(base, &merged); err != nil {
		return nil, err
	}
	for k, v := range in.Custom {
		if _, taken := merged[k]; !taken {
			merged[k] = v
		}
	}
	return json.Marshal(merged)
}

func (srv *server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(r)
	if oerr == nil {
		_, oerr = srv.authenticateClient(r, form, srv.url("introspect"))
	}
	if oerr == nil && form["token"] == "" {
		oerr = errInvalidRequest("The 'token' parameter is required.")
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, srv.introspect(form["token"]))
}

// introspect describes token, or reports it inactive, in the shapes of
// Okta's /introspect reference: token_type is always Bearer; an access
// token's answer carries iss, aud, jti, iat and (for a user) uid; a
// refresh token's only active, token_type, scope, client_id, username,
// exp and sub; an ID token's its own claims (aud is the client). The
// hint is not needed: JWTs are access or ID tokens (Okta's jti says
// which), anything else may be a refresh token.
func (srv *server) introspect(token string) introspection {
	if strings.Count(token, ".") == 2 {
		if out, ok := srv.introspectIDToken(token); ok {
			return out
		}
		vt, rec, ok := srv.activeAccess(token)
		if !ok {
			return introspection{}
		}
		c := vt.claims
		out := introspection{Active: true, TokenType: "Bearer", Exp: vt.exp.Unix(), Jti: vt.jti, Iss: srv.issuer, Aud: c["aud"]}
		if !vt.iat.IsZero() {
			out.Iat, out.Nbf = vt.iat.Unix(), vt.iat.Unix()
		}
		out.Sub, _ = c["sub"].(string)
		out.ClientID, _ = c["cid"].(string)
		out.UID, _ = c["uid"].(string)
		out.Scope = strings.Join(stringList(c["scp"]), " ")
		for k, v := range c {
			if !standardAccessClaims[k] {
				if out.Custom == nil {
					out.Custom = map[string]any{}
				}
				out.Custom[k] = v
			}
		}
		if rec != nil && rec.user != nil {
			out.Username = rec.user.Login
		} else if out.UID != "" {
			out.Username = out.Sub
		}
		return out
	}
	now := srv.parent.clk.Now()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	rec, ok := srv.refresh[token]
	if !ok || rec.revoked || srv.refreshExpired(rec, now) {
		return introspection{}
	}
	exp := rec.lastUsed.Add(srv.refreshIdle)
	if end := rec.created.Add(srv.refreshLifetime); srv.refreshLifetime > 0 && end.Before(exp) {
		exp = end
	}
	return introspection{
		Active: true, TokenType: "Bearer", Scope: strings.Join(rec.scopes, " "),
		ClientID: rec.clientID, Username: rec.user.Login, Sub: rec.user.Login,
		Exp: exp.Unix(),
	}
}

// introspectIDToken answers for an unexpired ID token this server
// signed, which Okta reports active: its claims, client_id (the
// audience) and username. ok is false for anything else.
func (srv *server) introspectIDToken(token string) (introspection, bool) {
	now := srv.parent.clk.Now()
	vt, err := srv.verifyJWT(token, now)
	if err != nil || !strings.HasPrefix(vt.jti, "ID.") {
		return introspection{}, false
	}
	if !now.Before(vt.exp) {
		return introspection{}, true
	}
	c := vt.claims
	out := introspection{Active: true, TokenType: "Bearer", Exp: vt.exp.Unix(), Jti: vt.jti, Iss: srv.issuer, Aud: c["aud"]}
	if !vt.iat.IsZero() {
		out.Iat = vt.iat.Unix()
	}
	out.Sub, _ = c["sub"].(string)
	out.ClientID, _ = c["aud"].(string)
	out.Username, _ = c["preferred_username"].(string)
	for k, v := range c {
		if k != "ver" && k != "jti" && k != "iss" && k != "aud" && k != "iat" && k != "exp" && k != "sub" {
			if out.Custom == nil {
				out.Custom = map[string]any{}
			}
			out.Custom[k] = v
		}
	}
	return out, true
}

// stringList reads a JSON string array claim.
func stringList(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (srv *server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(r)
	var cl *client
	if oerr == nil {
		cl, oerr = srv.authenticateClient(r, form, srv.url("revoke"))
	}
	if oerr == nil && form["token"] == "" {
		oerr = errInvalidRequest("The 'token' parameter is required.")
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	// Unknown, expired and already revoked tokens succeed quietly (RFC
	// 7009 2.2); only another client's token is refused, since a client
	// may revoke its own tokens only.
	if _, err := srv.revokeChecked(form["token"], cl.id); errors.Is(err, errOtherClient) {
		writeOAuthError(w, errInvalidRequest("The token was not issued to this client; a client may revoke its own tokens only."))
		return
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

func (srv *server) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	token := ""
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	} else if r.Method == http.MethodPost {
		if form, oerr := readForm(r); oerr == nil {
			token = form["access_token"]
		}
	}
	vt, rec, ok := srv.activeAccess(token)
	var user *Identity
	if ok && rec != nil {
		user = rec.user
	} else if ok {
		// A minted token: take the user from its claims.
		uid, _ := vt.claims["uid"].(string)
		login, _ := vt.claims["sub"].(string)
		if uid != "" {
			user = &Identity{ID: uid, Login: login}
		}
	}
	if !ok || user == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is invalid."`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	scopes := stringList(vt.claims["scp"])
	if !hasScope(scopes, "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", error_description="The access token must grant the openid scope."`)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	out := map[string]any{"sub": user.ID}
	addProfileClaims(out, user, scopes)
	if srv.groupsOrg && hasScope(scopes, "groups") {
		out["groups"] = append([]string{}, user.Groups...)
	}
	srv.addCustomClaims(out, user, false)
	writeJSON(w, http.StatusOK, out)
}

// adminServer resolves the {id} of an admin path: "org" is the org server.
func (s *Servers) adminServer(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if id == OrgServerID {
		id = ""
	}
	if _, err := s.lookup(id); err != nil {
		writeOktaError(w, http.StatusNotFound, "E0000007", fmt.Sprintf("Not found: Resource not found: %s (AuthorizationServer)", r.PathValue("id")))
		return "", false
	}
	return id, true
}

// adminRotate rotates a server's signing key, for tests of key rollover
// that drive the sandbox over HTTP.
func (s *Servers) adminRotate(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminServer(w, r)
	if !ok {
		return
	}
	if err := s.RotateKeys(id); err != nil {
		s.log.Error("authserver: rotation failed", "server", r.PathValue("id"), "err", err)
		writeOktaError(w, http.StatusInternalServerError, "E0000009", "Internal Server Error")
		return
	}
	kid, _ := s.SigningKeyID(id)
	writeJSON(w, http.StatusOK, map[string]string{"server": r.PathValue("id"), "kid": kid})
}

// adminRevoke revokes a token (form parameter token) without client
// authentication, as an administrator can in Okta.
func (s *Servers) adminRevoke(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminServer(w, r)
	if !ok {
		return
	}
	form, oerr := readForm(r)
	if oerr == nil && form["token"] == "" {
		oerr = errInvalidRequest("The 'token' parameter is required.")
	}
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	revoked, _ := s.Revoke(id, form["token"])
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": revoked})
}
