package archtest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/internal/testenv"
)

// module is the module path; the rules below name packages relative to it.
const module = "github.com/oktafed/oktafed"

// The rules besides the layers, as data. Paths match a package and the
// packages under it.
var (
	// forbidden: what a package must not link, directly or not. oktafed
	// is what people install and what credential_process starts before
	// every AWS call; the server libraries belong to oktafed-gateway. The
	// libraries programs import carry only their job: the browser driver
	// belongs to the CLI (federation/browser), the database drivers to
	// dbauth's driver packages.
	forbidden = map[string][]string{
		"cmd/oktafed": {"google.golang.org/grpc", "google.golang.org/protobuf", "github.com/redis/go-redis", "github.com/prometheus", "go.opentelemetry.io"},
		"awsauth":     {"github.com/chromedp", "github.com/jackc/pgx", "github.com/go-sql-driver/mysql"},
		"secrets":     {"github.com/chromedp", "github.com/jackc/pgx", "github.com/go-sql-driver/mysql"},
		"federation":  {"github.com/chromedp"},
		// a program that uses pgx links no MySQL driver, and the other
		// way round: each driver has its own package under dbauth.
		"dbauth":           {"github.com/chromedp", "github.com/jackc/pgx", "github.com/go-sql-driver/mysql"},
		"dbauth/pgxauth":   {"github.com/chromedp", "github.com/go-sql-driver/mysql"},
		"dbauth/mysqlauth": {"github.com/chromedp", "github.com/jackc/pgx"},
	}
	// lean: binaries that may link only the standard library and these
	// (an allow-list, paths as in forbidden): the credential_process
	// companion starts before every AWS call, and every package linked
	// initializes before its main.
	lean = map[string][]string{
		"cmd/oktafed-credential-process": {module + "/cmd/internal/fastpath", module + "/internal/awsfile", module + "/internal/owned", module + "/internal/atomicfile",
			"github.com/gofrs/flock", "golang.org/x/sys/unix", "golang.org/x/sys/windows"},
	}
	// top: what only these may depend on; libraries never reach the
	// commands or the CLI under cmd/internal.
	top = []string{"cmd"}
	// bottom: trees whose packages import only packages of the same tree:
	// the foundations and test support under internal/ never reach up.
	bottom = []string{"internal"}
	// private: trees whose packages only their own root and members
	// import (tests aside): users get sandbox.Start and its config.
	private = []string{"sandbox"}
	// exempt: packages outside the layers (this one holds only a test).
	exempt = []string{"internal/archtest"}
)

// pkg is what the rules read of a package from go list.
type pkg struct {
	Path    string   // relative to module; "" for a dependency outside it
	Imports []string // the module's packages it imports, relative
	Deps    []string // every package it depends on, full paths
}

// loadGraph lists the module's packages (tests excluded) with go list.
func loadGraph(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps,Module,Standard", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	graph := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath    string
			Imports, Deps []string
			Module        *struct{ Path string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != module {
			continue
		}
		rel := relative(p.ImportPath)
		var imps []string
		for _, i := range p.Imports {
			if under(i, module) {
				imps = append(imps, relative(i))
			}
		}
		graph[rel] = pkg{Path: rel, Imports: imps, Deps: p.Deps}
	}
	if len(graph) < 10 {
		t.Fatalf("go list found %d packages of %s", len(graph), module)
	}
	return graph
}

func relative(p string) string {
	if p == module {
		return "."
	}
	return strings.TrimPrefix(p, module+"/")
}

// under reports whether p is root or a package below it.
func under(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

func underAny(p string, roots []string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return under(p, r) })
}

