package testenv

import "testing"

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
