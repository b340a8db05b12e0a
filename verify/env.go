package verify

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ConfigFromEnv builds a Config from environment variables, for CLIs and
// services configured the twelve-factor way: the variables ApplyEnv reads,
// with at least one issuer (OKTA_DOMAIN or AUTH0_DOMAIN) and its audiences
// required. getenv is usually os.Getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var cfg Config
	if err := cfg.ApplyEnv(getenv); err != nil {
		return Config{}, err
	}
	if len(cfg.Providers) == 0 {
		return Config{}, errors.New("verify: OKTA_DOMAIN is not set (or AUTH0_DOMAIN, for an Auth0 tenant)")
	}
	for _, pc := range cfg.Providers {
		if len(pc.Audiences) == 0 && len(cfg.Policy.Audiences) == 0 {
			return Config{}, fmt.Errorf("verify: %s_AUDIENCE is not set", strings.ToUpper(pc.Name))
		}
	}
	return cfg, nil
}

// ApplyEnv overlays environment variables on c; getenv is usually
// os.Getenv. It is the one table of the variables a token verifier reads:
// verify.ConfigFromEnv and the gateway (gateway.Config.ApplyEnv, which adds
// its own) both read them here. Lists are comma-separated.
//
// The Okta issuer, named "okta" (an entry of c.Providers named so, or of
// type okta with no name, is updated; otherwise one is added when
// OKTA_DOMAIN, OKTA_ORG_DOMAIN or OKTA_BASE_URL is set):
//
//	OKTA_DOMAIN             org host name, e.g. example.okta.com
//	OKTA_ORG_DOMAIN         the same; wins over OKTA_DOMAIN
//	OKTA_AUTH_SERVER_ID     custom authorization server (default "default")
//	OKTA_BASE_URL           scheme and host override, e.g. http://127.0.0.1:8080
//	OKTA_AUDIENCE           accepted audiences
//	OKTA_CLIENT_IDS         accepted client ids (cid)
//	OKTA_ALLOW_ORG_SERVER   true: accept the org server's ID tokens, issued
//	                        to the one client in OKTA_CLIENT_IDS
//
// The Auth0 tenant, named "auth0", likewise: AUTH0_DOMAIN, AUTH0_BASE_URL,
// AUTH0_AUDIENCE, AUTH0_CLIENT_IDS.
//
// The policy: OKTA_REQUIRED_SCOPES (every token must carry them),
// OKTA_USER_CLAIM (Principal.User, default sub), OKTA_LEEWAY (a Go
// duration, default 30s), GROUPS_CLAIM (default groups), ADMIN_GROUPS,
// WRITE_GROUPS, READ_ONLY_GROUPS.
//
// OKTA_CLIENT_ID is a program's own client id (m2m, oktafed init), not a
// list of accepted ones: set with OKTA_ALLOW_ORG_SERVER and without
// OKTA_CLIENT_IDS, it is refused with an error naming OKTA_CLIENT_IDS.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	list := func(name string) []string {
		var out []string
		for s := range strings.SplitSeq(getenv(name), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	c.Providers = slices.Clone(c.Providers)
	// The issuers' rows: each variable by its full name, so the table
	// reads as the documentation does.
	for _, iss := range []struct {
		typ                          string
		domain                       []string // read in order, the last set wins
		base, audience, clientIDs    string
		authServerID, allowOrgServer string // Okta only
	}{
		{ProviderOkta, []string{"OKTA_DOMAIN", "OKTA_ORG_DOMAIN"}, "OKTA_BASE_URL", "OKTA_AUDIENCE", "OKTA_CLIENT_IDS", "OKTA_AUTH_SERVER_ID", "OKTA_ALLOW_ORG_SERVER"},
		{ProviderAuth0, []string{"AUTH0_DOMAIN"}, "AUTH0_BASE_URL", "AUTH0_AUDIENCE", "AUTH0_CLIENT_IDS", "", ""},
	} {
		var domain, domainVar string
		for _, name := range iss.domain {
			if v := get(name); v != "" {
				domain, domainVar = v, name
			}
		}
		base := get(iss.base)
		aud, ids := list(iss.audience), list(iss.clientIDs)
		pc := c.provider(iss.typ)
		if pc == nil {
			if domain == "" && base == "" {
				for _, name := range []string{iss.audience, iss.clientIDs, iss.authServerID, iss.allowOrgServer} {
					if name != "" && get(name) != "" {
						return fmt.Errorf("verify: %s is set but no %s issuer is: set %s (or %s)", name, iss.typ, iss.domain[0], iss.base)
					}
				}
				continue
			}
			c.Providers = append(c.Providers, ProviderConfig{Name: iss.typ, Type: iss.typ})
			pc = &c.Providers[len(c.Providers)-1]
			if iss.authServerID != "" {
				pc.AuthServerID = "default"
			}
		}
		if domain != "" {
			if err := hostOnly(domainVar, domain, iss.base); err != nil {
				return err
			}
			pc.Domain = domain
		}
		if base != "" {
			pc.BaseURL = base
		}
		if aud != nil {
			pc.Audiences = aud
		}
		if ids != nil {
			pc.ClientIDs = ids
		}
		if iss.authServerID == "" {
			continue
		}
		if v := get(iss.authServerID); v != "" {
			pc.AuthServerID = v
		}
		if v := get(iss.allowOrgServer); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("verify: %s=%q: use true or false", iss.allowOrgServer, v)
			}
			pc.AllowOrgServer = b
		}
		if pc.AllowOrgServer {
			if len(pc.ClientIDs) == 0 && get("OKTA_CLIENT_ID") != "" {
				return errors.New("verify: OKTA_CLIENT_ID is a program's own client id; the client whose org-server ID tokens are accepted goes in OKTA_CLIENT_IDS: rename the variable")
			}
			if len(pc.ClientIDs) == 1 && pc.ClientID == "" {
				// The org server's ID tokens are accepted for this one
				// client; its access tokens only by introspection.
				pc.ClientID = pc.ClientIDs[0]
			}
		}
	}
	p := &c.Policy
	for _, l := range []struct {
		dst  *[]string
		name string
	}{
		{&p.RequiredScopes, "OKTA_REQUIRED_SCOPES"},
		{&p.AdminGroups, "ADMIN_GROUPS"}, {&p.WriteGroups, "WRITE_GROUPS"}, {&p.ReadOnlyGroups, "READ_ONLY_GROUPS"},
	} {
		if v := list(l.name); v != nil {
			*l.dst = v
		}
	}
	if v := get("OKTA_USER_CLAIM"); v != "" {
		p.UserClaim = v
	}
	if v := get("GROUPS_CLAIM"); v != "" {
		p.GroupsClaim = v
	}
	if v := get("OKTA_LEEWAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("verify: OKTA_LEEWAY=%q: use a Go duration such as 30s", v)
		}
		p.Leeway = d
	}
	return nil
}

// provider returns the entry of c.Providers named typ, or of type typ
// without a name.
func (c *Config) provider(typ string) *ProviderConfig {
	for i := range c.Providers {
		pc := &c.Providers[i]
		if pc.Name == typ || (pc.Name == "" && pc.Type == typ) {
			return pc
		}
	}
	return nil
}

// hostOnly refuses a domain given as a URL other than https://host:
// "https://" is added to it, so "http://x.okta.com" would become
// "https://http://x.okta.com", which no retry ever reaches.
func hostOnly(name, value, baseVar string) error {
	host := strings.TrimSuffix(strings.TrimPrefix(value, "https://"), "/")
	if host == "" || strings.Contains(host, "://") || strings.ContainsAny(host, "/?#@ ") {
		return fmt.Errorf("%s=%q: give the host name only, e.g. example.okta.com; to reach an issuer over another scheme or port (a local sandbox on plain http), set %s=http://127.0.0.1:PORT instead", name, value, baseVar)
	}
	return nil
}
