package identitycenter

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Grant types CreateToken accepts.
const (
	GrantDeviceCode   = "urn:ietf:params:oauth:grant-type:device_code"
	GrantRefreshToken = "refresh_token"
)

// apiError is a REST-JSON error: the type goes in X-Amzn-ErrorType, which
// the SDKs read to pick the exception.
type apiError struct {
	status int
	typ    string
	// oauth errors carry error/error_description; portal errors message.
	oauth, message string
}

func (e *apiError) Error() string { return e.typ + ": " + e.message }

func oidcError(status int, typ, code, desc string) *apiError {
	return &apiError{status: status, typ: typ, oauth: code, message: desc}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	body := map[string]string{"message": e.message}
	if e.oauth != "" {
		body = map[string]string{"error": e.oauth, "error_description": e.message}
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var errBadJSON = oidcError(http.StatusBadRequest, "InvalidRequestException", "invalid_request", "The request body is not a JSON object this operation accepts.")

// decodeBody reads a JSON request body of at most maxBody bytes. Unknown
// fields are allowed: newer SDKs send members older services ignore.
func decodeBody(r *http.Request, v any) *apiError {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		return errBadJSON
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return errBadJSON
	}
	return nil
}

type registerRequest struct {
	ClientName string   `json:"clientName"`
	ClientType string   `json:"clientType"`
	Scopes     []string `json:"scopes"`
	GrantTypes []string `json:"grantTypes"`
}

func (s *Service) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if e := decodeBody(r, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.ClientName == "" || len(req.ClientName) > 256 || req.ClientType != "public" {
		writeError(w, oidcError(http.StatusBadRequest, "InvalidClientMetadataException", "invalid_client_metadata", "clientName is required and clientType must be public."))
		return
	}
	for _, sc := range req.Scopes {
		if sc == "" || len(sc) > 256 {
			writeError(w, oidcError(http.StatusBadRequest, "InvalidScopeException", "invalid_scope", "A scope is empty or too long."))
			return
		}
	}
	now := s.clk.Now()
	c := &regClient{id: newToken("", 16), secret: newToken("", 48), name: req.ClientName, scopes: slices.Clone(req.Scopes), expires: now.Add(registrationLife).Truncate(time.Second)}
	s.mu.Lock()
	s.pruneLocked(now)
	s.clients[c.id] = c
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"clientId":              c.id,
		"clientSecret":          c.secret,
		"clientIdIssuedAt":      now.Unix(),
		"clientSecretExpiresAt": c.expires.Unix(),
	})
}

// client authenticates a registered client; under s.mu.
func (s *Service) clientLocked(id, secret string, now time.Time) (*regClient, *apiError) {
	c := s.clients[id]
	if c == nil || !secretEqual(c.secret, secret) {
		return nil, oidcError(http.StatusUnauthorized, "InvalidClientException", "invalid_client", "The client is not registered or its secret is wrong: register the client again.")
	}
	if !now.Before(c.expires) {
		return nil, oidcError(http.StatusUnauthorized, "InvalidClientException", "invalid_client", "The client registration has expired: register the client again.")
	}
	return c, nil
}

type deviceRequest struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	StartURL     string `json:"startUrl"`
}

func (s *Service) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	var req deviceRequest
	if e := decodeBody(r, &req); e != nil {
		writeError(w, e)
		return
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	c, e := s.clientLocked(req.ClientID, req.ClientSecret, now)
	if e != nil {
		writeError(w, e)
		return
	}
	if req.StartURL != s.startURL {
		writeError(w, oidcError(http.StatusBadRequest, "InvalidRequestException", "invalid_request", "The start URL is not this instance's access portal URL."))
		return
	}
	d := &deviceAuth{client: c, deviceCode: newToken("", 48), userCode: newUserCode(), expires: now.Add(deviceCodeLifetime)}
	for s.userCodes[d.userCode] != nil {
		d.userCode = newUserCode()
	}
	s.devices[d.deviceCode] = d
	s.userCodes[d.userCode] = d
	writeJSON(w, http.StatusOK, map[string]any{
		"deviceCode":              d.deviceCode,
		"userCode":                d.userCode,
		"verificationUri":         s.verify,
		"verificationUriComplete": s.verify + "?user_code=" + url.QueryEscape(d.userCode),
		"expiresIn":               int(deviceCodeLifetime / time.Second),
		"interval":                int(pollInterval / time.Second),
	})
}

