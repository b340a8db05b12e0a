package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/sandbox"
)

// TestDBToken signs with a profile's key and checks the token with the
// sandbox's verifier, as RDS would.
func TestDBToken(t *testing.T) {
	t.Parallel()
	const (
		userARN = "arn:aws:iam::123456789012:user/dev"
		keyID   = "AKIAEXAMPLEDEVUSER01"
		secret  = "dev-user-secret-access-key-0001"
	)
	svc := sandbox.Start(t, sandbox.Config{AWS: sandbox.AWSConfig{
		Region:   "eu-west-1",
		Accounts: []sandbox.AWSAccountConfig{{ID: "123456789012"}},
		Users:    []sandbox.AWSUserConfig{{ARN: userARN, AccessKeyID: keyID, SecretAccessKey: secret}},
	}})
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("[dev]\naws_access_key_id = "+keyID+"\naws_secret_access_key = "+secret+"\n"), 0o600)
	ios, _, out, _ := Test()
	env := map[string]string{"AWS_PROFILE": "dev", "HOME": dir, "AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "OKTAFED_CONFIG": filepath.Join(dir, "oktafed.yaml")}
	ios.Getenv = func(k string) string { return env[k] }
	root := NewRootCmd(ios)
	root.SetArgs([]string{"db", "token", "--host", "db.abc.eu-west-1.rds.amazonaws.com", "--port", "5432", "--user", "app", "--output", "json"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got dbTokenOutput
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got.Region != "eu-west-1" || got.Port != 5432 || got.User != "app" {
		t.Errorf("output = %+v", got)
	}
	if d := time.Until(got.Expires); d < 14*time.Minute || d > 16*time.Minute {
		t.Errorf("expires in %s, want 15 minutes", d)
	}
	caller, err := svc.VerifyPresignedURL(got.Token, "rds-db", "eu-west-1", time.Time{})
	if err != nil {
		t.Fatalf("the sandbox refuses the token: %v", err)
	}
	if caller.ARN != userARN || caller.Params.Get("DBUser") != "app" || caller.Host != "db.abc.eu-west-1.rds.amazonaws.com:5432" {
		t.Errorf("token is for %+v", caller)
	}

	// Text output is the token alone, and errors say what to pass.
	out.Reset()
	root = NewRootCmd(ios)
	root.SetArgs([]string{"db", "token", "--host", "h", "--port", "3306", "--user", "app", "--region", "eu-west-1", "--profile", "dev"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(out.String()); !strings.HasPrefix(s, "h:3306/?Action=connect&DBUser=app&") {
		t.Errorf("text output %q", s)
	}
	root = NewRootCmd(ios)
	root.SetArgs([]string{"db", "token", "--host", "h"})
	if err := root.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "--port") {
		t.Errorf("missing flags: %v", err)
	}
}
