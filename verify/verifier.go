package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// Provider types for ProviderConfig.Type.
const (
	ProviderOkta          = "okta"
	ProviderAuth0         = "auth0"
	ProviderAzure         = "azure"
	ProviderOIDC          = "oidc"
	ProviderStatic        = "static"
	ProviderIntrospection = "introspection"
)

// ProviderConfig describes one trusted token issuer. Which fields apply
// depends on Type; the helper constructors (Okta, Auth0, ...) fill them.
type ProviderConfig struct {
	// Name labels the provider in Principal.Provider and logs; it
	// defaults to Type.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	Type string `json:"type" yaml:"type"`

	// Domain is the Okta org domain (example.okta.com) or Auth0 tenant
	// domain.
	Domain string `json:"domain,omitempty" yaml:"domain,omitempty"`
	// AuthServerID is the Okta custom authorization server id
	// ("default", "aus..."); empty or "org" means the org server, which
	// is refused unless AllowOrgServer is set (OKTA_ALLOW_ORG_SERVER).
	// The org server's access tokens can only be validated by Okta (they
	// are signed with a key it does not publish): introspect them with an
	// introspection provider. AllowOrgServer accepts the org server's ID
	// tokens issued to ClientID (from the environment: the one client in
	// OKTA_CLIENT_IDS), which is then required.
	AuthServerID   string `json:"auth_server_id,omitempty" yaml:"auth_server_id,omitempty"`
	AllowOrgServer bool   `json:"allow_org_server,omitempty" yaml:"allow_org_server,omitempty"`
	// Tenant is the Azure AD tenant id. Multi-tenant aliases (common,
	// organizations, consumers) are refused: they have no fixed issuer.
	Tenant string `json:"tenant,omitempty" yaml:"tenant,omitempty"`
	// BaseURL replaces the scheme and host derived from Domain (Okta,
	// Auth0) or login.microsoftonline.com (Azure), e.g.
	// "http://127.0.0.1:8080" for a local server. Plain http is accepted
	// only for loopback hosts.
	BaseURL string `json:"base_url,omitempty" yaml:"base_url,omitempty"`

	// Issuer is the exact iss value (generic OIDC, static, and optionally
	// introspection).
	Issuer string `json:"issuer,omitempty" yaml:"issuer,omitempty"`
	// DiscoveryURL overrides the metadata location (default
	// Issuer + "/.well-known/openid-configuration"). For introspection it
	// wins over IntrospectURL.
	DiscoveryURL string `json:"discovery_url,omitempty" yaml:"discovery_url,omitempty"`
	// JWKSURL skips discovery for generic OIDC.
	JWKSURL string `json:"jwks_url,omitempty" yaml:"jwks_url,omitempty"`

	// KeyFiles are PEM, JWK or JWKS files for a static provider; they are
	// reloaded when they change. Keys holds the same formats inline.
	KeyFiles       []string      `json:"key_files,omitempty" yaml:"key_files,omitempty"`
	Keys           string        `json:"keys,omitempty" yaml:"keys,omitempty"`
	ReloadInterval time.Duration `json:"reload_interval,omitempty" yaml:"reload_interval,omitempty"`

	// IntrospectURL is the RFC 7662 endpoint. ClientID authenticates with
	// ClientSecret (client_secret_basic) or, when a private key is given,
	// with private_key_jwt.
	IntrospectURL string `json:"introspect_url,omitempty" yaml:"introspect_url,omitempty"`
	ClientID      string `json:"client_id,omitempty" yaml:"client_id,omitempty"`
	ClientSecret  string `json:"client_secret,omitempty" yaml:"client_secret,omitempty"`
	// ClientSecretFile holds the client secret instead of ClientSecret
	// (surrounding white space ignored), so configuration can live in a
	// file anyone may read and the secret in one mounted from a secret
	// store (a Kubernetes Secret). Read once, when the verifier is built.
	ClientSecretFile string `json:"client_secret_file,omitempty" yaml:"client_secret_file,omitempty"`
	PrivateKeyFile   string `json:"private_key_file,omitempty" yaml:"private_key_file,omitempty"`
	PrivateKeyPEM    string `json:"private_key_pem,omitempty" yaml:"private_key_pem,omitempty"`
	PrivateKeyID     string `json:"private_key_id,omitempty" yaml:"private_key_id,omitempty"`
	// AcceptOpaque routes tokens that are not JWTs to this introspection
	// provider. At most one provider may set it.
	AcceptOpaque bool `json:"accept_opaque,omitempty" yaml:"accept_opaque,omitempty"`
	// IntrospectTTL and NegativeTTL bound the introspection caches. An
	// active answer without exp is valid for IntrospectTTL.
	IntrospectTTL time.Duration `json:"introspect_ttl,omitempty" yaml:"introspect_ttl,omitempty"`
	NegativeTTL   time.Duration `json:"negative_ttl,omitempty" yaml:"negative_ttl,omitempty"`
	// IntrospectConcurrency bounds the calls in flight to the endpoint
	// (default DefaultIntrospectConcurrency) and IntrospectPerSecond
	// their rate (default DefaultIntrospectPerSecond); a token arriving
	// when either is spent is refused as ErrKeysUnavailable (retry)
	// rather than queued. A 429 or 503 answer's Retry-After stops all
	// calls for that long.
	IntrospectConcurrency int     `json:"introspect_concurrency,omitempty" yaml:"introspect_concurrency,omitempty"`
	IntrospectPerSecond   float64 `json:"introspect_per_second,omitempty" yaml:"introspect_per_second,omitempty"`

	// Audiences, when set, replaces Policy.Audiences for this provider.
	Audiences []string `json:"audiences,omitempty" yaml:"audiences,omitempty"`
	// ClientIDs, when set, replaces Policy.ClientIDs for this provider:
	// the clients (Okta cid) whose tokens are accepted. ClientID above is
	// this program's own client, for introspection or the org server.
	ClientIDs []string `json:"client_ids,omitempty" yaml:"client_ids,omitempty"`
	// AcceptedScopes, when set, replaces Policy.AcceptedScopes for this
	// provider: a token must carry at least one of them.
	AcceptedScopes []string `json:"accepted_scopes,omitempty" yaml:"accepted_scopes,omitempty"`

	// RedirectHosts lists hosts that this provider's key, discovery and
	// introspection fetches may be redirected to besides the host each
	// fetch starts on. A redirect that drops TLS is refused whatever
	// this says.
	RedirectHosts []string `json:"redirect_hosts,omitempty" yaml:"redirect_hosts,omitempty"`

	// Types, when set, replaces Policy.Types for this provider: the
	// accepted typ header values, e.g. []string{TypeAccessToken} to
	// enforce RFC 9068 access tokens from an issuer that marks them.
	Types []string `json:"types,omitempty" yaml:"types,omitempty"`
}

