package main

import (
	"io"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/cmd/internal/cli"
	"github.com/oktafed/oktafed/cmd/internal/clidocs"
)

// TestCLIReferenceCurrent fails when docs/cli/oktafed or docs/man/oktafed
// differ from what the commands generate now (a flag, a help text or a
// command changed without regenerating), naming the command that
// regenerates them.
func TestCLIReferenceCurrent(t *testing.T) {
	// The same tree as gendocs.go's docsRoot: no terminal, no environment.
	root := cli.NewRootCmd(&cli.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard, Getenv: func(string) string { return "" }})
	stale, err := clidocs.Stale(root, "../../docs")
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("the command reference is stale; regenerate it with\n\n\tgo generate ./cmd/oktafed\n\nand commit the result:\n\t%s", strings.Join(stale, "\n\t"))
	}
}
