// Package clidocs writes the command reference (Markdown) and man pages of
// a cobra command tree, the same bytes on every machine, and tells which
// files under docs/ differ from what the commands would generate now.
//
// The binaries link it only when built with the gendocs tag (their hidden
// gen-docs command) and from tests, so neither oktafed nor oktafed-gateway
// carries the Markdown and roff writers.
package clidocs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manDate is the date every man page's footer shows. A fixed value keeps
// the pages byte-identical across builds and days; change it when the
// pages change in substance.
var manDate = time.Date(2026, time.December, 1, 0, 0, 0, 0, time.UTC)

// Dirs returns where the reference of the binary name lives under docs:
// docs/cli/<name>/ for Markdown and docs/man/<name>/ for man pages.
func Dirs(docs, name string) (markdown, man string) {
	return filepath.Join(docs, "cli", name), filepath.Join(docs, "man", name)
}

// Generate writes root's reference into docs (see Dirs), replacing what
// was there for that binary. Hidden commands and flags are left out;
// cobra's completion command, which it adds only when a program runs, is
// put in so the reference matches what people type.
func Generate(root *cobra.Command, docs string) error {
	prepare(root)
	md, man := Dirs(docs, root.Name())
	for _, d := range []string{md, man} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, md); err != nil {
		return fmt.Errorf("markdown reference: %w", err)
	}
	header := &doc.GenManHeader{
		Title:   "",
		Section: "1",
		Date:    &manDate,
		Source:  "oktafed",
		Manual:  "oktafed manual",
	}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
}

// Stale regenerates root's reference into a temporary directory and
// returns the files under docs that differ from it: changed, missing or
// no longer generated. An empty result means the reference is current.
func Stale(root *cobra.Command, docs string) ([]string, error) {
	tmp, err := os.MkdirTemp("", "oktafed-clidocs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := Generate(root, tmp); err != nil {
		return nil, err
	}
	var stale []string
	md, man := Dirs(docs, root.Name())
	wantMD, wantMan := Dirs(tmp, root.Name())
	for _, pair := range [][2]string{{md, wantMD}, {man, wantMan}} {
		d, err := diffDirs(pair[0], pair[1])
		if err != nil {
			return nil, err
		}
		stale = append(stale, d...)
	}
	return stale, nil
}

// prepare adds the completion command and turns off the generation stamp
// on every command, which would otherwise date each Markdown file.
func prepare(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func diffDirs(have, want string) ([]string, error) {
	read := func(dir string) (map[string][]byte, error) {
		files := map[string][]byte{}
		entries, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			files[e.Name()] = b
		}
		return files, nil
	}
	h, err := read(have)
	if err != nil {
		return nil, err
	}
	w, err := read(want)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, b := range w {
		hb, ok := h[name]
		switch {
		case !ok:
			out = append(out, filepath.Join(have, name)+" (missing)")
		case !bytes.Equal(hb, b):
			out = append(out, filepath.Join(have, name)+" (changed)")
		}
	}
	for name := range h {
		if _, ok := w[name]; !ok {
			out = append(out, filepath.Join(have, name)+" (no longer generated)")
		}
	}
	slices.Sort(out)
	return out, nil
}
