// Package testenv finds and starts the real third-party programs that
// oktafed's tests talk to. A test that needs a program it cannot find fails
// when CI=true (the test script installs everything) and skips otherwise,
// with a message that says how to get it.
//
// Servers (Postgres, MariaDB, Redis and its Cluster, Sentinel and TLS
// variants, Nginx, OIDCProvider) run from Debian's packages and
// testdata/oidc-provider, each in its own temporary
// directory, listening on 127.0.0.1 on a free port, and stop when the test
// ends. SharedPostgres and SharedMariaDB keep one server per test binary;
// see Main. Database servers present a certificate from a CA made per test
// process, so clients can verify them fully; their superusers need a
// password over TCP.
//
// Every server gets a parent-death signal, so none outlives its test
// binary even when it is killed.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where every
// program the suite needs must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable fails the test under CI and skips it elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf(format+" (CI=true: ./scripts/test installs it; this must not happen in CI)", args...)
	}
	t.Skipf(format+" (run ./scripts/test to install it)", args...)
}

// LookPath returns the path of the program name (a bare name or an absolute
// path), or calls Unavailable with hint.
func LookPath(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s not found: %s", name, hint)
	}
	return p
}

// AWSCLI returns Debian's AWS CLI. It ignores AWS_ENDPOINT_URL, so callers
// pass --endpoint-url.
func AWSCLI(t testing.TB) string {
	t.Helper()
	return LookPath(t, "/usr/bin/aws", "Debian package awscli")
}

// Wrk returns Debian's wrk HTTP load generator. Point it only at servers
// on 127.0.0.1, with a bounded duration.
func Wrk(t testing.TB) string {
	t.Helper()
	return LookPath(t, "/usr/bin/wrk", "Debian package wrk")
}

// ChromeDriver returns Debian's chromedriver, for WebDriver-driven
// browser tests.
func ChromeDriver(t testing.TB) string {
	t.Helper()
	return LookPath(t, "/usr/bin/chromedriver", "Debian package chromium-driver")
}
