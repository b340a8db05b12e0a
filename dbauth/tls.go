package dbauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// RDSCABundleURL is where AWS publishes the certificate bundle of every
// RDS certificate authority (global-bundle.pem): the file to give
// sslrootcert (PostgreSQL) or a registered tls.Config's RootCAs (MySQL).
const RDSCABundleURL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

// pgVerifyHint is the fix for every PostgreSQL TLS setting that does not
// verify the server.
const pgVerifyHint = "use sslmode=verify-full with sslrootcert=FILE, where FILE is the RDS CA bundle global-bundle.pem (" + RDSCABundleURL + "; for oktafed sandbox, the front's ca_file), or sslrootcert=system when the server's CA is in the system roots; PGSSLMODE and PGSSLROOTCERT in the environment count as DSN settings"

// myVerifyHint is the fix for MySQL.
const myVerifyHint = "leave tls unset or set tls=true (the system roots verify the server), or load the RDS CA bundle global-bundle.pem (" + RDSCABundleURL + ") into a tls.Config's RootCAs, register it with mysql.RegisterTLSConfig(NAME, cfg) with InsecureSkipVerify false, and set tls=NAME"

// errUnverifiedTLS is matched by every refusal of a TLS setting that does
// not verify the database server.
var errUnverifiedTLS = errors.New("dbauth: the database server's certificate would not be verified")

// unverifiedTLSError refuses a TLS setting: the password dbauth supplies
// (an IAM token works for 15 minutes, a secret until it rotates) would
// reach whoever answers at the address.
type unverifiedTLSError struct {
	setting, why, hint string
}

func (e *unverifiedTLSError) Error() string {
	return fmt.Sprintf("dbauth: %s %s, so the password dbauth supplies (an IAM token is a working credential for 15 minutes) could reach an impostor: %s; only for a local test server, %s=true sends it anyway (and warns on every connect)", e.setting, e.why, e.hint, ParamInsecureDBTLS)
}

func (e *unverifiedTLSError) Is(target error) bool { return target == errUnverifiedTLS }

// pgSSLMode is the sslmode a pgx connection string (or PGSSLMODE) sets,
// for error messages: "" when none does.
func pgSSLMode(dsn string) string {
	mode := ""
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		_, q, _ := strings.Cut(dsn, "?")
		for part := range strings.SplitSeq(q, "&") {
			k, v, _ := strings.Cut(part, "=")
			if k == "sslmode" || (k == "ssl" && v == "true" && mode == "") {
				if k == "ssl" {
					v = "require"
				}
				mode = v
			}
		}
	} else if pairs, err := parseKeywordValue(dsn); err == nil {
		for _, p := range pairs {
			if p.key == "sslmode" {
				mode = p.value
			}
		}
	}
	if mode == "" {
		if env := os.Getenv("PGSSLMODE"); env != "" {
			return "PGSSLMODE=" + env
		}
	}
	if mode == "" {
		return ""
	}
	return "sslmode=" + mode
}

