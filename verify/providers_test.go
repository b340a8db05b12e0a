package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProviderConfigs: each provider type's issuer from its settings, and
// each setting a careless configuration gets wrong refused with a message
// that names it. Nothing here touches the network: keys load lazily.
func TestProviderConfigs(t *testing.T) {
	cases := []struct {
		name    string
		pc      ProviderConfig
		issuer  string
		wantErr string
	}{
		{"okta custom server", Okta("example.okta.com", "default"), "https://example.okta.com/oauth2/default", ""},
		{"okta domain as https URL", Okta("https://example.okta.com/", "aus1"), "https://example.okta.com/oauth2/aus1", ""},
		{"okta base URL wins", ProviderConfig{Type: ProviderOkta, BaseURL: "http://127.0.0.1:8443/", AuthServerID: "default"}, "http://127.0.0.1:8443/oauth2/default", ""},
		{"okta org server allowed", ProviderConfig{Type: ProviderOkta, Domain: "example.okta.com", AllowOrgServer: true, ClientID: "0oaclient"}, "https://example.okta.com", ""},
		{"okta org server refused", Okta("example.okta.com", "org"), "", "OKTA_ALLOW_ORG_SERVER"},
		{"okta org server without client", ProviderConfig{Type: ProviderOkta, Domain: "example.okta.com", AllowOrgServer: true}, "", "can only be validated by Okta"},
		{"okta without domain", Okta("", "default"), "", "okta: domain is required"},
		{"okta domain with http scheme", Okta("http://example.okta.com", "default"), "", "has a URL scheme"},
		{"okta domain with a path", Okta("example.okta.com/oauth2", "default"), "", "not a host name"},
		{"auth0", Auth0("tenant.eu.auth0.com"), "https://tenant.eu.auth0.com/", ""},
		{"auth0 without domain", Auth0(""), "", "auth0: domain is required"},
		{"azure", ProviderConfig{Type: ProviderAzure, Tenant: "0000-tenant"}, "https://login.microsoftonline.com/0000-tenant/v2.0", ""},
		{"azure without tenant", ProviderConfig{Type: ProviderAzure}, "", "tenant is required"},
		{"azure multi-tenant alias", ProviderConfig{Type: ProviderAzure, Tenant: "Common"}, "", "multi-tenant"},
		{"oidc", ProviderConfig{Type: ProviderOIDC, Issuer: "https://id.example.com"}, "https://id.example.com", ""},
		{"oidc without issuer", ProviderConfig{Type: ProviderOIDC}, "", "oidc: issuer is required"},
		{"oidc issuer not a URL", ProviderConfig{Type: ProviderOIDC, Issuer: "id.example.com"}, "", "id.example.com"},
		{"static without keys", ProviderConfig{Type: ProviderStatic, Issuer: "https://id.example.com"}, "", "key_files or keys"},
		{"static without issuer", ProviderConfig{Type: ProviderStatic, Keys: "{}"}, "", "static: issuer is required"},
		{"static with a bad key", ProviderConfig{Type: ProviderStatic, Issuer: "https://id.example.com", Keys: "not a key"}, "", "static"},
		{"introspection", ProviderConfig{Type: ProviderIntrospection, Issuer: "https://id.example.com", ClientID: "c", ClientSecret: "s", IntrospectURL: "https://id.example.com/introspect"}, "https://id.example.com", ""},
		{"introspection without client", ProviderConfig{Type: ProviderIntrospection, IntrospectURL: "https://id.example.com/introspect"}, "", "client_id is required"},
		{"introspection without credentials", ProviderConfig{Type: ProviderIntrospection, ClientID: "c", IntrospectURL: "https://id.example.com/introspect"}, "", "client_secret or a private key"},
		{"introspection with a bad key", ProviderConfig{Type: ProviderIntrospection, ClientID: "c", PrivateKeyPEM: "junk", IntrospectURL: "https://id.example.com/introspect"}, "", "PEM"},
		{"introspection without endpoint", ProviderConfig{Type: ProviderIntrospection, ClientID: "c", ClientSecret: "s"}, "", "introspect_url or discovery_url"},
		{"unknown type", ProviderConfig{Type: "saml"}, "", `unknown provider type "saml"`},
		{"bad base URL", ProviderConfig{Type: ProviderAzure, Tenant: "t", BaseURL: "ftp://x"}, "", "ftp://x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(Config{Providers: []ProviderConfig{tc.pc}, Policy: Policy{AllowAnyAudience: true}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Issuers(); len(got) != 1 || got[0] != tc.issuer {
				t.Fatalf("issuers %q, want %q", got, tc.issuer)
			}
		})
	}
}

// TestIntrospectionSecretFile: the secret read from a mounted file (a
// Kubernetes Secret ends it with a newline or not), and the careless
// cases refused with errors that name the file but never its content.
func TestIntrospectionSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("secret", "  s3cret-value\n")
	pc := ProviderConfig{Type: ProviderIntrospection, Issuer: "https://id.example.com", ClientID: "c", ClientSecretFile: good, IntrospectURL: "https://id.example.com/introspect"}
	if got, err := introspectionSecret(pc); err != nil || got != "s3cret-value" {
		t.Fatalf("introspectionSecret = %q, %v", got, err)
	}
	if _, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{AllowAnyAudience: true}}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		file, secret, want string
	}{
		"both set":    {good, "inline", "not both"},
		"missing":     {filepath.Join(dir, "nope"), "", "client_secret_file"},
		"empty":       {write("empty", " \n\t\n"), "", "is empty"},
		"too large":   {write("large", strings.Repeat("k", maxSecretFileBytes+1)), "", "larger than"},
		"a directory": {dir, "", "client_secret_file"},
	} {
		t.Run(name, func(t *testing.T) {
			pc := pc
			pc.ClientSecretFile, pc.ClientSecret = tc.file, tc.secret
			_, err := New(Config{Providers: []ProviderConfig{pc}, Policy: Policy{AllowAnyAudience: true}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "kkkk") {
				t.Fatalf("error leaks the file's content: %v", err)
			}
		})
	}
}
