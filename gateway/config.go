package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// Config is the gateway's whole configuration. It is read from a YAML file
// (LoadFile, ParseConfig) and/or from environment variables (ApplyEnv);
// variables win over the file.
type Config struct {
	// Listen is the address to serve on (default 127.0.0.1:8080).
	Listen string `yaml:"listen,omitempty"`
	// AdminListen is the address of the admin listener, which serves
	// /metrics, /healthz and /readyz (default DefaultAdminListen,
	// 127.0.0.1:9090; "off" disables it). The proxy port forwards those
	// paths to the upstream like any other.
	AdminListen string `yaml:"admin_listen,omitempty"`
	// AdminPprof adds net/http/pprof under /debug/pprof/ to the admin
	// listener (off by default: profiles reveal memory contents).
	AdminPprof bool `yaml:"admin_pprof,omitempty"`
	// Upstream is the default backend: http://host:port (HTTP/1.1),
	// h2c://host:port (HTTP/2 without TLS, for gRPC) or https://host:port.
	Upstream string `yaml:"upstream,omitempty"`
	// UpstreamCAFile, when set, is the CA bundle trusted for https
	// upstreams instead of the system pool.
	UpstreamCAFile string    `yaml:"upstream_ca_file,omitempty"`
	TLS            TLSConfig `yaml:"tls,omitempty"`
	// Realm goes into WWW-Authenticate challenges.
	Realm string `yaml:"realm,omitempty"`

	// Issuers are the trusted token issuers, in verify's terms (Okta,
	// Auth0, Azure AD, generic OIDC, static keys, introspection). The
	// OKTA_* and AUTH0_* variables update or add the ones named okta and
	// auth0 (verify.Config.ApplyEnv). The older okta:, auth0:, providers:
	// and authentication: sections are refused with their equivalent here
	// (legacy.go).
	Issuers []verify.ProviderConfig `yaml:"issuers,omitempty"`
	// Audiences apply to issuers that list none of their own.
	Audiences []string     `yaml:"audiences,omitempty"`
	Groups    GroupsConfig `yaml:"groups,omitempty"`
	// UserClaim names the claim sent upstream as the user (default sub).
	UserClaim string `yaml:"user_claim,omitempty"`

	// Routes are tried in order; the first whose prefix and method match
	// decides. A request no route matches is answered 404. With no routes
	// at all the default policy applies (DefaultRoutes): every path needs
	// a token whose groups grant a role; readers may only GET, HEAD and
	// OPTIONS; writers and admins may use every method.
	Routes []Route `yaml:"routes,omitempty"`
	// AllowNoRole relaxes the default policy: a valid token whose groups
	// map to no role is admitted as a reader instead of refused (403).
	AllowNoRole bool `yaml:"allow_no_role,omitempty"`

	// HeaderPrefix starts the identity headers sent upstream (default
	// "X-Auth-"); client headers with the prefix are always removed, as
	// are those with X-Auth- and, after a reload that changed it, with
	// any prefix the process used before.
	HeaderPrefix string `yaml:"header_prefix,omitempty"`
	// StripAuthorization removes the client's Authorization header before
	// proxying, for upstreams that must trust only the identity headers.
	StripAuthorization bool `yaml:"strip_authorization,omitempty"`
	// AdminPath serves POST revocations (admin role required); default
	// /_oktafed/revocations, "-" disables it.
	AdminPath string `yaml:"admin_path,omitempty"`

	// ForwardAuth answers ingresses' authorization calls (nginx
	// auth_request, Traefik forwardAuth, Envoy ext_authz) with the same
	// rules as the proxy.
	ForwardAuth ForwardAuthConfig `yaml:"forward_auth,omitempty"`

	Redis RedisConfig `yaml:"redis,omitempty"`
	// RevocationTTL is how long a revoked jti is remembered when the
	// revocation names no expiry (default 24h, Okta's longest access
	// token lifetime).
	RevocationTTL time.Duration `yaml:"revocation_ttl,omitempty"`
	// ShutdownTimeout bounds the graceful shutdown after the drain period
	// (default 15s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout,omitempty"`
	Timeouts        Timeouts      `yaml:"timeouts,omitempty"`
	// MaxBodyBytes bounds a request body the gateway reads before it
	// forwards the request (default DefaultMaxBodyBytes, 1 MiB, as nginx's
	// client_max_body_size); larger bodies get 413. Routes may raise it
	// or stream instead (Route.StreamBody).
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"`
	// MaxHeaderBytes bounds a request's header block as decoded, HTTP/1.1
	// and HTTP/2 alike (default DefaultMaxHeaderBytes, 32 KiB, nginx's
	// large_client_header_buffers): HPACK lets a few hundred bytes on the
	// wire decode to a megabyte, which would otherwise reach the upstream.
	// Larger header blocks get 431.
	MaxHeaderBytes int `yaml:"max_header_bytes,omitempty"`
	// KeyCache tunes how issuers' key sets are cached and refetched
	// (verify.KeyCache): refetch_floor bounds how soon a failed fetch is
	// retried, so how soon the gateway is ready once the issuer is back.
	KeyCache verify.KeyCache `yaml:"key_cache,omitempty"`
}

