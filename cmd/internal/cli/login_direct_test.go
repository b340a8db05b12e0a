package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox"
)

const directClientID = "0oa1demodirect000001"

func TestLoginDirectWithOTPAndPush(t *testing.T) {
	t.Parallel()
	// The push's poll interval and the phone's delay pass on a clock
	// shared with the sandbox, not in real time.
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	e := setupCLIOn(t, sandbox.DefaultConfig(), clk)
	mustRun(t, "init", "--non-interactive", "--sign-in", "direct", "--oidc-client-id", directClientID, "--org-url", e.srv.URL,
		"--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272", "--username", "demo@example.com", "--region", "us-east-1")
	// OKTA_PASSWORD and OKTAFED_TOTP_SECRET are set: the code comes from the seed.
	code, _, errOut := run(t, "login", "--role", "all", "--non-interactive", "--verbose")
	if code != 0 || !strings.Contains(errOut, "Okta Direct Authentication") {
		t.Fatalf("direct login with a TOTP code: exit %d\n%s", code, errOut)
	}
	// A refresh goes through the session, with no password at hand.
	expireCached(t, e.creds)
	setenv(t, "OKTA_PASSWORD", "")
	setenv(t, "OKTAFED_TOTP_SECRET", "")
	mustRun(t, "credential-process", "--profile", "okta-123456789012-Admin")

	// --direct --mfa push waits for the (simulated) phone.
	setenv(t, "OKTA_PASSWORD", "Sandbox-Demo-1")
	code, _, errOut = run(t, "login", "--direct", "--force", "--mfa", "push", "--role", "all", "--non-interactive")
	if code != 0 || !strings.Contains(errOut, "Okta Verify: tap") || !strings.Contains(errOut, "Waiting for the Okta Verify push") {
		t.Fatalf("direct login with a push: exit %d\n%s", code, errOut)
	}
}

func TestLoginDirectNeedsClientID(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	code, _, errOut := run(t, "login", "--direct", "--role", "all", "--non-interactive")
	if code == 0 || !strings.Contains(errOut, "oidc_client_id") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}