// readDoc reads the ```imports block of docs/ARCHITECTURE.md: one line a
// package, "pkg ──► a, b" naming what it imports of the module (nothing
// after the name when it imports none of it); groups of lines separated by
// blank lines are the layers, top first; "#" starts a comment.
func readDoc(r io.Reader) (layer map[string]int, arrows map[string][]string, err error) {
	var groups [][]string
	arrows = map[string][]string{}
	in, fresh := false, true
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```imports":
			in = true
			continue
		case in && line == "```":
			in = false
		}
		if !in {
			continue
		}
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line == "" {
			fresh = true
			continue
		}
		name, imps, _ := strings.Cut(line, "──►")
		name = strings.TrimSpace(name)
		if strings.ContainsAny(name, " ,") {
			return nil, nil, fmt.Errorf("%q: write one package, then ──► and what it imports", line)
		}
		if _, dup := arrows[name]; dup {
			return nil, nil, fmt.Errorf("%s is listed twice", name)
		}
		arrows[name] = []string{}
		for _, i := range strings.Split(imps, ",") {
			if i = strings.TrimSpace(i); i != "" {
				arrows[name] = append(arrows[name], i)
			}
		}
		if fresh {
			groups = append(groups, nil)
			fresh = false
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], name)
	}
	if len(groups) == 0 {
		return nil, nil, errors.New("no ```imports block")
	}
	layer = map[string]int{}
	for i, g := range groups {
		for _, p := range g {
			layer[p] = len(groups) - i // the bottom group is 1
		}
	}
	return layer, arrows, nil
}

// checkArrows: the drawn arrows are the real ones, no more, no fewer.
func checkArrows(graph map[string]pkg, arrows map[string][]string) []string {
	var bad []string
	for _, p := range sorted(graph) {
		drawn, ok := arrows[p]
		if !ok || underAny(p, exempt) {
			continue // checkLayers reports it
		}
		real := graph[p].Imports
		if !slices.Equal(sortedCopy(drawn), sortedCopy(real)) {
			want := p
			if len(real) > 0 {
				want += " ──► " + strings.Join(real, ", ")
			}
			bad = append(bad, fmt.Sprintf("the arrows of %s are not its imports; write: %s", p, want))
		}
	}
	return bad
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// checkLayers: every package is in exactly one layer that names a real
// package, and imports only packages of lower layers.
func checkLayers(graph map[string]pkg, layer map[string]int) []string {
	var bad []string
	for _, p := range sorted(graph) {
		if underAny(p, exempt) {
			continue
		}
		lp, ok := layer[p]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is in no layer: add it to the layers block of docs/ARCHITECTURE.md (and its table)", p))
			continue
		}
		for _, i := range graph[p].Imports {
			if li, ok := layer[i]; ok && li >= lp {
				bad = append(bad, fmt.Sprintf("%s imports %s, which is not below it: move the code the two share down, or the layer of %s up", p, i, p))
			}
		}
	}
	for _, p := range sorted(layer) {
		if _, ok := graph[p]; !ok {
			bad = append(bad, fmt.Sprintf("the layers name %s, which is no package: remove it from docs/ARCHITECTURE.md", p))
		}
	}
	return bad
}

// checkForbidden: the binaries link none of what they must not.
func checkForbidden(graph map[string]pkg) []string {
	var bad []string
	for _, bin := range sorted(forbidden) {
		p, ok := graph[bin]
		if !ok {
			bad = append(bad, bin+" is not a package of the module")
			continue
		}
		for _, root := range forbidden[bin] {
			var linked []string
			for _, d := range p.Deps {
				if under(d, root) {
					linked = append(linked, d)
				}
			}
			if len(linked) > 0 {
				bad = append(bad, fmt.Sprintf("%s links %s: %d packages, such as %s, %s", bin, root, len(linked), linked[0], why(graph, bin, linked[0])))
			}
		}
	}
	return bad
}

// checkLean: the lean binaries link the standard library and their
// allow-list only.
func checkLean(graph map[string]pkg) []string {
	var bad []string
	for _, bin := range sorted(lean) {
		p, ok := graph[bin]
		if !ok {
			bad = append(bad, bin+" is not a package of the module")
			continue
		}
		for _, d := range p.Deps {
			if !standard(d) && !underAny(d, lean[bin]) {
				bad = append(bad, fmt.Sprintf("%s links %s, %s: not on its allow-list (the standard library and %s)", bin, d, why(graph, bin, d), strings.Join(lean[bin], ", ")))
			}
		}
	}
	return bad
}

