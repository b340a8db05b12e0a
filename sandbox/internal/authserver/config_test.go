package authserver

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes YAML as sandbox.ParseConfig does: unknown fields
// are errors.
func decodeStrict(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&cfg)
	return cfg, err
}

func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := decodeStrict(data)
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	if len(cfg.Servers) != 1 || cfg.Servers[0].ID != "default" {
		t.Fatalf("servers = %+v", cfg.Servers)
	}
	def := cfg.Servers[0]
	if def.AccessTokenLifetime != time.Hour || def.KeyRotation.Interval != 2160*time.Hour || def.KeyRotation.Overlap != 24*time.Hour {
		t.Errorf("durations not decoded: %+v", def)
	}
	if len(def.Clients) != 3 || def.Clients[1].JWKS == nil || len(def.Clients[1].JWKS.Keys) != 1 {
		t.Fatalf("inline jwks not decoded: %+v", def.Clients)
	}
	s, err := New(cfg, Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatalf("New(example): %v", err)
	}
	if got := s.Issuer("default"); got != "http://127.0.0.1:1/oauth2/default" {
		t.Errorf("Issuer = %q", got)
	}
	if got := s.Issuer(""); got != "http://127.0.0.1:1" {
		t.Errorf("org Issuer = %q", got)
	}
	if got := s.Issuer("nope"); got != "" {
		t.Errorf("unknown Issuer = %q", got)
	}
}

func TestZeroConfigRunsOrgServer(t *testing.T) {
	s, err := New(Config{}, Options{BaseURL: "http://127.0.0.1:1/"})
	if err != nil {
		t.Fatal(err)
	}
	if s.org == nil || len(s.custom) != 0 || s.Issuer("") != "http://127.0.0.1:1" {
		t.Fatalf("zero config: org=%v custom=%d issuer=%q", s.org != nil, len(s.custom), s.Issuer(""))
	}
	off := false
	s, err = New(Config{OrgServer: OrgServerConfig{Enabled: &off}}, Options{BaseURL: "http://x"})
	if err != nil || s.org != nil {
		t.Fatalf("disabled org server: %v %v", s, err)
	}
}