// Okta returns the configuration for an Okta authorization server.
func Okta(domain, authServerID string) ProviderConfig {
	return ProviderConfig{Type: ProviderOkta, Domain: domain, AuthServerID: authServerID}
}

// Auth0 returns the configuration for an Auth0 tenant domain.
func Auth0(domain string) ProviderConfig {
	return ProviderConfig{Type: ProviderAuth0, Domain: domain}
}

// AzureAD returns the configuration for an Azure AD (Entra ID) tenant, v2
// endpoints.
func AzureAD(tenant string) ProviderConfig {
	return ProviderConfig{Type: ProviderAzure, Tenant: tenant}
}

// OIDC returns the configuration for any issuer with OpenID discovery.
func OIDC(issuer string) ProviderConfig {
	return ProviderConfig{Type: ProviderOIDC, Issuer: issuer}
}

// StaticKeys returns the configuration for keys read from files.
func StaticKeys(issuer string, files ...string) ProviderConfig {
	return ProviderConfig{Type: ProviderStatic, Issuer: issuer, KeyFiles: files}
}

// Introspection returns the configuration for an RFC 7662 endpoint with
// client_secret_basic authentication.
func Introspection(introspectURL, clientID, clientSecret string) ProviderConfig {
	return ProviderConfig{Type: ProviderIntrospection, IntrospectURL: introspectURL, ClientID: clientID, ClientSecret: clientSecret}
}

