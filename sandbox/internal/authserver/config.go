package authserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/internal/lazyregexp"
)

// Config is the oauth part of sandbox.yaml. The zero value runs the org
// authorization server only.
type Config struct {
	// OrgServer configures the built-in org authorization server, whose
	// issuer is the org's base URL.
	OrgServer OrgServerConfig `yaml:"org_server"`
	// Servers are custom authorization servers, each at /oauth2/{id}.
	Servers []ServerConfig `yaml:"servers"`
	// RateLimitPerMinute is how many requests each endpoint of each server
	// accepts per minute before answering 429. Default 600; negative turns
	// limiting off (the X-Rate-Limit headers are still sent).
	RateLimitPerMinute int `yaml:"rate_limit_per_minute"`
}

// OrgServerConfig configures the org authorization server.
type OrgServerConfig struct {
	// Enabled defaults to true; set false to serve custom servers only.
	Enabled *bool `yaml:"enabled"`
	// KeyRotation schedules signing-key rotation. Default: manual only.
	KeyRotation KeyRotationConfig `yaml:"key_rotation"`
	// Clients are the OIDC apps that may use the org server. In Okta apps
	// are org-wide; here each server lists the apps it serves.
	Clients []ClientConfig `yaml:"clients"`
}

// ServerConfig is one custom authorization server.
type ServerConfig struct {
	// ID is the path segment: issuer BaseURL/oauth2/{id}. Okta's built-in
	// custom server is "default".
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Audiences become the access tokens' aud. Default ["api://{id}"].
	Audiences []string `yaml:"audiences"`
	// Scopes are the custom scopes. The OIDC scopes (openid, profile,
	// email, address, phone, offline_access) are always defined, as in Okta.
	Scopes []ScopeConfig `yaml:"scopes"`
	// Claims are custom claims added to tokens for user grants (and, for
	// claims that need no user, client credentials too).
	Claims []ClaimConfig `yaml:"claims"`
	// AccessTokenLifetime defaults to 1h. Okta allows 5m to 24h.
	AccessTokenLifetime time.Duration `yaml:"access_token_lifetime"`
	// RefreshTokenLifetime bounds a refresh token's total life; 0 means
	// unlimited, Okta's default.
	RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime"`
	// RefreshTokenIdle expires a refresh token unused for this long.
	// Default 168h (7 days), Okta's default.
	RefreshTokenIdle time.Duration `yaml:"refresh_token_idle"`
	// KeyRotation schedules signing-key rotation. Default: manual only.
	KeyRotation KeyRotationConfig `yaml:"key_rotation"`
	// Clients are the apps that may get tokens from this server.
	Clients []ClientConfig `yaml:"clients"`
}

// ScopeConfig is a custom scope.
type ScopeConfig struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Default scopes are granted when a request names no scope, as Okta's
	// "default scope" setting does.
	Default bool `yaml:"default"`
	// Discoverable lists the scope in scopes_supported of the discovery
	// documents. Okta leaves custom scopes out unless told otherwise.
	Discoverable bool `yaml:"discoverable"`
}

// ClaimConfig is a custom claim. Exactly one of Value and Groups is set.
type ClaimConfig struct {
	Name string `yaml:"name"`
	// Value names a user attribute: id, login, email or name ("user."
	// prefix allowed, as in Okta expressions).
	Value string `yaml:"value"`
	// Groups makes the claim the user's groups whose names match a filter.
	Groups *GroupsClaimConfig `yaml:"groups"`
	// IncludeIn is access_token (default), id_token or both.
	IncludeIn string `yaml:"include_in"`
}

// GroupsClaimConfig filters the groups put in a groups claim.
type GroupsClaimConfig struct {
	// Filter is a regular expression a group's whole name must match,
	// like Okta's "Matches regex" filter. Empty means every group.
	Filter string `yaml:"filter"`
}

// KeyRotationConfig schedules signing-key rotation.
type KeyRotationConfig struct {
	// Interval between rotations; 0 rotates only on demand.
	Interval time.Duration `yaml:"interval"`
	// Overlap is how long a replaced key stays published in the JWKS.
	// Default: the longest token lifetime, so every token it signed stays
	// verifiable until it expires.
	Overlap time.Duration `yaml:"overlap"`
}

// Client authentication methods, as named in discovery documents.
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthNone              = "none"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
)

