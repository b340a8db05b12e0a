package check

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// TestGoInstallVersion does what a user's `go install
// github.com/oktafed/oktafed/cmd/oktafed@v1.99.0` does, against a module
// proxy in a temporary directory that serves this repository's committed
// tree (HEAD) as v1.99.0, with every dependency from the local module
// cache, offline. The installed binary must say v1.99.0: the version
// comes from the toolchain's build information, with no -ldflags.
func TestGoInstallVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds oktafed from a module zip")
	}
	goBin := program(t, "go")
	program(t, "git")
	program(t, "tar")
	const modPath, version = "github.com/oktafed/oktafed", "v1.99.0"
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	dir := filepath.Join(proxy, modPath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	// The committed tree, as git archive gives it (CreateFromVCS wants a
	// .git directory, and a worktree has a .git file).
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive --format=tar HEAD | tar -x -C "$2"`, "sh", abs, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive HEAD: %v\n%s", err, out)
	}
	if err := modzip.CreateFromDir(zf, module.Version{Path: modPath, Version: version}, src); err != nil {
		zf.Close()
		t.Fatalf("module zip of HEAD: %v", err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := exec.Command("git", "-C", abs, "show", "HEAD:go.mod").Output()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]string{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, b := range map[string][]byte{"list": []byte(version + "\n"), version + ".mod": gomod, version + ".info": info} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	modcache, err := exec.Command(goBin, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	work := t.TempDir()
	// -trimpath and no cgo, as the release builds: the version stamp
	// does not depend on them, and the compilation is shared with the
	// other test builds and the release snapshot.
	cmd := exec.Command(goBin, "install", "-trimpath", modPath+"/cmd/oktafed@"+version)
	cmd.Dir = work // outside any module
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download")),
		"GOSUMDB=off", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local", "GOBIN="+bin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install @%s: %v\n%s", version, err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "oktafed"), "version", "--output", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Version, Commit string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if got.Version != version || got.Commit != "" {
		t.Errorf("go install @%s reports %+v; want version %s and no commit (a module zip has no VCS data)", version, got, version)
	}
}
