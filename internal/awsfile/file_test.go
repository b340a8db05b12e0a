package awsfile

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse("test", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRoundTripIsByteExact(t *testing.T) {
	tests := []struct{ name, src string }{
		{"empty", ""},
		{"only comments", "# a\n; b\n\n"},
		{"no final newline", "[a]\nk = v"},
		{"crlf", "[a]\r\nk = v\r\n\r\n[b]\r\nx=1\r\n"},
		{"mixed endings", "[a]\nk = v\r\n[b]\r\nx=1\n"},
		{"bom", bom + "[default]\nregion = us-east-1\n"},
		{"indented header and keys", "  [a]\n  k = v\n\t[b]\n\tx = y\n"},
		{"nested", "[profile x]\ns3 =\n  a = 1\n\n  # c\n  b = 2\nregion = r\n"},
		{"trailing spaces", "[a]   \nk = v   \n   \n"},
		{"lone cr kept", "[a]\nk = v\rw\n"},
		{"continuations", "[a]\nk = first\n  second\n\n  third\nz = 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.src)
			if got := string(f.Bytes()); got != tt.src {
				t.Fatalf("Bytes() = %q, want %q", got, tt.src)
			}
		})
	}
	for _, name := range []string{"config.input", "credentials.input", "crlf-noeol.input"} {
		t.Run(name, func(t *testing.T) {
			src := readTestdata(t, name)
			f := mustParse(t, string(src))
			if got := f.Bytes(); string(got) != string(src) {
				t.Fatalf("round trip changed %s:\n%q\nwant\n%q", name, got, src)
			}
		})
	}
}

