package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// UnreachableError means Okta or STS could not be reached at all: the
// name did not resolve, nothing listened, TLS failed or the connection
// timed out. Its message names the likely cause and the setting to check;
// Unwrap gives the network error.
type UnreachableError struct {
	Service string // "Okta" or "STS"
	Host    string // host[:port] that was tried
	Cause   string // e.g. "connection refused"
	Hint    string // what to check
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s at %s: %s: %s", e.Service, e.Host, e.Cause, e.Hint)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Hints for the two services a login calls.
const (
	oktaHint = "check the org URL (org_url of oktafed profile %s), your VPN, and any proxy (HTTPS_PROXY)"
	stsHint  = "check the STS endpoint (the profile's sts_endpoint, AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL; unset, AWS's own), your VPN, and any proxy (HTTPS_PROXY)"
)

// explainUnreachable returns err as an *UnreachableError when it is a
// failure to reach service, else err unchanged. hint says what to check.
func explainUnreachable(err error, service, hint string) error {
	if err == nil {
		return nil
	}
	var already *UnreachableError
	if errors.As(err, &already) {
		return err
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	host := ue.URL
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		host = u.Host
	}
	cause := ""
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &dnsErr):
		cause = fmt.Sprintf("the name %s does not resolve (a typo in the URL, or a name only your VPN's DNS knows)", dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = "connection refused (nothing listens there: a wrong port or URL, or the service is down)"
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		cause = "no route to the host (off the VPN or network it is on?)"
	case errors.As(err, &hostErr):
		cause = "its TLS certificate is for another name (a wrong URL, or a proxy in between)"
	case errors.As(err, &unknownCA), errors.As(err, &verifyErr), errors.As(err, &certErr):
		cause = "its TLS certificate is not trusted here (a proxy that inspects TLS needs its CA in SSL_CERT_FILE, or the URL is wrong)"
	case errors.As(err, &recordErr):
		cause = "it does not speak TLS there (an http:// service behind an https:// URL?)"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		var opErr *net.OpError
		if (errors.As(err, &opErr) && opErr.Op == "dial") || strings.Contains(err.Error(), "TLS handshake timeout") {
			cause = fmt.Sprintf("the connection timed out (a firewall, or off the VPN?; the deadline is %s)", EnvConnectTimeout)
		} else {
			cause = fmt.Sprintf("it took the connection but did not answer in time (a firewall or proxy holding it, or a dropped VPN?; the deadline is %s)", EnvResponseTimeout)
		}
	default:
		return err
	}
	return &UnreachableError{Service: service, Host: host, Cause: cause, Hint: hint, Err: err}
}
