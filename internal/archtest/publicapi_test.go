package archtest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// apiAllowed are findings of TestPublicAPIUsesExportedTypes left for now
// ("pkg.Name.Member", or a type's full name for every member of that
// type), each with why and who owns the fix. Empty is the goal.
var apiAllowed = map[string]string{}

// TestPublicAPIUsesExportedTypes: every exported field, parameter, result,
// variable and method of the library packages (outside internal/ and
// cmd/) has a type a user can name: none from an internal/ package, which
// users can neither import nor construct. Read from the compiler's export
// data, so it sees the API exactly as importers do.
func TestPublicAPIUsesExportedTypes(t *testing.T) {
	exports, public := loadExports(t)
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", exports.open)
	var pkgs []*types.Package
	for _, path := range public {
		p, err := imp.Import(path)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		pkgs = append(pkgs, p)
	}
	published := publishedAliases(pkgs)
	var bad []string
	for _, p := range pkgs {
		bad = append(bad, internalInAPI(p, published)...)
	}
	// allowed matches a finding "pkg.Name.Member: type" by member or type.
	allowed := func(b, key string) bool {
		member, typ, _ := strings.Cut(b, ": ")
		return member == key || typ == key
	}
	var stale []string
	for key := range apiAllowed {
		if !slices.ContainsFunc(bad, func(b string) bool { return allowed(b, key) }) {
			stale = append(stale, key)
		}
	}
	bad = slices.DeleteFunc(bad, func(b string) bool {
		for key := range apiAllowed {
			if allowed(b, key) {
				return true
			}
		}
		return false
	})
	for _, b := range bad {
		t.Errorf("%s: users cannot name or build that type; use an exported type (or an interface, or a func such as Now func() time.Time) or unexport the member", b)
	}
	for _, k := range stale {
		t.Errorf("apiAllowed lists %s, which no longer uses an internal type: remove the entry", k)
	}
	if len(public) < 10 {
		t.Fatalf("only %d public packages found: %v", len(public), public)
	}
}

// TestPublicAPICatches: the check reports an internal type reached through
// a result, a field, an embedded field, a method, a slice element and a
// func-typed field, and leaves exported and standard types alone.
func TestPublicAPICatches(t *testing.T) {
	exports, _ := loadExports(t)
	fset := token.NewFileSet()
	src := `package lib
import (
	"time"
	"github.com/oktafed/oktafed/internal/clock"
)
type Clock interface{ Now() time.Time }
type A struct {
	Clk    clock.Clock
	Fine   Clock
	hidden clock.Clock
	Hooks  []func(clock.Clock)
}
type B struct{ clock.Clock }
type C struct{}
func (C) Use(c clock.Clock) {}
func (C) unexported(c clock.Clock) {}
func New() (clock.Clock, error) { return nil, nil }
func Good(c Clock) time.Time { return c.Now() }
var V clock.Clock
// Fake is published: users name it lib.Fake, so a field of that type is
// fine, and its own members are checked as lib.Fake's.
type Fake = clock.Fake
type D struct{ F *Fake }
`
	f, err := parser.ParseFile(fset, "lib.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", exports.open)}
	p, err := conf.Check("example.com/lib", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := internalInAPI(p, publishedAliases([]*types.Package{p}))
	for _, want := range []string{"lib.A.Clk:", "lib.A.Hooks:", "lib.B.Clock:", "lib.C.Use:", "lib.New:", "lib.V:"} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("%s not reported; got %q", want, got)
		}
	}
	for _, g := range got {
		if strings.HasPrefix(g, "lib.D.F:") || strings.HasPrefix(g, "lib.A.Fine:") || strings.HasPrefix(g, "lib.A.hidden:") || strings.HasPrefix(g, "lib.Good:") || strings.Contains(g, "unexported") {
			t.Errorf("reported %s", g)
		}
	}
}

// exportData maps import paths to the compiler's export data files.
type exportData map[string]string

func (e exportData) open(path string) (io.ReadCloser, error) {
	f, ok := e[path]
	if !ok || f == "" {
		return nil, fmt.Errorf("no export data for %s", path)
	}
	return os.Open(f)
}

// loadExports builds the module's packages' export data with go list and
// returns it with the public packages: the module's non-main packages
// outside internal/ and cmd/.
func loadExports(t *testing.T) (exportData, []string) {
	t.Helper()
	// Compiled as the release and the tests' binaries are (-trimpath, no
	// cgo; testenv.GoBuild), so the export data comes from the build
	// cache those builds fill rather than from a compilation of its own.
	cmd := exec.Command("go", "list", "-trimpath", "-export", "-deps", "-json=ImportPath,Export,Name,Module", module+"/...")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v\n%s", err, stderr.String())
	}
	exports := exportData{}
	var public []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Export, Name string
			Module                   *struct{ Path string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module == nil || p.Module.Path != module || p.Name == "main" {
			continue
		}
		rel := relative(p.ImportPath)
		if isInternal(p.ImportPath) || under(rel, "cmd") {
			continue
		}
		public = append(public, p.ImportPath)
	}
	return exports, public
}

