package org

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/internal/clock"
)

// decodeStrict reads YAML the way sandbox.ParseConfig does: unknown keys
// are errors.
func decodeStrict(t *testing.T, doc string) (Config, error) {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	return cfg, nil
}

func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := decodeStrict(t, string(data))
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	if cfg.Policy.SessionLifetime != 2*time.Hour || cfg.Users[0].Factors[1].Push.Delay != 2*time.Second {
		t.Fatalf("durations not decoded: %+v", cfg.Policy)
	}
	o, err := New(cfg, Options{Clock: clock.NewFake(t0), BaseURL: "http://127.0.0.1:8443"})
	if err != nil {
		t.Fatalf("New(example): %v", err)
	}
	u, err := o.CheckPassword(t.Context(), "demo@example.com", "Sandbox-Demo-1")
	if err != nil || u.ID != "00u1demouser00000001" {
		t.Fatalf("demo user: %+v %v", u, err)
	}
	apps := o.Apps()
	if len(apps) != 1 || apps[0].ID != "0oa1demoawsapp0000001" || apps[0].Issuer != "http://www.okta.com/exk1demoawsapp000001" || len(apps[0].ProviderARNs) != 2 {
		t.Fatalf("demo app: %+v", apps)
	}
	if roles := o.appsByKey["0oa1demoawsapp0000001"].rolesFor(o.lookupUser("demo@example.com")); len(roles) != 3 {
		t.Fatalf("demo roles: %v", roles)
	}
}

func TestGeneratedIDs(t *testing.T) {
	cfg := Config{
		Users: []UserConfig{{Login: "a@example.com", Password: "x", Factors: []FactorConfig{
			{Type: "totp", Secret: testSecret}, {Type: "push"}, {Type: "sms", Phone: "+15555550100"}, {Type: "email"},
		}}},
		Groups: []GroupConfig{{Name: "g"}},
		Apps:   []AppConfig{{}},
	}
	o, err := New(cfg, Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, id, prefix string) {
		t.Helper()
		if !strings.HasPrefix(id, prefix) || len(id) != 20 {
			t.Errorf("%s id %q: want 20 characters starting %s", what, id, prefix)
		}
	}
	check("org", o.id, "00o")
	check("user", o.users[0].id, "00u")
	check("group", o.groups["g"], "00g")
	check("app", o.apps[0].id, "0oa")
	check("external key", o.apps[0].key, "exk")
	for i, prefix := range []string{"ost", "opf", "sms", "emf"} {
		check("factor", o.users[0].factors[i].id, prefix)
	}
	a := o.apps[0]
	if a.audience != defaultAudience || a.acs != defaultACS || a.sessionDuration != 3600 {
		t.Errorf("app defaults: %+v", a)
	}
	if o.pol.lockoutAttempts != 5 || o.pol.rateLimit != 60 || o.pol.sessionLifetime != 2*time.Hour || o.pol.sessionIdle != 2*time.Hour {
		t.Errorf("policy defaults: %+v", o.pol)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // substring of the error
	}{
		{"unknown key", "users:\n  - login: a\n    pasword: x\n", "pasword"},
		{"missing login", "users:\n  - password: x\n", "login is required"},
		{"missing password", "users:\n  - login: a\n", "password is required"},
		{"duplicate login", "users:\n  - {login: a, password: x}\n  - {login: A, password: y}\n", "used twice"},
		{"bad status", "users:\n  - {login: a, password: x, status: SUSPENDED}\n", "SUSPENDED"},
		{"unknown group", "users:\n  - {login: a, password: x, groups: [nope]}\n", "nope"},
		{"bad factor type", "users:\n  - login: a\n    password: x\n    factors: [{type: yubikey}]\n", "yubikey"},
		{"bad totp secret", "users:\n  - login: a\n    password: x\n    factors: [{type: totp, secret: '!!'}]\n", "base32"},
		{"short totp secret", "users:\n  - login: a\n    password: x\n    factors: [{type: totp, secret: JBSW}]\n", "base32"},
		{"sms without phone", "users:\n  - login: a\n    password: x\n    factors: [{type: sms}]\n", "phone"},
		{"email without address", "users:\n  - login: a\n    password: x\n    factors: [{type: email}]\n", "email is required"},
		{"bad push result", "users:\n  - login: a\n    password: x\n    factors: [{type: push, push: {result: maybe}}]\n", "maybe"},
		{"push settings on totp", "users:\n  - login: a\n    password: x\n    factors: [{type: totp, secret: JBSWY3DPEHPK3PXP, push: {result: approve}}]\n", "push only"},
		{"duplicate factor id", "users:\n  - login: a\n    password: x\n    factors: [{id: f1, type: push}, {id: f1, type: push}]\n", "used twice"},
		{"bad id", "users:\n  - {login: a, password: x, id: 'a/b'}\n", "not a valid id"},
		{"bad pipeline", "pipeline: v2\n", "v2"},
		{"negative lockout", "policy: {lockout_attempts: -1}\n", "negative"},
		{"bad duration", "policy: {session_lifetime: soon}\n", "soon"},
		{"bad role arn", "apps:\n  - roles: [{role_arn: 'arn:aws:iam::1:role/x', provider_arn: 'arn:aws:iam::123456789012:saml-provider/okta'}]\n", "role_arn"},
		{"bad provider arn", "apps:\n  - roles: [{role_arn: 'arn:aws:iam::123456789012:role/x', provider_arn: 'okta'}]\n", "provider_arn"},
		{"role for unknown user", "apps:\n  - roles: [{role_arn: 'arn:aws:iam::123456789012:role/x', provider_arn: 'arn:aws:iam::123456789012:saml-provider/okta', users: [ghost]}]\n", "ghost"},
		{"role for unknown group", "apps:\n  - roles: [{role_arn: 'arn:aws:iam::123456789012:role/x', provider_arn: 'arn:aws:iam::123456789012:saml-provider/okta', groups: [ghosts]}]\n", "ghosts"},
		{"session duration", "apps:\n  - session_duration: 60\n", "900"},
		{"bad acs", "apps:\n  - acs_url: /saml\n", "acs_url"},
		{"duplicate app", "apps:\n  - id: 0oa1\n  - id: 0oa1\n", "used twice"},
		{"duplicate group", "groups: [{name: g}, {name: g}]\n", "twice"},
		{"empty api token", "api_tokens: ['']\n", "api_tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := decodeStrict(t, tc.yaml)
			if err == nil {
				_, err = New(cfg, Options{BaseURL: "http://127.0.0.1:1"})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, Options{}); err == nil {
		t.Fatal("New without a base URL")
	}
	if _, err := New(Config{}, Options{BaseURL: "127.0.0.1:80"}); err == nil {
		t.Fatal("New with a relative base URL")
	}
}
