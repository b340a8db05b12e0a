package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// cachedProfileFiles writes AWS files holding one fresh oktafed profile.
func cachedProfileFiles(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	creds := fmt.Sprintf(`[default]
aws_access_key_id = AKIAUSERKEYEXAMPLE00
aws_secret_access_key = user-secret-example

[okta-bench-Admin]
aws_access_key_id = ASIABENCHEXAMPLE0000
aws_secret_access_key = bench-secret-example
aws_session_token = bench-session-token-example
oktafed_expiration = %s
oktafed_profile = default
oktafed_role_arn = arn:aws:iam::123456789012:role/Admin
oktafed_principal_arn = arn:aws:iam::123456789012:saml-provider/okta
`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(creds), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	b.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	b.Setenv("AWS_PROFILE", "")
	b.Setenv("HOME", dir)
	return dir
}

// BenchmarkCredentialProcessCached is credential-process on a cached
// profile, in process: what oktafed itself does per AWS call.
func BenchmarkCredentialProcessCached(b *testing.B) {
	cachedProfileFiles(b)
	ios, _, out, _ := Test()
	ios.Getenv = os.Getenv
	for b.Loop() {
		out.Reset()
		if code := Main(context.Background(), ios, []string{"credential-process", "--profile", "okta-bench-Admin"}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// BenchmarkCredentialProcessExec is the same as a whole process, as the
// AWS SDKs run it; the goal is a median of at most 15 ms. bench/credproc/run
// measures the same side by side with the AWS CLI using hyperfine.
func BenchmarkCredentialProcessExec(b *testing.B) {
	dir := cachedProfileFiles(b)
	bin := filepath.Join(dir, "oktafed")
	build := exec.Command("go", "build", "-o", bin, "github.com/oktafed/oktafed/cmd/oktafed")
	build.Env = origEnv
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	b.ResetTimer()
	for b.Loop() {
		if out, err := exec.Command(bin, "credential-process", "--profile", "okta-bench-Admin").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}
