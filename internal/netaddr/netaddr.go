// Package netaddr holds the one answer oktafed gives to "may this URL be
// plain http?": only when its host is this machine. The Okta client, the
// token verifier (discovery, key sets, their redirects) and the CLI's key
// tools all ask here, so they cannot disagree.
package netaddr

import (
	"net"
	"strings"
)

// IsLoopbackHost reports whether host (a URL's Hostname: no port, no
// brackets) names this machine: "localhost" in any case, or a loopback
// IP address (127.0.0.0/8, ::1, and IPv4-mapped forms of them).
//
// Subdomains of localhost ("app.localhost") are not accepted: RFC 6761
// asks resolvers to keep them on loopback, but Go's resolver and many
// system ones send them to DNS, where anyone may answer.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
