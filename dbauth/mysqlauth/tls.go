package mysqlauth

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/go-sql-driver/mysql"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbconn"
)

// myVerifyHint is the fix for MySQL.
const myVerifyHint = "leave tls unset or set tls=true (the system roots verify the server), or load the RDS CA bundle global-bundle.pem (" + dbauth.RDSCABundleURL + ") into a tls.Config's RootCAs, register it with mysql.RegisterTLSConfig(NAME, cfg) with InsecureSkipVerify false, and set tls=NAME"

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
			return &dbconn.UnverifiedTLSError{Setting: setting, Why: "sends the password in cleartext (and RDS accepts IAM tokens only over TLS)", Hint: myVerifyHint}
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
			return &dbconn.UnverifiedTLSError{Setting: setting, Why: "lets the connection fall back to plaintext and does not verify the server", Hint: myVerifyHint}
		case c.TLS.InsecureSkipVerify:
			return &dbconn.UnverifiedTLSError{Setting: setting, Why: "does not verify the server's certificate (InsecureSkipVerify)", Hint: myVerifyHint}
		case c.TLS.ServerName == "":
			return &dbconn.UnverifiedTLSError{Setting: setting, Why: "names no server to verify (tls.Config.ServerName is empty)", Hint: myVerifyHint}
		}
	}
	c.AllowFallbackToPlaintext = false
	return nil
}

// warnInsecure logs, on every connect, that the opt-out is in force.
func warnInsecure(cfg dbauth.Config, host string) {
	if cfg.InsecureUnverifiedDBTLS {
		cfg.Logger.Warn("dbauth: "+dbauth.ParamInsecureDBTLS+"=true: sending the password over TLS that does not verify the server; anyone answering at this address gets it. Never use this outside a local test", "host", host)
	}
}
