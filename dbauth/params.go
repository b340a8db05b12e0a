package dbauth

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/oktafed/oktafed/dbauth/internal/dbconn"
	"github.com/oktafed/oktafed/secret"
)

// Param names. The snake_case names are those of the AWS Advanced Python
// and JDBC Wrappers; each has a camelCase twin from the AWS Advanced Go
// Wrapper (see Params for the full mapping). Either spelling may be used
// in a DSN.
const (
	ParamPlugins            = "plugins"
	ParamDBUser             = "db_user"
	ParamIdPUsername        = "idp_username"
	ParamIdPPassword        = "idp_password"
	ParamIdPEndpoint        = "idp_endpoint"
	ParamIdPPort            = "idp_port"
	ParamAppID              = "app_id"
	ParamIAMRoleARN         = "iam_role_arn"
	ParamIAMIdPARN          = "iam_idp_arn"
	ParamIAMRegion          = "iam_region"
	ParamIAMHost            = "iam_host"
	ParamIAMDefaultPort     = "iam_default_port"
	ParamIAMTokenExpiration = "iam_token_expiration"
	ParamHTTPTimeout        = "http_request_connect_timeout"
	ParamSSLSecure          = "ssl_secure"
	ParamSecretID           = "secrets_manager_secret_id"
	ParamSecretsRegion      = "secrets_manager_region"
	ParamSecretsEndpoint    = "secrets_manager_endpoint"
	ParamSecretExpiration   = "secrets_manager_expiration"
	ParamSecretUsernameKey  = "secrets_manager_secret_username"
	ParamSecretPasswordKey  = "secrets_manager_secret_password"
	// ParamInsecureDBTLS is oktafed's own, loudly named opt-out: send the
	// password over TLS that does not verify the database server.
	ParamInsecureDBTLS = dbconn.InsecureParam
	// ParamAWSProfile names the AWS profile of the iam and secrets
	// plugins; the Go wrapper calls it awsProfile.
	ParamAWSProfile = "aws_profile"
)

// Param describes one DSN parameter: its names and the Config field it
// fills.
type Param struct {
	// Name is the snake_case name (AWS Advanced Python/JDBC Wrappers).
	Name string
	// GoWrapperNames are the AWS Advanced Go Wrapper's names for the same
	// setting, as its documentation spells them.
	GoWrapperNames []string
	// Field is the Config field the parameter fills.
	Field string
	// Unit says how the value is read where it is not a plain string.
	Unit string
	// Secret marks parameters whose value is a credential: it never
	// appears in an error, a log line or formatted output.
	Secret bool

	target func(c *Config) any         // pointer to the field
	parse  func(v string) (any, error) // the field's value; errors never quote v for secrets
}

// Params returns every DSN parameter dbauth takes, in a stable order,
// with the AWS Advanced Go Wrapper's names beside the snake_case ones.
func Params() []Param {
	out := make([]Param, len(params))
	copy(out, params)
	return out
}

func str(v string) (any, error) { return v, nil }

func port(name string) func(string) (any, error) {
	return func(v string) (any, error) {
		n, ok := parseUint(v)
		if !ok || n < 1 || n > 65535 {
			return nil, fmt.Errorf("dbauth: %s=%q: give a port number from 1 to 65535", name, v)
		}
		return n, nil
	}
}

// seconds takes whole seconds, as the wrappers do, or a Go duration such
// as "10m" for readability.
func seconds(name string) func(string) (any, error) {
	return func(v string) (any, error) {
		var d time.Duration
		if n, ok := parseUint(v); ok {
			d = time.Duration(n) * time.Second
		} else {
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("dbauth: %s=%q: give whole seconds, e.g. %s=870", name, v, name)
			}
		}
		if d <= 0 {
			return nil, fmt.Errorf("dbauth: %s=%q: give a positive number of seconds", name, v)
		}
		return d, nil
	}
}

