package verify

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// claims are the parts of a token (or introspection answer) the verifier
// acts on. raw keeps the whole JSON for Principal.Claims.
type claims struct {
	iss, sub, user, cid string
	jti                 string
	aud                 []string
	exp, nbf, iat       int64
	hasExp, hasNbf      bool
	hasIat              bool
	// cidRank is the clientClaimRank of the claim cid came from (0: no
	// client claim); cidConflict is set when two client claims differ.
	// They sit with the other small fields so claims keeps its size.
	cidRank           int8
	cidConflict       bool
	shape             shapeBits // which kind-revealing claims are present
	scopes, groups    []string
	hasActive, active bool
	tokenType         string // RFC 7662 token_type, introspection only
	cnf               string // the cnf claim's JSON object, "" when absent
	raw               string
}

// shapeBits record the claims that tell an access token from an ID
// token: Okta puts cid and scp in access tokens only; nonce, at_hash and
// c_hash belong to ID tokens (OIDC Core 2, 3.1.3.6, 3.3.2.11).
type shapeBits uint8

const (
	shapeCid shapeBits = 1 << iota
	shapeScp
	shapeIDToken
	shapeCnf // a cnf (confirmation) claim: the token is sender-constrained
)

// clientClaimNames are the claims naming the client, in the order they
// are read: Okta's cid, RFC 9068's client_id, OIDC's azp, Azure v1's
// appid.
var clientClaimNames = [...]string{"cid", "client_id", "azp", "appid"}

func clientClaimRank(name string) int8 {
	for i, n := range clientClaimNames {
		if n == name {
			return int8(i + 1)
		}
	}
	return 0
}

// claimNames are the configurable claim names.
type claimNames struct {
	user, groups string
}

