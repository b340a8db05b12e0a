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

// maxInitsBeforeFastPath bounds how many packages with init work run
// before cmd/internal/fastpath answers a cached credential-process; its package
// comment gives the measured count, and this test keeps it true as imports
// change.
const maxInitsBeforeFastPath = 128

// TestFastPathInitOrder runs the built binary with GODEBUG=inittrace=1.
// The fast path exits inside its own init, so every "init" line the
// runtime printed is a package initialized before it: their number must stay
// under the bound its package comment states, and none may be the
// program's own packages (other than what fastpath imports) or a server
// library.
func TestFastPathInitOrder(t *testing.T) {
	bin := oktafedBinary(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(section("okta-fresh", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "credential-process", "--profile", "okta-fresh")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "GODEBUG=inittrace=1"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"AccessKeyId":"ASIAFASTFRESH"`) {
		t.Fatalf("no credentials printed: %q", out.String())
	}
	var before []string
	for line := range strings.SplitSeq(errOut.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			before = append(before, f[1])
		}
	}
	if len(before) == 0 {
		t.Fatal("no inittrace output")
	}
	if len(before) > maxInitsBeforeFastPath {
		t.Errorf("%d packages initialize before the fast path, more than %d: move what pulls them in, or update the bound and the package comment", len(before), maxInitsBeforeFastPath)
	}
	// What fastpath imports may initialize first; nothing else of ours.
	allowed := map[string]bool{
		"github.com/oktafed/oktafed/internal/awsfile":    true,
		"github.com/oktafed/oktafed/internal/atomicfile": true,
		"github.com/oktafed/oktafed/internal/owned":      true,
	}
	for _, p := range before {
		server := strings.HasPrefix(p, "google.golang.org/") || strings.Contains(p, "/go-redis/") || strings.HasPrefix(p, "github.com/prometheus/")
		if server || (strings.HasPrefix(p, "github.com/oktafed/oktafed") && !allowed[p]) {
			t.Errorf("%s initializes before the fast path", p)
		}
	}
	t.Logf("%d packages initialize before the fast path", len(before))
}
