package verify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ConfigFromEnv builds a Config for one Okta authorization server from
// environment variables, for CLIs and services configured the twelve-factor
// way. getenv is usually os.Getenv. Recognised variables:
//
//	OKTA_DOMAIN             org domain, e.g. example.okta.com (required)
//	OKTA_AUTH_SERVER_ID     custom authorization server id (default "default")
//	OKTA_ALLOW_ORG_SERVER   "true" to accept the org server's ID tokens (AUTH_SERVER_ID "org");
//	                        its access tokens can only be introspected
//	OKTA_CLIENT_ID          the client whose org-server ID tokens are accepted
//	OKTA_BASE_URL           scheme and host override, e.g. http://127.0.0.1:8080
//	OKTA_AUDIENCE           accepted audiences, comma-separated (required)
//	OKTA_CLIENT_IDS         allowed cid values, comma-separated
//	OKTA_REQUIRED_SCOPES    scopes every token must carry, comma-separated
//	OKTA_USER_CLAIM         claim that becomes Principal.User (default sub)
//	OKTA_LEEWAY             clock skew allowance, a Go duration (default 30s)
//	ADMIN_GROUPS, WRITE_GROUPS, READ_ONLY_GROUPS   group to role mapping
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	list := func(name string) []string {
		var out []string
		for s := range strings.SplitSeq(getenv(name), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	domain := getenv("OKTA_DOMAIN")
	if domain == "" && getenv("OKTA_BASE_URL") == "" {
		return Config{}, fmt.Errorf("verify: OKTA_DOMAIN is not set")
	}
	as := getenv("OKTA_AUTH_SERVER_ID")
	if as == "" {
		as = "default"
	}
	pc := Okta(domain, as)
	pc.BaseURL = getenv("OKTA_BASE_URL")
	if v := getenv("OKTA_ALLOW_ORG_SERVER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("verify: OKTA_ALLOW_ORG_SERVER: %w", err)
		}
		pc.AllowOrgServer = b
	}
	if pc.AllowOrgServer {
		pc.ClientID = strings.TrimSpace(getenv("OKTA_CLIENT_ID"))
	}
	cfg := Config{
		Providers: []ProviderConfig{pc},
		Policy: Policy{
			Audiences:      list("OKTA_AUDIENCE"),
			ClientIDs:      list("OKTA_CLIENT_IDS"),
			RequiredScopes: list("OKTA_REQUIRED_SCOPES"),
			UserClaim:      getenv("OKTA_USER_CLAIM"),
			AdminGroups:    list("ADMIN_GROUPS"),
			WriteGroups:    list("WRITE_GROUPS"),
			ReadOnlyGroups: list("READ_ONLY_GROUPS"),
		},
	}
	if v := getenv("OKTA_LEEWAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("verify: OKTA_LEEWAY: %w", err)
		}
		cfg.Policy.Leeway = d
	}
	if len(cfg.Policy.Audiences) == 0 {
		return Config{}, fmt.Errorf("verify: OKTA_AUDIENCE is not set")
	}
	return cfg, nil
}