// Limits bound what the verifier will process. Zero fields take defaults.
type Limits struct {
	// MaxTokenBytes refuses longer tokens before any parsing.
	MaxTokenBytes int `json:"max_token_bytes,omitempty" yaml:"max_token_bytes,omitempty"`
	// MaxRSABits is the largest RSA modulus accepted (at most 8192).
	MaxRSABits int `json:"max_rsa_bits,omitempty" yaml:"max_rsa_bits,omitempty"`
	// MaxKeySetBytes caps a fetched JWKS, discovery document, key file or
	// introspection response.
	MaxKeySetBytes int64 `json:"max_key_set_bytes,omitempty" yaml:"max_key_set_bytes,omitempty"`
	// MaxKeys caps the keys in one set.
	MaxKeys int `json:"max_keys,omitempty" yaml:"max_keys,omitempty"`
}

// TokenCache configures the cache of verified tokens.
type TokenCache struct {
	Disabled bool `json:"disabled,omitempty" yaml:"disabled,omitempty"`
	// Size bounds the number of entries (default 10000).
	Size int `json:"size,omitempty" yaml:"size,omitempty"`
	// MaxTTL bounds how long one verification is reused (default 5m);
	// it never exceeds the token's exp.
	MaxTTL time.Duration `json:"max_ttl,omitempty" yaml:"max_ttl,omitempty"`
}

// Config is everything needed to build a Verifier; it marshals to and
// from YAML and JSON so a CLI can load it from a file.
type Config struct {
	Providers []ProviderConfig `json:"providers" yaml:"providers"`
	Policy    Policy           `json:"policy" yaml:"policy"`
	// Algorithms lists the accepted JWS algorithms (default RS256, ES256,
	// EdDSA; PS256 must be listed to be accepted).
	Algorithms []string   `json:"algorithms,omitempty" yaml:"algorithms,omitempty"`
	Limits     Limits     `json:"limits,omitempty" yaml:"limits,omitempty"`
	KeyCache   KeyCache   `json:"key_cache,omitempty" yaml:"key_cache,omitempty"`
	TokenCache TokenCache `json:"token_cache,omitempty" yaml:"token_cache,omitempty"`
	// DPoP configures VerifyDPoP's proof checks.
	DPoP DPoPConfig `json:"dpop,omitempty" yaml:"dpop,omitempty"`

	HTTPClient *http.Client `json:"-" yaml:"-"`
	// Clock tells time for expiry and key refresh (any value with a Now
	// method); the wall clock when nil.
	Clock  interface{ Now() time.Time } `json:"-" yaml:"-"`
	Logger *slog.Logger                 `json:"-" yaml:"-"`
}

// provider is a built ProviderConfig.
type provider struct {
	name      string
	issuer    string
	audiences []string
	types     []string // accepted typ values; nil accepts any
	// policy is the verifier's Policy with this provider's ClientIDs and
	// AcceptedScopes in place of its own.
	policy *Policy
	keys   keySource
	intro  *introspector
	// okta marks an Okta custom authorization server: its access tokens
	// carry cid, which its ID tokens never do.
	okta bool
	// orgClient, for the Okta org server, is the client whose ID tokens
	// are accepted (their aud); the org server's access tokens are signed
	// with a key Okta does not publish and can only be introspected.
	orgClient string
}

// tokenKind refuses JWTs that are not access tokens by their claims:
// ID tokens (nonce, at_hash, c_hash; for Okta, no cid or scp) and, for
// the Okta org server, its access tokens, which only Okta can check.
func (p *provider) tokenKind(c *claims) error {
	switch {
	case p.orgClient != "":
		if c.shape&(shapeCid|shapeScp) != 0 {
			return newError(ErrUnsupportedToken, "access tokens of the Okta org authorization server can only be validated by Okta: "+
				"introspect them (an introspection provider at "+p.issuer+"/oauth2/v1/introspect), or use a custom authorization server")
		}
		if !slices.Contains(c.aud, p.orgClient) {
			return newError(ErrAudience, "an ID token of the org authorization server is accepted only for the configured client")
		}
	case c.shape&shapeIDToken != 0:
		return newError(ErrUnsupportedToken, "an ID token (nonce, at_hash or c_hash) is not an access token")
	case p.okta && c.shape&shapeCid == 0:
		return newError(ErrUnsupportedToken, "not an Okta access token (Okta access tokens carry cid; an ID token does not)")
	}
	return nil
}

