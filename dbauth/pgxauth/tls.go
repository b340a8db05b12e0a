package pgxauth

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbconn"
)

// pgVerifyHint is the fix for every PostgreSQL TLS setting that does not
// verify the server.
const pgVerifyHint = "use sslmode=verify-full with sslrootcert=FILE, where FILE is the RDS CA bundle global-bundle.pem (" + dbauth.RDSCABundleURL + "; for oktafed sandbox, the front's ca_file), or sslrootcert=system when the server's CA is in the system roots; PGSSLMODE and PGSSLROOTCERT in the environment count as DSN settings"

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
	} else if pairs, err := dbconn.ParseKeywordValue(dsn); err == nil {
		for _, p := range pairs {
			if p.Key == "sslmode" {
				mode = p.Value
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
				return &dbconn.UnverifiedTLSError{Setting: mode, Why: "sends the password in cleartext (and RDS accepts IAM tokens only over TLS)", Hint: pgVerifyHint}
			}
			return &dbconn.UnverifiedTLSError{Setting: mode, Why: "lets the connection fall back to cleartext", Hint: pgVerifyHint}
		case at.tls == nil:
			continue // dropped: never cleartext, even with the opt-out
		case !insecure && (at.tls.InsecureSkipVerify || at.tls.ServerName == ""):
			return &dbconn.UnverifiedTLSError{Setting: mode, Why: "does not verify the server's certificate and host name", Hint: pgVerifyHint}
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
		return &dbconn.UnverifiedTLSError{Setting: mode, Why: "sends the password in cleartext (and RDS accepts IAM tokens only over TLS)", Hint: pgVerifyHint}
	}
	c.Fallbacks = kept
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
func warnInsecure(cfg dbauth.Config, host string) {
	if cfg.InsecureUnverifiedDBTLS {
		cfg.Logger.Warn("dbauth: "+dbauth.ParamInsecureDBTLS+"=true: sending the password over TLS that does not verify the server; anyone answering at this address gets it. Never use this outside a local test", "host", host)
	}
}