// Timeouts bound how long the gateway waits on clients and upstreams.
// Zero fields take the defaults below.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers (default 10s), an
	// HTTP/2 header block included: an HTTP/2 connection without a
	// complete frame for half of it is sent a PING and closed when the
	// answer does not come within the other half.
	ReadHeader time.Duration `yaml:"read_header,omitempty"`
	// BodyIdle is the longest a request body may go without sending a
	// byte (default 30s); a slow or stalled upload is answered 408 and
	// its connection closed, so trickling bodies cannot hold connections.
	// gRPC calls are exempt: their streams may idle, and gRPC keepalives
	// and deadlines cover them.
	BodyIdle time.Duration `yaml:"body_idle,omitempty"`
	// BodyRead bounds reading a whole request body (default 5m), so a
	// body trickled one byte at a time within BodyIdle still ends; 408
	// past it. gRPC calls are exempt, as for BodyIdle.
	BodyRead time.Duration `yaml:"body_read,omitempty"`
	// Idle bounds a keep-alive connection between requests (default 90s).
	Idle time.Duration `yaml:"idle,omitempty"`
	// Upstream is how long the upstream may take to send its response
	// headers (default 30s; a route's upstream_timeout overrides it);
	// past it the client gets 504. Streaming after the headers is not cut;
	// h2c:// (gRPC) routes only wait this long when they set
	// upstream_timeout.
	Upstream time.Duration `yaml:"upstream,omitempty"`
	// Drain is how long the gateway keeps serving after a stop signal with
	// /readyz answering 503, so load balancers move traffic away before
	// connections close (default 5s; negative for none).
	Drain time.Duration `yaml:"drain,omitempty"`
	// Write is the longest one write of a response may block on a client
	// that does not read (default 30s; an HTTP/2 client can stop reading
	// by holding its flow-control window at zero). Past it the response is
	// abandoned and the upstream request cancelled, so such clients
	// cannot hold upstream handlers.
	Write time.Duration `yaml:"write,omitempty"`
	// Tunnel bounds a WebSocket tunnel (default 1h); tunnels on routes
	// with a token also end when the token expires or is revoked.
	Tunnel time.Duration `yaml:"tunnel,omitempty"`
}

// Timeout defaults.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyIdleTimeout   = 30 * time.Second
	DefaultBodyReadTimeout   = 5 * time.Minute
	DefaultIdleTimeout       = 90 * time.Second
	DefaultUpstreamTimeout   = 30 * time.Second
	DefaultDrain             = 5 * time.Second
	DefaultTunnel            = time.Hour
	DefaultWriteTimeout      = 30 * time.Second
)

// DefaultMaxBodyBytes is Config.MaxBodyBytes when unset.
const DefaultMaxBodyBytes = 1 << 20

