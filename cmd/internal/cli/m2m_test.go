package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/internal/awscred"
	"github.com/oktafed/oktafed/internal/testenv"
)

func TestM2MCommands(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	key, err := filepath.Abs("../../../sandbox/testdata/demo-m2m-client.PUBLIC-TEST-KEY.pem")
	if err != nil {
		t.Fatal(err)
	}
	setenv(t, "OKTA_ISSUER", e.srv.URL+"/oauth2/default")
	setenv(t, "OKTA_CLIENT_ID", "0oa1demom2m000000001")
	setenv(t, "OKTAFED_CLIENT_KEY", key)
	setenv(t, "AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/Automation")
	setenv(t, "AWS_REGION", "us-east-1")
	for _, k := range []string{"OKTAFED_CLIENT_KEY_ID", "OKTA_SCOPES", "AWS_ROLE_SESSION_NAME", "OKTA_DOMAIN", "OKTA_BASE_URL"} {
		setenv(t, k, "")
	}

	out := mustRun(t, "m2m", "credentials", "--scope", "orders.read", "--session-name", "batch-job")
	creds, err := awscred.ParseProcessJSON([]byte(out))
	if err != nil || !strings.HasPrefix(creds.AccessKeyID, "ASIA") || !creds.CanExpire {
		t.Fatalf("credential_process output %q: %v", out, err)
	}

	env := mustRun(t, "m2m", "env", "--shell", "sh")
	if !strings.Contains(env, "export AWS_ACCESS_KEY_ID=") || !strings.Contains(env, "AWS_REGION") {
		t.Fatalf("env output %q", env)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"scope not granted", []string{"m2m", "credentials", "--scope", "orders.write"}, "invalid_scope"},
		{"unknown key", []string{"m2m", "credentials", "--key", "/nonexistent.pem"}, "OKTAFED_CLIENT_KEY"},
		{"role without trust", []string{"m2m", "credentials", "--role", "arn:aws:iam::123456789012:role/Admin"}, "trust policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tc.want)
			}
		})
	}

	// The AWS CLI runs `oktafed m2m credentials` as a credential_process.
	awscli := testenv.AWSCLI(t)
	bin := oktafedBinary(t)
	cfg := "[profile batch]\nregion = us-east-1\ncredential_process = " + bin + " m2m credentials\n"
	if err := os.MkdirAll(filepath.Dir(e.cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), awscli, "sts", "get-caller-identity", "--profile", "batch", "--endpoint-url", e.srv.URL, "--query", "Arn", "--output", "text")
	cmd.Env = e.env.environ()
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "assumed-role/Automation/oktafed-0oa1demom2m000000001") {
		t.Fatalf("aws: %v\n%s", err, got)
	}
}
