package archtest_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the module's root, seen from this package's directory.
const repoRoot = "../.."

// markdownFiles returns README.md and every .md file under docs/,
// relative to the root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(repoRoot, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(repoRoot, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	mdFence   = regexp.MustCompile("^\\s*(```|~~~)")
	mdCode    = regexp.MustCompile("`[^`]*`")
)

// prose returns the lines of a Markdown file with those of fenced code
// blocks blanked, so indexes stay line numbers.
func prose(text string) []string {
	lines := strings.Split(text, "\n")
	inFence := false
	for i, line := range lines {
		fence := mdFence.MatchString(line)
		if fence || inFence {
			lines[i] = ""
		}
		if fence {
			inFence = !inFence
		}
	}
	return lines
}

// anchors returns the heading anchors a Markdown file gets on GitHub:
// lower case, punctuation dropped except - and _, spaces as -, and -1,
// -2… on repeats.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range prose(text) {
		m := mdHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// TestDocsLinks fails when a relative link in README.md or docs/ names a
// file that does not exist, or a heading anchor that a Markdown file does
// not have: a guide moved or a heading renamed without its links.
func TestDocsLinks(t *testing.T) {
	files := markdownFiles(t)
	texts := map[string]string{}
	read := func(rel string) (string, bool) {
		if s, ok := texts[rel]; ok {
			return s, true
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			return "", false
		}
		texts[rel] = string(b)
		return texts[rel], true
	}
	checked := 0
	for _, file := range files {
		text, ok := read(file)
		if !ok {
			t.Fatalf("%s: cannot read", file)
		}
		for n, line := range prose(text) {
			// Inline code may hold text that looks like a link.
			line = mdCode.ReplaceAllString(line, "")
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				rel := file
				if path != "" {
					rel = filepath.Clean(filepath.Join(filepath.Dir(file), path))
					if _, err := os.Stat(filepath.Join(repoRoot, rel)); err != nil {
						t.Errorf("%s (line %d): link to %s: no such file or directory", file, n+1, target)
						continue
					}
				}
				checked++
				if anchor == "" || !strings.HasSuffix(rel, ".md") {
					continue
				}
				dst, ok := read(rel)
				if !ok {
					t.Errorf("%s: link to %s: cannot read %s", file, target, rel)
					continue
				}
				if !anchors(dst)[anchor] {
					t.Errorf("%s (line %d): link to %s: %s has no heading with the anchor #%s", file, n+1, target, rel, anchor)
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d links checked in %d files: is the link pattern still right?", checked, len(files))
	}
}

// TestDocsLinksCatch shows the anchor rules find what GitHub would.
func TestDocsLinksCatch(t *testing.T) {
	a := anchors("# The gateway\n## Redis: one node, Cluster, Sentinel, TLS\n```\n# not a heading\n```\n## Against `oktafed sandbox`\n## Again\n## Again\n")
	for _, want := range []string{"the-gateway", "redis-one-node-cluster-sentinel-tls", "against-oktafed-sandbox", "again", "again-1"} {
		if !a[want] {
			t.Errorf("no anchor %q in %v", want, a)
		}
	}
	if a["not-a-heading"] {
		t.Error("a comment in a code block became an anchor")
	}
}

// envName is a quoted environment variable name of the module's families.
var envName = regexp.MustCompile(`"((?:OKTA|OKTAFED|AWS|GATEWAY|REDIS|FORWARD_AUTH|AUTH0|AUTH|ADMIN|WRITE|READ_ONLY|ALLOW|GROUPS|XDG)_[A-Z0-9_]+)"`)

// TestEnvironmentReference keeps docs/reference/environment.md the one
// table of variables: every name the module's code quotes (tests aside)
// is in it, and every name in it is still quoted somewhere in the code.
func TestEnvironmentReference(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs/reference/environment.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
		}
	}
	// Set by internal/sandboxlogin for the examples' child programs, read
	// by nothing of the module.
	notRead := []string{"AWS_EC2_METADATA_DISABLED"}

	inCode, inTests := map[string][]string{}, map[string]bool{}
	err = filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range envName.FindAllSubmatch(b, -1) {
			name := string(m[1])
			inTests[name] = true
			if !strings.HasSuffix(path, "_test.go") {
				inCode[name] = append(inCode[name], path)
			}
		}
		if bytes.Contains(b, []byte(`"CI"`)) {
			inTests["CI"] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, paths := range inCode {
		if !documented[name] && !slices.Contains(notRead, name) {
			t.Errorf("%s (quoted in %s) is not in docs/reference/environment.md: add a row", name, paths[0])
		}
	}
	for name := range documented {
		if !inTests[name] {
			t.Errorf("docs/reference/environment.md lists %s, which no Go file quotes any more: remove or rename the row", name)
		}
	}
	if len(documented) < 50 {
		t.Fatalf("only %d variables read from the table: is its layout still | `NAME` | … |?", len(documented))
	}
}