type tokenRequest struct {
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
	GrantType    string   `json:"grantType"`
	DeviceCode   string   `json:"deviceCode"`
	RefreshToken string   `json:"refreshToken"`
	Scope        []string `json:"scope"`
}

func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if e := decodeBody(r, &req); e != nil {
		writeError(w, e)
		return
	}
	resp, e := s.token(&req)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) token(req *tokenRequest) (map[string]any, *apiError) {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	c, e := s.clientLocked(req.ClientID, req.ClientSecret, now)
	if e != nil {
		return nil, e
	}
	var g *grant
	switch req.GrantType {
	case GrantDeviceCode:
		d := s.devices[req.DeviceCode]
		if d == nil || d.client != c || d.used {
			return nil, oidcError(http.StatusBadRequest, "InvalidGrantException", "invalid_grant", "The device code is not valid for this client.")
		}
		if !now.Before(d.expires) {
			return nil, oidcError(http.StatusBadRequest, "ExpiredTokenException", "expired_token", "The device code has expired: start the sign-in again.")
		}
		if d.denied {
			d.used = true
			return nil, oidcError(http.StatusBadRequest, "AccessDeniedException", "access_denied", "The sign-in was refused on the verification page.")
		}
		if d.user == nil {
			early := !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < pollInterval
			d.lastPoll = now
			if early {
				return nil, oidcError(http.StatusBadRequest, "SlowDownException", "slow_down", "Poll no more often than the interval.")
			}
			return nil, oidcError(http.StatusBadRequest, "AuthorizationPendingException", "authorization_pending", "The user has not yet confirmed the code.")
		}
		d.used = true
		g = &grant{client: c, user: d.user, scopes: c.scopes}
	case GrantRefreshToken:
		old := s.refresh[req.RefreshToken]
		if old == nil || old.client != c || !now.Before(old.expires) {
			return nil, oidcError(http.StatusBadRequest, "InvalidGrantException", "invalid_grant", "The refresh token is not valid: sign in again.")
		}
		// Refresh tokens rotate: the old one is spent.
		delete(s.refresh, req.RefreshToken)
		g = &grant{client: c, user: old.user, scopes: old.scopes}
	case "":
		return nil, oidcError(http.StatusBadRequest, "InvalidRequestException", "invalid_request", "grantType is required.")
	default:
		return nil, oidcError(http.StatusBadRequest, "UnsupportedGrantTypeException", "unsupported_grant_type", "The grant type is not supported.")
	}
	access := newToken("aoa", 48)
	g.expires = now.Add(s.session)
	s.access[access] = g
	resp := map[string]any{"accessToken": access, "tokenType": "Bearer", "expiresIn": int(s.session / time.Second)}
	// A refresh token comes only to clients registered with scopes, as
	// for sso-session profiles (sso_registration_scopes).
	if len(g.scopes) > 0 {
		rt := newToken("aor", 48)
		s.refresh[rt] = &grant{client: c, user: g.user, scopes: g.scopes, expires: now.Add(refreshIdle)}
		resp["refreshToken"] = rt
	}
	s.log.Info("identitycenter: token issued", "login", g.user.Login, "grant_type", req.GrantType)
	return resp, nil
}

// bearer finds the grant of the portal call's access token.
func (s *Service) bearer(r *http.Request) (*grant, *apiError) {
	tok := r.Header.Get("x-amz-sso_bearer_token")
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.access[tok]
	if tok == "" || g == nil || !now.Before(g.expires) {
		return nil, &apiError{status: http.StatusUnauthorized, typ: "UnauthorizedException", message: "Session token not found or invalid"}
	}
	return g, nil
}

var errNoAccess = &apiError{status: http.StatusForbidden, typ: "ForbiddenException", message: "No access"}
