package mysqlauth

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/internal/dbconn"
)

const leakSecret = "Hunter2-Okta-Secret"

func TestConnectorRequiresTLS(t *testing.T) {
	for _, dsn := range []string{
		"a@tcp(h:3306)/db?plugins=iam&iam_region=us-east-1&tls=false",
		"a@tcp(h:3306)/db?plugins=iam&iam_region=us-east-1&tls=skip-verify",
		"a@tcp(h:3306)/db?plugins=iam&iam_region=us-east-1&tls=preferred",
	} {
		if _, err := NewConnector(dsn, dbauth.Config{}); !errors.Is(err, dbconn.ErrUnverifiedTLS) {
			t.Errorf("%s: %v, want a refusal of unverified TLS", dsn, err)
		}
	}
	if _, err := NewConnector("a@tcp(h:3306)/db?plugins=iam&iam_region=us-east-1", dbauth.Config{}); err != nil {
		t.Errorf("tls unset (verified with the system roots): %v", err)
	}
}

// TestDSNErrorsNeverQuoteSecrets feeds MySQL DSNs that carry a password
// and cannot be parsed, in every form a careless user writes, and checks
// that the error says something useful without the password.
func TestDSNErrorsNeverQuoteSecrets(t *testing.T) {
	for _, dsn := range []string{
		// No "/" before the parameters: the driver takes everything for a
		// host name and quotes it ("default addr for network '…' unknown").
		"alice@example.com&idp_password=" + leakSecret + "&app_id=0oa1",
		"alice@example.com?idp_password=" + leakSecret + "&app_id=0oa1",
		"alice@tcp(example.com&idpPassword=" + leakSecret + ")/app",
		// An unescaped '/' inside the value.
		"alice@tcp(db:3306)/app?plugins=okta&idp_password=" + leakSecret + "/x&app_id=1",
		// The driver's own password, malformed around it.
		"alice:" + leakSecret + "@tcp(db:3306/app?plugins=iam",
		"alice:" + leakSecret + "@unix(/tmp/x/app?plugins=iam",
		"alice:" + leakSecret + "@tcp(db:3306)/app?plugins=iam&timeout=soon",
	} {
		_, err := NewConnector(dsn, dbauth.Config{})
		if err == nil {
			t.Errorf("%q: accepted", dsn)
			continue
		}
		if strings.Contains(err.Error(), leakSecret) || strings.Contains(fmt.Sprintf("%+v", err), leakSecret) {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

// TestMisplacedParameterIsRefused: a DSN where a plugin parameter cannot
// be a parameter is refused, naming the parameter.
func TestMisplacedParameterIsRefused(t *testing.T) {
	_, err := NewConnector("alice@example.com&idp_password="+leakSecret+"&app_id=0oa1", dbauth.Config{})
	if err == nil || !strings.Contains(err.Error(), "idp_password") || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("err = %v, want the misplaced parameter named", err)
	}
}

// TestParseErrorsNeverQuoteTheDSN: a DSN whose password holds characters
// that break parsing fails with an error that quotes no run of three or
// more of the DSN's bytes.
func TestParseErrorsNeverQuoteTheDSN(t *testing.T) {
	const dsn = "alice:sp3cial/pa&ss@tcp(db:3306/app?plugins=iam"
	_, err := NewConnector(dsn, dbauth.Config{})
	if err == nil {
		t.Fatalf("%q: accepted", dsn)
	}
	msg := err.Error()
	const ownWords = "dbauth: the driver cannot parse the DSN (quoted parts withheld): check the DSN's form and percent-encode '%', '/', '?', '#', '&' and '@' in the user name, password and values"
	for i := 0; i+3 <= len(msg); i++ {
		if strings.Contains(dsn, msg[i:i+3]) && !strings.Contains(ownWords, msg[i:i+3]) {
			t.Fatalf("the error quotes %q of the DSN: %s", msg[i:i+3], msg)
		}
	}
}

// TestDriverName: sql.Open with DriverName reads dbauth's parameters from
// the DSN and holds the connection to the same TLS rule.
func TestDriverName(t *testing.T) {
	db, err := sql.Open(DriverName, "a@tcp(h:3306)/db?plugins=iam&iam_region=us-east-1&tls=false")
	if err == nil {
		err = db.Ping()
		db.Close()
	}
	if !errors.Is(err, dbconn.ErrUnverifiedTLS) {
		t.Fatalf("tls=false through sql.Open: %v", err)
	}
	db, err = sql.Open(DriverName, "a@tcp(h:3306)/db?plugins=iam&iam_regoin=us-east-1")
	if err == nil {
		err = db.Ping()
		db.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "iam_region") {
		t.Fatalf("a misspelt parameter through sql.Open: %v", err)
	}
}