func TestValuesAsTheAWSCLIReadsThem(t *testing.T) {
	f := mustParse(t, string(readTestdata(t, "config.input")))
	tests := []struct {
		section, key string
		want         string
		ok           bool
	}{
		{"default", "region", "us-east-1", true},
		{"default", "OUTPUT", "json", true},
		{"profile  dev", "region", "eu-west-1   # inline text is part of the value", true},
		{"profile  dev", "s3", "\nmax_concurrent_requests = 20\nmultipart_threshold = 64MB", true},
		// The tab-indented line is deeper than region, so it continues it.
		{"profile old", "region", "ap-south-1\ntabbed_key = tabbed value", true},
		{"profile old", "tabbed_key", "", false},
		{"sso-session corp", "sso_region", "us-east-1", true},
		{"profile team", "credential_process", "oktafed credential-process --profile team", true},
		{"default", "missing", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.section+"/"+tt.key, func(t *testing.T) {
			s := f.Section(tt.section)
			if s == nil {
				t.Fatalf("no section [%s]", tt.section)
			}
			got, ok := s.Get(tt.key)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Get(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
	nested, ok := f.Section("profile  dev").Nested("s3")
	if !ok || nested["max_concurrent_requests"] != "20" || nested["multipart_threshold"] != "64MB" || len(nested) != 2 {
		t.Fatalf("Nested(s3) = %v, %v", nested, ok)
	}
	if _, ok := f.Section("default").Nested("region"); ok {
		t.Fatalf("a plain value is not nested")
	}
}

func TestContinuationLines(t *testing.T) {
	f := mustParse(t, "[a]\nk = first\n  second\n\n  third\nz = 1\n\tindented = no\n")
	s := f.Section("a")
	if got, _ := s.Get("k"); got != "first\nsecond\n\nthird" {
		t.Fatalf("k = %q", got)
	}
	if got, _ := s.Get("z"); got != "1\nindented = no" {
		t.Fatalf("z = %q (a deeper line continues the value)", got)
	}
	if got := strings.Join(s.Keys(), ","); got != "k,z" {
		t.Fatalf("Keys() = %s", got)
	}
}

func TestParseErrorsNameTheLineAndNeverTheSecret(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		want      string
	}{
		{"setting before any section", "# ok\naws_secret_access_key = SECRETVALUE\n", 2, "outside any section"},
		{"unterminated header", "[default\nk = SECRETVALUE\n", 1, "closing"},
		{"empty header", "[]\n", 1, "no name"},
		{"no delimiter", "[a]\nSECRETVALUE\n", 2, "expected \"key = value\""},
		{"empty key", "[a]\n= SECRETVALUE\n", 2, "no name"},
		{"duplicate section", "[a]\nk = 1\n[b]\n[a]\n", 4, "first at line 1"},
		{"duplicate key any case", "[a]\nK = SECRETVALUE\nk = SECRETVALUE\n", 3, "first at line 2"},
		{"nested without equals", "[a]\ns3 =\n  SECRETVALUE\n", 2, "nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/home/u/.aws/credentials", []byte(tt.src))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Line != tt.line {
				t.Errorf("Line = %d, want %d (%v)", pe.Line, tt.line, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not mention %q", msg, tt.want)
			}
			if !strings.HasPrefix(msg, "/home/u/.aws/credentials:") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if strings.Contains(msg, "SECRETVALUE") {
				t.Errorf("error %q quotes the file's contents", msg)
			}
		})
	}
}

func TestParseRefusesHugeInput(t *testing.T) {
	_, err := Parse("big", make([]byte, MaxFileSize+1))
	if err == nil || !strings.Contains(err.Error(), "check the path") {
		t.Fatalf("err = %v", err)
	}
}

func TestProfileLookup(t *testing.T) {
	cfg := mustParse(t, "[default]\nregion=a\n[profile  dev]\nregion=b\n[profile \"my team\"]\nregion=c\n[profilex]\nregion=d\n[prod]\nregion=e\n")
	tests := []struct {
		kind    Kind
		profile string
		want    string // section name, "" for none
	}{
		{Config, "default", "default"},
		{Config, "dev", "profile  dev"},
		{Config, "my team", "profile \"my team\""},
		{Config, "x", ""},
		{Config, "prod", ""}, // the AWS CLI ignores [prod] in config
		{Credentials, "prod", "prod"},
		{Credentials, "dev", ""},
	}
	for _, tt := range tests {
		s := cfg.Profile(tt.kind, tt.profile)
		got := ""
		if s != nil {
			got = s.Name()
		}
		if got != tt.want {
			t.Errorf("Profile(%d, %q) = %q, want %q", tt.kind, tt.profile, got, tt.want)
		}
	}
	alt := mustParse(t, "[profile default]\nregion=z\n")
	if s := alt.Profile(Config, "default"); s == nil || s.Name() != "profile default" {
		t.Errorf("[profile default] should serve the default profile")
	}
	if got := ProfileSection(Config, "dev"); got != "profile dev" {
		t.Errorf("ProfileSection(Config, dev) = %q", got)
	}
	if got := ProfileSection(Config, "default"); got != "default" {
		t.Errorf("ProfileSection(Config, default) = %q", got)
	}
	if got := ProfileSection(Credentials, "dev"); got != "dev" {
		t.Errorf("ProfileSection(Credentials, dev) = %q", got)
	}
	if got := SSOSessionSection("corp"); got != "sso-session corp" {
		t.Errorf("SSOSessionSection = %q", got)
	}
}

// editCredentials is what a login does to a credentials file: rewrite one
// profile's keys, drop another profile and add a new one.
func editCredentials(f *File) error {
	dev := f.Section("dev")
	for _, kv := range [][2]string{
		{"aws_access_key_id", "AKIDNEWDEV"},
		{"aws_secret_access_key", "newdevsecret"},
		{"aws_session_token", "newdevtoken"},
		{"x_security_token_expires", "2026-01-02T03:04:05Z"},
	} {
		if err := dev.Set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	f.RemoveSection("stale")
	prod, err := f.AddSection("prod")
	if err != nil {
		return err
	}
	return prod.Set("aws_access_key_id", "AKIDPROD")
}

func editConfig(f *File) error {
	if err := f.Profile(Config, "dev").Set("region", "eu-central-1"); err != nil {
		return err
	}
	f.Profile(Config, "old").Delete("region")
	if err := f.Section("sso-session corp").Set("sso_registration_scopes", "sso:account:access"); err != nil {
		return err
	}
	s, err := f.AddSection(ProfileSection(Config, "new"))
	if err != nil {
		return err
	}
	if err := s.Set("region", "us-west-1"); err != nil {
		return err
	}
	return s.Set("output", "json")
}

func editCRLF(f *File) error {
	if err := f.Profile(Config, "ci").Set("output", "text"); err != nil {
		return err
	}
	s, err := f.AddSection("profile more")
	if err != nil {
		return err
	}
	return s.Set("region", "sa-east-1")
}

func TestGoldenEdits(t *testing.T) {
	tests := []struct {
		input, golden string
		edit          func(*File) error
	}{
		{"credentials.input", "credentials.golden", editCredentials},
		{"config.input", "config.golden", editConfig},
		{"crlf-noeol.input", "crlf-noeol.golden", editCRLF},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			f := mustParse(t, string(readTestdata(t, tt.input)))
			if err := tt.edit(f); err != nil {
				t.Fatal(err)
			}
			got := f.Bytes()
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readTestdata(t, tt.golden)
			if string(got) != string(want) {
				t.Fatalf("edited file differs from %s:\n got: %q\nwant: %q", path, got, want)
			}
			back := mustParse(t, string(got))
			if !sameModel(f, back) {
				t.Fatalf("edited file reads back differently")
			}
		})
	}
}

// TestEditsKeepOtherSectionsByteForByte checks the promise that matters to
// users: sections oktafed does not own come back exactly as they were.
func TestEditsKeepOtherSectionsByteForByte(t *testing.T) {
	src := string(readTestdata(t, "credentials.input"))
	f := mustParse(t, src)
	if err := editCredentials(f); err != nil {
		t.Fatal(err)
	}
	out := string(f.Bytes())
	for _, keep := range []string{
		"# Keys below are managed by hand.\n[default]\naws_access_key_id = AKIDEXAMPLEDEFAULT\naws_secret_access_key = secretdefaultexample\n\n",
		"# trailing comment belongs to nobody in particular\n[personal]\naws_access_key_id = AKIDPERSONAL\naws_secret_access_key = personalsecret\n",
	} {
		if !strings.Contains(out, keep) {
			t.Errorf("edited file lost %q:\n%s", keep, out)
		}
	}
	if strings.Contains(out, "stale") || strings.Contains(out, "continued-token-part") {
		t.Errorf("removed content survived:\n%s", out)
	}
}

func TestSetKeepsKeySpelling(t *testing.T) {
	tests := []struct{ src, key, val, want string }{
		{"[a]\nKey=old\n", "key", "new", "[a]\nKey=new\n"},
		{"[a]\n  k  :  old\n", "k", "new", "[a]\n  k  :  new\n"},
		{"[a]\nk =\n  x = 1\n", "k", "flat", "[a]\nk = flat\n"},
		{"[a]\nk = v", "k", "w", "[a]\nk = w"},
		// A file that lacked a final newline keeps lacking it.
		{"[a]", "k", "v", "[a]\nk = v"},
		{"[a]\r\nx = 1", "k", "v", "[a]\r\nx = 1\r\nk = v"},
		{"[a]\nx = 1\r", "k", "v", "[a]\nx = 1\r\nk = v"},
		{"[a]\r\n", "k", "v", "[a]\r\nk = v\r\n"},
		{"[a]\n  x = 1\n\n[b]\n", "k", "v", "[a]\n  x = 1\n  k = v\n\n[b]\n"},
		{"[a]\n# only a comment\n", "k", "v", "[a]\nk = v\n# only a comment\n"},
	}
	for _, tt := range tests {
		f := mustParse(t, tt.src)
		if err := f.Section("a").Set(tt.key, tt.val); err != nil {
			t.Fatal(err)
		}
		if got := string(f.Bytes()); got != tt.want {
			t.Errorf("Set(%q, %q) on %q = %q, want %q", tt.key, tt.val, tt.src, got, tt.want)
		}
	}
}

func TestSetRefusesWhatWouldNotReadBack(t *testing.T) {
	f := mustParse(t, "[a]\n")
	s := f.Section("a")
	tests := []struct{ key, val string }{
		{"", "v"}, {" k", "v"}, {"k=x", "v"}, {"k:x", "v"}, {"#k", "v"}, {"[k", "v"},
		{"k", "line\nbreak"}, {"k", " padded"}, {"k", "cr\r"},
	}
	for _, tt := range tests {
		err := s.Set(tt.key, tt.val)
		if err == nil {
			t.Errorf("Set(%q, %q) succeeded", tt.key, tt.val)
			continue
		}
		if tt.val != "v" && strings.Contains(err.Error(), tt.val) {
			t.Errorf("error %q quotes the value", err)
		}
	}
	for _, name := range []string{"", " a", "a]", "a\nb"} {
		if _, err := f.AddSection(name); err == nil {
			t.Errorf("AddSection(%q) succeeded", name)
		}
	}
}

func TestRemoveSection(t *testing.T) {
	tests := []struct{ src, name, want string }{
		{"[a]\nk=1\n\n[b]\nk=2\n", "a", "[b]\nk=2\n"},
		{"[a]\nk=1\n\n# about b\n[b]\nk=2\n", "a", "# about b\n[b]\nk=2\n"},
		{"[a]\nk=1\n\n[b]\nk=2\n\n# tail\n", "b", "[a]\nk=1\n\n# tail\n"},
		{"[a]\nk=1\n", "zzz", "[a]\nk=1\n"},
	}
	for _, tt := range tests {
		f := mustParse(t, tt.src)
		f.RemoveSection(tt.name)
		if got := string(f.Bytes()); got != tt.want {
			t.Errorf("RemoveSection(%q) on %q = %q, want %q", tt.name, tt.src, got, tt.want)
		}
	}
}

func TestInsertAvoidsTurningNextHeaderIntoContinuation(t *testing.T) {
	f := mustParse(t, "[a]\n  [b]\nk = 1\n")
	if err := f.Section("a").Set("x", "y"); err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(f.Bytes()))
	if back.Section("b") == nil || !sameModel(f, back) {
		t.Fatalf("edit changed how the file reads: %q", f.Bytes())
	}
}