// cachedToken is one cached verification. It remembers the key that
// checked the signature (the token's kid and alg, and the key's
// fingerprint) and the generation of the set that key came from: when the
// set changes, a hit stands only if the new set still gives that token
// the same key, so a key removed from a file or a remote set refuses its
// tokens from the change on, and keys that stay keep their tokens cached.
type cachedToken struct {
	p        *Principal
	prov     *provider
	gen      atomic.Uint64
	kid, alg string
	fp       [32]byte
	c        claims // time claims, re-checked on every hit
}

// keyStands reports whether the key ct was verified with is still the one
// its provider's current set gives the token.
func (ct *cachedToken) keyStands() bool {
	s := ct.prov.keys.current()
	if s == nil {
		return false
	}
	if s.gen == ct.gen.Load() {
		return true
	}
	k := s.set.find(ct.kid, ct.alg)
	if k == nil || k.fp != ct.fp {
		return false
	}
	ct.gen.Store(s.gen)
	return true
}

// Verifier verifies bearer tokens against a fixed set of providers. It is
// safe for concurrent use.
type Verifier struct {
	providers []*provider
	byIssuer  map[string]*provider
	opaque    *provider
	policy    Policy
	names     claimNames
	algs      algSet
	maxToken  int
	clk       clock.Clock
	cache     *ttlCache[*cachedToken]
	cacheTTL  int64
	dpop      DPoPConfig
	// hits and misses count token cache lookups for Stats.
	hits, misses atomic.Uint64
}

