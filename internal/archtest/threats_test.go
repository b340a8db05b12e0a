package archtest_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testRef is a Go test or fuzz target named in docs/THREATS.md as
// pkg/path.TestName.
var testRef = regexp.MustCompile(`([a-z0-9_]+(?:/[a-z0-9_.-]+)*)\.((?:Test|Fuzz)[A-Za-z0-9_]*)`)

// threatRows returns the rows of the table in docs/THREATS.md, each as its
// cells, with the header and separator rows left out.
func threatRows(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v: docs/THREATS.md holds the threat model table", err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	header := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if !header {
			if len(cells) != 3 || cells[0] != "threat" || cells[1] != "defence" || cells[2] != "test" {
				t.Fatalf("%s: the table's header must be | threat | defence | test |, got %q", path, line)
			}
			header = true
			continue
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue
		}
		rows = append(rows, cells)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// definedTests returns the Test and Fuzz functions declared in the test
// files of the package in dir.
func definedTests(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]*)\((?:t \*testing\.T|f \*testing\.F|[a-z]+ \*testing\.[TF])\)`)
	out := map[string]bool{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllSubmatch(data, -1) {
			out[string(m[1])] = true
		}
	}
	return out
}

// TestThreatsNameRealTests fails when a row of docs/THREATS.md names a
// test that does not exist, or names none: a defence without a test that
// shows it is a claim, not a defence.
func TestThreatsNameRealTests(t *testing.T) {
	root := filepath.Join("..", "..")
	rows := threatRows(t, filepath.Join(root, "docs", "THREATS.md"))
	if len(rows) == 0 {
		t.Fatal("docs/THREATS.md has no rows")
	}
	cache := map[string]map[string]bool{}
	for _, row := range rows {
		if len(row) != 3 {
			t.Errorf("row %q: want 3 cells (threat | defence | test), got %d", strings.Join(row, " | "), len(row))
			continue
		}
		refs := testRef.FindAllStringSubmatch(row[2], -1)
		if len(refs) == 0 {
			t.Errorf("threat %q names no test: write pkg/path.TestName in its test column", row[0])
		}
		for _, ref := range refs {
			pkg, name := ref[1], ref[2]
			tests, ok := cache[pkg]
			if !ok {
				dir := filepath.Join(root, filepath.FromSlash(pkg))
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					t.Errorf("threat %q: package %s does not exist (name tests as pkg/path.TestName, the path relative to the module root)", row[0], pkg)
					cache[pkg] = nil
					continue
				}
				tests = definedTests(t, dir)
				cache[pkg] = tests
			}
			if tests != nil && !tests[name] {
				t.Errorf("threat %q names %s.%s, which does not exist: write the test or fix the name", row[0], pkg, name)
			}
		}
	}
}

// TestThreatsCheckerFailsOnMissingTest keeps the checker honest: a table
// naming a test that does not exist must be caught.
func TestThreatsCheckerFailsOnMissingTest(t *testing.T) {
	tests := definedTests(t, ".")
	if !tests["TestThreatsNameRealTests"] {
		t.Fatal("definedTests did not find TestThreatsNameRealTests in this package")
	}
	if tests["TestThreatsNoSuchTest"] {
		t.Fatal("definedTests found a test that is not declared")
	}
	m := testRef.FindAllStringSubmatch("gateway.TestUpgradeH2CRefused, internal/archtest.TestX and verify.FuzzParseJWS", -1)
	if len(m) != 3 || m[0][1] != "gateway" || m[1][1] != "internal/archtest" || m[2][2] != "FuzzParseJWS" {
		t.Fatalf("testRef parsed %q", m)
	}
}