func TestSharedPaths(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	getenv := func(k string) string { return env[k] }
	if p, _ := CredentialsPath(getenv); p != filepath.Join(home, ".aws", "credentials") {
		t.Errorf("CredentialsPath() = %q", p)
	}
	if p, _ := ConfigPath(getenv); p != filepath.Join(home, ".aws", "config") {
		t.Errorf("ConfigPath() = %q", p)
	}
	env["AWS_SHARED_CREDENTIALS_FILE"] = "/etc/creds"
	env["AWS_CONFIG_FILE"] = "~/alt/config"
	if p, _ := CredentialsPath(getenv); p != "/etc/creds" {
		t.Errorf("CredentialsPath() = %q", p)
	}
	if p, _ := ConfigPath(getenv); p != filepath.Join(home, "alt", "config") {
		t.Errorf("ConfigPath() = %q", p)
	}
}

func TestAddThenRemoveRestoresFile(t *testing.T) {
	for _, orig := range []string{
		"",
		"[default]\nregion = eu-west-1\n",
		"# top\n",
		"[a]\nx = 1\n\n[b]\ny = 2\r\n",
	} {
		f, err := Parse("credentials", []byte(orig))
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.AddSection("okta-x")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("aws_access_key_id", "ASIA"); err != nil {
			t.Fatal(err)
		}
		g, err := Parse("credentials", f.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		g.RemoveSection("okta-x")
		if got := string(g.Bytes()); got != orig {
			t.Errorf("add+remove of %q gave %q", orig, got)
		}
	}
}
