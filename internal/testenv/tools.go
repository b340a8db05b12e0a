package testenv

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

// OpenSSL returns Debian's openssl command-line tool, the reference reader
// for PEM and DER that oktafed prints.
func OpenSSL(t testing.TB) string {
	t.Helper()
	return LookPath(t, "/usr/bin/openssl", "Debian package openssl")
}

// Node returns the Node.js interpreter (also needed for the OpenID
// provider under testdata/oidc-provider).
func Node(t testing.TB) string {
	t.Helper()
	return LookPath(t, "node", "Debian package nodejs, Node.js 20 or later")
}

// Hypercorn returns Debian's Python 3 after checking that it can import
// hypercorn, an ASGI server that accepts h2c upgrades and WebSockets: the
// upstream an attacker would hope to tunnel into through a proxy.
func Hypercorn(t testing.TB) string {
	t.Helper()
	py := LookPath(t, "/usr/bin/python3", "Debian package python3")
	if err := exec.Command(py, "-c", "import hypercorn.asyncio, h2, wsproto").Run(); err != nil {
		Unavailable(t, "python3 cannot import hypercorn (%v): Debian package python3-hypercorn", err)
	}
	return py
}

// GoBuild returns `go build -trimpath args...` with cgo off: the flags the
// release (.goreleaser.yaml) and the Dockerfile build with, so every
// binary the tests build shares one compilation of each package with the
// others and with the release snapshot scripts/test builds afterwards.
// env is the environment to start from (nil: this process's).
func GoBuild(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", append([]string{"build", "-trimpath"}, args...)...)
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(slices.Clip(env), "CGO_ENABLED=0")
	return cmd
}