// checkPgTLS holds a pgx configuration, its main host and every fallback
// (sslmode=prefer and allow, multi-host DSNs), to the rule that the
// password only goes over TLS that verifies the chain and the host name:
// a TLS config must exist, must not skip verification and must name the
// server. With insecure set, unverified TLS is allowed (the caller warns)
// but cleartext attempts are still dropped. mode names the setting in
// errors ("" when unknown).
func checkPgTLS(c *pgconn.Config, mode string, insecure bool) error {
	if mode == "" {
		mode = "the connection's TLS settings"
	}
	type attempt struct {
		host string
		tls  *tls.Config
	}
	all := []attempt{{c.Host, c.TLSConfig}}
	for _, f := range c.Fallbacks {
		all = append(all, attempt{f.Host, f.TLSConfig})
	}
	var kept []*pgconn.FallbackConfig
	haveMain := false
	for i, at := range all {
		switch {
		case at.tls == nil && !insecure:
			if strings.Contains(mode, "disable") {
				return &unverifiedTLSError{setting: mode, why: "sends the password in cleartext (and RDS accepts IAM tokens only over TLS)", hint: pgVerifyHint}
			}
			return &unverifiedTLSError{setting: mode, why: "lets the connection fall back to cleartext", hint: pgVerifyHint}
		case at.tls == nil:
			continue // dropped: never cleartext, even with the opt-out
		case !insecure && (at.tls.InsecureSkipVerify || at.tls.ServerName == ""):
			return &unverifiedTLSError{setting: mode, why: "does not verify the server's certificate and host name", hint: pgVerifyHint}
		}
		if !haveMain {
			if i > 0 {
				f := c.Fallbacks[i-1]
				c.Host, c.Port, c.TLSConfig = f.Host, f.Port, f.TLSConfig
			}
			haveMain = true
			continue
		}
		kept = append(kept, c.Fallbacks[i-1])
	}
	if !haveMain {
		return &unverifiedTLSError{setting: mode, why: "sends the password in cleartext (and RDS accepts IAM tokens only over TLS)", hint: pgVerifyHint}
	}
	c.Fallbacks = kept
	return nil
}

// checkMySQLTLS holds a go-sql-driver/mysql configuration to the same
// rule: TLS that verifies the chain and the host name, never a fallback
// to plaintext. tls unset means tls=true (system roots).
func checkMySQLTLS(c *mysql.Config, insecure bool, rootCAs *x509.CertPool) error {
	setting := "tls=" + c.TLSConfig
	if c.TLSConfig == "" {
		setting = "the mysql.Config's TLS"
	}
	if c.TLS == nil {
		if c.TLSConfig != "" { // tls=false
			return &unverifiedTLSError{setting: setting, why: "sends the password in cleartext (and RDS accepts IAM tokens only over TLS)", hint: myVerifyHint}
		}
		host, _ := splitMySQLAddr(c.Addr)
		c.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if rootCAs != nil && c.TLS.RootCAs == nil && (c.TLSConfig == "" || c.TLSConfig == "true") {
		c.TLS = c.TLS.Clone()
		c.TLS.RootCAs = rootCAs
	}
	if !insecure {
		switch {
		case c.AllowFallbackToPlaintext:
			return &unverifiedTLSError{setting: setting, why: "lets the connection fall back to plaintext and does not verify the server", hint: myVerifyHint}
		case c.TLS.InsecureSkipVerify:
			return &unverifiedTLSError{setting: setting, why: "does not verify the server's certificate (InsecureSkipVerify)", hint: myVerifyHint}
		case c.TLS.ServerName == "":
			return &unverifiedTLSError{setting: setting, why: "names no server to verify (tls.Config.ServerName is empty)", hint: myVerifyHint}
		}
	}
	c.AllowFallbackToPlaintext = false
	return nil
}

// withRootCAs gives every TLS config of c that trusts the system roots
// (sslrootcert unset) the pool instead.
func withRootCAs(c *pgconn.Config, pool *x509.CertPool) {
	if pool == nil {
		return
	}
	set := func(t *tls.Config) *tls.Config {
		if t == nil || t.RootCAs != nil {
			return t
		}
		t = t.Clone()
		t.RootCAs = pool
		return t
	}
	c.TLSConfig = set(c.TLSConfig)
	for i, f := range c.Fallbacks {
		g := *f
		g.TLSConfig = set(f.TLSConfig)
		c.Fallbacks[i] = &g
	}
}

// warnInsecure logs, on every connect, that the opt-out is in force.
func (a *Auth) warnInsecure(host string) {
	if a.cfg.InsecureUnverifiedDBTLS {
		a.log.Warn("dbauth: "+ParamInsecureDBTLS+"=true: sending the password over TLS that does not verify the server; anyone answering at this address gets it. Never use this outside a local test", "host", host)
	}
}
