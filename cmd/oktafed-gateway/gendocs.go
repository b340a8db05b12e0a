//go:build gendocs

package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/cmd/internal/clidocs"
)

func init() { genDocs = writeDocs }

// writeDocs regenerates docs/cli/oktafed-gateway and
// docs/man/oktafed-gateway under the directory given (docs/ of the
// repository): go generate ./cmd/oktafed-gateway.
func writeDocs(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: go run -tags gendocs ./cmd/oktafed-gateway gen-docs DOCS_DIR")
		return 2
	}
	if err := clidocs.Generate(docsRoot(), args[0]); err != nil {
		fmt.Fprintf(os.Stderr, "oktafed-gateway gen-docs: %v\n", err)
		return 1
	}
	return 0
}

// docsRoot is the command tree as the reference documents it: no terminal
// and an empty environment, so no default shown depends on the machine
// that generated it. The staleness test builds the same tree.
func docsRoot() *cobra.Command {
	return newRootCmd(streams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard, Getenv: func(string) string { return "" }})
}