// DefaultMaxHeaderBytes is Config.MaxHeaderBytes when unset.
const DefaultMaxHeaderBytes = 32 << 10

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, DefaultReadHeaderTimeout)
	def(&t.BodyIdle, DefaultBodyIdleTimeout)
	def(&t.BodyRead, DefaultBodyReadTimeout)
	def(&t.Idle, DefaultIdleTimeout)
	def(&t.Upstream, DefaultUpstreamTimeout)
	def(&t.Tunnel, DefaultTunnel)
	def(&t.Write, DefaultWriteTimeout)
	if t.Drain < 0 {
		t.Drain = 0
	} else if t.Drain == 0 {
		t.Drain = DefaultDrain
	}
	return t
}

// TLSConfig names the server certificate; both empty means plain HTTP
// (with h2c for gRPC).
type TLSConfig struct {
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
}

// GroupsConfig maps group names to roles.
type GroupsConfig struct {
	Admin    []string `yaml:"admin,omitempty"`
	Write    []string `yaml:"write,omitempty"`
	ReadOnly []string `yaml:"read_only,omitempty"`
	// Claim names the claim holding groups (default "groups").
	Claim string `yaml:"claim,omitempty"`
}

// RedisConfig enables sharing between replicas. One node, a Redis
// Cluster or a Sentinel-managed primary, in plain text or TLS, with ACL
// users; see NewRedisClient.
type RedisConfig struct {
	// URL is redis://[user:password@]host:port/db or rediss://... for one
	// node; empty (with no Addrs) keeps revocations and introspection
	// results in memory. Its user, password, TLS and database also apply
	// to Addrs when those are set.
	URL string `yaml:"url,omitempty"`
	// Addrs lists cluster nodes (with Cluster) or sentinels (with
	// MasterName), host:port each.
	Addrs []string `yaml:"addrs,omitempty"`
	// Cluster talks to a Redis Cluster through the seed nodes in Addrs
	// (or the URL's host).
	Cluster bool `yaml:"cluster,omitempty"`
	// MasterName is the Sentinel name of the primary; Addrs are then the
	// sentinels, and the client follows failovers.
	MasterName string `yaml:"master_name,omitempty"`
	// Username and Password authenticate as an ACL user; they override
	// the URL's. Prefer REDIS_PASSWORD (or a file) to writing a password
	// into YAML.
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// when they require it.
	SentinelUsername string `yaml:"sentinel_username,omitempty"`
	SentinelPassword string `yaml:"sentinel_password,omitempty"`
	// TLS turns TLS on (as rediss:// does) for nodes and sentinels.
	TLS bool `yaml:"tls,omitempty"`
	// CAFile is the CA bundle trusted for Redis TLS instead of the system
	// pool; CertFile and KeyFile are a client certificate for servers
	// that ask for one.
	CAFile   string `yaml:"ca_file,omitempty"`
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// ServerName is checked against the server certificate (default: the
	// host being dialled).
	ServerName string `yaml:"server_name,omitempty"`
	// Prefix starts every key and channel (default "oktafed:gateway:").
	Prefix string `yaml:"prefix,omitempty"`
	// OnFailure says what a replica does when it cannot read the shared
	// revocation list: "closed" (default) is not ready and refuses tokens
	// (503) until it has loaded the list once, and again once the list has
	// gone unrefreshed for MaxStale; "open" serves from start-up with
	// whatever list it has, reporting Redis as degraded.
	OnFailure string `yaml:"on_failure,omitempty"`
	// MaxStale is how long a fail-closed replica keeps serving on its last
	// copy of the list while Redis is unreachable (default 1m).
	MaxStale time.Duration `yaml:"max_stale,omitempty"`
}

// Redis failure modes.
const (
	FailClosed = "closed"
	FailOpen   = "open"
)