func millis(name string) func(string) (any, error) {
	return func(v string) (any, error) {
		n, ok := parseUint(v)
		if !ok || n == 0 {
			return nil, fmt.Errorf("dbauth: %s=%q: give a positive number of milliseconds, e.g. %s=60000", name, v, name)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
}

func boolean(name string, negate bool) func(string) (any, error) {
	return func(v string) (any, error) {
		var b bool
		switch strings.ToLower(v) {
		case "true", "1", "yes", "on":
			b = true
		case "false", "0", "no", "off":
		case "":
			// "ssl_secure=" alone keeps verification on, and so does
			// "sslInsecure=".
			b = negate
		default:
			return nil, fmt.Errorf("dbauth: %s=%q: use true or false", name, v)
		}
		if negate {
			b = !b
		}
		return b, nil
	}
}

var params = []Param{
	{Name: ParamPlugins, GoWrapperNames: []string{"plugins"}, Field: "Plugin", Unit: "okta, iam, secrets (awsSecretsManager)",
		target: func(c *Config) any { return &c.Plugin }, parse: parsePlugins},
	{Name: ParamDBUser, GoWrapperNames: []string{"dbUser"}, Field: "DBUser",
		target: func(c *Config) any { return &c.DBUser }, parse: str},
	{Name: ParamIdPUsername, GoWrapperNames: []string{"idpUsername"}, Field: "IdPUsername",
		target: func(c *Config) any { return &c.IdPUsername }, parse: str},
	{Name: ParamIdPPassword, GoWrapperNames: []string{"idpPassword"}, Field: "IdPPassword", Secret: true,
		target: func(c *Config) any { return &c.IdPPassword }, parse: str},
	{Name: ParamIdPEndpoint, GoWrapperNames: []string{"idpEndpoint"}, Field: "IdPEndpoint",
		target: func(c *Config) any { return &c.IdPEndpoint }, parse: str},
	{Name: ParamIdPPort, GoWrapperNames: []string{"idpPort"}, Field: "IdPPort",
		target: func(c *Config) any { return &c.IdPPort }, parse: port("idp_port")},
	{Name: ParamAppID, GoWrapperNames: []string{"appId"}, Field: "AppID",
		target: func(c *Config) any { return &c.AppID }, parse: str},
	{Name: ParamIAMRoleARN, GoWrapperNames: []string{"iamRoleArn"}, Field: "IAMRoleARN",
		target: func(c *Config) any { return &c.IAMRoleARN }, parse: str},
	{Name: ParamIAMIdPARN, GoWrapperNames: []string{"iamIdpArn"}, Field: "IAMIdPARN",
		target: func(c *Config) any { return &c.IAMIdPARN }, parse: str},
	{Name: ParamIAMRegion, GoWrapperNames: []string{"iamRegion"}, Field: "IAMRegion",
		target: func(c *Config) any { return &c.IAMRegion }, parse: str},
	{Name: ParamIAMHost, GoWrapperNames: []string{"iamHost"}, Field: "IAMHost",
		target: func(c *Config) any { return &c.IAMHost }, parse: str},
	{Name: ParamIAMDefaultPort, GoWrapperNames: []string{"iamDefaultPort"}, Field: "IAMDefaultPort",
		target: func(c *Config) any { return &c.IAMDefaultPort }, parse: func(v string) (any, error) {
			if v == "-1" { // the Go wrapper's "unset"
				return 0, nil
			}
			return port("iam_default_port")(v)
		}},
	// The Go wrapper names the token lifetime iamTokenExpirationSec in its
	// okta plugin and iamExpirationSec in its iam plugin.
	{Name: ParamIAMTokenExpiration, GoWrapperNames: []string{"iamTokenExpirationSec", "iamExpirationSec"}, Field: "IAMTokenExpiration", Unit: "seconds",
		target: func(c *Config) any { return &c.IAMTokenExpiration }, parse: seconds("iam_token_expiration")},
	{Name: ParamHTTPTimeout, Field: "HTTPTimeout", Unit: "seconds",
		target: func(c *Config) any { return &c.HTTPTimeout }, parse: seconds("http_request_connect_timeout")},
	{Name: "", GoWrapperNames: []string{"httpTimeoutMs"}, Field: "HTTPTimeout", Unit: "milliseconds",
		target: func(c *Config) any { return &c.HTTPTimeout }, parse: millis("httpTimeoutMs")},
	{Name: ParamSSLSecure, Field: "SSLInsecure", Unit: "true/false, negated",
		target: func(c *Config) any { return &c.SSLInsecure }, parse: boolean("ssl_secure", true)},
	{Name: "", GoWrapperNames: []string{"sslInsecure"}, Field: "SSLInsecure", Unit: "true/false",
		target: func(c *Config) any { return &c.SSLInsecure }, parse: boolean("sslInsecure", false)},
	{Name: ParamInsecureDBTLS, GoWrapperNames: []string{"insecureUnverifiedDbTls"}, Field: "InsecureUnverifiedDBTLS", Unit: "true/false",
		target: func(c *Config) any { return &c.InsecureUnverifiedDBTLS }, parse: boolean(ParamInsecureDBTLS, false)},
	{Name: ParamAWSProfile, GoWrapperNames: []string{"awsProfile"}, Field: "AWSProfile",
		target: func(c *Config) any { return &c.AWSProfile }, parse: str},
	{Name: ParamSecretID, GoWrapperNames: []string{"secretsManagerSecretId"}, Field: "SecretID",
		target: func(c *Config) any { return &c.SecretID }, parse: str},
	{Name: ParamSecretsRegion, GoWrapperNames: []string{"secretsManagerRegion"}, Field: "SecretsRegion",
		target: func(c *Config) any { return &c.SecretsRegion }, parse: str},
	{Name: ParamSecretsEndpoint, GoWrapperNames: []string{"secretsManagerEndpoint"}, Field: "SecretsEndpoint",
		target: func(c *Config) any { return &c.SecretsEndpoint }, parse: str},
	{Name: ParamSecretExpiration, GoWrapperNames: []string{"secretsManagerExpirationSec"}, Field: "SecretExpiration", Unit: "seconds",
		target: func(c *Config) any { return &c.SecretExpiration }, parse: seconds("secrets_manager_expiration")},
	{Name: ParamSecretUsernameKey, GoWrapperNames: []string{"secretsManagerSecretUsernameProperty"}, Field: "SecretUsernameKey",
		target: func(c *Config) any { return &c.SecretUsernameKey }, parse: str},
	{Name: ParamSecretPasswordKey, GoWrapperNames: []string{"secretsManagerSecretPasswordProperty"}, Field: "SecretPasswordKey",
		target: func(c *Config) any { return &c.SecretPasswordKey }, parse: str},
}

// paramByName maps every accepted spelling to its Param.
var paramByName = func() map[string]*Param {
	m := map[string]*Param{}
	for i := range params {
		p := &params[i]
		if p.Name != "" {
			m[p.Name] = p
		}
		for _, n := range p.GoWrapperNames {
			m[n] = p
		}
	}
	return m
}()

// IsParam reports whether name is one of this package's DSN parameters
// (in either spelling), which are removed before a DSN reaches the driver.
func IsParam(name string) bool {
	_, ok := paramByName[name]
	return ok || isWrapperOnly(name)
}

// isSecretParam reports whether a parameter's value is a credential.
func isSecretParam(name string) bool {
	p, ok := paramByName[name]
	return ok && p.Secret
}

// wrapperOnly are parameters of the AWS Advanced Go Wrapper (its general
// parameters and those of its failover, monitoring and routing plugins)
// that mean nothing to dbauth: a DSN written for the wrapper may carry
// them, so they are taken out (never sent to the server, which would
// refuse an unknown startup parameter) and logged once by name.
var wrapperOnly = map[string]bool{
	"protocol": true, "singleWriterDsn": true, "databaseDialect": true, "wrapperDialect": true,
	"targetDriverDialect": true, "targetDriverAutoRegister": true, "clusterInstanceHostPattern": true,
	"clusterId": true, "transferSessionStateOnSwitch": true, "resetSessionStateOnClose": true,
	"rollbackOnSwitch": true, "autoSortPluginOrder": true,
	"failoverTimeoutMs": true, "failoverMode": true, "failoverReaderHostSelectorStrategy": true,
	"failoverClusterTopologyRefreshRateMs": true, "clusterTopologyRefreshRateMs": true,
	"clusterTopologyHighRefreshRateMs": true, "enableConnectFailover": true,
	"failureDetectionEnabled": true, "failureDetectionTimeMs": true, "failureDetectionIntervalMs": true,
	"failureDetectionCount": true, "monitorDisposalTimeMs": true, "readerHostSelectorStrategy": true,
}

// isWrapperOnly reports whether name is one of the Go wrapper's
// parameters that dbauth consumes without effect.
func isWrapperOnly(name string) bool { return wrapperOnly[name] }

// wrapperPlugins are the Go wrapper's plugin codes other than the
// authentication ones: accepted in plugins= (and logged as not provided),
// so a wrapper DSN such as plugins=iam,failover works.
var wrapperPlugins = map[string]bool{
	"failover": true, "failover2": true, "efm": true, "efm2": true, "readWriteSplitting": true,
	"auroraConnectionTracker": true, "limitless": true, "customEndpoint": true, "bg": true,
	"initialConnection": true, "gdbFailover": true, "gdbReadWriteSplitting": true,
	"executionTime": true, "connectTime": true, "dev": true, "none": true,
}

// Plugin codes of the AWS Advanced Go Wrapper that map onto ours.
var pluginAliases = map[string]Plugin{
	"okta":              PluginOkta,
	"iam":               PluginIAM,
	"secrets":           PluginSecrets,
	"awsSecretsManager": PluginSecrets,
}

func parsePlugins(v string) (any, error) {
	// The wrappers take a comma-separated chain of plugins; only the
	// authentication ones mean something here, and exactly one is needed.
	var found Plugin
	for _, name := range splitList(v) {
		if wrapperPlugins[name] {
			continue // not an authentication plugin; logged by New
		}
		p, ok := pluginAliases[name]
		if !ok {
			hint := "use one of okta, iam, secrets (or the Go wrapper's awsSecretsManager)"
			if s := nearest(name, pluginNames()); s != "" {
				hint = "did you mean " + s + "?"
			}
			return nil, fmt.Errorf("dbauth: %s=%q: plugin %q is not one dbauth provides; %s", ParamPlugins, v, name, hint)
		}
		if found != "" && found != p {
			return nil, fmt.Errorf("dbauth: %s=%q names two authentication plugins; keep one of okta, iam, secrets", ParamPlugins, v)
		}
		found = p
	}
	return found, nil
}

func pluginNames() []string {
	names := make([]string, 0, len(pluginAliases))
	for n := range pluginAliases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// dsnParams collects the parameters of one DSN and merges them into a
// Config, so that two spellings of one setting can be compared and a
// Config field can be told apart from a DSN value.
type dsnParams struct {
	got map[string]paramValue // by Config field
	// ignored names the wrapper-only parameters and plugin codes the DSN
	// carried, for New to log once.
	ignored []string
}

type paramValue struct {
	name  string // as written in the DSN
	raw   string
	value any
	p     *Param
}

func (d *dsnParams) add(name, raw string) error {
	if isWrapperOnly(name) {
		d.ignored = append(d.ignored, name)
		return nil
	}
	p, ok := paramByName[name]
	if !ok {
		return unknownParamError(name)
	}
	v, err := p.parse(raw)
	if err != nil {
		if p.Secret {
			return fmt.Errorf("dbauth: parameter %s has a value that cannot be read", name)
		}
		return err
	}
	if d.got == nil {
		d.got = map[string]paramValue{}
	}
	if prev, ok := d.got[p.Field]; ok && prev.value != v {
		return fmt.Errorf("dbauth: %s and %s set the same thing (Config.%s) to different values: keep one", prev.name, name, p.Field)
	}
	d.got[p.Field] = paramValue{name: name, raw: raw, value: v, p: p}
	if p.Name == ParamPlugins {
		for _, code := range splitList(raw) {
			if wrapperPlugins[code] {
				d.ignored = append(d.ignored, ParamPlugins+"="+code)
			}
		}
	}
	return nil
}

// merge fills c from the DSN. A Config field that is already set wins over
// the DSN (code over configuration text, as documented on Config); the
// DSN parameters it overrode are remembered so New can log them, by name
// only, rather than ignoring them silently.
func (d *dsnParams) merge(c *Config) {
	c.ignored = append(c.ignored, d.ignored...)
	fields := make([]string, 0, len(d.got))
	for f := range d.got {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		pv := d.got[f]
		if !assign(pv.p.target(c), pv.value) {
			c.overridden = append(c.overridden, pv.name)
		}
	}
}

// assign stores v in the field ptr points to when the field is unset, and
// reports whether the field now holds v.
func assign(ptr, v any) bool {
	switch f := ptr.(type) {
	case *string:
		if *f == "" {
			*f = v.(string)
		}
		return *f == v.(string)
	case *secret.String:
		if f.IsZero() {
			*f = secret.New(v.(string))
		}
		return f.Reveal() == v.(string)
	case *Plugin:
		if *f == "" {
			*f = v.(Plugin)
		}
		return *f == v.(Plugin)
	case *int:
		if *f == 0 {
			*f = v.(int)
		}
		return *f == v.(int)
	case *time.Duration:
		if *f == 0 {
			*f = v.(time.Duration)
		}
		return *f == v.(time.Duration)
	case *bool:
		if !*f {
			*f = v.(bool)
		}
		return *f == v.(bool)
	}
	panic(fmt.Sprintf("dbauth: no assign for %T", ptr))
}

// ApplyParam sets the field for one DSN parameter (either spelling).
// Fields that are already set keep their value.
func (c *Config) ApplyParam(name, value string) error {
	var d dsnParams
	if err := d.add(name, value); err != nil {
		return err
	}
	d.merge(c)
	return nil
}

// pluginPrefixes are the starts of names that only plugin parameters use:
// a DSN parameter beginning with one of them that is not a known name is a
// typo, and is refused rather than sent on to the database server with its
// value.
var pluginPrefixes = []string{"idp", "iam", "secretsmanager", "appid", "dbuser", "plugin", "sslsecure", "sslinsecure", "httprequest", "httptimeout", "awssecretsmanager", "insecure", "awsprofile"}

// looksLikePluginParam reports whether name is probably meant as one of
// dbauth's parameters.
func looksLikePluginParam(name string) bool {
	n := normalizeName(name)
	for _, p := range pluginPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	// Near misses of whole names, such as "db_usr" or "ap_id".
	for known := range paramByName {
		k := normalizeName(known)
		if len(n) >= 5 && editDistance(n, k) <= 2 {
			return true
		}
	}
	return false
}

func normalizeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-' || c == '.':
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unknownParamError names the parameter that name most likely meant, in
// the same spelling style, and never quotes its value.
func unknownParamError(name string) error {
	camel := strings.ToLower(name) != name
	var names []string
	for n := range paramByName {
		if isCamel := strings.ToLower(n) != n; isCamel == camel || n == ParamPlugins {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	s := misnamed[normalizeName(name)]
	if s == "" {
		s = nearest(name, names)
	}
	if s != "" {
		return fmt.Errorf("dbauth: unknown parameter %q: did you mean %s? (refused so that its value is not sent to the database server)", name, s)
	}
	return fmt.Errorf("dbauth: unknown parameter %q: it looks like a plugin parameter but is none of dbauth's (see dbauth.Params); refused so that its value is not sent to the database server", name)
}

// misnamed maps names that circulate for the Go wrapper's parameters but
// are not what its documentation spells to the documented ones.
var misnamed = map[string]string{
	"iamtokenexpiration":   "iamTokenExpirationSec",
	"httprequesttimeoutms": "httpTimeoutMs",
	"httprequesttimeout":   "httpTimeoutMs",
	"iamexpiration":        "iamExpirationSec",
}

// nearest returns the candidate closest to name by edit distance (after
// ignoring case and separators), or "" when none is close.
func nearest(name string, candidates []string) string {
	n := normalizeName(name)
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(n, normalizeName(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := len(n) / 3
	if limit < 2 {
		limit = 2
	}
	// A typo that only adds or drops a suffix ("iamTokenExpiration" for
	// "iamTokenExpirationSec") is also close.
	if bestD > limit {
		for _, c := range candidates {
			if nc := normalizeName(c); len(n) >= 6 && (strings.HasPrefix(nc, n) || strings.HasPrefix(n, nc)) {
				return c
			}
		}
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func splitList(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if s := strings.TrimSpace(part); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseUint(v string) (int, bool) {
	if v == "" || len(v) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
		n = n*10 + int(v[i]-'0')
	}
	return n, true
}
