package check

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestDockerBuildStage runs the Dockerfile's build stage without Docker:
// the build context as .dockerignore leaves it (with BuildKit's own
// pattern matcher) copied to a temporary directory, then the stage's
// `go build` command line run there by sh, with the build arguments the
// image would get. So a .dockerignore that drops a file the build needs,
// or a broken command line or stamp, fails here.
func TestDockerBuildStage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway")
	}
	program(t, "go")
	sh := program(t, "sh")

	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Exclusions() {
		t.Fatal(".dockerignore has ! exceptions; teach this test to copy them")
	}
	ctxDir := filepath.Join(t.TempDir(), "context")
	copied := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		ignored, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		switch {
		case ignored && d.IsDir():
			return filepath.SkipDir
		case ignored:
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(ctxDir, rel), 0o755)
		case !d.Type().IsRegular():
			return nil // symlinks and the like: the build needs none
		}
		copied++
		return copyFile(path, filepath.Join(ctxDir, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build context: %d files", copied)

	res, err := parser.Parse(bytes.NewReader(read(t, "Dockerfile")))
	if err != nil {
		t.Fatal(err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, c := range stages[0].Commands {
		if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
			if !r.PrependShell {
				t.Fatal("the go build RUN is in exec form; this test runs the shell form")
			}
			script = strings.Join(r.CmdLine, " ")
		}
	}
	if script == "" {
		t.Fatal("no go build in the first stage")
	}
	out := t.TempDir()
	script = strings.ReplaceAll(script, "/out/", out+"/")
	cmd := exec.Command(sh, "-c", script)
	cmd.Dir = ctxDir
	const version, commit = "v9.9.9-docker", "0123456789abcdef0123456789abcdef01234567"
	cmd.Env = append(os.Environ(), "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH,
		"VERSION="+version, "COMMIT="+commit, "DATE=2026-12-06T09:00:00Z")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the build stage's go build in the .dockerignore'd context: %v\n%s", err, b)
	}
	bin := filepath.Join(out, "oktafed-gateway")
	b, err := exec.Command(bin, "version", "--output", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ Version, Commit, Date string }
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != version || info.Commit != commit || info.Date != "2026-12-06T09:00:00Z" {
		t.Errorf("the image's binary reports %+v", info)
	}
	if m, err := exec.Command("go", "version", "-m", bin).Output(); err != nil || !bytes.Contains(m, []byte("CGO_ENABLED=0")) {
		t.Errorf("not a static build (%v):\n%s", err, m)
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