// Route is a path prefix and methods with the rule they require.
type Route struct {
	// Prefix matches the path itself and everything below it; one ending
	// in "/" matches only below it.
	Prefix string `yaml:"prefix"`
	// Methods, empty for any. Matching is exact on the upper-case form;
	// requests with other methods never reach a route.
	Methods    []string `yaml:"methods,omitempty"`
	guard.Rule `yaml:",inline"`
	// Upstream overrides Config.Upstream for this route.
	Upstream string `yaml:"upstream,omitempty"`
	// UpstreamTimeout overrides Timeouts.Upstream for this route. Routes
	// to h2c:// (gRPC) upstreams have none unless it is set.
	UpstreamTimeout time.Duration `yaml:"upstream_timeout,omitempty"`
	// CaseInsensitive matches the prefix in any letter case, for routes in
	// front of upstreams that ignore case (IIS, some Java servers), so
	// "/Admin" cannot slip past an "/admin" rule to a weaker one.
	CaseInsensitive bool `yaml:"case_insensitive,omitempty"`
	// WebSocket lets GET requests on this route upgrade to a WebSocket
	// ("Upgrade: websocket"), after the route's role rule passed for GET.
	// Other routes refuse WebSocket upgrades (400), and every other
	// Upgrade token (h2c, TLS, ...) is dropped on every route: the request
	// reaches the upstream as a plain HTTP/1.1 request. The tunnel ends
	// when the token expires or is revoked, or after Timeouts.Tunnel.
	WebSocket bool `yaml:"websocket,omitempty"`
	// StreamBody passes request bodies through as they arrive instead of
	// reading them whole first (uploads larger than max_body_bytes, long
	// streams). gRPC calls on h2c:// routes always stream. Streamed
	// bodies are bounded by Timeouts.BodyIdle and BodyRead only.
	StreamBody bool `yaml:"stream_body,omitempty"`
	// MaxBodyBytes bounds a buffered request body on this route
	// (default Config.MaxBodyBytes); larger bodies are answered 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"`
}

// DefaultRoutes is the policy used when a configuration lists no routes:
// one catch-all route that needs a role (readers read-only, writers and
// admins every method; the revocation endpoint needs admin on its own).
// allowNoRole admits tokens without a role as readers.
func DefaultRoutes(allowNoRole bool) []Route {
	return []Route{{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}, AllowNoRole: allowNoRole}}}
}

// EffectiveRoutes returns the routes the gateway applies: Routes, or the
// default policy when there are none.
func (c *Config) EffectiveRoutes() []Route {
	if len(c.Routes) == 0 {
		return DefaultRoutes(c.AllowNoRole)
	}
	return c.Routes
}

// maxConfigBytes bounds a configuration file; it is operator input, but a
// wrong path (a log, a device) should fail fast.
const maxConfigBytes = 1 << 20

// ParseConfig reads a YAML configuration strictly: unknown keys are errors,
// so a misspelt policy never silently opens a route.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if len(data) > maxConfigBytes {
		return c, errors.New("gateway config: larger than 1 MiB")
	}
	if err := refuseLegacy(data); err != nil {
		return c, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		return Config{}, fmt.Errorf("gateway config: %w", err)
	}
	return c, nil
}

