package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oktafed", "config.yaml")
	f := &File{Profiles: map[string]*Profile{
		"default": {OrgURL: "https://example.okta.com", AppURL: "https://example.okta.com/home/amazon_aws/0oa1/272",
			Username: "alice@example.com", MFA: "push", Region: "eu-west-1", Duration: Duration(2 * time.Hour), Role: "all"},
	}}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v err %v, want 0600", fi.Mode().Perm(), err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.Profile("")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "default" || p.Username != "alice@example.com" || time.Duration(p.Duration) != 2*time.Hour || p.Region != "eu-west-1" {
		t.Fatalf("profile = %+v", p)
	}
}

func TestLoadMissingIsEmpty(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if err != nil || len(f.Profiles) != 0 {
		t.Fatalf("f=%v err=%v", f, err)
	}
	_, err = f.Profile("prod")
	if err == nil || !strings.Contains(err.Error(), "oktafed init --profile prod") {
		t.Fatalf("err = %v, want a hint to run init", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"unknown field": "profiles:\n  a:\n    org_ulr: https://x\n",
		"bad mfa":       "profiles:\n  a:\n    mfa: carrier-pigeon\n",
		"bad url":       "profiles:\n  a:\n    org_url: example.okta.com\n",
		"bad role":      "profiles:\n  a:\n    role: Admin Role\n",
		"bad regex":     "profiles:\n  a:\n    role: /(/\n",
		"bad duration":  "profiles:\n  a:\n    duration: forever\n",
		"bad template":  "profiles:\n  a:\n    profile_template: '{{.Nope'\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("config.yaml", []byte(doc)); err == nil {
				t.Fatalf("accepted %q", doc)
			}
		})
	}
	if _, err := Parse("config.yaml", nil); err != nil {
		t.Fatalf("empty document: %v", err)
	}
}

func TestPath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OKTAFED_CONFIG": "/x/c.yaml", "XDG_CONFIG_HOME": "/y"}, "/x/c.yaml"},
		{map[string]string{"XDG_CONFIG_HOME": "/y", "HOME": "/h"}, "/y/oktafed/config.yaml"},
		{map[string]string{"HOME": "/h"}, "/h/.config/oktafed/config.yaml"},
	} {
		got, err := Path(env(tc.env))
		if err != nil || got != tc.want {
			t.Errorf("Path(%v) = %q, %v; want %q", tc.env, got, err, tc.want)
		}
	}
}

func TestRoleMatcher(t *testing.T) {
	admin := "arn:aws:iam::123456789012:role/Admin"
	ro := "arn:aws:iam::123456789012:role/ReadOnly"
	for _, tc := range []struct {
		sel       string
		admin, ro bool
	}{
		{"all", true, true},
		{admin, true, false},
		{"/ReadOnly$/", false, true},
		{"/123456789012/", true, true},
	} {
		m, err := RoleMatcher(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		if m(admin) != tc.admin || m(ro) != tc.ro {
			t.Errorf("%s: admin=%v ro=%v", tc.sel, m(admin), m(ro))
		}
	}
	if m, err := RoleMatcher(""); m != nil || err != nil {
		t.Fatalf("empty selector should be nil, nil")
	}
}

func TestAWSProfileName(t *testing.T) {
	p := &Profile{Name: "work", AccountAliases: map[string]string{"123456789012": "prod"}}
	if got, _ := p.AWSProfileName("123456789012", "Admin"); got != "okta-prod-Admin" {
		t.Fatalf("got %q", got)
	}
	if got, _ := p.AWSProfileName("210987654321", "Dev"); got != "okta-210987654321-Dev" {
		t.Fatalf("got %q", got)
	}
	p.ProfileTemplate = "{{.Profile}}/{{.AccountID}}/{{.Role}}"
	if got, _ := p.AWSProfileName("1", "R"); got != "work/1/R" {
		t.Fatalf("got %q", got)
	}
	p.ProfileTemplate = "[{{.Role}}]"
	if _, err := p.AWSProfileName("1", "R"); err == nil {
		t.Fatal("brackets in a profile name must be refused")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"3600": time.Hour, "90m": 90 * time.Minute, "": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseDuration("-1h"); err == nil {
		t.Error("negative duration accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("profiles:\n  default:\n    org_url: https://example.okta.com\n    mfa: push\n"))
	f.Add([]byte("profiles: {a: {role: /x/, duration: 3600}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := cfg.Save(path); err != nil {
			t.Fatalf("save of a parsed config failed: %v", err)
		}
		if _, err := Load(path); err != nil {
			t.Fatalf("re-load of a saved config failed: %v", err)
		}
	})
}
