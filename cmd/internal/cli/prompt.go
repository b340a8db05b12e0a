package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// errNoTTY is returned when a command needs an answer it cannot ask for.
var errNoTTY = errors.New("no terminal to ask on")

// prompter asks a person for input on the terminal. Commands take every
// answer from flags or environment first and only then ask, so they also run
// non-interactively.
type prompter struct {
	ios *IOStreams
	rd  *bufio.Reader
}

func newPrompter(ios *IOStreams) *prompter {
	return &prompter{ios: ios, rd: bufio.NewReader(ios.In)}
}

func (p *prompter) interactive() bool { return p.ios.InTTY && p.ios.ErrTTY }

// needInteractive explains how to give an answer without a terminal.
func needInteractive(what, flag, env string) error {
	how := "pass " + flag
	if env != "" {
		how += " or set " + env
	}
	return fmt.Errorf("%s is needed and there is no terminal to ask on: %s", what, how)
}

// Input asks for a line of text, offering def.
func (p *prompter) Input(question, def string) (string, error) {
	if !p.interactive() {
		return "", errNoTTY
	}
	if def != "" {
		fmt.Fprintf(p.ios.ErrOut, "%s %s [%s]: ", p.color(cyan, "?"), question, def)
	} else {
		fmt.Fprintf(p.ios.ErrOut, "%s %s: ", p.color(cyan, "?"), question)
	}
	line, err := p.rd.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return def, nil
	}
	return line, nil
}

// Password asks for a secret without echo.
func (p *prompter) Password(question string) (string, error) {
	if !p.interactive() {
		return "", errNoTTY
	}
	fmt.Fprintf(p.ios.ErrOut, "%s %s: ", p.color(cyan, "?"), question)
	if f, ok := p.ios.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if st, err := term.GetState(int(f.Fd())); err == nil {
			ttyMu.Lock()
			ttyFd, ttyState = int(f.Fd()), st
			ttyMu.Unlock()
			defer func() {
				ttyMu.Lock()
				ttyState = nil
				ttyMu.Unlock()
			}()
		}
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(p.ios.ErrOut)
		return string(b), err
	}
	line, err := p.rd.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// Select asks to pick one of options and returns its index.
func (p *prompter) Select(question string, options []string) (int, error) {
	if !p.interactive() {
		return 0, errNoTTY
	}
	fmt.Fprintf(p.ios.ErrOut, "%s %s\n", p.color(cyan, "?"), question)
	for i, o := range options {
		fmt.Fprintf(p.ios.ErrOut, "  %s %s\n", p.color(bold, fmt.Sprintf("%2d)", i+1)), o)
	}
	for {
		ans, err := p.Input("Choose a number", "")
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(ans)
		if err == nil && n >= 1 && n <= len(options) {
			return n - 1, nil
		}
		fmt.Fprintf(p.ios.ErrOut, "  %s\n", p.color(red, fmt.Sprintf("Type a number from 1 to %d.", len(options))))
	}
}

// The terminal's state while a password is read without echo, so an
// interrupted process can give the user their echo back.
var (
	ttyMu    sync.Mutex
	ttyFd    int
	ttyState *term.State
)

// RestoreTerminal turns echo back on if the process is stopped while
// reading a password.
func RestoreTerminal() {
	ttyMu.Lock()
	defer ttyMu.Unlock()
	if ttyState != nil {
		_ = term.Restore(ttyFd, ttyState)
		ttyState = nil
	}
}

type colorCode string

const (
	bold  colorCode = "1"
	red   colorCode = "31"
	green colorCode = "32"
	cyan  colorCode = "36"
	gray  colorCode = "90"
)

// color wraps s in an ANSI color when standard error is a terminal and
// NO_COLOR is unset.
func (p *prompter) color(c colorCode, s string) string { return colorize(p.ios, c, s) }

func colorize(ios *IOStreams, c colorCode, s string) string {
	if !ios.ErrTTY || ios.getenv("NO_COLOR") != "" {
		return s
	}
	return "\x1b[" + string(c) + "m" + s + "\x1b[0m"
}

// spinner shows that the command is waiting (on a push, a browser, a
// network call) when standard error is a terminal, and stays silent
// otherwise.
type spinner struct {
	ios     *IOStreams
	once    sync.Once
	mu      sync.Mutex
	msg     string
	frame   int
	stop    chan struct{}
	stopped chan struct{}
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func startSpinner(ios *IOStreams, msg string) *spinner {
	s := &spinner{ios: ios, msg: msg, stop: make(chan struct{}), stopped: make(chan struct{})}
	if !ios.ErrTTY {
		close(s.stopped)
		return s
	}
	go s.run()
	return s
}

// drawLocked redraws the line; s.mu is held.
func (s *spinner) drawLocked() {
	fmt.Fprintf(s.ios.ErrOut, "\r\x1b[K%s %s", colorize(s.ios, cyan, spinnerFrames[s.frame%len(spinnerFrames)]), s.msg)
}

func (s *spinner) run() {
	defer close(s.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		s.drawLocked()
		s.frame++
		s.mu.Unlock()
		select {
		case <-s.stop:
			s.mu.Lock()
			fmt.Fprint(s.ios.ErrOut, "\r\x1b[K")
			s.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

// Update changes the spinner's message and shows it at once (a countdown
// must not lag a frame behind).
func (s *spinner) Update(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msg = msg
	select {
	case <-s.stop:
	default:
		if s.ios.ErrTTY {
			s.drawLocked()
		}
	}
}

// Stop clears the spinner line. It may be called more than once, and on a
// nil spinner.
func (s *spinner) Stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.stopped
}
