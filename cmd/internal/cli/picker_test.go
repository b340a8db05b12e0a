package cli

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/keystore"
	"github.com/oktafed/oktafed/okta"
)

// manyRoles is 200 roles in 100 accounts with aliases team-000…team-099,
// an Admin and a ReadOnly role in each.
func manyRoles() (*config.Profile, []string) {
	p := &config.Profile{Name: "default", AccountAliases: map[string]string{}}
	var arns []string
	for i := range 100 {
		id := fmt.Sprintf("%012d", 400000000000+i)
		p.AccountAliases[id] = fmt.Sprintf("team-%03d", i)
		arns = append(arns, "arn:aws:iam::"+id+":role/Admin", "arn:aws:iam::"+id+":role/ops/ReadOnly")
	}
	return p, arns
}

// pickOnTerminal runs the role picker on a pseudo-terminal, as login does,
// and returns a console to drive it and a channel with its answer.
func pickOnTerminal(t *testing.T, rows []pickerRow) (*console, chan []int) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	ios := &IOStreams{In: tty, Out: tty, ErrOut: tty, InTTY: true, ErrTTY: true, Getenv: func(string) string { return "" }}
	done := make(chan []int, 1)
	go func() {
		// An error (the terminal closed) leaves nil, which the test's
		// checks refuse.
		idx, _ := newPrompter(ios).pickRoles("Which roles?", rows)
		done <- idx
	}()
	return newConsole(t, ptmx), done
}

// typeKeys types s on the console's terminal; every rune is a keystroke,
// "\r" is Enter.
func typeKeys(t *testing.T, c *console, s string) int {
	t.Helper()
	if _, err := c.f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	return len([]rune(s))
}

// With 200 roles the picker shows a page at a time, in columns of alias,
// account id and role name; typing an alias filters to its roles, and a
// role is picked in at most 3 keystrokes after the filter.
func TestRolePickerOnATerminal(t *testing.T) {
	p, arns := manyRoles()
	rows := roleRows(p, arns)

	c, done := pickOnTerminal(t, rows)
	screen := c.expect("Filter, numbers (1,3-5) or all:")
	if n := strings.Count(screen, ")"); n > pickerPage+3 {
		t.Fatalf("the first screen shows %d rows, want a page of %d:\n%s", n, pickerPage, screen)
	}
	if !strings.Contains(screen, "1-20 of 200") || !strings.Contains(screen, "team-000") || !strings.Contains(screen, "400000000000") || strings.Contains(screen, "arn:aws") {
		t.Fatalf("first page:\n%s", screen)
	}
	typeKeys(t, c, "team-042\r")
	screen = c.expect("Filter, numbers (1,3-5) or all:")
	if !strings.Contains(screen, "2 of 200 roles match") || strings.Count(screen, ") team-042") != 2 {
		t.Fatalf("after the filter:\n%s", screen)
	}
	var admin int
	for _, line := range strings.Split(screen, "\n") {
		if strings.Contains(line, "Admin") {
			fmt.Sscanf(strings.TrimSpace(line), "%d)", &admin)
		}
	}
	if keys := typeKeys(t, c, fmt.Sprintf("%d\r", admin)); keys > 3 {
		t.Fatalf("picking took %d keystrokes after the filter", keys)
	}
	got := <-done
	if len(got) != 1 || arns[got[0]] != "arn:aws:iam::400000000042:role/Admin" {
		t.Fatalf("picked %v", got)
	}

	// A filter that leaves one role: Enter alone picks it.
	c, done = pickOnTerminal(t, rows)
	c.expect("or all:")
	typeKeys(t, c, "zzz\r")
	c.expect("No role matches")
	typeKeys(t, c, "team-077 readonly\r")
	c.expect("Enter picks it")
	if keys := typeKeys(t, c, "\r"); keys > 3 {
		t.Fatalf("%d keystrokes", keys)
	}
	if got := <-done; len(got) != 1 || arns[got[0]] != "arn:aws:iam::400000000077:role/ops/ReadOnly" {
		t.Fatalf("picked %v", got)
	}

	// Paging, ranges and several choices.
	c, done = pickOnTerminal(t, rows)
	c.expect("or all:")
	typeKeys(t, c, "\r")
	if screen := c.expect("or all:"); !strings.Contains(screen, "21-40 of 200") || !strings.Contains(screen, "team-010") {
		t.Fatalf("second page:\n%s", screen)
	}
	typeKeys(t, c, "/^team-00[12] /\r")
	c.expect("or all:")
	typeKeys(t, c, "1-2, 4\r")
	got = <-done
	want := []string{"arn:aws:iam::400000000001:role/Admin", "arn:aws:iam::400000000001:role/ops/ReadOnly", "arn:aws:iam::400000000002:role/ops/ReadOnly"}
	var picked []string
	for _, i := range got {
		picked = append(picked, arns[i])
	}
	if !slices.Equal(picked, want) {
		t.Fatalf("picked %v, want %v", picked, want)
	}
}

