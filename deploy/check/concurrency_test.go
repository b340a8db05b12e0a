package check

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// TestNoConcurrency holds this package to what lets scripts/test run it
// without -race (and so share its build of Helm and the Kubernetes API
// with staticcheck): no goroutine started and no test run in parallel.
// A change that needs either also needs -race back in scripts/test.
func TestNoConcurrency(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files in the package directory")
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: a go statement; deploy/check runs without -race (scripts/test: deploy_go_test)", fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if n.Sel.Name == "Parallel" {
					t.Errorf("%s: a parallel test; deploy/check runs without -race (scripts/test: deploy_go_test)", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
}