// standard reports whether p is in the standard library: the first
// element of every other import path holds a dot (a domain), as the go
// command itself tells them apart.
func standard(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

// why names the module's packages on bin's side that import dep directly
// or through something outside the module.
func why(graph map[string]pkg, bin, dep string) string {
	var via []string
	for _, p := range sorted(graph) {
		if slices.Contains(graph[bin].Deps, module+"/"+p) || p == bin {
			if slices.Contains(graph[p].Deps, dep) && !slices.ContainsFunc(graph[p].Imports, func(i string) bool { return slices.Contains(graph[i].Deps, dep) }) {
				via = append(via, p)
			}
		}
	}
	return "through " + strings.Join(via, ", ")
}

// checkTop: no library depends on the CLI or a command.
func checkTop(graph map[string]pkg) []string {
	var bad []string
	for _, p := range sorted(graph) {
		if underAny(p, top) {
			continue
		}
		for _, d := range graph[p].Deps {
			if under(d, module) && underAny(relative(d), top) {
				bad = append(bad, fmt.Sprintf("library %s depends on %s: move what it needs into a library package", p, relative(d)))
			}
		}
	}
	return bad
}

// checkFolders: the folder tree reads as the layers. A bottom tree's
// packages import only their own tree, and the imports drawn between
// top-level folders (cmd, internal, sandbox, awsauth, ...) run one way:
// no folder reaches back to a folder that reaches it.
func checkFolders(graph map[string]pkg) []string {
	var bad []string
	folder := func(p string) string { f, _, _ := strings.Cut(p, "/"); return f }
	edges := map[string]map[string]string{} // folder → folder → one import that draws it
	for _, p := range sorted(graph) {
		if underAny(p, exempt) {
			continue
		}
		for _, i := range graph[p].Imports {
			for _, root := range bottom {
				if under(p, root) && !under(i, root) {
					bad = append(bad, fmt.Sprintf("%s imports %s: the packages under %s/ import only each other; move the code it needs under %s/", p, i, root, root))
				}
			}
			if a, b := folder(p), folder(i); a != b {
				if edges[a] == nil {
					edges[a] = map[string]string{}
				}
				if _, ok := edges[a][b]; !ok {
					edges[a][b] = p + " ──► " + i
				}
			}
		}
	}
	reaches := func(from, to string) bool {
		seen := map[string]bool{}
		var walk func(string) bool
		walk = func(f string) bool {
			if f == to {
				return true
			}
			if seen[f] {
				return false
			}
			seen[f] = true
			for _, n := range sorted(edges[f]) {
				if walk(n) {
					return true
				}
			}
			return false
		}
		return walk(from)
	}
	for _, a := range sorted(edges) {
		for _, b := range sorted(edges[a]) {
			if reaches(b, a) {
				bad = append(bad, fmt.Sprintf("folder %s/ imports %s/ (%s) and %s/ reaches back to %s/: move the shared code down a folder", a, b, edges[a][b], b, a))
			}
		}
	}
	return bad
}

// checkPrivate: a private tree's members are imported only from inside it.
func checkPrivate(graph map[string]pkg) []string {
	var bad []string
	for _, p := range sorted(graph) {
		for _, i := range graph[p].Imports {
			for _, root := range private {
				if under(i, root) && i != root && !under(p, root) {
					bad = append(bad, fmt.Sprintf("%s imports %s: outside %s, use only package %s", p, i, root, root))
				}
			}
		}
	}
	return bad
}

func sorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestImportRules(t *testing.T) {
	graph := loadGraph(t)
	f, err := os.Open(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	layer, arrows, err := readDoc(f)
	if err != nil {
		t.Fatalf("docs/ARCHITECTURE.md: %v", err)
	}
	for name, bad := range map[string][]string{
		"layers":    checkLayers(graph, layer),
		"arrows":    checkArrows(graph, arrows),
		"forbidden": checkForbidden(graph),
		"lean":      checkLean(graph),
		"top":       checkTop(graph),
		"private":   checkPrivate(graph),
		"folders":   checkFolders(graph),
	} {
		for _, b := range bad {
			t.Errorf("%s: %s", name, b)
		}
	}
}

// TestRulesCatch feeds the checks a small graph that breaks each rule
// once, so a check that stopped reporting would fail here.
func TestRulesCatch(t *testing.T) {
	graph := map[string]pkg{
		"cmd/oktafed":      {Imports: []string{"cmd/internal/cli", "cmd/internal/fastpath"}, Deps: []string{module + "/cmd/internal/cli", module + "/verify", "google.golang.org/grpc/codes"}},
		"cmd/internal/cli": {Imports: []string{"verify"}, Deps: []string{module + "/verify", "google.golang.org/grpc/codes"}},
		"verify":           {Imports: []string{"okta"}, Deps: []string{module + "/okta", "google.golang.org/grpc/codes"}},
		"okta":             {Imports: []string{"sandbox/org"}, Deps: []string{module + "/sandbox/org", module + "/cmd/internal/cli"}},
		"sandbox/org":      {Imports: []string{"sandbox"}},
		"sandbox":          {Imports: []string{"sandbox/org"}},
		"unlisted":         {},
		"internal/clock":   {},
		// a foundation that reaches up, and a folder that imports back
		// the folder that imports it (verify ──► okta, okta/sub ──► verify)
		"internal/foundation": {Imports: []string{"okta"}},
		"okta/sub":            {Imports: []string{"verify"}},
	}
	// libraries that link what only the CLI or dbauth may: the browser
	// driver back in federation, a database driver in secrets
	libs := map[string]pkg{
		"awsauth":            {Imports: []string{"federation"}, Deps: []string{module + "/federation", module + "/federation/browser", "github.com/chromedp/chromedp", "github.com/jackc/pgx/v5/stdlib", "github.com/go-sql-driver/mysql"}},
		"federation":         {Imports: []string{"federation/browser"}, Deps: []string{module + "/federation/browser", "github.com/chromedp/chromedp"}},
		"federation/browser": {Deps: []string{"github.com/chromedp/chromedp"}},
		"secrets":            {Deps: []string{"github.com/jackc/pgx/v5", "github.com/go-sql-driver/mysql", "github.com/chromedp/cdproto/fetch"}},
		"dbauth":             {Imports: []string{"federation"}, Deps: []string{module + "/federation", module + "/federation/browser", "github.com/chromedp/chromedp", "github.com/jackc/pgx/v5", "github.com/go-sql-driver/mysql"}},
		// each driver package back with the other's driver
		"dbauth/pgxauth":   {Imports: []string{"dbauth"}, Deps: []string{module + "/dbauth", "github.com/jackc/pgx/v5", "github.com/go-sql-driver/mysql"}},
		"dbauth/mysqlauth": {Imports: []string{"dbauth"}, Deps: []string{module + "/dbauth", "github.com/go-sql-driver/mysql", "github.com/jackc/pgx/v5/pgconn"}},
	}
	withLibs := maps.Clone(graph)
	maps.Copy(withLibs, libs)
	// the companion, linking the CLI's flag parser through fastpath
	withLibs["cmd/oktafed-credential-process"] = pkg{Imports: []string{"cmd/internal/fastpath"}, Deps: []string{"fmt", "vendor/golang.org/x/crypto/cryptobyte", module + "/cmd/internal/fastpath", module + "/internal/owned", "github.com/spf13/cobra"}}
	withLibs["cmd/internal/fastpath"] = pkg{Imports: []string{"internal/owned"}, Deps: []string{"fmt", module + "/internal/owned", "github.com/spf13/cobra"}}
	doc := "```imports\ncmd/oktafed ──► cmd/internal/cli\n\ncmd/internal/cli ──► verify\n\n# same layer\nverify ──► okta\nokta ──► sandbox/org\n\n" +
		"sandbox ──► sandbox/org\n\nsandbox/org ──► sandbox\ninternal/clock\ngone\n```\n"
	layer, arrows, err := readDoc(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"layers": {"unlisted is in no layer", "internal/foundation is in no layer", "okta/sub is in no layer", "verify imports okta", "sandbox/org imports sandbox,", "gone, which is no package"},
		"arrows": {"the arrows of cmd/oktafed are not its imports; write: cmd/oktafed ──► cmd/internal/cli, cmd/internal/fastpath"},
		"forbidden": {
			"cmd/oktafed links google.golang.org/grpc: 1 packages, such as google.golang.org/grpc/codes, through verify",
			"awsauth links github.com/chromedp: 1 packages, such as github.com/chromedp/chromedp, through federation",
			"federation links github.com/chromedp: 1 packages, such as github.com/chromedp/chromedp, through federation/browser",
			"secrets links github.com/jackc/pgx: 1 packages, such as github.com/jackc/pgx/v5, through secrets",
			"secrets links github.com/go-sql-driver/mysql: 1 packages, such as github.com/go-sql-driver/mysql, through secrets",
			"secrets links github.com/chromedp: 1 packages, such as github.com/chromedp/cdproto/fetch, through secrets",
			"awsauth links github.com/jackc/pgx: 1 packages, such as github.com/jackc/pgx/v5/stdlib, through awsauth",
			"awsauth links github.com/go-sql-driver/mysql: 1 packages, such as github.com/go-sql-driver/mysql, through awsauth",
			"dbauth links github.com/chromedp: 1 packages, such as github.com/chromedp/chromedp, through federation",
			"dbauth links github.com/jackc/pgx: 1 packages, such as github.com/jackc/pgx/v5, through dbauth",
			"dbauth links github.com/go-sql-driver/mysql: 1 packages, such as github.com/go-sql-driver/mysql, through dbauth",
			"dbauth/pgxauth links github.com/go-sql-driver/mysql: 1 packages, such as github.com/go-sql-driver/mysql, through dbauth",
			"dbauth/mysqlauth links github.com/jackc/pgx: 1 packages, such as github.com/jackc/pgx/v5/pgconn, through dbauth/mysqlauth",
		},
		"lean":    {"cmd/oktafed-credential-process links github.com/spf13/cobra, through cmd/internal/fastpath: not on its allow-list"},
		"top":     {"library okta depends on cmd/internal/cli"},
		"private": {"okta imports sandbox/org"},
		"folders": {"internal/foundation imports okta: the packages under internal/", "folder okta/ imports verify/ (okta/sub ──► verify)", "folder verify/ imports okta/ (verify ──► okta)"},
	}
	got := map[string][]string{
		"layers":    checkLayers(graph, layer),
		"arrows":    checkArrows(graph, arrows),
		"forbidden": checkForbidden(withLibs),
		"lean":      checkLean(withLibs),
		"top":       checkTop(graph),
		"private":   checkPrivate(graph),
		"folders":   checkFolders(graph),
	}
	for name, ws := range want {
		if len(got[name]) != len(ws) {
			t.Errorf("%s: got %d reports, want %d:\n%s", name, len(got[name]), len(ws), strings.Join(got[name], "\n"))
		}
		for _, w := range ws {
			if !slices.ContainsFunc(got[name], func(g string) bool { return strings.Contains(g, w) }) {
				t.Errorf("%s: no report of %q in:\n%s", name, w, strings.Join(got[name], "\n"))
			}
		}
	}
	for _, bad := range []string{"```imports\na ──► b\n\na\n```\n", "```imports\na b ──► c\n```\n", "no block"} {
		if _, _, err := readDoc(strings.NewReader(bad)); err == nil {
			t.Errorf("readDoc accepted %q", bad)
		}
	}
}

// TestPrintArrows logs the module's import arrows (go test -run Arrows -v),
// the lines of the imports block in docs/ARCHITECTURE.md.
func TestPrintArrows(t *testing.T) {
	graph := loadGraph(t)
	for _, p := range sorted(graph) {
		if len(graph[p].Imports) > 0 {
			t.Logf("%s ──► %s", p, strings.Join(graph[p].Imports, ", "))
		}
	}
}

// maxPeopleBinary is the size oktafed must stay under, built as
// `go build ./cmd/oktafed` builds it (the test logs its size).
const maxPeopleBinary = 32_000_000

// TestPeopleBinary links cmd/oktafed once and fails when it is larger than
// maxPeopleBinary or when something in it turns off the linker's dead-code
// elimination: a reachable reflect Method/MethodByName call with a name not
// known at compile time, as text/template and html/template execution
// make (the profile-name template and the sandbox's pages are written
// without them for this reason). One such call keeps every exported method
// of every type in the binary.
func TestPeopleBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("links the binary")
	}
	bin := filepath.Join(t.TempDir(), "oktafed")
	cmd := testenv.GoBuild(nil, "-ldflags=-dumpdep", "-o", bin, module+"/cmd/oktafed")
	dump, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%.2000s", err, dump)
	}
	var culprits []string
	for line := range strings.SplitSeq(string(dump), "\n") {
		from, _, ok := strings.Cut(line, " <ReflectMethod> ->")
		if ok && !slices.Contains(culprits, from) {
			culprits = append(culprits, from)
		}
	}
	if len(culprits) > 0 {
		t.Errorf("cmd/oktafed links code that turns off dead-code elimination: %s; find its caller with go build -ldflags=-dumpdep ./cmd/oktafed 2>&1 | grep -B2 <name>", strings.Join(culprits, ", "))
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > maxPeopleBinary {
		t.Errorf("cmd/oktafed is %d bytes, more than %d", fi.Size(), maxPeopleBinary)
	}
	t.Logf("cmd/oktafed: %d bytes", fi.Size())
}
