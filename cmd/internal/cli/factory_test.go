package cli

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every command's network calls go through the run factory's one
// *http.Client and its secrets through its one keyring: outside
// factory.go no file of the CLI builds an HTTP client or opens the
// keyring, and factory.go does each once.
func TestOneHTTPClientAndKeyringPerRun(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[string]int{} // what → file → count
	count := func(what, file string) {
		if counts[what] == nil {
			counts[what] = map[string]int{}
		}
		counts[what][file]++
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && isPkg(sel.X, "http") && sel.Sel.Name == "Client" {
					count("http.Client{…}", name)
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch {
				case isPkg(sel.X, "keystore") && sel.Sel.Name == "Open":
					count("keystore.Open", name)
				case sel.Sel.Name == "HTTPClient" && len(n.Args) == 0:
					count("Deadlines.HTTPClient", name) // a new client with deadlines
				case isPkg(sel.X, "federation") && sel.Sel.Name == "NewHTTPClient":
					count("federation.NewHTTPClient", name)
				}
			}
			return true
		})
	}
	want := map[string]map[string]int{
		"keystore.Open":        {"factory.go": 1},
		"Deadlines.HTTPClient": {"factory.go": 1},
	}
	for what, byFile := range counts {
		for file, n := range byFile {
			if want[what][file] != n {
				t.Errorf("%s: %d in %s, want %d (use httpClientFor / openSecrets, the run factory's)", what, n, file, want[what][file])
			}
		}
	}
	for what, byFile := range want {
		for file, n := range byFile {
			if counts[what][file] != n {
				t.Errorf("%s: %d in %s, want %d", what, counts[what][file], file, n)
			}
		}
	}
}

func isPkg(x ast.Expr, name string) bool {
	id, ok := x.(*ast.Ident)
	return ok && id.Name == name
}

// Within a run the client is one value, the resolver's too; a new run
// (a new command tree) gets a factory of its own.
func TestFactoryIsOnePerRun(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := Test()
	NewRootCmd(ios)
	hc := httpClientFor(ios)
	if httpClientFor(ios) != hc || resolverFor(ios).HTTPClient != hc {
		t.Fatal("the run's calls use different HTTP clients")
	}
	if _, ok := resolverFor(ios).Sessions.(interface {
		LoadSession(context.Context, string) (string, time.Time, error)
	}); !ok {
		t.Fatal("the resolver does not read the run's keyring")
	}
	NewRootCmd(ios)
	if httpClientFor(ios) == hc {
		t.Fatal("a new command tree kept the last run's factory")
	}
}
