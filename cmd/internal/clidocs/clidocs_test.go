package clidocs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func tree(flagHelp string) *cobra.Command {
	root := &cobra.Command{Use: "tool", Short: "a tool"}
	sub := &cobra.Command{Use: "run", Short: "run it", Run: func(*cobra.Command, []string) {}}
	sub.Flags().String("mode", "fast", flagHelp)
	hidden := &cobra.Command{Use: "secret", Hidden: true, Run: func(*cobra.Command, []string) {}}
	root.AddCommand(sub, hidden)
	return root
}

func TestGenerateIsStableAndStaleFindsEveryDrift(t *testing.T) {
	docs := t.TempDir()
	if err := Generate(tree("how to run"), docs); err != nil {
		t.Fatal(err)
	}
	md, man := Dirs(docs, "tool")
	first, err := os.ReadFile(filepath.Join(man, "tool-run.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"Auto generated", "spf13/cobra on"} {
		if strings.Contains(string(first), bad) {
			t.Errorf("man page carries %q", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(md, "tool_secret.md")); err == nil {
		t.Error("a hidden command was documented")
	}
	if _, err := os.Stat(filepath.Join(md, "tool_completion.md")); err != nil {
		t.Errorf("no completion command in the reference: %v", err)
	}
	if stale, err := Stale(tree("how to run"), docs); err != nil || len(stale) != 0 {
		t.Fatalf("fresh reference reported stale: %v, %v", stale, err)
	}

	// A changed help text, an extra file and a missing one are all named.
	if err := os.WriteFile(filepath.Join(md, "tool_gone.md"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(man, "tool.1")); err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(tree("how to run it now"), docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		filepath.Join(md, "tool_run.md") + " (changed)",
		filepath.Join(man, "tool-run.1") + " (changed)",
		filepath.Join(md, "tool_gone.md") + " (no longer generated)",
		filepath.Join(man, "tool.1") + " (missing)",
	} {
		if !slices.Contains(stale, want) {
			t.Errorf("Stale did not report %q; got %v", want, stale)
		}
	}
	if slices.Contains(stale, filepath.Join(md, "tool.md")+" (changed)") {
		t.Errorf("an unchanged file was reported: %v", stale)
	}
}