func TestPickNumbers(t *testing.T) {
	for in, want := range map[string][]int{"1": {0}, "1,3-5": {0, 2, 3, 4}, "2 2 1": {1, 0}, "5-5": {4}} {
		if got, ok := pickNumbers(in, 5); !ok || !slices.Equal(got, want) {
			t.Errorf("pickNumbers(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"0", "6", "3-1", "1-9", "a", "1,x", "", "-"} {
		if got, ok := pickNumbers(in, 5); ok {
			t.Errorf("pickNumbers(%q) accepted: %v", in, got)
		}
	}
}

func TestRoleNameSelectors(t *testing.T) {
	_, arns := manyRoles()
	aliases := map[string]string{"400000000042": "team-042"}
	for sel, want := range map[string]int{"Admin": 100, "readonly": 100, "team-042": 2, "team-042/Admin": 1, "400000000042:ReadOnly": 1, "nope": 0} {
		m := config.RoleNameMatcher(sel, aliases)
		n := 0
		for _, a := range arns {
			if m(a) {
				n++
			}
		}
		if n != want {
			t.Errorf("--role %s matches %d roles, want %d", sel, n, want)
		}
	}
}

// The push number gets a line of its own: a spinner on the current line
// is cleared before it and drawn again below it, naming the number.
func TestPushNumberOnItsOwnLine(t *testing.T) {
	var buf bytes.Buffer
	errOut := &lockedWriter{w: &buf}
	ios := &IOStreams{ErrOut: errOut, InTTY: true, ErrTTY: true, Getenv: func(string) string { return "" }}
	d := loginDeps{ios: ios, secrets: keyringStore{keystore.NewMemory()}, interactive: true, waiting: &waitIndicator{}}
	defer d.waiting.stop()
	m, err := mfaFor(context.Background(), d, &config.Profile{Name: "default"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Waiting(okta.Factor{Kind: okta.KindPush})
	m.PushNumber(42)
	d.waiting.stop()
	errOut.mu.Lock()
	out := buf.String()
	errOut.mu.Unlock()
	i := strings.Index(out, "Okta Verify: tap")
	if i < 0 {
		t.Fatalf("no push number:\n%q", out)
	}
	line := out[strings.LastIndex(out[:i], "\n")+1 : i]
	if cut := strings.LastIndex(line, "\r\x1b[K"); cut < 0 || strings.Contains(line[cut:], "Waiting") {
		t.Fatalf("the number shares the spinner's line: %q", line)
	}
	if !strings.Contains(out[i:], "\n") || !strings.Contains(out[i:], "(tap 42)") {
		t.Fatalf("no spinner naming the number after it:\n%q", out[i:])
	}
}

// --role takes a role name and ACCOUNT/ROLE as well as ARNs and regexps.
func TestLoginRoleByName(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	e.initProfile(t)
	for sel, want := range map[string]string{"readonly": "okta-123456789012-ReadOnly", "210987654321/Developer": "-Developer"} {
		out := mustRun(t, "login", "--role", sel, "--non-interactive")
		if strings.Count(out, "✓") != 1 || !strings.Contains(out, want) {
			t.Errorf("--role %s:\n%s", sel, out)
		}
	}
	if code, _, errOut := run(t, "login", "--role", "Nobody", "--non-interactive"); code == 0 || !strings.Contains(errOut, "no role matches") {
		t.Errorf("--role Nobody: exit %d\n%s", code, errOut)
	}
}