func TestConfigJWKSAsJSONString(t *testing.T) {
	doc := `
servers:
  - id: s
    clients:
      - client_id: c
        jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"hVKzLc7kW1qIRxTrd4NXDFiEKMHh2aohhI9LePn7Am4","y":"kDtQ84I-EJ16MoAaM81NfT_tz-6MuFulM8b0demIfds"}]}'
`
	cfg, err := decodeStrict([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{BaseURL: "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	if cl := s.custom["s"].clients["c"]; cl.method != AuthPrivateKeyJWT || len(cl.keys) != 1 {
		t.Fatalf("client = %+v", cl)
	}
}

func TestConfigJWKSFile(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{{ID: "s", Clients: []ClientConfig{{ClientID: "c", JWKSFile: "testdata/client.jwks.json"}}}}}
	s, err := New(cfg, Options{BaseURL: "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	if cl := s.custom["s"].clients["c"]; len(cl.keys) != 1 || cl.keys[0].KeyID != "file-key" {
		t.Fatalf("client keys = %+v", cl.keys)
	}
}

func TestConfigErrors(t *testing.T) {
	srv := func(mod func(*ServerConfig)) Config {
		sc := ServerConfig{ID: "s"}
		mod(&sc)
		return Config{Servers: []ServerConfig{sc}}
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad id", srv(func(s *ServerConfig) { s.ID = "a/b" }), "must be"},
		{"empty id", srv(func(s *ServerConfig) { s.ID = "" }), "must be"},
		{"reserved v1", srv(func(s *ServerConfig) { s.ID = "v1" }), "reserved"},
		{"reserved org", srv(func(s *ServerConfig) { s.ID = "org" }), "reserved"},
		{"duplicate server", Config{Servers: []ServerConfig{{ID: "a"}, {ID: "a"}}}, "twice"},
		{"lifetime too short", srv(func(s *ServerConfig) { s.AccessTokenLifetime = time.Minute }), "between"},
		{"lifetime too long", srv(func(s *ServerConfig) { s.AccessTokenLifetime = 25 * time.Hour }), "between"},
		{"scope redefines openid", srv(func(s *ServerConfig) { s.Scopes = []ScopeConfig{{Name: "openid"}} }), "twice"},
		{"scope with space", srv(func(s *ServerConfig) { s.Scopes = []ScopeConfig{{Name: "a b"}} }), "scope token"},
		{"reserved claim", srv(func(s *ServerConfig) { s.Claims = []ClaimConfig{{Name: "sub", Value: "login"}} }), "reserved"},
		{"unknown attribute", srv(func(s *ServerConfig) { s.Claims = []ClaimConfig{{Name: "x", Value: "shoe_size"}} }), "unknown user attribute"},
		{"claim without source", srv(func(s *ServerConfig) { s.Claims = []ClaimConfig{{Name: "x"}} }), "set value"},
		{"claim with both", srv(func(s *ServerConfig) {
			s.Claims = []ClaimConfig{{Name: "x", Value: "login", Groups: &GroupsClaimConfig{}}}
		}), "not both"},
		{"bad include_in", srv(func(s *ServerConfig) { s.Claims = []ClaimConfig{{Name: "x", Value: "login", IncludeIn: "saml"}} }), "include_in"},
		{"bad regex", srv(func(s *ServerConfig) { s.Claims = []ClaimConfig{{Name: "x", Groups: &GroupsClaimConfig{Filter: "("}}} }), "filter"},
		{"bad auth method", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", ClientSecret: "x", TokenEndpointAuthMethod: "client_secret_jwt"}}
		}), "token_endpoint_auth_method"},
		{"basic without secret", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", TokenEndpointAuthMethod: AuthClientSecretBasic}}
		}), "needs a client_secret"},
		{"jwt without keys", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", TokenEndpointAuthMethod: AuthPrivateKeyJWT}}
		}), "needs jwks"},
		{"public with secret", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", ClientSecret: "x", TokenEndpointAuthMethod: AuthNone}}
		}), "no client_secret"},
		{"public client credentials", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", GrantTypes: []string{GrantClientCredentials}}}
		}), "cannot use client_credentials"},
		{"unknown grant", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", ClientSecret: "x", GrantTypes: []string{"authorization_code"}}}
		}), "not offered"},
		{"client scope undefined", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", ClientSecret: "x", Scopes: []string{"nope"}}}
		}), "not defined"},
		{"duplicate client", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", ClientSecret: "x"}, {ClientID: "c", ClientSecret: "y"}}
		}), "twice"},
		{"jwks and file", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", JWKS: clientJWKS, JWKSFile: "x.json"}}
		}), "not both"},
		{"missing jwks file", srv(func(s *ServerConfig) {
			s.Clients = []ClientConfig{{ClientID: "c", JWKSFile: "testdata/missing.json"}}
		}), "jwks_file"},
		{"negative rotation", srv(func(s *ServerConfig) { s.KeyRotation.Interval = -time.Hour }), "negative"},
		{"org client credentials", Config{OrgServer: OrgServerConfig{Clients: []ClientConfig{
			{ClientID: "c", ClientSecret: "x", GrantTypes: []string{GrantClientCredentials}},
		}}}, "not offered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, Options{BaseURL: "http://x"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, Options{}); err == nil {
		t.Error("New without BaseURL succeeded")
	}
}

func TestConfigStrictYAML(t *testing.T) {
	for _, doc := range []string{
		"org_server: {enabled: true, colour: red}\n",
		"servers: [{id: s, audience: x}]\n",
		"servers: [{id: s, clients: [{client_id: c, secret: x}]}]\n",
		"servers: [{id: s, access_token_lifetime: forever}]\n",
		"servers: [{id: s, clients: [{client_id: c, jwks: 'not json'}]}]\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("decoded %q without error", doc)
		}
	}
}

func TestServerIDs(t *testing.T) {
	s, err := New(Config{Servers: []ServerConfig{{ID: "b"}, {ID: "a"}}}, Options{BaseURL: "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ServerIDs(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("ServerIDs = %v", got)
	}
}