// isInternal reports whether path is one of the module's internal/
// packages (other modules' internal types reached through their own
// public aliases, such as grpc's status.Status, are theirs to name).
func isInternal(path string) bool {
	return under(path, module) && strings.Contains("/"+path+"/", "/internal/")
}

// publishedAliases are the internal types that public packages publish
// under a name of their own (type OrgConfig = org.Config): users name and
// build them through the alias, so they count as exported.
func publishedAliases(pkgs []*types.Package) map[*types.TypeName]bool {
	out := map[*types.TypeName]bool{}
	for _, p := range pkgs {
		for _, name := range p.Scope().Names() {
			obj, ok := p.Scope().Lookup(name).(*types.TypeName)
			if !ok || !obj.Exported() || !obj.IsAlias() {
				continue
			}
			if n, ok := types.Unalias(obj.Type()).(*types.Named); ok {
				out[n.Obj()] = true
			}
		}
	}
	return out
}

// internalInAPI lists the exported members of p whose types reach a named
// type of an internal/ package that no public alias publishes, as
// "pkg.Name[.Member]: type". The members of a published internal type are
// checked under the alias's name.
func internalInAPI(p *types.Package, published map[*types.TypeName]bool) []string {
	var bad []string
	report := func(where string, t types.Type) {
		if bt := internalType(t, published, map[types.Type]bool{}); bt != "" {
			bad = append(bad, fmt.Sprintf("%s.%s: %s", p.Name(), where, bt))
		}
	}
	scope := p.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch obj := obj.(type) {
		case *types.Func, *types.Var, *types.Const:
			report(name, obj.Type())
		case *types.TypeName:
			named, ok := types.Unalias(obj.Type()).(*types.Named)
			if !ok {
				report(name, obj.Type())
				continue
			}
			if obj.IsAlias() && !published[named.Obj()] {
				report(name, named)
				continue
			}
			switch u := named.Underlying().(type) {
			case *types.Struct:
				for f := range u.Fields() {
					if f.Exported() {
						report(name+"."+f.Name(), f.Type())
					}
				}
			case *types.Interface:
				for m := range u.Methods() {
					if m.Exported() {
						report(name+"."+m.Name(), m.Type())
					}
				}
			default:
				report(name, u)
			}
			for m := range named.Methods() {
				if m.Exported() {
					report(name+"."+m.Name(), m.Type())
				}
			}
		}
	}
	return bad
}

// internalType returns the first named type of an internal/ package that
// t is built from (through pointers, containers, signatures, anonymous
// structs and interfaces, type arguments), or "". Named types of other
// packages are not entered: a public one is checked on its own.
func internalType(t types.Type, published map[*types.TypeName]bool, seen map[types.Type]bool) string {
	if seen[t] {
		return ""
	}
	seen[t] = true
	switch t := t.(type) {
	case *types.Alias:
		return internalType(types.Unalias(t), published, seen)
	case *types.Named:
		if pkg := t.Obj().Pkg(); pkg != nil && isInternal(pkg.Path()) && !published[t.Obj()] {
			return t.String()
		}
		for a := range t.TypeArgs().Types() {
			if s := internalType(a, published, seen); s != "" {
				return s
			}
		}
	case *types.Pointer:
		return internalType(t.Elem(), published, seen)
	case *types.Slice:
		return internalType(t.Elem(), published, seen)
	case *types.Array:
		return internalType(t.Elem(), published, seen)
	case *types.Chan:
		return internalType(t.Elem(), published, seen)
	case *types.Map:
		if s := internalType(t.Key(), published, seen); s != "" {
			return s
		}
		return internalType(t.Elem(), published, seen)
	case *types.Signature:
		for _, tup := range []*types.Tuple{t.Params(), t.Results()} {
			for v := range tup.Variables() {
				if s := internalType(v.Type(), published, seen); s != "" {
					return s
				}
			}
		}
	case *types.Struct:
		for f := range t.Fields() {
			if f.Exported() {
				if s := internalType(f.Type(), published, seen); s != "" {
					return s
				}
			}
		}
	case *types.Interface:
		for m := range t.Methods() {
			if s := internalType(m.Type(), published, seen); s != "" {
				return s
			}
		}
		for e := range t.EmbeddedTypes() {
			if s := internalType(e, published, seen); s != "" {
				return s
			}
		}
	}
	return ""
}
