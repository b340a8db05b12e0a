package fastpath

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeCredentials(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	section := func(name string, exp time.Time) string {
		return "[" + name + "]\naws_access_key_id = ASIA" + name + "\naws_secret_access_key = s3cret\naws_session_token = tok\n" +
			"oktafed_expiration = " + exp.UTC().Format(time.RFC3339) + "\noktafed_profile = default\n" +
			"oktafed_role_arn = arn:aws:iam::123456789012:role/Admin\noktafed_principal_arn = arn:aws:iam::123456789012:saml-provider/okta\n\n"
	}
	data := "[mine]\naws_access_key_id = AKIAUSER\naws_secret_access_key = user\n\n" +
		section("fresh", time.Now().Add(time.Hour)) + section("stale", time.Now().Add(Window/2)) + section("expired", time.Now().Add(-time.Hour))
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", path)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv(disabledEnv, "")
}

// TestAnswer checks what the fast path answers itself and what it leaves,
// untouched, to the full program.
func TestAnswer(t *testing.T) {
	writeCredentials(t)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		answers bool
	}{
		{"fresh", nil, []string{"credential-process", "--profile", "fresh"}, true},
		{"fresh, -p", nil, []string{"credential-process", "-p", "fresh"}, true},
		{"fresh, --profile=", nil, []string{"credential-process", "--profile=fresh"}, true},
		{"fresh by AWS_PROFILE", map[string]string{"AWS_PROFILE": "fresh"}, []string{"credential-process"}, true},
		{"flag wins over AWS_PROFILE", map[string]string{"AWS_PROFILE": "stale"}, []string{"credential-process", "--profile", "fresh"}, true},
		{"within the refresh window", nil, []string{"credential-process", "--profile", "stale"}, false},
		{"expired", nil, []string{"credential-process", "--profile", "expired"}, false},
		{"not oktafed's", nil, []string{"credential-process", "--profile", "mine"}, false},
		{"missing", nil, []string{"credential-process", "--profile", "nope"}, false},
		{"no profile", nil, []string{"credential-process"}, false},
		{"flag without value", nil, []string{"credential-process", "--profile"}, false},
		{"role flag", nil, []string{"credential-process", "--profile", "fresh", "--role", "arn:aws:iam::123456789012:role/Admin"}, false},
		{"help", nil, []string{"credential-process", "--profile", "fresh", "--help"}, false},
		{"another command", nil, []string{"login", "--profile", "fresh"}, false},
		{"flag before the command", nil, []string{"--profile", "fresh", "credential-process"}, false},
		{"no arguments", nil, nil, false},
		{"turned off", map[string]string{disabledEnv: "1"}, []string{"credential-process", "--profile", "fresh"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			got := Answer(tc.args, &out)
			if got != tc.answers {
				t.Fatalf("Answer = %v, want %v (printed %q)", got, tc.answers, out.String())
			}
			if !tc.answers {
				if out.Len() != 0 {
					t.Fatalf("printed %q and left the command to the full program", out.String())
				}
				return
			}
			want := `{"Version":1,"AccessKeyId":"ASIAfresh","SecretAccessKey":"s3cret","SessionToken":"tok","Expiration":"`
			if !bytes.HasPrefix(out.Bytes(), []byte(want)) || !bytes.HasSuffix(out.Bytes(), []byte("Z\"}\n")) {
				t.Fatalf("printed %q", out.String())
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed pipe") }

// TestAnswerWriteFails leaves a failed write to the full program, which
// reports it with its exit code.
func TestAnswerWriteFails(t *testing.T) {
	writeCredentials(t)
	if Answer([]string{"credential-process", "--profile", "fresh"}, failingWriter{}) {
		t.Fatal("a failed write counted as answered")
	}
}