// ClientConfig is an OAuth client (an Okta app).
type ClientConfig struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// TokenEndpointAuthMethod is client_secret_basic (default when a secret
	// is set), client_secret_post, private_key_jwt (default when keys are
	// set) or none (a public client).
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	// JWKS holds the client's public keys for private_key_jwt, as a YAML
	// mapping or a JSON string.
	JWKS *KeySet `yaml:"jwks"`
	// JWKSFile is a path to a JWKS JSON file, instead of JWKS.
	JWKSFile string `yaml:"jwks_file"`
	// GrantTypes the client may use. Default: every grant the server
	// offers that suits the client (public clients get no
	// client_credentials).
	GrantTypes []string `yaml:"grant_types"`
	// Scopes the client may request. Default: every scope of the server.
	Scopes []string `yaml:"scopes"`
	// DPoPBoundAccessTokens is Okta's "Require Demonstrating Proof of
	// Possession (DPoP) header in token requests": every token request
	// must carry a DPoP proof (RFC 9449) with the server's nonce, and the
	// access tokens are bound to the proof's key (cnf.jkt, token_type
	// DPoP).
	DPoPBoundAccessTokens bool `yaml:"dpop_bound_access_tokens"`
}

// KeySet is a JSON Web Key Set given inline in YAML.
type KeySet struct {
	jose.JSONWebKeySet
}

// UnmarshalYAML accepts the set as a mapping ({keys: [...]}) or as a
// string holding its JSON, so keys can be pasted as they are published.
func (k *KeySet) UnmarshalYAML(n *yaml.Node) error {
	var raw []byte
	if n.Kind == yaml.ScalarNode {
		raw = []byte(n.Value)
	} else {
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("jwks: %w", err)
		}
		raw = b
	}
	if err := json.Unmarshal(raw, &k.JSONWebKeySet); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	return nil
}

// oidcScopes are the scopes every Okta authorization server defines.
var oidcScopes = []ScopeConfig{
	{Name: "openid", Description: "Signals that a request is an OpenID request."},
	{Name: "profile", Description: "Allows this application to access your profile information."},
	{Name: "email", Description: "Allows this application to access your email address."},
	{Name: "address", Description: "Allows this application to access your address."},
	{Name: "phone", Description: "Allows this application to access your phone number."},
	{Name: "offline_access", Description: "Allows this application to keep you signed in."},
}

// reservedClaims are set by the server; custom claims may not replace them.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true,
	"ver": true, "cid": true, "uid": true, "scp": true, "auth_time": true, "amr": true,
	"idp": true, "nonce": true, "at_hash": true, "c_hash": true,
}

