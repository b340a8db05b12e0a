package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/verify"
)

// The configuration names its token issuers one way: issuers:, in verify's
// terms (verify.ProviderConfig). Earlier versions had three more forms —
// okta: and auth0: sections chosen by providers:, and Vertica-style
// authentication: records. A file that still uses them is refused, and
// the error shows the issuers: entries that say the same, which is all
// this file does with them.

type legacyConfig struct {
	Providers []string `yaml:"providers"`
	Okta      *struct {
		OrgDomain      string   `yaml:"org_domain"`
		AuthServerID   string   `yaml:"auth_server_id"`
		Audience       []string `yaml:"audience"`
		ClientID       []string `yaml:"client_id"`
		AllowOrgServer bool     `yaml:"allow_org_server"`
		BaseURL        string   `yaml:"base_url"`
	} `yaml:"okta"`
	Auth0 *struct {
		Domain   string   `yaml:"domain"`
		Audience []string `yaml:"audience"`
		ClientID []string `yaml:"client_id"`
		BaseURL  string   `yaml:"base_url"`
	} `yaml:"auth0"`
	Authentication []struct {
		Name                    string `yaml:"name"`
		ValidateType            string `yaml:"validate_type"`
		ClientID                string `yaml:"client_id"`
		ClientSecret            string `yaml:"client_secret"`
		DiscoveryURL            string `yaml:"discovery_url"`
		IntrospectURL           string `yaml:"introspect_url"`
		JWTRSAPublicKey         string `yaml:"jwt_rsa_public_key"`
		JWTIssuer               string `yaml:"jwt_issuer"`
		JWTUserMapping          string `yaml:"jwt_user_mapping"`
		JWTAcceptedAudienceList string `yaml:"jwt_accepted_audience_list"`
		JWTAcceptedScopeList    string `yaml:"jwt_accepted_scope_list"`
	} `yaml:"authentication"`
	UserClaim string `yaml:"user_claim"`
}

// secretFilePlaceholder stands in the suggested form for a client secret
// the old form held inline: errors never carry secrets, and the secret
// belongs in a file.
const secretFilePlaceholder = "/path/to/file-holding-the-client-secret"

// refuseLegacy returns an error showing the issuers: equivalent when data
// uses one of the retired issuer forms, nil otherwise (including when data
// is not a mapping: the strict decoder reports that).
func refuseLegacy(data []byte) error {
	var l legacyConfig
	if yaml.NewDecoder(bytes.NewReader(data)).Decode(&l) != nil {
		return nil
	}
	var used []string
	if l.Providers != nil {
		used = append(used, "providers:")
	}
	if l.Okta != nil {
		used = append(used, "okta:")
	}
	if l.Auth0 != nil {
		used = append(used, "auth0:")
	}
	if l.Authentication != nil {
		used = append(used, "authentication:")
	}
	if len(used) == 0 {
		return nil
	}
	var out struct {
		Issuers   []verify.ProviderConfig `yaml:"issuers"`
		UserClaim string                  `yaml:"user_claim,omitempty"`
	}
	out.UserClaim = l.UserClaim
	enabled := func(name string, configured bool) bool {
		if len(l.Providers) == 0 {
			return configured
		}
		for _, p := range l.Providers {
			if strings.EqualFold(p, name) {
				return true
			}
		}
		return false
	}
	if o := l.Okta; o != nil && enabled("okta", o.OrgDomain != "" || o.BaseURL != "") {
		as := o.AuthServerID
		if as == "" {
			as = "default"
		}
		pc := verify.ProviderConfig{Name: "okta", Type: verify.ProviderOkta, Domain: o.OrgDomain, AuthServerID: as,
			BaseURL: o.BaseURL, AllowOrgServer: o.AllowOrgServer, Audiences: o.Audience, ClientIDs: o.ClientID}
		if o.AllowOrgServer && len(o.ClientID) == 1 {
			pc.ClientID = o.ClientID[0]
		}
		out.Issuers = append(out.Issuers, pc)
	}
	if a := l.Auth0; a != nil && enabled("auth0", a.Domain != "" || a.BaseURL != "") {
		out.Issuers = append(out.Issuers, verify.ProviderConfig{Name: "auth0", Type: verify.ProviderAuth0, Domain: a.Domain,
			BaseURL: a.BaseURL, Audiences: a.Audience, ClientIDs: a.ClientID})
	}
	secret := false
	for i, r := range l.Authentication {
		pc := verify.ProviderConfig{Name: r.Name, Audiences: splitList(r.JWTAcceptedAudienceList),
			AcceptedScopes: splitList(r.JWTAcceptedScopeList), Issuer: r.JWTIssuer}
		if pc.Name == "" {
			pc.Name = fmt.Sprintf("auth%d", i+1)
		}
		switch strings.ToUpper(r.ValidateType) {
		case "JWT":
			pc.Type, pc.Keys = verify.ProviderStatic, r.JWTRSAPublicKey
		default: // IDP: introspection at the identity provider
			pc.Type, pc.AcceptOpaque = verify.ProviderIntrospection, true
			pc.IntrospectURL, pc.DiscoveryURL, pc.ClientID = r.IntrospectURL, r.DiscoveryURL, r.ClientID
			if r.ClientSecret != "" {
				pc.ClientSecretFile, secret = secretFilePlaceholder, true
			}
		}
		if m := r.JWTUserMapping; m != "" && out.UserClaim == "" {
			out.UserClaim = m
		}
		out.Issuers = append(out.Issuers, pc)
	}
	verb := "are"
	if len(used) == 1 {
		verb = "is"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "gateway config: %s %s no longer read: the trusted issuers are one list, issuers:, in verify's terms (docs/reference/configuration.md#issuers-verify-providers). Replace %s with:\n\n",
		strings.Join(used, ", "), verb, strings.Join(used, " "))
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("gateway config: %s no longer read: list the issuers under issuers: (docs/reference/configuration.md#issuers-verify-providers)", strings.Join(used, ", "))
	}
	if secret {
		fmt.Fprintf(&b, "\nand put each client_secret in a file (a mounted Secret) named by client_secret_file (%s above).", secretFilePlaceholder)
	}
	return errors.New(strings.TrimRight(b.String(), "\n"))
}
