package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// ChromiumPath is Debian's Chromium launcher.
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns the path of Debian's Chromium, or calls Unavailable.
func Chromium(t testing.TB) string {
	t.Helper()
	return LookPath(t, ChromiumPath, "Debian package chromium")
}

// ChromiumFlags returns the flags headless Chromium needs here, with a
// new profile directory removed when t ends. --no-sandbox because the
// tests run as root, where Chromium's sandbox refuses to start; the rest
// keep it from reaching the network on its own (updates, sync, QUIC
// probes) and from waiting on first-run UI.
func ChromiumFlags(t testing.TB) []string {
	t.Helper()
	dir, err := newServerDir("chromium-", nil)
	if err != nil {
		t.Fatalf("chromium profile directory: %v", err)
	}
	t.Cleanup(func() { removeAllRetry(dir) })
	return []string{
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-dev-shm-usage",
		"--user-data-dir=" + dir,
	}
}

// ChromiumDumpDOM loads url in headless Chromium and returns the DOM
// after the page's scripts ran, failing t if Chromium fails or ctx ends.
func ChromiumDumpDOM(t testing.TB, ctx context.Context, url string) string {
	t.Helper()
	bin := Chromium(t)
	args := append(ChromiumFlags(t), "--dump-dom", url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// Chromium forks helpers (zygote, renderers); a process group lets a
	// timeout end them all, and Pdeathsig covers the test process dying.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		// Helpers that outlive the browser would keep writing to the
		// profile directory while it is being removed.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, tail(stderr.String(), 30, "--- chromium stderr (last lines) ---"))
	}
	return stdout.String()
}

// removeAllRetry removes dir, retrying briefly while exiting processes
// still write into it.
func removeAllRetry(dir string) {
	for range 20 {
		if err := os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
