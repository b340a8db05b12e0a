package cli

import (
	"os"
	"strings"
	"testing"
)

// exec gives the child the profile's region, as env does: a child that
// fell back to [default]'s region would sign for the wrong one.
func TestExecSetsTheProfilesRegion(t *testing.T) {
	e := setupCLI(t)
	e.initProfile(t)
	mustRun(t, "login", "--role", "/Admin$/", "--non-interactive")
	if err := os.WriteFile(e.cfg, append(mustRead(t, e.cfg), "\n[default]\nregion = eu-west-3\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_REGION", "ap-south-1")
	t.Setenv("AWS_DEFAULT_REGION", "ap-south-1")
	for _, args := range [][]string{
		{"exec", "--profile", "okta-123456789012-Admin", "--", "sh", "-c", "echo $AWS_REGION/$AWS_DEFAULT_REGION"},
		{"exec", "--server", "--profile", "okta-123456789012-Admin", "--", "sh", "-c", "echo $AWS_REGION/$AWS_DEFAULT_REGION"},
	} {
		out := mustRun(t, args...)
		if strings.TrimSpace(out) != "us-east-1/us-east-1" {
			t.Errorf("oktafed %v: child saw region %q, want the profile's us-east-1", args, out)
		}
	}
	env := mustRun(t, "env", "--profile", "okta-123456789012-Admin")
	if !strings.Contains(env, "AWS_REGION='us-east-1'") && !strings.Contains(env, "AWS_REGION=us-east-1") {
		t.Errorf("env printed %q", env)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
