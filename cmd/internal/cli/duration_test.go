package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox"
)

// A common real setup: the AWS app asks for 12-hour sessions, the roles
// keep IAM's default maximum of one hour. Every role must still be
// written, for the longest it allows, and the next login must ask for
// that at once.
func TestLoginAllRolesShorterThanAppSessionDuration(t *testing.T) {
	t.Parallel()
	cfg := sandbox.DefaultConfig()
	cfg.Org.Apps[0].SessionDuration = 12 * 3600
	for i := range cfg.AWS.Roles {
		cfg.AWS.Roles[i].MaxSessionDuration = 0 // IAM's default: 1h
	}
	// The second forced login waits for the next TOTP window: on a clock
	// shared with the sandbox that moves when the command waits, not in
	// real time.
	clk := clock.NewFake(time.Now())
	clk.AutoAdvance(true)
	e := setupCLIOn(t, cfg, clk)
	e.initProfile(t)

	for round := 1; round <= 2; round++ {
		before := clk.Now()
		code, out, errOut := run(t, "login", "--role", "all", "--output", "json", "--non-interactive", "--force")
		if code != 0 {
			t.Fatalf("round %d: exit %d\n%s\n%s", round, code, out, errOut)
		}
		var doc loginJSON
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("login json %q: %v", out, err)
		}
		if len(doc.Written) != 3 || len(doc.Failed) != 0 {
			t.Fatalf("round %d: written %+v failed %+v", round, doc.Written, doc.Failed)
		}
		for _, w := range doc.Written {
			left := w.Expiration.Sub(before)
			if left < 59*time.Minute || left > 61*time.Minute {
				t.Errorf("round %d: %s expires in %s, want the role's 1h", round, w.AWSProfile, left)
			}
		}
	}
	cfgFile, err := os.ReadFile(filepath.Join(e.home, ".config", "oktafed", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(cfgFile), ": 1h0m0s"); !strings.Contains(string(cfgFile), "role_max_sessions:") || n != 3 {
		t.Errorf("the roles' maximums are not remembered in the config:\n%s", cfgFile)
	}
}
