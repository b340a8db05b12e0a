// Package authserver holds the sandbox's Okta authorization servers: the org
// server and custom servers, with discovery, JWKS, tokens, introspection and
// revocation.
//
// The layout follows Okta's: the org server's issuer is the base URL and its
// endpoints live under /oauth2/v1; a custom server {id} has the issuer
// BaseURL/oauth2/{id} and its endpoints under /oauth2/{id}/v1. Grants are
// client_credentials (custom servers only), password and refresh_token.
package authserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// Identity is a user known to the org, as token claims need it.
type Identity struct {
	ID, Login, Email, Name string
	Groups                 []string
}

// Directory is the org's user store as the authorization servers see it.
type Directory interface {
	CheckPassword(ctx context.Context, login, password string) (*Identity, error)
}

// Options are the servers' runtime dependencies.
type Options struct {
	Clock     clock.Clock
	BaseURL   string
	Directory Directory
	Logger    *slog.Logger
}

// OrgServerID names the org authorization server in the admin endpoints
// (/sandbox/admin/oauth/org/...). The Go API names it "".
const OrgServerID = "org"

// Servers is the set of running authorization servers.
type Servers struct {
	base   string
	clk    clock.Clock
	dir    Directory
	log    *slog.Logger
	org    *server // nil when disabled
	custom map[string]*server
	limit  *rateLimiter
	dev    deviceStore // device flow and token exchange state (device.go)
	direct directStore // direct authentication state (direct.go)
}

// ErrUnknownServer is returned for a server ID that is not configured.
var ErrUnknownServer = errors.New("authserver: no such authorization server")