// New builds a Verifier. It does no network I/O: keys are fetched on first
// use, or by Warm.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Providers) == 0 {
		return nil, errors.New("verify: no providers configured")
	}
	algs, err := parseAlgs(cfg.Algorithms)
	if err != nil {
		return nil, err
	}
	lim := cfg.Limits
	if lim.MaxTokenBytes <= 0 {
		lim.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if lim.MaxRSABits <= 0 {
		lim.MaxRSABits = DefaultMaxRSABits
	}
	if lim.MaxRSABits > 8192 {
		return nil, errors.New("verify: MaxRSABits above 8192 is not supported")
	}
	if lim.MaxKeySetBytes <= 0 {
		lim.MaxKeySetBytes = DefaultMaxJWKSBytes
	}
	if lim.MaxKeys <= 0 {
		lim.MaxKeys = DefaultMaxKeys
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	// Keys reached through a redirect are trusted like the configured
	// URL, so redirects are checked whatever client the caller gave.
	client = guardRedirects(client)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kc := cfg.KeyCache.withDefaults()
	f := &fetcher{client: client, clk: clock.Or(cfg.Clock), log: log, maxBytes: lim.MaxKeySetBytes, timeout: kc.FetchTimeout}
	pol := cfg.Policy
	if pol.GroupsClaim == "" {
		pol.GroupsClaim = "groups"
	}
	if pol.UserClaim == "" {
		pol.UserClaim = "sub"
	}
	v := &Verifier{
		byIssuer: map[string]*provider{},
		policy:   pol,
		names:    claimNames{user: pol.UserClaim, groups: pol.GroupsClaim},
		algs:     algs,
		maxToken: lim.MaxTokenBytes,
		clk:      f.clk,
	}
	for i, pc := range cfg.Providers {
		p, err := buildProvider(pc, f, kc, lim, v.names)
		if err != nil {
			return nil, fmt.Errorf("verify: provider %d (%s): %w", i, pc.Type, err)
		}
		if len(p.audiences) == 0 && len(pol.Audiences) == 0 && !pol.AllowAnyAudience {
			return nil, fmt.Errorf("verify: provider %s: no audiences configured (set Policy.Audiences or AllowAnyAudience)", p.name)
		}
		if len(p.audiences) == 0 {
			p.audiences = pol.Audiences
		}
		if len(p.types) == 0 {
			p.types = pol.Types
		}
		pp := pol
		if len(pc.ClientIDs) > 0 {
			pp.ClientIDs = slices.Clone(pc.ClientIDs)
		}
		if len(pc.AcceptedScopes) > 0 {
			pp.AcceptedScopes = slices.Clone(pc.AcceptedScopes)
		}
		p.policy = &pp
		if p.issuer != "" {
			if _, dup := v.byIssuer[p.issuer]; dup {
				return nil, fmt.Errorf("verify: issuer %s is configured twice", p.issuer)
			}
			v.byIssuer[p.issuer] = p
		}
		if pc.Type == ProviderIntrospection && (pc.AcceptOpaque || p.issuer == "") {
			if !pc.AcceptOpaque && oktaEndpoint(pc) {
				return nil, fmt.Errorf("verify: provider %s: Okta issues access tokens as JWTs, so opaque tokens are not introspected at an Okta endpoint unless accept_opaque is set; set issuer to introspect that issuer's JWTs", p.name)
			}
			if v.opaque != nil {
				return nil, errors.New("verify: more than one introspection provider accepts opaque tokens")
			}
			v.opaque = p
		}
		v.providers = append(v.providers, p)
	}
	v.dpop = cfg.DPoP
	if v.dpop.Window <= 0 {
		v.dpop.Window = DefaultDPoPWindow
	}
	if v.dpop.Replay == nil {
		v.dpop.Replay = &memoryReplay{seen: map[string]time.Time{}, now: v.clk.Now}
	}
	if !cfg.TokenCache.Disabled {
		size := cfg.TokenCache.Size
		if size <= 0 {
			size = 10000
		}
		ttl := cfg.TokenCache.MaxTTL
		if ttl <= 0 {
			ttl = 5 * time.Minute
		}
		v.cache = newTTLCache[*cachedToken](size)
		v.cacheTTL = int64(ttl / time.Second)
	}
	return v, nil
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

// domainHost reads an Okta or Auth0 domain: a host name, optionally
// written as an https URL with nothing after the host. Any other scheme
// is refused rather than glued behind "https://" (which built
// "https://http://..." addresses that no fetch could ever reach); a
// local plain-http server is configured with BaseURL instead.
func domainHost(kind, domain string) (string, error) {
	d := trimSlash(strings.TrimSpace(domain))
	if rest, ok := strings.CutPrefix(strings.ToLower(d), "https://"); ok {
		d = d[len(d)-len(rest):]
	}
	if strings.Contains(d, "://") {
		return "", fmt.Errorf("%s: domain %q has a URL scheme; give the host alone (example.okta.com), or set base_url (OKTA_BASE_URL) for a local server such as http://127.0.0.1:8080", kind, domain)
	}
	if d == "" || strings.ContainsAny(d, "/?#@ \t") {
		return "", fmt.Errorf("%s: domain %q is not a host name; give the host alone, e.g. example.okta.com", kind, domain)
	}
	return d, nil
}

// Warm fetches the keys of every remote provider now, so the first
// requests do not wait. It returns the first failure.
func (v *Verifier) Warm(ctx context.Context) error {
	var first error
	for _, p := range v.providers {
		if rk, ok := p.keys.(*remoteKeys); ok {
			if err := rk.fetch(ctx, waitDone); err != nil && first == nil {
				first = fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	return first
}

// KeysReady reports whether every provider that verifies signatures holds
// usable keys: remote key sets fetched within KeyCache.MaxStale, static
// ones loaded. It does no I/O, so a readiness probe can call it on every
// request; with RefreshInBackground running it turns nil again within
// KeyCache.RefetchFloor of an issuer's key server coming back. The error
// names the first provider without keys and its last fetch failure.
func (v *Verifier) KeysReady() error {
	for _, p := range v.providers {
		switch ks := p.keys.(type) {
		case *remoteKeys:
			if err := ks.ready(); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		case *fileKeys:
			if ks.cur.Load() == nil {
				return fmt.Errorf("%s: no keys loaded", p.name)
			}
		}
	}
	return nil
}

// RefreshInBackground keeps the keys of every remote provider fresh until
// ctx ends, refetching each key set when its lifetime runs out (the
// response's Cache-Control max-age, bounded by KeyCache.MinRefresh and
// MaxRefresh) instead of on the first request after that, and checks the
// key files of static providers every ReloadInterval. Without it keys are
// still refreshed and files checked, but by the requests (cached ones
// included) that find them due. Either way a key that leaves its set
// refuses the tokens it signed from then on, cached or not. The returned
// channel is closed once every refresh goroutine has stopped.
func (v *Verifier) RefreshInBackground(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range v.providers {
		switch ks := p.keys.(type) {
		case *remoteKeys:
			wg.Go(func() { ks.refreshLoop(ctx) })
		case *fileKeys:
			wg.Go(func() { ks.reloadLoop(ctx) })
		}
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// Issuers lists the configured issuers.
func (v *Verifier) Issuers() []string {
	var out []string
	for _, p := range v.providers {
		if p.issuer != "" {
			out = append(out, p.issuer)
		}
	}
	return out
}

// Verify checks a bearer token and returns the principal it names. Every
// failure is an *Error; pass it to Challenge for the HTTP answer. A token
// bound to a key (a cnf claim, RFC 9449) is refused with
// ErrDPoPRequired: without its proof it is a stolen token's replay as
// likely as not. VerifyDPoP checks such tokens.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	p, err := v.verify(ctx, token)
	if err == nil && p.bound {
		return nil, &Error{Code: CodeInvalidToken, Reason: ErrDPoPRequired, Scheme: "DPoP",
			Description: "the token is bound to a key: send 'Authorization: DPoP <token>' with a DPoP proof"}
	}
	return p, err
}

// Inspect checks a token as Verify does and returns the principal it
// names, key-bound (DPoP) tokens included, without their proof. It is for
// callers that act on a token rather than admit its bearer, such as a
// revocation endpoint revoking a stolen bound token by value; never use it
// to authenticate a request.
func (v *Verifier) Inspect(ctx context.Context, token string) (*Principal, error) {
	return v.verify(ctx, token)
}

// verify checks token, bound or not.
func (v *Verifier) verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, newError(ErrMissingToken, "")
	}
	if len(token) > v.maxToken {
		return nil, newError(ErrTokenTooLarge, "")
	}
	now := v.clk.Now().Unix()
	var ck tokenKey
	if v.cache != nil {
		ck = keyOf(token)
		if ct, ok := v.cache.get(ck, now); ok {
			if ct.keyStands() && v.policy.checkTime(&ct.c, now) == nil {
				v.hits.Add(1)
				return ct.p.Clone(), nil
			}
			v.cache.remove(ck)
		}
		v.misses.Add(1)
	}
	var t jws
	if err := parseJWS(token, v.algs, &t); err != nil {
		if v.opaque != nil && strings.Count(token, ".") != 2 && strings.Count(token, ".") != 4 {
			return v.introspect(ctx, v.opaque, token, nil, now)
		}
		return nil, err
	}
	c, err := parseClaims(t.payload, v.names)
	if err != nil {
		return nil, wrapError(ErrMalformed, "token claims are not a valid JSON object", err)
	}
	p := v.byIssuer[c.iss]
	if p == nil {
		return nil, newError(ErrUnknownIssuer, "")
	}
	if p.orgClient != "" {
		// Said before the key lookup fails on the org server's
		// unpublished key: what to do instead.
		if err := p.tokenKind(c); err != nil {
			return nil, err
		}
		if c.cid == "" {
			c.cid = p.orgClient // an ID token's audience is its client
		}
	}
	if p.intro != nil {
		// The answer will decide, but a JWT whose own claims or
		// signature size already fail costs no introspection call.
		if !plausibleSignature(t.alg, len(t.sig)) {
			return nil, newError(ErrSignature, "")
		}
		if _, err := p.policy.check(c, t.typ, p.types, p.audiences, true, now); err != nil {
			return nil, err
		}
		if err := p.tokenKind(c); err != nil {
			return nil, err
		}
		return v.introspect(ctx, p, token, &t, now)
	}
	k, gen, err := p.keys.lookup(ctx, t.kid, t.alg)
	if err != nil {
		return nil, err
	}
	if !t.scratch.verify(t.alg, k, t.signingInput, t.sig) {
		return nil, newError(ErrSignature, "")
	}
	roles, err := p.policy.check(c, t.typ, p.types, p.audiences, false, now)
	if err != nil {
		return nil, err
	}
	if err := p.tokenKind(c); err != nil {
		return nil, err
	}
	pr := v.principal(c, p, roles)
	if v.cache != nil {
		exp := min(c.exp, now+v.cacheTTL)
		ct := &cachedToken{p: pr, prov: p, kid: t.kid, alg: t.alg, fp: k.fp, c: *c}
		ct.gen.Store(gen)
		v.cache.put(ck, ct, exp, now)
		return pr.Clone(), nil
	}
	// Roles points at the policy's shared lists: copy them out.
	return pr.Clone(), nil
}

func (v *Verifier) principal(c *claims, p *provider, roles []string) *Principal {
	pr := &Principal{
		Subject:  c.sub,
		User:     c.user,
		Issuer:   c.iss,
		Provider: p.name,
		ClientID: c.cid,
		TokenID:  c.jti,
		Audience: c.aud,
		Scopes:   c.scopes,
		Groups:   c.groups,
		Roles:    roles,
		Expiry:   time.Unix(c.exp, 0),
		raw:      c.raw,
	}
	if c.shape&shapeCnf != 0 {
		pr.bound = true
		pr.KeyThumbprint, _ = cnfThumbprint(c.cnf)
	}
	if len(roles) > 0 {
		pr.Role = roles[0]
	}
	if c.hasIat {
		pr.IssuedAt = time.Unix(c.iat, 0)
	}
	return pr
}

// introspect asks p's endpoint about token and applies the policy to the
// answer, cached or not.
func (v *Verifier) introspect(ctx context.Context, p *provider, token string, t *jws, now int64) (*Principal, error) {
	if t == nil && !isB64Token(token) {
		// Not something any authorization server issues: refuse it
		// here rather than spend an introspection call on it.
		return nil, newError(ErrMalformed, "token is not an RFC 6750 bearer token (b64token characters only)")
	}
	c, err := p.intro.check(ctx, token)
	if err != nil {
		return nil, err
	}
	if p.issuer != "" && c.iss != "" && c.iss != p.issuer {
		return nil, newError(ErrUnknownIssuer, "")
	}
	if c.iss == "" {
		cc := *c
		cc.iss = p.issuer
		c = &cc
	}
	typ, types := "", p.types
	if t != nil {
		typ = t.typ
	} else {
		types = nil // opaque tokens have no header
	}
	roles, err := p.policy.check(c, typ, types, p.audiences, true, now)
	if err != nil {
		return nil, err
	}
	pr := v.principal(c, p, roles)
	pr.Introspected = true
	// The claims came from the introspection cache, which other
	// requests read: the caller gets slices of its own.
	return pr.Clone(), nil
}

// isB64Token reports whether s has the RFC 6750 section 2.1 b64token
// syntax: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// Decoded is a token decoded without any trust: nothing in it has been
// verified. It exists for diagnostics such as a "token decode" command.
type Decoded struct {
	Header    map[string]any
	Claims    map[string]any
	Signature []byte
	Alg       string
	KeyID     string
	Type      string
}

// Decode parses a compact JWS without verifying it. The header and claims
// are checked for well-formedness with the same strict reader the verifier
// uses (so duplicate keys are reported), but no key, signature, issuer or
// time is checked.
func Decode(token string) (*Decoded, error) {
	hs, ps, ss, isJWE, ok := splitCompact(strings.TrimSpace(token))
	if !ok {
		if isJWE {
			return nil, errors.New("token is a JWE (encrypted); it cannot be decoded without the key")
		}
		return nil, errors.New("token is not a compact JWS (header.payload.signature)")
	}
	header, ok := decodeSegment(hs)
	if !ok {
		return nil, errors.New("header is not base64url")
	}
	payload, ok := decodeSegment(ps)
	if !ok {
		return nil, errors.New("payload is not base64url")
	}
	sig, err := decodeB64(ss)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	d := &Decoded{Signature: sig}
	var t jws
	if err := parseObject(header, func(key string, v jsonValue) error {
		switch key {
		case "alg":
			t.alg, _ = stringValue(key, v)
		case "kid":
			t.kid, _ = stringValue(key, v)
		case "typ":
			t.typ, _ = stringValue(key, v)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	d.Alg, d.KeyID, d.Type = t.alg, t.kid, t.typ
	if d.Header, err = decodeMap(header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := parseObject(payload, nil); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if d.Claims, err = decodeMap(payload); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return d, nil
}

func decodeMap(s string) (map[string]any, error) {
	p := &Principal{raw: s}
	return p.Claims()
}
