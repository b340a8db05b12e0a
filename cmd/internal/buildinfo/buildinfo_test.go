package buildinfo

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/internal/testenv"
)

func settings(kv ...string) []debug.BuildSetting {
	var s []debug.BuildSetting
	for i := 0; i < len(kv); i += 2 {
		s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
	}
	return s
}

func TestResolve(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/oktafed/oktafed", Version: "(devel)"},
		Settings: settings("GOOS", "darwin", "GOARCH", "arm64", "vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "true")}
	for _, tc := range []struct {
		name  string
		stamp Stamp
		bi    *debug.BuildInfo
		want  Info
	}{
		{"no build information", Stamp{}, nil,
			Info{Version: "dev", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}},
		{"go test or -buildvcs=false", Stamp{}, &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			Info{Version: "dev", GoVersion: "go1.26.8", Platform: runtime.GOOS + "/" + runtime.GOARCH}},
		{"go install @v1.4.0", Stamp{}, &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}, Settings: settings("GOOS", "linux", "GOARCH", "amd64")},
			Info{Version: "v1.4.0", GoVersion: "go1.26.8", Platform: "linux/amd64"}},
		{"go install @main (pseudo-version)", Stamp{}, &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.1-0.20261201100000-0123456789ab"}, Settings: settings("GOOS", "linux", "GOARCH", "arm64")},
			Info{Version: "v1.4.1-0.20261201100000-0123456789ab", Commit: "0123456789ab", GoVersion: "go1.26.8", Platform: "linux/arm64"}},
		{"checkout build", Stamp{}, checkout,
			Info{Version: "dev", Commit: rev, Date: "2026-12-01T10:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: "darwin/arm64"}},
		{"checkout build with a tag-derived version", Stamp{}, &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0+dirty"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true")},
			Info{Version: "v1.4.0+dirty", Commit: rev, Modified: true, GoVersion: "go1.26.8", Platform: runtime.GOOS + "/" + runtime.GOARCH}},
		{"release: the stamp wins", Stamp{Version: "v1.5.0", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-12-06T09:00:00Z"}, checkout,
			Info{Version: "v1.5.0", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-12-06T09:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: "darwin/arm64"}},
		{"stamped version only keeps the recorded commit", Stamp{Version: "v1.5.0"}, checkout,
			Info{Version: "v1.5.0", Commit: rev, Date: "2026-12-01T10:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: "darwin/arm64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolve(tc.stamp, tc.bi); got != tc.want {
				t.Errorf("resolve:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPseudoRevision(t *testing.T) {
	for v, want := range map[string]string{
		"v0.0.0-20261201100000-0123456789ab":              "0123456789ab",
		"v1.4.1-0.20261201100000-0123456789ab":            "0123456789ab",
		"v1.4.0-rc.1.0.20261201100000-0123456789ab":       "0123456789ab",
		"v2.0.0-20261201100000-0123456789ab+incompatible": "0123456789ab",
		"v1.4.0":                             "",
		"v1.4.0-rc.1":                        "",
		"v1.4.0-0123456789ab":                "", // no timestamp
		"v1.4.0-beta-0123456789ab":           "",
		"v0.0.0-20261201100000-0123456789AB": "", // not lower-case hex
		"v0.0.0-20261201100000-0123456789a":  "", // 11 digits
		"v0.0.0-2026120110000x-0123456789ab": "",
		"v0.0.0_20261201100000-0123456789ab": "",
		"":                                   "",
		"-":                                  "",
		"v0.0.0-20261201100000-0123456789ab+dirty": "0123456789ab",
	} {
		if got := pseudoRevision(v); got != want {
			t.Errorf("pseudoRevision(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "v1.5.0", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-12-06T09:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	if got, want := i.String(), "v1.5.0 (commit fedcba987654, 2026-12-06T09:00:00Z, go1.26.8, linux/amd64)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	i.Modified = true
	if got := i.String(); !strings.Contains(got, "commit fedcba987654+modified,") {
		t.Errorf("String() = %q, want the commit marked modified", got)
	}
	if got, want := (Info{Version: "dev", GoVersion: "go1.26.8", Platform: "linux/amd64"}).String(), "dev (go1.26.8, linux/amd64)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	b, err := json.Marshal(Info{Version: "dev", GoVersion: "go1.26.8", Platform: "linux/amd64"})
	if err != nil || string(b) != `{"version":"dev","go":"go1.26.8","platform":"linux/amd64"}` {
		t.Errorf("json: %s %v", b, err)
	}
}

// TestStampedBinary builds a real program with the -ldflags a release
// uses and checks what it reports, so a renamed variable or package path
// (which the linker ignores silently) fails here rather than in a release.
func TestStampedBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	// testdata/printinfo prints Get() as JSON; under this directory it
	// may import the internal package, and go ./... leaves it alone.
	dir := t.TempDir()
	bin := filepath.Join(dir, "stamped")
	const pkg = "github.com/oktafed/oktafed/cmd/internal/buildinfo"
	ldflags := "-X " + pkg + ".version=v9.8.7 -X " + pkg + ".commit=abcdef0123456789abcdef0123456789abcdef01 -X " + pkg + ".date=2026-12-06T09:00:00Z"
	cmd := testenv.GoBuild(nil, "-ldflags", ldflags, "-o", bin, "./testdata/printinfo")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got Info
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.Version != "v9.8.7" || got.Commit != "abcdef0123456789abcdef0123456789abcdef01" || got.Date != "2026-12-06T09:00:00Z" {
		t.Errorf("stamped binary reports %+v", got)
	}
}
