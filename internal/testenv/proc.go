package testenv

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long any server may take to become ready. The
// servers start in about a second; the margin is for a loaded CI machine
// running several test binaries at once.
const startTimeout = 60 * time.Second

// stopTimeout bounds a graceful stop before the process group is killed.
const stopTimeout = 15 * time.Second

// missingError means a program the helper needs is not installed: callers
// turn it into Unavailable (skip locally, fail under CI) instead of a plain
// failure.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }

func missing(format string, args ...any) error {
	return &missingError{msg: fmt.Sprintf(format, args...)}
}

// check reports err through t: Unavailable for a missing program, Fatal
// for anything else.
func check(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var m *missingError
	if errors.As(err, &m) {
		Unavailable(t, "%s: %s", what, m.msg)
		return
	}
	t.Fatalf("%s: %v", what, err)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can still take it before the caller binds it; the
// server helpers retry with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitFor calls ready every few milliseconds until it returns true or
// timeout passes, then fails the test with what. Use it for readiness
// that the helpers here do not cover.
func WaitFor(t testing.TB, timeout time.Duration, what string, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every directory this package makes lives under one base directory per
// test process, named oktafed-testenv-* in os.TempDir(). Unix socket paths
// must stay under about 100 bytes, which t.TempDir() (named after the test)
// does not guarantee, and servers that run as another user need every
// parent directory to be traversable, which t.TempDir() (mode 0700) is not.
var base struct {
	once sync.Once
	dir  string
	err  error
}

const baseDirPrefix = "oktafed-testenv-"

func baseDir() (string, error) {
	base.once.Do(func() {
		sweepStaleBaseDirs()
		dir, err := os.MkdirTemp("", baseDirPrefix)
		if err != nil {
			base.err = err
			return
		}
		// 0711: other users (postgres) may pass through but not list.
		if err := os.Chmod(dir, 0o711); err != nil {
			base.err = err
			return
		}
		pid := strconv.Itoa(os.Getpid())
		if err := os.WriteFile(filepath.Join(dir, "owner-pid"), []byte(pid), 0o644); err != nil {
			base.err = err
			return
		}
		base.dir = dir
	})
	return base.dir, base.err
}

// sweepStaleBaseDirs removes base directories whose test process is gone.
// A test binary without testenv.Main cannot remove its own base directory
// (Go has no exit hook), so the next run tidies up after it. Its servers
// are already gone: they got a parent-death signal.
func sweepStaleBaseDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), baseDirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner-pid"))
		if err != nil {
			// Too new to have its pid file, or not ours at all.
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// newServerDir makes a fresh directory for one server under the base
// directory, owned by acct when acct is not nil.
func newServerDir(prefix string, acct *account) (string, error) {
	b, err := baseDir()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(b, prefix)
	if err != nil {
		return "", err
	}
	if acct != nil {
		if err := os.Chown(dir, acct.uid, acct.gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// account is a system user a server runs as, because it refuses root.
type account struct {
	name     string
	uid, gid int
}

func (a *account) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	return &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}}
}

// proc is one running server process whose output goes to a log file.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	stopSig syscall.Signal

	done    chan struct{} // closed once the process has exited
	waitErr error         // cmd.Wait's result, set before done closes

	stopOnce sync.Once
}

// startProc starts cmd with stdout and stderr written to logPath, which it
// truncates so a retry's log holds only that attempt. stopSig
// is the signal that shuts the program down cleanly; the process also gets
// it when the test process dies, so no server outlives its tests.
func startProc(name string, cmd *exec.Cmd, logPath string, stopSig syscall.Signal) (*proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: a terminal's Ctrl-C reaches only the test binary,
	// which then stops servers in order, and a hung server's helper
	// processes can all be killed together.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = stopSig

	p := &proc{name: name, logPath: logPath, cmd: cmd, stopSig: stopSig, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Linux sends the parent-death signal when the thread that forked
		// the child exits, not only the process. Pinning this goroutine to
		// its thread until the child is gone keeps the Go scheduler from
		// retiring that thread early.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			logFile.Close()
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
		// Returning while locked retires the thread, harmless now.
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls ready until it returns true, the process exits, or
// startTimeout passes. Errors include the tail of the log.
func (p *proc) waitReady(ready func() (bool, error)) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ok, err := ready()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", p.name, err, p.logTail())
		}
		if ok {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v)\n%s", p.name, p.waitErr, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v\n%s", p.name, startTimeout, p.logTail())
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// waitLog waits for the log to contain marker.
func (p *proc) waitLog(marker string) error {
	return p.waitReady(func() (bool, error) {
		return strings.Contains(p.log(), marker), nil
	})
}

// stop shuts the process down with its stop signal, killing its whole
// process group if it does not exit within stopTimeout. It is idempotent.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(p.stopSig)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// logTail returns the last lines of the log, for error messages.
func (p *proc) logTail() string {
	return tail(p.log(), 40, "--- "+p.logPath+" (last lines) ---")
}

func tail(s string, n int, header string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return header + "\n" + strings.Join(lines, "\n")
}

// addrInUse reports whether a server log says its port was taken, in the
// words PostgreSQL, MariaDB and Redis use.
func addrInUse(log string) bool {
	return strings.Contains(log, "Address already in use") || strings.Contains(log, "address already in use")
}

// startOnFreePort runs start with a free port, retrying with a new port
// when another process grabbed it between the probe and the bind.
func startOnFreePort(start func(port int) (*proc, error)) (*proc, int, error) {
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		p, err := start(port)
		if err == nil {
			return p, port, nil
		}
		lastErr = err
		if p == nil || !addrInUse(p.log()) {
			return nil, 0, err
		}
		p.stop()
	}
	return nil, 0, lastErr
}

// runLogged runs a setup command (initdb and the like) to completion and
// returns its combined output in the error when it fails.
func runLogged(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(string(out), 40, "--- output (last lines) ---"))
	}
	return nil
}

// copyTree copies a directory with owners and modes, as cp -a does; cp
// handles sparse files and ownership and is always on Debian.
func copyTree(src, dst string) error {
	return runLogged(exec.Command("cp", "-a", src, dst))
}

// randomHex returns n random bytes as hex, for passwords and names.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return fmt.Sprintf("%x", b)
}

// A template is a freshly initialised data directory, built once per test
// process and copied for each server: copying takes milliseconds, while
// initdb and mariadb-install-db take seconds.
var templates struct {
	mu    sync.Mutex
	byKey map[string]*templateResult
}

type templateResult struct {
	once sync.Once
	dir  string
	err  error
}

// template returns the directory that build filled for key, running build
// at most once per process.
func template(key string, build func(dir string) error) (string, error) {
	templates.mu.Lock()
	if templates.byKey == nil {
		templates.byKey = map[string]*templateResult{}
	}
	r := templates.byKey[key]
	if r == nil {
		r = &templateResult{}
		templates.byKey[key] = r
	}
	templates.mu.Unlock()
	r.once.Do(func() {
		b, err := baseDir()
		if err != nil {
			r.err = err
			return
		}
		dir := filepath.Join(b, "template-"+key)
		if err := os.Mkdir(dir, 0o711); err != nil {
			r.err = err
			return
		}
		if err := build(dir); err != nil {
			r.err = fmt.Errorf("build %s template: %w", key, err)
			return
		}
		r.dir = dir
	})
	return r.dir, r.err
}

// cleanupServer stops a server when t ends, first logging the end of its
// log if t failed: once the server's directory is gone, so is the log.
func cleanupServer(t testing.TB, p *proc, stop func()) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", p.name, p.logTail())
		}
		stop()
	})
}
