package cli

import (
	"bytes"
	"io"
	"os"
	"sync"

	"golang.org/x/term"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/spf13/cobra"
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

	mu sync.Mutex
	f  *factory // what the commands of this run share (factory.go)
}

// factory is the run's factory: the one startRun made for the command,
// else (helpers run outside a command, such as completion) one with the
// default deadlines.
func (s *IOStreams) factory() *factory {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		s.f = newFactory(s, deadlinesFor(s, nil))
	}
	return s.f
}

// startRun gives the run of cmd a factory of its own; nil forgets it.
func (s *IOStreams) startRun(cmd *cobra.Command) {
	var f *factory
	if cmd != nil {
		f = newFactory(s, deadlinesFor(s, cmd))
	}
	s.mu.Lock()
	s.f = f
	s.mu.Unlock()
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