// LoadFile reads a YAML configuration file.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("gateway config: %w (pass --config with a readable YAML file)", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ApplyEnv overlays environment variables on c; getenv is usually
// os.Getenv. The issuers' and the policy's variables are verify's table
// (verify.Config.ApplyEnv: OKTA_*, AUTH0_*, ADMIN_GROUPS, WRITE_GROUPS,
// READ_ONLY_GROUPS, GROUPS_CLAIM, OKTA_USER_CLAIM); the gateway adds:
//
//	AUTH_PROVIDERS             okta, auth0: keep only these of the two
//	ALLOW_NO_ROLE              true to admit tokens without a role as readers
//	GATEWAY_LISTEN, GATEWAY_ADMIN_LISTEN, GATEWAY_UPSTREAM, GATEWAY_REALM
//	GATEWAY_TLS_CERT, GATEWAY_TLS_KEY, REDIS_URL
//	REDIS_FAILURE_MODE         closed (default) or open
//	REDIS_ADDRS                cluster nodes or sentinels, comma-separated
//	REDIS_CLUSTER              true for a Redis Cluster
//	REDIS_MASTER_NAME          Sentinel primary name
//	REDIS_USERNAME, REDIS_PASSWORD, REDIS_SENTINEL_USERNAME, REDIS_SENTINEL_PASSWORD
//	REDIS_TLS                  true for TLS (as rediss://)
//	REDIS_CA_FILE, REDIS_CERT_FILE, REDIS_KEY_FILE, REDIS_TLS_SERVER_NAME
//	FORWARD_AUTH_ENABLED       true: serve the forward-auth endpoints too
//	FORWARD_AUTH_PATH          nginx/Traefik decision endpoint ("-" disables)
//	FORWARD_AUTH_ENVOY_PREFIX  Envoy ext_authz HTTP prefix ("-" disables)
//	FORWARD_AUTH_TRUSTED       ingress addresses or CIDRs, comma-separated
//	FORWARD_AUTH_ONLY          true: answer decisions only, proxy nothing
//
// OKTA_CLIENT_ID and AUTH0_CLIENT_ID, the gateway's names for accepted
// client ids before OKTA_CLIENT_IDS and AUTH0_CLIENT_IDS, are refused with
// an error naming the new ones: read as nothing, they would silently
// accept every client.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	str := func(dst *string, name string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	lst := func(dst *[]string, name string) {
		if v := splitList(getenv(name)); len(v) > 0 {
			*dst = v
		}
	}
	for _, old := range []string{"OKTA_CLIENT_ID", "AUTH0_CLIENT_ID"} {
		if strings.TrimSpace(getenv(old)) != "" {
			return fmt.Errorf("%s is no longer read by the gateway: the accepted client ids go in %sS (a list), the name verify reads too; rename the variable", old, old)
		}
	}
	vc := verify.Config{Providers: c.Issuers, Policy: verify.Policy{
		Audiences: c.Audiences, UserClaim: c.UserClaim, GroupsClaim: c.Groups.Claim,
		AdminGroups: c.Groups.Admin, WriteGroups: c.Groups.Write, ReadOnlyGroups: c.Groups.ReadOnly,
	}}
	if err := vc.ApplyEnv(getenv); err != nil {
		return err
	}
	for _, name := range []string{"OKTA_REQUIRED_SCOPES", "OKTA_LEEWAY"} {
		if strings.TrimSpace(getenv(name)) != "" {
			return fmt.Errorf("%s is not read by the gateway: require scopes per route (routes[].scopes), and the clock leeway is verify's default", name)
		}
	}
	c.Issuers, c.UserClaim, c.Groups.Claim = vc.Providers, vc.Policy.UserClaim, vc.Policy.GroupsClaim
	c.Groups.Admin, c.Groups.Write, c.Groups.ReadOnly = vc.Policy.AdminGroups, vc.Policy.WriteGroups, vc.Policy.ReadOnlyGroups
	if keep := splitList(getenv("AUTH_PROVIDERS")); len(keep) > 0 {
		if err := c.keepProviders(keep); err != nil {
			return err
		}
	}
	str(&c.Listen, "GATEWAY_LISTEN")
	str(&c.AdminListen, "GATEWAY_ADMIN_LISTEN")
	str(&c.Upstream, "GATEWAY_UPSTREAM")
	str(&c.Realm, "GATEWAY_REALM")
	str(&c.TLS.CertFile, "GATEWAY_TLS_CERT")
	str(&c.TLS.KeyFile, "GATEWAY_TLS_KEY")
	str(&c.Redis.URL, "REDIS_URL")
	str(&c.Redis.OnFailure, "REDIS_FAILURE_MODE")
	lst(&c.Redis.Addrs, "REDIS_ADDRS")
	str(&c.Redis.MasterName, "REDIS_MASTER_NAME")
	str(&c.Redis.Username, "REDIS_USERNAME")
	if v := getenv("REDIS_PASSWORD"); v != "" {
		c.Redis.Password = v // passwords keep their spaces
	}
	str(&c.Redis.SentinelUsername, "REDIS_SENTINEL_USERNAME")
	if v := getenv("REDIS_SENTINEL_PASSWORD"); v != "" {
		c.Redis.SentinelPassword = v
	}
	str(&c.Redis.CAFile, "REDIS_CA_FILE")
	str(&c.Redis.CertFile, "REDIS_CERT_FILE")
	str(&c.Redis.KeyFile, "REDIS_KEY_FILE")
	str(&c.Redis.ServerName, "REDIS_TLS_SERVER_NAME")
	str(&c.ForwardAuth.Path, "FORWARD_AUTH_PATH")
	str(&c.ForwardAuth.EnvoyPrefix, "FORWARD_AUTH_ENVOY_PREFIX")
	lst(&c.ForwardAuth.Trusted, "FORWARD_AUTH_TRUSTED")
	for _, b := range []struct {
		dst  *bool
		name string
	}{{&c.Redis.Cluster, "REDIS_CLUSTER"}, {&c.Redis.TLS, "REDIS_TLS"}, {&c.ForwardAuth.Only, "FORWARD_AUTH_ONLY"}, {&c.ForwardAuth.Enabled, "FORWARD_AUTH_ENABLED"}, {&c.AllowNoRole, "ALLOW_NO_ROLE"}} {
		if v := strings.TrimSpace(getenv(b.name)); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: use true or false", b.name, v)
			}
			*b.dst = x
		}
	}
	return nil
}

