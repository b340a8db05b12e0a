package authserver

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// randomID returns prefix followed by 43 random base64url characters, the
// shape of Okta's token IDs (AT.…, ID.…) and opaque tokens.
func randomID(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// signLocked signs claims with the current key. Needs srv.mu.
func (srv *server) signLocked(now time.Time, claims map[string]any) (string, error) {
	if err := srv.keys.advance(now); err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token claims: %w", err)
	}
	obj, err := srv.keys.current.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return obj.CompactSerialize()
}

// signAccessLocked signs an access token's claims: with the unpublished
// access key on the org server, with the current published key on a
// custom server. Needs srv.mu.
func (srv *server) signAccessLocked(now time.Time, claims map[string]any) (string, error) {
	if srv.accessKey == nil {
		return srv.signLocked(now, claims)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token claims: %w", err)
	}
	obj, err := srv.accessKey.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return obj.CompactSerialize()
}

// grant is what a token request was allowed: who, for which client, with
// which scopes.
type grant struct {
	client   *client
	user     *Identity // nil for client credentials
	scopes   []string
	authTime time.Time
	refresh  string // refresh token to return, if any
	jkt      string // the DPoP key the access token is bound to, if any
}

func hasScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want {
			return true
		}
	}
	return false
}

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// DeviceSecret comes with the device_sso scope; IssuedTokenType with
	// token exchange (device.go).
	DeviceSecret    string `json:"device_secret,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// issue mints the tokens for g: an access token, an ID token when openid
// was granted to a user, and a refresh token when g carries one (a new one
// is made when offline_access was granted and none exists yet).
func (srv *server) issue(g grant) (*tokenResponse, error) {
	now := srv.parent.clk.Now()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.pruneLocked(now)

	if g.user != nil && g.refresh == "" && hasScope(g.scopes, "offline_access") && g.client.grantTypes[GrantRefreshToken] {
		tok, err := randomID("")
		if err != nil {
			return nil, err
		}
		srv.refresh[tok] = &refreshRecord{
			clientID: g.client.id, user: g.user, scopes: g.scopes,
			authTime: g.authTime, created: now, lastUsed: now,
		}
		g.refresh = tok
	}

	jti, err := randomID("AT.")
	if err != nil {
		return nil, err
	}
	exp := now.Add(srv.accessTTL)
	at := map[string]any{
		"ver": 1,
		"jti": jti,
		"iss": srv.issuer,
		"aud": srv.audienceClaim(),
		"iat": now.Unix(),
		"exp": exp.Unix(),
		"cid": g.client.id,
		"scp": g.scopes,
	}
	if g.user != nil {
		at["uid"] = g.user.ID
		at["sub"] = g.user.Login
		at["auth_time"] = g.authTime.Unix()
	} else {
		at["sub"] = g.client.id
	}
	if g.jkt != "" {
		at["cnf"] = map[string]any{"jkt": g.jkt}
	}
	srv.addCustomClaims(at, g.user, true)
	access, err := srv.signAccessLocked(now, at)
	if err != nil {
		return nil, err
	}
	srv.access[jti] = &accessRecord{clientID: g.client.id, user: g.user, exp: exp, refresh: g.refresh}

	resp := &tokenResponse{
		TokenType:    "Bearer",
		ExpiresIn:    int64(srv.accessTTL / time.Second),
		AccessToken:  access,
		Scope:        strings.Join(g.scopes, " "),
		RefreshToken: g.refresh,
	}
	if g.jkt != "" {
		resp.TokenType = "DPoP"
	}
	if g.user != nil && hasScope(g.scopes, "openid") {
		idt, err := srv.idTokenLocked(now, g, access)
		if err != nil {
			return nil, err
		}
		resp.IDToken = idt
	}
	return resp, nil
}

// idTokenLocked mints the ID token that accompanies access. Needs srv.mu.
func (srv *server) idTokenLocked(now time.Time, g grant, access string) (string, error) {
	jti, err := randomID("ID.")
	if err != nil {
		return "", err
	}
	// at_hash is the left half of the SHA-256 of the access token (OIDC
	// Core 3.1.3.6 for RS256).
	sum := sha256.Sum256([]byte(access))
	c := map[string]any{
		"ver":       1,
		"sub":       g.user.ID,
		"iss":       srv.issuer,
		"aud":       g.client.id,
		"iat":       now.Unix(),
		"exp":       now.Add(idTokenLifetime).Unix(),
		"jti":       jti,
		"amr":       []string{"pwd"},
		"idp":       srv.parent.orgID(),
		"auth_time": g.authTime.Unix(),
		"at_hash":   base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]),
	}
	addProfileClaims(c, g.user, g.scopes)
	if srv.groupsOrg && hasScope(g.scopes, "groups") {
		c["groups"] = append([]string{}, g.user.Groups...)
	}
	srv.addCustomClaims(c, g.user, false)
	return srv.signLocked(now, c)
}

// addProfileClaims adds the standard claims the profile and email scopes
// release.
func addProfileClaims(c map[string]any, u *Identity, scopes []string) {
	if hasScope(scopes, "profile") {
		c["name"] = u.Name
		c["preferred_username"] = u.Login
	}
	if hasScope(scopes, "email") && u.Email != "" {
		c["email"] = u.Email
		// The sandbox directory holds no unverified addresses.
		c["email_verified"] = true
	}
}

// addCustomClaims adds the server's configured claims for the token kind.
// Claims drawn from a user are left out when there is none.
func (srv *server) addCustomClaims(c map[string]any, u *Identity, access bool) {
	for _, r := range srv.claims {
		if (access && !r.inAccess) || (!access && !r.inIDToken) || u == nil {
			continue
		}
		if r.attr != nil {
			c[r.name] = r.attr(u)
			continue
		}
		groups := []string{}
		for _, g := range u.Groups {
			if r.groups.MatchString(g) {
				groups = append(groups, g)
			}
		}
		c[r.name] = groups
	}
}

// verifiedToken is one of the server's own JWTs after its signature and
// issuer were checked.
type verifiedToken struct {
	claims map[string]any
	jti    string
	exp    time.Time
	iat    time.Time
}

var errNotOurs = errors.New("token not issued by this server")

// parseTokenJWS splits a compact RS256 JWS into its kid and the parsed
// object. It is the parser introspection, revocation and userinfo share.
func parseTokenJWS(token string) (*jose.JSONWebSignature, string, error) {
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return nil, "", errNotOurs
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, "", errNotOurs
	}
	if len(jws.Signatures) != 1 {
		return nil, "", errNotOurs
	}
	return jws, jws.Signatures[0].Header.KeyID, nil
}

// maxTokenLen caps tokens we try to parse; ours are a few kilobytes.
const maxTokenLen = 16 << 10

// verifyJWT checks that token is a JWT this server signed with a key it
// still publishes and that names it as issuer. It does not check expiry
// or revocation.
func (srv *server) verifyJWT(token string, now time.Time) (*verifiedToken, error) {
	jws, kid, err := parseTokenJWS(token)
	if err != nil {
		return nil, err
	}
	srv.mu.Lock()
	if err := srv.keys.advance(now); err != nil {
		srv.mu.Unlock()
		return nil, err
	}
	key := srv.keys.find(kid)
	if key == nil && srv.accessKey != nil && kid == srv.accessKey.kid {
		key = srv.accessKey
	}
	srv.mu.Unlock()
	if key == nil {
		return nil, errNotOurs
	}
	payload, err := jws.Verify(&key.priv.PublicKey)
	if err != nil {
		return nil, errNotOurs
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, errNotOurs
	}
	if iss, _ := claims["iss"].(string); iss != srv.issuer {
		return nil, errNotOurs
	}
	vt := &verifiedToken{claims: claims}
	vt.jti, _ = claims["jti"].(string)
	exp, ok := numericClaim(claims["exp"])
	if !ok || vt.jti == "" {
		return nil, errNotOurs
	}
	vt.exp = exp
	vt.iat, _ = numericClaim(claims["iat"])
	return vt, nil
}

// numericClaim reads a NumericDate claim decoded with UseNumber.
func numericClaim(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0), true
	}
	f, err := n.Float64()
	if err != nil || f > 1<<62 || f < -(1<<62) {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// activeAccess verifies an access token and checks it is unexpired and not
// revoked, returning its claims and what the server recorded of it (nil
// for minted tokens).
func (srv *server) activeAccess(token string) (*verifiedToken, *accessRecord, bool) {
	now := srv.parent.clk.Now()
	vt, err := srv.verifyJWT(token, now)
	if err != nil || !now.Before(vt.exp) || strings.HasPrefix(vt.jti, "ID.") {
		return nil, nil, false
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, gone := srv.revoked[vt.jti]; gone {
		return nil, nil, false
	}
	rec := srv.access[vt.jti]
	if rec != nil && rec.revoked {
		return nil, nil, false
	}
	return vt, rec, true
}

// revoke revokes an access or refresh token. clientID, when set, must be
// the token's client. It reports whether the token was the server's.
func (srv *server) revoke(token, clientID string) bool {
	ok, _ := srv.revokeChecked(token, clientID)
	return ok
}

var errOtherClient = errors.New("token issued to another client")

func (srv *server) revokeChecked(token, clientID string) (bool, error) {
	now := srv.parent.clk.Now()
	if strings.Count(token, ".") == 2 {
		vt, err := srv.verifyJWT(token, now)
		if err != nil {
			return false, nil
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		rec := srv.access[vt.jti]
		owner, _ := vt.claims["cid"].(string)
		if rec != nil {
			owner = rec.clientID
		}
		if strings.HasPrefix(vt.jti, "ID.") {
			owner, _ = vt.claims["aud"].(string)
		}
		if clientID != "" && owner != clientID {
			return true, errOtherClient
		}
		if rec != nil {
			rec.revoked = true
		} else if now.Before(vt.exp) {
			srv.revoked[vt.jti] = vt.exp
		}
		srv.parent.log.Info("authserver: token revoked", "server", srv.label(), "jti", vt.jti)
		return true, nil
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	rec, ok := srv.refresh[token]
	if !ok {
		return false, nil
	}
	if clientID != "" && rec.clientID != clientID {
		return true, errOtherClient
	}
	rec.revoked = true
	// Access tokens minted with a refresh token go with it.
	for _, ar := range srv.access {
		if ar.refresh == token {
			ar.revoked = true
		}
	}
	srv.parent.log.Info("authserver: refresh token revoked", "server", srv.label(), "client_id", rec.clientID)
	return true, nil
}