// parseClaims reads a JWT claims set (or an RFC 7662 introspection answer,
// whose members are a superset of the same names) strictly.
func parseClaims(payload string, names claimNames) (*claims, error) {
	c := &claims{raw: payload}
	var username string
	err := parseObject(payload, func(key string, v jsonValue) error {
		var err error
		switch key {
		case "iss":
			c.iss, err = stringValue(key, v)
		case "sub":
			c.sub, err = stringValue(key, v)
		case "jti":
			c.jti, err = stringValue(key, v)
		case "aud":
			c.aud, err = stringList(key, v, false)
		case "exp":
			c.exp, err = numericDate(key, v)
			c.hasExp = true
		case "nbf":
			c.nbf, err = numericDate(key, v)
			c.hasNbf = true
		case "iat":
			c.iat, err = numericDate(key, v)
			c.hasIat = true
		case "cid", "client_id", "azp", "appid":
			// Okta, RFC 9068, OIDC/Auth0/Azure v2 and Azure v1 name the
			// client differently. The result must not depend on the
			// members' JSON order, so the names rank in that fixed
			// order, and two that name different clients make the
			// token ambiguous (refused by the policy).
			var s string
			s, err = stringValue(key, v)
			if key == "cid" {
				c.shape |= shapeCid
			}
			r := clientClaimRank(key)
			switch {
			case c.cidRank == 0:
				c.cid, c.cidRank = s, r
			case s != c.cid:
				c.cidConflict = true
				if r < c.cidRank {
					c.cid, c.cidRank = s, r
				}
			case r < c.cidRank:
				c.cidRank = r
			}
		case "scp", "scope":
			// Okta sends scp as an array, Azure as a space-separated
			// string, RFC 9068 and Auth0 send scope as a string.
			var s []string
			s, err = stringList(key, v, true)
			if key == "scp" {
				c.shape |= shapeScp
			}
			if c.scopes == nil {
				c.scopes = s // the usual case: one scope claim, no copy
			} else {
				c.scopes = append(slices.Clip(c.scopes), s...)
			}
		case "nonce", "at_hash", "c_hash":
			c.shape |= shapeIDToken
		case "cnf":
			if v.kind != jsonObject {
				return errors.New("cnf must be an object")
			}
			c.shape |= shapeCnf
			c.cnf = v.raw
		case "active":
			if v.kind != jsonBool {
				return errors.New("active must be a boolean")
			}
			c.hasActive, c.active = true, v.raw == "true"
		case "token_type":
			if v.kind == jsonString {
				c.tokenType = unquote(v.raw)
			}
		case "username":
			if v.kind == jsonString {
				username = unquote(v.raw)
			}
		}
		if err != nil {
			return err
		}
		if key == names.user && names.user != "sub" {
			if v.kind != jsonString {
				return errors.New(key + " must be a string")
			}
			c.user = unquote(v.raw)
		}
		if key == names.groups {
			c.groups, err = stringList(key, v, false)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if names.user == "sub" || names.user == "" {
		c.user = c.sub
	}
	if c.user == "" {
		c.user = username
	}
	if c.user == "" {
		c.user = c.sub
	}
	return c, nil
}

// TypeAccessToken is the typ of RFC 9068 JWT access tokens. Listing it in
// Policy.Types or ProviderConfig.Types refuses ID tokens and other JWTs
// of the same issuer presented as access tokens (RFC 9068 section 4).
const TypeAccessToken = "at+jwt"

// Role names, from most to least privileged. A principal with a role also
// holds every lesser one.
const (
	RoleAdmin = "admin"
	RoleWrite = "write"
	RoleRead  = "read"
)

// Principal is the verified identity behind a token.
type Principal struct {
	// Subject is the sub claim.
	Subject string
	// User is the claim chosen by Policy.UserClaim (sub when unset),
	// falling back to sub.
	User string
	// Issuer is the iss claim; Provider is the configured provider name.
	Issuer, Provider string
	// ClientID is the OAuth client the token was issued to (cid,
	// client_id, azp or appid).
	ClientID string
	// TokenID is the jti claim, "" when absent; revocation lists key on it.
	TokenID  string
	Audience []string
	Scopes   []string
	Groups   []string
	// Roles holds the roles granted by group membership, most privileged
	// first; Role is the first of them, or "".
	Roles []string
	Role  string
	// Expiry and IssuedAt come from exp and iat (IssuedAt may be zero).
	Expiry, IssuedAt time.Time
	// Introspected is true when the token was checked by RFC 7662
	// introspection rather than by signature.
	Introspected bool
	// KeyThumbprint is the token's cnf.jkt (RFC 9449): the RFC 7638
	// thumbprint of the key it is bound to, "" for a bearer token.
	KeyThumbprint string
	// bound marks a cnf claim of any kind; such a token is never a
	// bearer token.
	bound bool

	raw string
}

// HasScope reports whether the token carries scope.
func (p *Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// HasRole reports whether the principal holds role (directly or through a
// more privileged one).
func (p *Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// Claims decodes every claim of the token. It is computed on demand so
// that verification does not pay for claims nobody reads.
func (p *Principal) Claims() (map[string]any, error) {
	m := map[string]any{}
	d := json.NewDecoder(strings.NewReader(p.raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// RawClaims returns a copy of the token's claims JSON.
func (p *Principal) RawClaims() []byte { return []byte(p.raw) }

// Clone returns a principal the caller owns: the struct and every slice
// are fresh, so a handler that sorts, reverses or appends to its
// principal's Audience, Scopes, Groups or Roles changes nothing another
// request (or the token cache) sees. The four slices share one backing
// array, each capped at its own length so that an append reallocates
// instead of writing into its neighbour: one allocation for all of them.
func (p *Principal) Clone() *Principal {
	c := *p
	n := len(p.Audience) + len(p.Scopes) + len(p.Groups) + len(p.Roles)
	if n == 0 {
		c.Audience, c.Scopes, c.Groups, c.Roles = nil, nil, nil, nil
		return &c
	}
	buf := make([]string, 0, n)
	take := func(s []string) []string {
		if s == nil {
			return nil
		}
		i := len(buf)
		buf = append(buf, s...)
		return buf[i:len(buf):len(buf)]
	}
	c.Audience = take(p.Audience)
	c.Scopes = take(p.Scopes)
	c.Groups = take(p.Groups)
	c.Roles = take(p.Roles)
	return &c
}

// Policy is the authorization policy applied to every token, after the
// signature (or introspection) has established who issued it.
type Policy struct {
	// Audiences lists accepted aud values; a token must carry at least
	// one. Required unless AllowAnyAudience is set, because a token
	// minted for another API of the same issuer would otherwise pass.
	Audiences        []string `json:"audiences,omitempty" yaml:"audiences,omitempty"`
	AllowAnyAudience bool     `json:"allow_any_audience,omitempty" yaml:"allow_any_audience,omitempty"`
	// RequiredScopes must all be present; AcceptedScopes, if set, need at
	// least one present.
	RequiredScopes []string `json:"required_scopes,omitempty" yaml:"required_scopes,omitempty"`
	AcceptedScopes []string `json:"accepted_scopes,omitempty" yaml:"accepted_scopes,omitempty"`
	// ClientIDs, if set, is the allow-list of clients (Okta cid).
	ClientIDs []string `json:"client_ids,omitempty" yaml:"client_ids,omitempty"`
	// UserClaim names the claim that becomes Principal.User (default sub).
	UserClaim string `json:"user_claim,omitempty" yaml:"user_claim,omitempty"`
	// GroupsClaim names the claim holding groups (default "groups").
	GroupsClaim string `json:"groups_claim,omitempty" yaml:"groups_claim,omitempty"`
	// AdminGroups, WriteGroups and ReadOnlyGroups map groups to roles
	// (ADMIN_GROUPS, WRITE_GROUPS, READ_ONLY_GROUPS).
	AdminGroups    []string `json:"admin_groups,omitempty" yaml:"admin_groups,omitempty"`
	WriteGroups    []string `json:"write_groups,omitempty" yaml:"write_groups,omitempty"`
	ReadOnlyGroups []string `json:"read_only_groups,omitempty" yaml:"read_only_groups,omitempty"`
	// RequireRole refuses principals that map to no role (403).
	RequireRole bool `json:"require_role,omitempty" yaml:"require_role,omitempty"`
	// Leeway is the one clock-skew allowance applied to exp, nbf and iat
	// (default 30s; negative means none).
	Leeway time.Duration `json:"leeway,omitempty" yaml:"leeway,omitempty"`
	// MaxTokenAge, if set, refuses tokens whose iat is older; such tokens
	// must carry iat.
	MaxTokenAge time.Duration `json:"max_token_age,omitempty" yaml:"max_token_age,omitempty"`
	// Types, if set, lists accepted typ header values, compared without
	// case and without an "application/" prefix (e.g. TypeAccessToken,
	// which then also accepts "application/at+jwt"). A provider's own
	// ProviderConfig.Types replaces it for that provider.
	Types []string `json:"types,omitempty" yaml:"types,omitempty"`
}

// DefaultLeeway is the clock-skew allowance when Policy.Leeway is zero.
const DefaultLeeway = 30 * time.Second

func (p *Policy) leeway() int64 {
	switch {
	case p.Leeway < 0:
		return 0
	case p.Leeway == 0:
		return int64(DefaultLeeway / time.Second)
	}
	return int64((p.Leeway + time.Second - 1) / time.Second)
}

// checkTime applies exp, nbf, iat and the maximum age at now.
func (p *Policy) checkTime(c *claims, now int64) error {
	lw := p.leeway()
	if !c.hasExp {
		return newError(ErrClaims, "token has no exp")
	}
	if now-lw >= c.exp {
		return newError(ErrExpired, "")
	}
	if c.hasNbf && now+lw < c.nbf {
		return newError(ErrNotYetValid, "")
	}
	if c.hasIat && now+lw < c.iat {
		return newError(ErrIssuedInFuture, "")
	}
	if p.MaxTokenAge > 0 {
		if !c.hasIat {
			return newError(ErrClaims, "token has no iat and a maximum age is set")
		}
		if now-lw-c.iat > int64(p.MaxTokenAge/time.Second) {
			return newError(ErrTooOld, "")
		}
	}
	return nil
}

// sameType compares two typ values without case and without an
// "application/" prefix, per RFC 7515 section 4.1.9: "at+jwt" and
// "application/at+jwt" name the same media type. It allocates nothing.
func sameType(a, b string) bool {
	return strings.EqualFold(trimApplication(a), trimApplication(b))
}

func trimApplication(t string) string {
	const p = "application/"
	if len(t) >= len(p) && strings.EqualFold(t[:len(p)], p) {
		return t[len(p):]
	}
	return t
}

// typeAccepted reports whether typ is one of types.
func typeAccepted(types []string, typ string) bool {
	for _, t := range types {
		if sameType(t, typ) {
			return true
		}
	}
	return false
}

// check applies the whole policy; audiences is the provider's list (or the
// policy's) and types the accepted typ values (nil accepts any). A JWT
// must carry sub; an introspection answer need not (RFC 7662 section 2.2
// makes every member but active optional, and client-credentials tokens
// have no subject), so introspected is set for those. It returns the
// roles granted.
func (p *Policy) check(c *claims, typ string, types, audiences []string, introspected bool, now int64) ([]string, error) {
	if err := p.checkTime(c, now); err != nil {
		return nil, err
	}
	if c.sub == "" && !introspected {
		return nil, newError(ErrClaims, "token has no sub")
	}
	if len(types) > 0 && !typeAccepted(types, typ) {
		return nil, newError(ErrType, "typ "+safeText(typ)+" is not accepted; want "+strings.Join(types, " or "))
	}
	if !p.AllowAnyAudience || len(audiences) > 0 {
		if !anyIn(c.aud, audiences) {
			return nil, newError(ErrAudience, "")
		}
	}
	if c.cidConflict {
		return nil, newError(ErrClientID, "the client claims (cid, client_id, azp, appid) name different clients")
	}
	if len(p.ClientIDs) > 0 && !slices.Contains(p.ClientIDs, c.cid) {
		return nil, newError(ErrClientID, "")
	}
	var missing []string
	for _, s := range p.RequiredScopes {
		if !slices.Contains(c.scopes, s) {
			missing = append(missing, s)
		}
	}
	if len(p.AcceptedScopes) > 0 && !anyIn(c.scopes, p.AcceptedScopes) {
		missing = append(missing, p.AcceptedScopes...)
	}
	if len(missing) > 0 {
		e := newError(ErrInsufficientScope, "")
		e.Scopes = append(slices.Clone(p.RequiredScopes), p.AcceptedScopes...)
		return nil, e
	}
	roles := p.roles(c.groups)
	if p.RequireRole && len(roles) == 0 {
		return nil, newError(ErrForbidden, "")
	}
	return roles, nil
}

// Shared role lists so that granting roles allocates nothing.
var (
	rolesAdmin = []string{RoleAdmin, RoleWrite, RoleRead}
	rolesWrite = []string{RoleWrite, RoleRead}
	rolesRead  = []string{RoleRead}
)

func (p *Policy) roles(groups []string) []string {
	switch {
	case anyIn(groups, p.AdminGroups):
		return rolesAdmin
	case anyIn(groups, p.WriteGroups):
		return rolesWrite
	case anyIn(groups, p.ReadOnlyGroups):
		return rolesRead
	}
	return nil
}

func anyIn(have, want []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}