// keepProviders applies AUTH_PROVIDERS: of the issuers named okta and
// auth0, only those listed stay; each listed one must be configured.
func (c *Config) keepProviders(keep []string) error {
	for _, name := range keep {
		switch n := strings.ToLower(name); n {
		case verify.ProviderOkta, verify.ProviderAuth0:
			if !slices.ContainsFunc(c.Issuers, func(pc verify.ProviderConfig) bool { return pc.Name == n }) {
				return fmt.Errorf("AUTH_PROVIDERS names %s, which is not configured: set %s_DOMAIN and %s_AUDIENCE", n, strings.ToUpper(n), strings.ToUpper(n))
			}
		default:
			return fmt.Errorf("AUTH_PROVIDERS: unknown provider %q (use okta, auth0; others go under issuers: in the config file)", name)
		}
	}
	c.Issuers = slices.DeleteFunc(c.Issuers, func(pc verify.ProviderConfig) bool {
		named := pc.Name == verify.ProviderOkta || pc.Name == verify.ProviderAuth0
		return named && !slices.ContainsFunc(keep, func(k string) bool { return strings.EqualFold(k, pc.Name) })
	})
	return nil
}
func splitList(s string) []string {
	var out []string
	for v := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		out = append(out, v)
	}
	return out
}

// VerifyConfig maps the configuration onto verify.Config.
func (c *Config) VerifyConfig() (verify.Config, error) {
	var vc verify.Config
	names := map[string]bool{}
	for _, pc := range c.Issuers {
		if pc.Name == "" {
			pc.Name = pc.Type
		}
		if names[pc.Name] {
			return vc, fmt.Errorf("issuer name %q is used twice: give each issuer a distinct name", pc.Name)
		}
		names[pc.Name] = true
		if len(pc.Audiences) == 0 && len(c.Audiences) == 0 {
			return vc, fmt.Errorf("issuer %s: no audience: set its audiences (OKTA_AUDIENCE for okta, AUTH0_AUDIENCE for auth0) or audiences: for every issuer; tokens for other APIs of the same issuer would pass otherwise", pc.Name)
		}
		vc.Providers = append(vc.Providers, pc)
	}
	if len(vc.Providers) == 0 {
		return vc, errors.New("no token issuer configured: set OKTA_ORG_DOMAIN (or OKTA_DOMAIN) and OKTA_AUDIENCE, or list issuers: in the config file")
	}
	vc.Policy = verify.Policy{
		Audiences:      c.Audiences,
		UserClaim:      c.UserClaim,
		GroupsClaim:    c.Groups.Claim,
		AdminGroups:    c.Groups.Admin,
		WriteGroups:    c.Groups.Write,
		ReadOnlyGroups: c.Groups.ReadOnly,
	}
	vc.KeyCache = c.KeyCache
	return vc, nil
}

// routeTable is Routes checked and ready to match.
type routeTable struct {
	routes []compiledRoute
	// folding is set when a route matches case-insensitively, so the
	// request path must be folded once per request.
	folding bool
}

type compiledRoute struct {
	Route
	name    string
	methods map[string]bool
	folded  string    // the prefix folded, for case-insensitive routes
	proxy   *upstream // nil when forward_auth.only
	grpc    bool      // the upstream is h2c:// (gRPC)
	metrics *routeMetrics
	// faMetrics counts the route's forward-auth decisions apart from
	// its proxied requests.
	faMetrics *routeMetrics
}

