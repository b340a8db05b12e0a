package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/cmd/internal/buildinfo"
)

// TestVersion: the text line, the JSON object scripts parse, and a bad
// --output refused. A test binary carries no release stamp, so "dev".
func TestVersion(t *testing.T) {
	out := mustRun(t, "version")
	if want := "oktafed dev (" + runtime.Version(); !strings.HasPrefix(out, want) || !strings.HasSuffix(out, runtime.GOOS+"/"+runtime.GOARCH+")\n") {
		t.Errorf("version: %q, want %q… ending in the platform", out, want)
	}
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(mustRun(t, "version", "--output", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got != buildinfo.Get() || got.Version != "dev" {
		t.Errorf("version --output json: %+v, want %+v", got, buildinfo.Get())
	}
	code, out, errOut := run(t, "version", "-o", "yaml")
	if code == 0 || out != "" || !strings.Contains(errOut, `--output "yaml": choose text or json`) {
		t.Errorf("version -o yaml: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
