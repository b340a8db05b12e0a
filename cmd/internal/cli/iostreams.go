package cli

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/oktafed/oktafed/internal/clock"
)

// IOStreams is every byte the CLI reads or writes, so tests can drive a
// command with fake terminals and assert on its output.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// IsTTY decides between prompts, pickers and spinners (true) and plain,
	// machine-readable output (false).
	InTTY, OutTTY, ErrTTY bool
	Getenv                func(string) string
	// Clock tells time and paces waits (Okta polls, countdowns); the wall
	// clock when nil. Tests pass a fake one, shared with a sandbox.
	Clock clock.Clock
}

// System returns the process's own standard streams.
func System() *IOStreams {
	isTTY := func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY: isTTY(os.Stdin), OutTTY: isTTY(os.Stdout), ErrTTY: isTTY(os.Stderr),
		Getenv: os.Getenv,
	}
}

// Test returns streams backed by buffers, with no terminal.
func Test() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, Getenv: func(string) string { return "" }}, in, out, errOut
}

func (s *IOStreams) getenv(k string) string {
	if s.Getenv == nil {
		return ""
	}
	return s.Getenv(k)
}