var (
	serverIDPattern = lazyregexp.New(`^[A-Za-z0-9_-]{1,64}$`)
	scopeNameRegexp = lazyregexp.New(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
)

const (
	defaultAccessTokenLifetime = time.Hour
	idTokenLifetime            = time.Hour
	defaultRefreshIdle         = 7 * 24 * time.Hour
	defaultRateLimit           = 600
	minAccessTokenLifetime     = 5 * time.Minute
	maxAccessTokenLifetime     = 24 * time.Hour
)

// userAttributes maps a claim value to the identity field it reads.
var userAttributes = map[string]func(*Identity) string{
	"id":    func(i *Identity) string { return i.ID },
	"login": func(i *Identity) string { return i.Login },
	"email": func(i *Identity) string { return i.Email },
	"name":  func(i *Identity) string { return i.Name },
}

// claimRule is a validated custom claim.
type claimRule struct {
	name      string
	attr      func(*Identity) string
	groups    *regexp.Regexp // nil unless a groups claim
	inAccess  bool
	inIDToken bool
}

func compileClaims(cfgs []ClaimConfig) ([]claimRule, error) {
	var out []claimRule
	seen := map[string]bool{}
	for _, c := range cfgs {
		if c.Name == "" {
			return nil, errors.New("claim without a name")
		}
		if reservedClaims[c.Name] {
			return nil, fmt.Errorf("claim %q is reserved and set by the server", c.Name)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("claim %q defined twice", c.Name)
		}
		seen[c.Name] = true
		r := claimRule{name: c.Name}
		switch c.IncludeIn {
		case "", "access_token":
			r.inAccess = true
		case "id_token":
			r.inIDToken = true
		case "both":
			r.inAccess, r.inIDToken = true, true
		default:
			return nil, fmt.Errorf("claim %q: include_in %q (want access_token, id_token or both)", c.Name, c.IncludeIn)
		}
		switch {
		case c.Value != "" && c.Groups != nil:
			return nil, fmt.Errorf("claim %q: set value or groups, not both", c.Name)
		case c.Value != "":
			attr, ok := userAttributes[strings.TrimPrefix(c.Value, "user.")]
			if !ok {
				return nil, fmt.Errorf("claim %q: unknown user attribute %q (want id, login, email or name)", c.Name, c.Value)
			}
			r.attr = attr
		case c.Groups != nil:
			re, err := regexp.Compile(`^(?:` + c.Groups.Filter + `)$`)
			if err != nil {
				return nil, fmt.Errorf("claim %q: groups filter: %w", c.Name, err)
			}
			r.groups = re
		default:
			return nil, fmt.Errorf("claim %q: set value (a user attribute) or groups", c.Name)
		}
		out = append(out, r)
	}
	return out, nil
}

// client is a validated ClientConfig.
type client struct {
	id         string
	secret     string
	method     string
	keys       []jose.JSONWebKey
	grantTypes map[string]bool
	scopes     map[string]bool // nil: every server scope
	dpop       bool            // token requests need a DPoP proof
}

func compileClient(c ClientConfig, serverGrants []string) (*client, error) {
	if c.ClientID == "" {
		return nil, errors.New("client without a client_id")
	}
	cl := &client{id: c.ClientID, secret: c.ClientSecret, method: c.TokenEndpointAuthMethod, dpop: c.DPoPBoundAccessTokens}
	if c.JWKS != nil && c.JWKSFile != "" {
		return nil, fmt.Errorf("client %q: set jwks or jwks_file, not both", c.ClientID)
	}
	if c.JWKS != nil {
		cl.keys = c.JWKS.Keys
	}
	if c.JWKSFile != "" {
		data, err := os.ReadFile(c.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("client %q: jwks_file: %w", c.ClientID, err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(data, &set); err != nil {
			return nil, fmt.Errorf("client %q: jwks_file %s: %w", c.ClientID, c.JWKSFile, err)
		}
		cl.keys = set.Keys
	}
	if cl.method == "" {
		switch {
		case len(cl.keys) > 0:
			cl.method = AuthPrivateKeyJWT
		case cl.secret != "":
			cl.method = AuthClientSecretBasic
		default:
			cl.method = AuthNone
		}
	}
	switch cl.method {
	case AuthClientSecretBasic, AuthClientSecretPost:
		if cl.secret == "" {
			return nil, fmt.Errorf("client %q: %s needs a client_secret", c.ClientID, cl.method)
		}
	case AuthPrivateKeyJWT:
		if len(cl.keys) == 0 {
			return nil, fmt.Errorf("client %q: private_key_jwt needs jwks or jwks_file", c.ClientID)
		}
		for i, k := range cl.keys {
			if !k.Valid() || !k.IsPublic() {
				return nil, fmt.Errorf("client %q: jwks key %d must be a valid public key", c.ClientID, i)
			}
		}
	case AuthNone:
		if cl.secret != "" {
			return nil, fmt.Errorf("client %q: a public client (none) has no client_secret", c.ClientID)
		}
	default:
		return nil, fmt.Errorf("client %q: token_endpoint_auth_method %q (want client_secret_basic, client_secret_post, private_key_jwt or none)", c.ClientID, cl.method)
	}
	offered := map[string]bool{}
	for _, g := range serverGrants {
		offered[g] = true
	}
	cl.grantTypes = map[string]bool{}
	if len(c.GrantTypes) == 0 {
		for _, g := range serverGrants {
			if g == GrantClientCredentials && cl.method == AuthNone || isDirectGrant(g) {
				// Direct authentication is an admin's explicit choice.
				continue
			}
			cl.grantTypes[g] = true
		}
	}
	for _, g := range c.GrantTypes {
		if !offered[g] {
			return nil, fmt.Errorf("client %q: grant type %q is not offered by this server (offered: %s)", c.ClientID, g, strings.Join(serverGrants, ", "))
		}
		if g == GrantClientCredentials && cl.method == AuthNone {
			return nil, fmt.Errorf("client %q: a public client cannot use client_credentials", c.ClientID)
		}
		cl.grantTypes[g] = true
	}
	if len(c.Scopes) > 0 {
		cl.scopes = map[string]bool{}
		for _, s := range c.Scopes {
			cl.scopes[s] = true
		}
	}
	return cl, nil
}
