package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCredentialProcessFastPathMatchesFullProgram runs the built binary,
// whose start-up fast path answers credential-process from the cache, and
// the same binary with the fast path off: for every case the two must print
// the same thing and exit alike.
func TestCredentialProcessFastPathMatchesFullProgram(t *testing.T) {
	bin := oktafedBinary(t)
	dir := t.TempDir()
	credsPath := filepath.Join(dir, "credentials")
	fresh := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	stale := time.Now().Add(2 * time.Minute).UTC().Format(time.RFC3339)
	data := "[mine]\naws_access_key_id = AKIAUSER\naws_secret_access_key = user\n\n" +
		section("okta-fresh", fresh) + "\n" + section("okta-stale", stale)
	if err := os.WriteFile(credsPath, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "AWS_SHARED_CREDENTIALS_FILE=" + credsPath, "AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), "OKTAFED_KEYRING_BACKEND=file", "OKTAFED_KEYRING_PASSWORD=x", "OKTAFED_KEYRING_DIR=" + filepath.Join(dir, "kr")}
	run := func(fast bool, extraEnv []string, args ...string) (string, string, int) {
		cmd := exec.Command(bin, append([]string{"credential-process"}, args...)...)
		cmd.Env = append(append([]string{}, env...), extraEnv...)
		if !fast {
			cmd.Env = append(cmd.Env, "OKTAFED_NO_FASTPATH=1")
		}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		ok   bool
	}{
		{"fresh", nil, []string{"--profile", "okta-fresh"}, true},
		{"fresh by AWS_PROFILE", []string{"AWS_PROFILE=okta-fresh"}, nil, true},
		{"fresh, -p=", nil, []string{"--profile=okta-fresh"}, true},
		{"stale", nil, []string{"--profile", "okta-stale"}, false},
		{"not oktafed's", nil, []string{"--profile", "mine"}, false},
		{"missing", nil, []string{"--profile", "nope"}, false},
		{"role flag", nil, []string{"--profile", "okta-fresh", "--role", "arn:aws:iam::123456789012:role/Admin"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fo, fe, fc := run(true, tc.env, tc.args...)
			so, se, sc := run(false, tc.env, tc.args...)
			if fo != so || fc != sc || fe != se {
				t.Fatalf("fast path: exit %d %q %q\nfull program: exit %d %q %q", fc, fo, fe, sc, so, se)
			}
			if tc.ok != (fc == 0) || (tc.ok && !strings.Contains(fo, `"AccessKeyId":"ASIAFAST`)) {
				t.Fatalf("exit %d, stdout %q, stderr %q", fc, fo, fe)
			}
		})
	}
}

func section(name, exp string) string {
	return "[" + name + "]\naws_access_key_id = ASIAFAST" + strings.ToUpper(strings.TrimPrefix(name, "okta-")) + "\naws_secret_access_key = s3cret\naws_session_token = tok\n" +
		"oktafed_expiration = " + exp + "\noktafed_profile = default\noktafed_role_arn = arn:aws:iam::123456789012:role/Admin\noktafed_principal_arn = arn:aws:iam::123456789012:saml-provider/okta\n"
}
