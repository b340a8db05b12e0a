package check

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// releaseDist is where scripts/test ran `goreleaser release --snapshot`;
// TestReleaseSnapshot checks what it made.
const releaseDistEnv = "OKTAFED_RELEASE_DIST"

type artifact struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Goos   string `json:"goos"`
	Goarch string `json:"goarch"`
	Type   string `json:"type"`
	Extra  struct {
		ID     string `json:"ID"`
		Format string `json:"Format"`
	} `json:"extra"`
}

// TestReleaseSnapshot checks a goreleaser snapshot: the oktafed archive
// (oktafed and oktafed-credential-process) and the oktafed-gateway archive
// (that binary alone) for linux, darwin and windows with the README,
// checksums that match the files, Homebrew casks and Scoop manifests that
// name the archives by their checksums and list their binaries, and host
// binaries that report the snapshot's version and were built static and
// trimmed.
func TestReleaseSnapshot(t *testing.T) {
	dist := os.Getenv(releaseDistEnv)
	if dist == "" {
		msg := releaseDistEnv + " not set: scripts/test sets it after goreleaser release --snapshot"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var meta struct {
		Version string `json:"version"`
	}
	readJSON(t, filepath.Join(dist, "metadata.json"), &meta)
	var arts []artifact
	readJSON(t, filepath.Join(dist, "artifacts.json"), &arts)
	// goreleaser records paths as it was given them: absolute for an
	// absolute dist, else relative to the directory it ran in (the dist's
	// parent for the default dist/), so any dist/ can be checked.
	for i, a := range arts {
		arts[i].Path = artifactPath(dist, a.Path)
	}
	if meta.Version == "" {
		t.Fatal("metadata.json has no version")
	}

	sums := map[string]string{}
	f, err := os.Open(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("checksums.txt line %q", sc.Text())
		}
		sums[name] = sum
	}

	archives := map[string][]artifact{} // by ID
	for _, a := range arts {
		if a.Type != "Archive" {
			continue
		}
		archives[a.Extra.ID] = append(archives[a.Extra.ID], a)
		if got := fileSHA256(t, a.Path); sums[a.Name] != got {
			t.Errorf("%s: checksums.txt says %q, the file hashes to %s", a.Name, sums[a.Name], got)
		}
		wantFormat := "tar.gz"
		if a.Goos == "windows" {
			wantFormat = "zip"
		}
		if a.Extra.Format != wantFormat {
			t.Errorf("%s: format %s, want %s", a.Name, a.Extra.Format, wantFormat)
		}
		entries := archiveEntries(t, a.Path, a.Extra.Format)
		want := []string{"README.md", "LICENSE"}
		for _, bin := range archiveBinaries[a.Extra.ID] {
			if a.Goos == "windows" {
				bin += ".exe"
			}
			want = append(want, bin)
			if e, ok := entries[bin]; !ok || (a.Goos != "windows" && e.mode&0o111 == 0) {
				t.Errorf("%s: %s missing or not executable (entries %v)", a.Name, bin, entries)
			}
		}
		for _, name := range want {
			if _, ok := entries[name]; !ok {
				t.Errorf("%s: no %s", a.Name, name)
			}
		}
		if len(entries) != len(want) {
			t.Errorf("%s holds %v, want only %v", a.Name, slices.Sorted(maps.Keys(entries)), want)
		}
		// Reproducible: every entry carries the commit's time, never the
		// checkout's (README.md would otherwise carry the clone's mtime).
		times := map[int64][]string{}
		for name, e := range entries {
			times[e.mtime.Unix()] = append(times[e.mtime.Unix()], name)
		}
		if len(times) != 1 {
			t.Errorf("%s: entries carry several times %v: archives are not reproducible (builds_info and files[].info mtime)", a.Name, times)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(archiveBinaries)) {
		var oses []string
		for _, a := range archives[id] {
			oses = append(oses, a.Goos)
		}
		for _, goos := range []string{"linux", "darwin", "windows"} {
			if !slices.Contains(oses, goos) {
				t.Errorf("%s: no %s archive (have %v)", id, goos, oses)
			}
		}

		// The cask names every macOS and Linux archive by its checksum.
		cask, err := os.ReadFile(filepath.Join(dist, "homebrew", "Casks", id+".rb"))
		if err != nil {
			t.Error(err)
		} else {
			wants := []string{`cask "` + id + `"`, `version "` + meta.Version + `"`, "generate_completions_from_executable"}
			for _, bin := range archiveBinaries[id] {
				wants = append(wants, `binary "`+bin+`"`)
			}
			for _, want := range wants {
				if !strings.Contains(string(cask), want) {
					t.Errorf("%s.rb lacks %s", id, want)
				}
			}
			for _, a := range archives[id] {
				if a.Goos == "windows" {
					continue
				}
				if !strings.Contains(string(cask), `sha256 "`+sums[a.Name]+`"`) ||
					!strings.Contains(strings.ReplaceAll(string(cask), "#{version}", meta.Version), "/"+a.Name+`"`) {
					t.Errorf("%s.rb does not name %s with its checksum", id, a.Name)
				}
			}
		}

		// The Scoop manifest names the Windows archives by their checksum.
		var scoop struct {
			Version      string `json:"version"`
			License      string `json:"license"`
			Architecture map[string]struct {
				URL  string   `json:"url"`
				Bin  []string `json:"bin"`
				Hash string   `json:"hash"`
			} `json:"architecture"`
		}
		readJSON(t, filepath.Join(dist, "scoop", id+".json"), &scoop)
		if scoop.Version != meta.Version || len(scoop.Architecture) == 0 || scoop.License != "Apache-2.0" {
			t.Errorf("scoop/%s.json: version %q, %d architectures, license %q (want Apache-2.0)", id, scoop.Version, len(scoop.Architecture), scoop.License)
		}
		var exes []string
		for _, bin := range archiveBinaries[id] {
			exes = append(exes, bin+".exe")
		}
		slices.Sort(exes)
		for arch, s := range scoop.Architecture {
			name := s.URL[strings.LastIndexByte(s.URL, '/')+1:]
			if sums[name] == "" || s.Hash != sums[name] || !slices.Equal(slices.Sorted(slices.Values(s.Bin)), exes) || !strings.Contains(name, "_windows_") {
				t.Errorf("scoop/%s.json %s: %+v does not match a Windows archive's checksum", id, arch, s)
			}
		}
	}

	// The binary for this machine: its version is the snapshot's, and it
	// was built the way the configuration says.
	ran := 0
	for _, a := range arts {
		if a.Type != "Binary" || a.Goos != runtime.GOOS || a.Goarch != runtime.GOARCH {
			continue
		}
		ran++
		if a.Extra.ID == "oktafed-credential-process" {
			// No version command: it takes credential-process's flags,
			// and alone in its build folder it says oktafed is missing.
			cmd := exec.Command(a.Path, "--profile", "release-check")
			cmd.Env = []string{"PATH=/nonexistent", "HOME=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "Install oktafed") {
				t.Errorf("%s alone: %v, %s; want exit 1 and the install message", a.Name, err, out)
			}
		} else {
			out, err := exec.Command(a.Path, "version", "--output", "json").Output()
			if err != nil {
				t.Fatalf("%s version: %v", a.Path, err)
			}
			var info struct{ Version, Commit string }
			if err := json.Unmarshal(out, &info); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if info.Version != "v"+meta.Version || len(info.Commit) != 40 {
				t.Errorf("%s reports %+v, want version v%s and the full commit hash", a.Name, info, meta.Version)
			}
		}
		// With -trimpath the toolchain does not record -ldflags, so the
		// version above is what shows the stamp took.
		bi, err := exec.Command("go", "version", "-m", a.Path).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true"} {
			if !strings.Contains(string(bi), want) {
				t.Errorf("%s was not built with %s:\n%s", a.Name, want, bi)
			}
		}
		// scripts/test compiles the other systems' binaries without
		// optimisation; this machine's must be built as released.
		if strings.Contains(string(bi), "-gcflags") {
			t.Errorf("%s was built with compiler flags the release does not set:\n%s", a.Name, bi)
		}
	}
	if ran != 3 {
		t.Errorf("%d binaries for %s/%s in the snapshot, want 3", ran, runtime.GOOS, runtime.GOARCH)
	}
}

// archiveBinaries: the binaries each archive holds (besides README.md and
// LICENSE). The credential_process companion goes with oktafed,
// which it hands over to; servers get the gateway alone.
var archiveBinaries = map[string][]string{
	"oktafed":         {"oktafed", "oktafed-credential-process"},
	"oktafed-gateway": {"oktafed-gateway"},
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// artifactPath resolves a path from artifacts.json.
func artifactPath(dist, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	if abs, err := filepath.Abs(dist); err == nil {
		if c := filepath.Join(filepath.Dir(abs), p); fileExists(c) {
			return c
		}
	}
	if c := filepath.Join(root, p); fileExists(c) {
		return c
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

type entry struct {
	mode  os.FileMode
	mtime time.Time
}

// archiveEntries lists an archive's files with their modes and times.
func archiveEntries(t *testing.T, path, format string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	if format == "zip" {
		z, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer z.Close()
		for _, f := range z.File {
			out[f.Name] = entry{f.Mode(), f.Modified}
		}
		return out
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = entry{h.FileInfo().Mode(), h.ModTime}
	}
}