func (c *Config) compileRoutes(proxies func(raw string, timeout time.Duration) (*upstream, error)) (*routeTable, error) {
	routes := c.EffectiveRoutes()
	t := &routeTable{}
	for i, r := range routes {
		if !strings.HasPrefix(r.Prefix, "/") {
			return nil, fmt.Errorf("route %d: prefix %q must start with /", i+1, r.Prefix)
		}
		if cp, err := canonicalPath(r.Prefix); err != nil || cp != r.Prefix {
			msg := "it is not in canonical form"
			if err != nil {
				msg = err.Error()
			}
			return nil, fmt.Errorf("route %d: prefix %q: %s; requests are routed on their decoded, canonical path, so write the prefix that way", i+1, r.Prefix, msg)
		}
		cr := compiledRoute{Route: r, name: r.Prefix}
		if r.CaseInsensitive {
			cr.folded = foldPath(r.Prefix)
			t.folding = true
		}
		if len(r.Methods) > 0 {
			cr.methods = map[string]bool{}
			for _, m := range r.Methods {
				um := strings.ToUpper(strings.TrimSpace(m))
				if !validMethod(um) {
					return nil, fmt.Errorf("route %s: method %q is not an HTTP method name", r.Prefix, m)
				}
				cr.methods[um] = true
			}
			cr.name += " " + strings.Join(slices.Sorted(mapKeys(cr.methods)), ",")
		}
		for _, role := range r.Roles {
			if role != verify.RoleAdmin && role != verify.RoleWrite && role != verify.RoleRead {
				return nil, fmt.Errorf("route %s: role %q: use admin, write or read", r.Prefix, role)
			}
		}
		up := r.Upstream
		if up == "" {
			up = c.Upstream
		}
		cr.grpc = strings.HasPrefix(up, "h2c:")
		if c.ForwardAuth.Only {
			// Decisions only: the ingress proxies, nothing is dialled.
			t.routes = append(t.routes, cr)
			continue
		}
		if up == "" {
			return nil, fmt.Errorf("route %s: no upstream: set GATEWAY_UPSTREAM (--upstream) or the route's upstream, or FORWARD_AUTH_ONLY=true to answer forward-auth calls only", r.Prefix)
		}
		timeout := r.UpstreamTimeout
		if timeout <= 0 && !strings.HasPrefix(up, "h2c:") {
			// gRPC servers send response headers with the first
			// message, which a bidirectional stream may hold back for
			// long; h2c routes wait only when configured to (gRPC
			// clients bound calls with grpc-timeout themselves).
			timeout = c.Timeouts.withDefaults().Upstream
		}
		p, err := proxies(up, timeout)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Prefix, err)
		}
		cr.proxy = p
		t.routes = append(t.routes, cr)
	}
	return t, nil
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// match returns the first route covering the canonical path and method.
func (t *routeTable) match(method, path string) *compiledRoute {
	var folded string
	if t.folding {
		folded = foldPath(path)
	}
	for i := range t.routes {
		r := &t.routes[i]
		if r.CaseInsensitive {
			if !prefixMatch(r.folded, folded) {
				continue
			}
		} else if !prefixMatch(r.Prefix, path) {
			continue
		}
		if r.methods != nil && !r.methods[method] {
			continue
		}
		return r
	}
	return nil
}

func prefixMatch(prefix, path string) bool {
	if prefix == "/" || strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || (strings.HasPrefix(path, prefix) && path[len(prefix)] == '/')
}

// parseUpstream checks an upstream URL and says which protocol to speak.
func parseUpstream(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, "", fmt.Errorf("upstream %q: use http://host:port, h2c://host:port or https://host:port", raw)
	}
	switch u.Scheme {
	case "http", "https":
		return u, u.Scheme, nil
	case "h2c":
		u2 := *u
		u2.Scheme = "http"
		return &u2, "h2c", nil
	}
	return nil, "", fmt.Errorf("upstream %q: scheme %q: use http, h2c or https", raw, u.Scheme)
}