// New builds the servers from configuration. It generates each server's
// first signing key.
func New(cfg Config, opts Options) (*Servers, error) {
	base := strings.TrimRight(opts.BaseURL, "/")
	if base == "" {
		return nil, errors.New("authserver: Options.BaseURL is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	limit := cfg.RateLimitPerMinute
	if limit == 0 {
		limit = defaultRateLimit
	}
	s := &Servers{
		base:   base,
		clk:    clock.Or(opts.Clock),
		dir:    opts.Directory,
		log:    logger,
		custom: map[string]*server{},
		limit:  newRateLimiter(limit),
	}
	if cfg.OrgServer.Enabled == nil || *cfg.OrgServer.Enabled {
		org, err := s.newOrgServer(cfg.OrgServer)
		if err != nil {
			return nil, fmt.Errorf("authserver: org server: %w", err)
		}
		s.org = org
	}
	for i, sc := range cfg.Servers {
		if !serverIDPattern.MatchString(sc.ID) {
			return nil, fmt.Errorf("authserver: servers[%d]: id %q must be 1-64 letters, digits, '-' or '_'", i, sc.ID)
		}
		// "v1" would make /oauth2/v1/... ambiguous with the org server, and
		// "org" names the org server in the admin endpoints.
		if sc.ID == "v1" || sc.ID == OrgServerID {
			return nil, fmt.Errorf("authserver: servers[%d]: id %q is reserved", i, sc.ID)
		}
		if _, dup := s.custom[sc.ID]; dup {
			return nil, fmt.Errorf("authserver: server %q defined twice", sc.ID)
		}
		srv, err := s.newCustomServer(sc)
		if err != nil {
			return nil, fmt.Errorf("authserver: server %q: %w", sc.ID, err)
		}
		s.custom[sc.ID] = srv
	}
	return s, nil
}

// server is one authorization server, org or custom.
type server struct {
	parent    *Servers
	id        string // "" for the org server
	name      string
	issuer    string
	endpoints string // prefix of the /v1/... endpoints
	audiences []string
	scopes    []ScopeConfig // every defined scope, OIDC first
	scopeSet  map[string]bool
	defaults  []string
	claims    []claimRule
	groupsOrg bool // org server: the groups scope adds a groups claim
	grants    []string
	clients   map[string]*client

	accessTTL       time.Duration
	refreshLifetime time.Duration
	refreshIdle     time.Duration

	mu   sync.Mutex
	keys *keyRing
	// accessKey, on the org server, signs its access tokens. It is never
	// published: Okta's reference says only Okta can validate org-server
	// access tokens, and real ones are signed by a key absent from the
	// org's JWKS. Introspection and userinfo still accept them.
	accessKey *signingKey
	// dpop holds the DPoP nonce and the proofs seen (dpop.go).
	dpop       dpopState
	access     map[string]*accessRecord  // by jti
	refresh    map[string]*refreshRecord // by token
	revoked    map[string]time.Time      // jti of revoked tokens not in access, until exp
	assertions map[string]time.Time      // client_id + jti of used client assertions, until exp
	lastPrune  time.Time
}

// accessRecord is what the server remembers of an access token it issued.
type accessRecord struct {
	clientID string
	user     *Identity
	exp      time.Time
	refresh  string
	revoked  bool
}

// refreshRecord is an issued refresh token.
type refreshRecord struct {
	clientID string
	user     *Identity
	scopes   []string
	authTime time.Time
	created  time.Time
	lastUsed time.Time
	revoked  bool
}

func (s *Servers) newOrgServer(cfg OrgServerConfig) (*server, error) {
	scopes := append(append([]ScopeConfig(nil), oidcScopes...), ScopeConfig{Name: "groups", Description: "Allows this application to read your groups."})
	scopes = append(scopes, deviceScopes...)
	srv := &server{
		parent:      s,
		issuer:      s.base,
		endpoints:   s.base + "/oauth2/v1",
		audiences:   []string{s.base},
		scopes:      scopes,
		groupsOrg:   true,
		grants:      append([]string{GrantPassword, GrantRefreshToken, GrantDeviceCode, GrantTokenExchange}, directGrants...),
		accessTTL:   defaultAccessTokenLifetime,
		refreshIdle: defaultRefreshIdle,
	}
	key, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	srv.accessKey = key
	return srv, srv.init(cfg.Clients, cfg.KeyRotation)
}

func (s *Servers) newCustomServer(cfg ServerConfig) (*server, error) {
	srv := &server{
		parent:          s,
		id:              cfg.ID,
		name:            cfg.Name,
		issuer:          s.base + "/oauth2/" + cfg.ID,
		endpoints:       s.base + "/oauth2/" + cfg.ID + "/v1",
		audiences:       cfg.Audiences,
		grants:          []string{GrantClientCredentials, GrantPassword, GrantRefreshToken},
		accessTTL:       cfg.AccessTokenLifetime,
		refreshLifetime: cfg.RefreshTokenLifetime,
		refreshIdle:     cfg.RefreshTokenIdle,
	}
	if len(srv.audiences) == 0 {
		srv.audiences = []string{"api://" + cfg.ID}
	}
	for _, a := range srv.audiences {
		if a == "" {
			return nil, errors.New("empty audience")
		}
	}
	if srv.accessTTL == 0 {
		srv.accessTTL = defaultAccessTokenLifetime
	}
	if srv.accessTTL < minAccessTokenLifetime || srv.accessTTL > maxAccessTokenLifetime {
		return nil, fmt.Errorf("access_token_lifetime %v must be between %v and %v, as in Okta", srv.accessTTL, minAccessTokenLifetime, maxAccessTokenLifetime)
	}
	if srv.refreshLifetime < 0 || srv.refreshIdle < 0 {
		return nil, errors.New("refresh token lifetimes must not be negative")
	}
	if srv.refreshIdle == 0 {
		srv.refreshIdle = defaultRefreshIdle
	}
	srv.scopes = append([]ScopeConfig(nil), oidcScopes...)
	for _, sc := range cfg.Scopes {
		if !scopeNameRegexp.MatchString(sc.Name) {
			return nil, fmt.Errorf("scope name %q is not a valid OAuth scope token", sc.Name)
		}
		srv.scopes = append(srv.scopes, sc)
	}
	claims, err := compileClaims(cfg.Claims)
	if err != nil {
		return nil, err
	}
	srv.claims = claims
	return srv, srv.init(cfg.Clients, cfg.KeyRotation)
}

// init finishes a server: scope index, clients, first key, token stores.
func (srv *server) init(clients []ClientConfig, rot KeyRotationConfig) error {
	srv.scopeSet = map[string]bool{}
	for _, sc := range srv.scopes {
		if srv.scopeSet[sc.Name] {
			return fmt.Errorf("scope %q defined twice (the OIDC scopes are built in)", sc.Name)
		}
		srv.scopeSet[sc.Name] = true
		if sc.Default {
			srv.defaults = append(srv.defaults, sc.Name)
		}
	}
	srv.clients = map[string]*client{}
	for i, cc := range clients {
		cl, err := compileClient(cc, srv.grants)
		if err != nil {
			return fmt.Errorf("clients[%d]: %w", i, err)
		}
		if _, dup := srv.clients[cl.id]; dup {
			return fmt.Errorf("client %q defined twice", cl.id)
		}
		for sc := range cl.scopes {
			if !srv.scopeSet[sc] {
				return fmt.Errorf("client %q: scope %q is not defined on this server", cl.id, sc)
			}
		}
		srv.clients[cl.id] = cl
	}
	if rot.Interval < 0 || rot.Overlap < 0 {
		return errors.New("key_rotation interval and overlap must not be negative")
	}
	overlap := rot.Overlap
	if overlap == 0 {
		overlap = max(srv.accessTTL, idTokenLifetime)
	}
	now := srv.parent.clk.Now()
	kr, err := newKeyRing(now, rot.Interval, overlap)
	if err != nil {
		return err
	}
	srv.keys = kr
	srv.access = map[string]*accessRecord{}
	srv.refresh = map[string]*refreshRecord{}
	srv.revoked = map[string]time.Time{}
	srv.assertions = map[string]time.Time{}
	srv.lastPrune = now
	return nil
}

// url returns the full URL of endpoint name (token, keys, ...).
func (srv *server) url(name string) string { return srv.endpoints + "/" + name }

// label names the server in logs and errors.
func (srv *server) label() string {
	if srv.id == "" {
		return OrgServerID
	}
	return srv.id
}

// pruneLocked drops expired records so a long-running sandbox does not
// grow without bound. Needs srv.mu.
func (srv *server) pruneLocked(now time.Time) {
	if now.Sub(srv.lastPrune) < time.Minute {
		return
	}
	srv.lastPrune = now
	for jti, rec := range srv.access {
		if !now.Before(rec.exp) {
			delete(srv.access, jti)
		}
	}
	for jti, exp := range srv.revoked {
		if !now.Before(exp) {
			delete(srv.revoked, jti)
		}
	}
	for k, exp := range srv.assertions {
		if !now.Before(exp) {
			delete(srv.assertions, k)
		}
	}
	for tok, rec := range srv.refresh {
		if rec.revoked || srv.refreshExpired(rec, now) {
			delete(srv.refresh, tok)
		}
	}
}

func (srv *server) refreshExpired(rec *refreshRecord, now time.Time) bool {
	if srv.refreshLifetime > 0 && !now.Before(rec.created.Add(srv.refreshLifetime)) {
		return true
	}
	return !now.Before(rec.lastUsed.Add(srv.refreshIdle))
}

// lookup finds a server by the Go API's ID: "" is the org server.
func (s *Servers) lookup(serverID string) (*server, error) {
	if serverID == "" {
		if s.org == nil {
			return nil, fmt.Errorf("%w: the org server is disabled", ErrUnknownServer)
		}
		return s.org, nil
	}
	if srv, ok := s.custom[serverID]; ok {
		return srv, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownServer, serverID)
}

// Issuer returns a server's issuer: BaseURL for the org server ("") and
// BaseURL/oauth2/{id} for a custom one. It returns "" for an unknown ID.
func (s *Servers) Issuer(serverID string) string {
	srv, err := s.lookup(serverID)
	if err != nil {
		return ""
	}
	return srv.issuer
}

// ServerIDs lists the custom servers' IDs, sorted.
func (s *Servers) ServerIDs() []string {
	return slices.Sorted(maps.Keys(s.custom))
}

// RotateKeys replaces a server's signing key now ("" is the org server).
// New tokens are signed with the new key; the old key stays in the JWKS for
// the configured overlap so tokens it signed still verify.
func (s *Servers) RotateKeys(serverID string) error {
	srv, err := s.lookup(serverID)
	if err != nil {
		return err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if err := srv.keys.rotateNow(s.clk.Now()); err != nil {
		return err
	}
	s.log.Info("authserver: signing key rotated", "server", srv.label(), "kid", srv.keys.current.kid)
	return nil
}

// SigningKeyID returns the kid that currently signs a server's tokens.
func (s *Servers) SigningKeyID(serverID string) (string, error) {
	srv, err := s.lookup(serverID)
	if err != nil {
		return "", err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if err := srv.keys.advance(s.clk.Now()); err != nil {
		return "", err
	}
	return srv.keys.current.kid, nil
}

// MintAccessToken signs an access token for tests that need unusual claims.
// It starts from ver, jti, iss, aud, iat and exp as the server would set
// them, then applies claims over them (so claims may replace any of them,
// including with wrong values). ttl 0 means the server's access token
// lifetime; a negative ttl makes an already expired token. The token is
// not recorded, but introspection and Revoke still work on it through its
// claims.
func (s *Servers) MintAccessToken(serverID string, claims map[string]any, ttl time.Duration) (string, error) {
	srv, err := s.lookup(serverID)
	if err != nil {
		return "", err
	}
	now := s.clk.Now()
	if ttl == 0 {
		ttl = srv.accessTTL
	}
	jti, err := randomID("AT.")
	if err != nil {
		return "", err
	}
	c := map[string]any{
		"ver": 1,
		"jti": jti,
		"iss": srv.issuer,
		"aud": srv.audienceClaim(),
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	for k, v := range claims {
		c[k] = v
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.signAccessLocked(now, c)
}

// Revoke revokes an access or refresh token of a server ("" is the org
// server), as if its client had called the revocation endpoint. Revoking a
// refresh token also revokes the access tokens minted with it. It reports
// whether the token was one of the server's.
func (s *Servers) Revoke(serverID, token string) (bool, error) {
	srv, err := s.lookup(serverID)
	if err != nil {
		return false, err
	}
	return srv.revoke(token, ""), nil
}

// audienceClaim is the access tokens' aud: a string for one audience, as
// Okta issues it, an array for several.
func (srv *server) audienceClaim() any {
	if len(srv.audiences) == 1 {
		return srv.audiences[0]
	}
	return append([]string(nil), srv.audiences...)
}

// orgID is a stable Okta-style org ID for the idp claim, derived from the
// base URL so it is the same on every start.
func (s *Servers) orgID() string {
	sum := sha256.Sum256([]byte(s.base))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	b.WriteString("00o")
	for _, c := range sum[:17] {
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String()
}
