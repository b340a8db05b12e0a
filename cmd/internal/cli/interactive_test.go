package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// console reads a pseudo-terminal in the background so a test can wait for
// what a person would see and type answers.
type console struct {
	t   *testing.T
	f   *os.File
	mu  sync.Mutex
	buf bytes.Buffer
	pos int
}

func newConsole(t *testing.T, f *os.File) *console {
	c := &console{t: t, f: f}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// expect waits until the screen text after the previous match contains
// want, and consumes the text up to the end of the match.
func (c *console) expect(want string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		text := ansi.ReplaceAllString(c.buf.String(), "")
		if c.pos <= len(text) {
			if i := strings.Index(text[c.pos:], want); i >= 0 {
				seen := text[c.pos : c.pos+i+len(want)]
				c.pos += i + len(want)
				c.mu.Unlock()
				return seen
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t.Fatalf("timed out waiting for %q; screen so far:\n%s", want, ansi.ReplaceAllString(c.buf.String(), ""))
	return ""
}

func (c *console) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.f, line+"\r"); err != nil {
		c.t.Fatal(err)
	}
}

// TestInteractiveLogin drives `oktafed login` on a terminal as a person
// would: a hidden password prompt, a factor picker, the push number to tap
// while a spinner waits, and a role picker.
func TestInteractiveLogin(t *testing.T) {
	t.Parallel()
	e := setupCLI(t)
	// A profile with no preferred factor, so login asks.
	mustRun(t, "init", "--non-interactive", "--org-url", e.srv.URL, "--app-url", "/home/amazon_aws/0oa1demoawsapp0000001/272",
		"--username", "demo@example.com", "--region", "us-east-1")
	bin := oktafedBinary(t)
	cmd := exec.Command(bin, "login")
	cmd.Env = append(e.env.environ(), "OKTA_PASSWORD=", "OKTAFED_TOTP_SECRET=", "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := newConsole(t, f)
	c.expect("Okta password for demo@example.com")
	c.send("Sandbox-Demo-1")
	screen := c.expect("Choose a number:")
	if !strings.Contains(screen, "Okta Verify push") {
		t.Fatalf("factor picker without push:\n%s", screen)
	}
	if strings.Contains(screen, "Sandbox-Demo-1") {
		t.Fatal("the password was echoed")
	}
	// Pick push by its number in the list.
	num := ""
	for _, line := range strings.Split(screen, "\n") {
		if strings.Contains(line, "Okta Verify push") {
			num = strings.TrimSpace(strings.SplitN(strings.TrimSpace(line), ")", 2)[0])
		}
	}
	c.send(num)
	c.expect("tap ")
	c.expect("Waiting for you to approve")
	c.expect("Which roles?")
	c.expect("Filter, numbers")
	c.send("all")
	out := c.expect("Use them with")
	if strings.Count(out, "✓ okta-") != 3 {
		t.Fatalf("login output:\n%s", out)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
}
