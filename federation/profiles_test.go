package federation

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/saml"
)

func testFiles(t *testing.T, creds, cfg string) Files {
	t.Helper()
	dir := t.TempDir()
	f := Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")}
	if creds != "" {
		if err := os.WriteFile(f.Credentials, []byte(creds), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cfg != "" {
		if err := os.WriteFile(f.Config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func role(t *testing.T, arn, provider string) Role {
	t.Helper()
	r, err := saml.ParseRole(arn + "," + provider)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func assumedFor(r Role, key string, exp time.Time) Assumed {
	return Assumed{Role: r, Credentials: aws.Credentials{AccessKeyID: key, SecretAccessKey: "secret-" + key, SessionToken: "token-" + key, CanExpire: true, Expires: exp}}
}

const userCreds = "# my keys\n[default]\naws_access_key_id = AKIAUSER\naws_secret_access_key = usersecret\n\n[work]   ; hand-written\naws_access_key_id=AKIAWORK\naws_secret_access_key=worksecret\n"

func TestWriteProfilesKeepsForeignSections(t *testing.T) {
	t.Parallel()
	files := testFiles(t, userCreds, "[default]\nregion = eu-central-1\n")
	p := &config.Profile{Name: "default", Region: "us-east-1", AccountAliases: map[string]string{"123456789012": "prod"}}
	exp := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	admin := role(t, "arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:saml-provider/okta")
	dev := role(t, "arn:aws:iam::210987654321:role/Developer", "arn:aws:iam::210987654321:saml-provider/okta")
	failed := Assumed{Role: role(t, "arn:aws:iam::123456789012:role/Broken", "arn:aws:iam::123456789012:saml-provider/okta"), Err: errors.New("no")}

	written, err := WriteProfiles(files, p, []Assumed{assumedFor(admin, "ASIA1", exp), assumedFor(dev, "ASIA2", exp), failed})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || written[0].AWSProfile != "okta-prod-Admin" || written[1].AWSProfile != "okta-210987654321-Developer" {
		t.Fatalf("written = %+v", written)
	}
	data, _ := os.ReadFile(files.Credentials)
	if !strings.HasPrefix(string(data), userCreds) {
		t.Fatalf("user sections changed:\n%s", data)
	}
	fi, _ := os.Stat(files.Credentials)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}

	creds, owned, ok, err := CachedCredentials(files, "okta-prod-Admin", exp.Add(-time.Hour), 5*time.Minute)
	if err != nil || !ok || creds.AccessKeyID != "ASIA1" || owned.RoleARN != admin.RoleARN || !owned.Expires.Equal(exp) {
		t.Fatalf("cached = %+v %+v ok=%v err=%v", creds, owned, ok, err)
	}
	if _, _, ok, _ := CachedCredentials(files, "okta-prod-Admin", exp.Add(-time.Minute), 5*time.Minute); ok {
		t.Fatal("credentials inside the refresh window reported as fresh")
	}
	if _, _, _, err := CachedCredentials(files, "work", exp, 0); err == nil {
		t.Fatal("a user's own profile was treated as oktafed's")
	}

	cfg, _ := os.ReadFile(files.Config)
	if !strings.HasPrefix(string(cfg), "[default]\nregion = eu-central-1\n") || !strings.Contains(string(cfg), "[profile okta-prod-Admin]") {
		t.Fatalf("config:\n%s", cfg)
	}

	owned2, err := OwnedProfiles(files)
	if err != nil || len(owned2) != 2 {
		t.Fatalf("owned = %+v, %v", owned2, err)
	}

	// Refresh replaces in place.
	if err := StoreCredentials(files, owned, aws.Credentials{AccessKeyID: "ASIA9", SecretAccessKey: "s9", SessionToken: "t9", CanExpire: true, Expires: exp.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	creds, _, ok, _ = CachedCredentials(files, "okta-prod-Admin", exp, 5*time.Minute)
	if !ok || creds.AccessKeyID != "ASIA9" {
		t.Fatalf("after refresh: %+v ok=%v", creds, ok)
	}

	removed, err := RemoveProfiles(files, "default")
	if err != nil || len(removed) != 2 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	data, _ = os.ReadFile(files.Credentials)
	if string(data) != userCreds {
		t.Fatalf("after logout the file is not what the user had:\n%q\nwant\n%q", data, userCreds)
	}
	cfg, _ = os.ReadFile(files.Config)
	if string(cfg) != "[default]\nregion = eu-central-1\n" {
		t.Fatalf("config after logout:\n%q", cfg)
	}
}

func TestWriteProfilesRefusesForeignClash(t *testing.T) {
	t.Parallel()
	clash := "[okta-123456789012-Admin]\naws_access_key_id = AKIAMINE\naws_secret_access_key = mine\n"
	files := testFiles(t, clash, "")
	p := &config.Profile{Name: "default"}
	admin := role(t, "arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:saml-provider/okta")
	_, err := WriteProfiles(files, p, []Assumed{assumedFor(admin, "ASIA1", time.Now().Add(time.Hour))})
	if !errors.Is(err, ErrForeignProfile) || !strings.Contains(err.Error(), "profile_template") {
		t.Fatalf("err = %v", err)
	}
	data, _ := os.ReadFile(files.Credentials)
	if string(data) != clash {
		t.Fatalf("file changed on error:\n%s", data)
	}
}

func TestWriteProfilesDuplicateNames(t *testing.T) {
	t.Parallel()
	files := testFiles(t, "", "")
	p := &config.Profile{Name: "default", ProfileTemplate: "okta-{{.Role}}"}
	a := role(t, "arn:aws:iam::111111111111:role/Admin", "arn:aws:iam::111111111111:saml-provider/okta")
	b := role(t, "arn:aws:iam::222222222222:role/Admin", "arn:aws:iam::222222222222:saml-provider/okta")
	exp := time.Now().Add(time.Hour)
	if _, err := WriteProfiles(files, p, []Assumed{assumedFor(a, "A", exp), assumedFor(b, "B", exp)}); err == nil || !strings.Contains(err.Error(), "AccountID") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(files.Credentials); !os.IsNotExist(err) {
		t.Fatal("file written despite the clash")
	}
}

func TestSessionLength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ req, saml, want time.Duration }{
		{0, 0, time.Hour},
		{0, 2 * time.Hour, 2 * time.Hour},
		{4 * time.Hour, 2 * time.Hour, 2 * time.Hour},
		{30 * time.Minute, 2 * time.Hour, 30 * time.Minute},
		{time.Minute, 0, 15 * time.Minute},
		{24 * time.Hour, 0, 12 * time.Hour},
	} {
		if got := sessionLength(tc.req, tc.saml); got != tc.want {
			t.Errorf("sessionLength(%v, %v) = %v, want %v", tc.req, tc.saml, got, tc.want)
		}
	}
}
