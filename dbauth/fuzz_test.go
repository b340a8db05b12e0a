package dbauth

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// checkSplitStable: whatever parses, splitting the remainder again finds
// no dbauth parameter and changes nothing.
func checkSplitStable(t *testing.T, dsn string, split func(string, *Config) (string, error)) {
	var c Config
	rest, err := split(dsn, &c)
	if err != nil {
		return
	}
	var c2 Config
	rest2, err := split(rest, &c2)
	if err != nil {
		t.Fatalf("remainder %q of %q does not parse: %v", rest, dsn, err)
	}
	if rest2 != rest {
		t.Fatalf("second split of %q changed it to %q", rest, rest2)
	}
	if !reflect.DeepEqual(c2, Config{}) {
		t.Fatalf("remainder %q of %q still holds dbauth parameters: %+v", rest, dsn, c2)
	}
}

func FuzzSplitPostgresDSN(f *testing.F) {
	f.Add("postgres://alice@db:5432/app?sslmode=verify-full&plugins=okta&idp_endpoint=x.okta.com&iam_token_expiration=600")
	f.Add("host=db user=alice iam_region = eu-west-1 password='a b\\' c' db_user=bob")
	f.Add("postgresql://h/db?iam_default_port=6543&ssl_secure=false&app_id=%30oa")
	f.Fuzz(func(t *testing.T, dsn string) { checkSplitStable(t, dsn, SplitPostgresDSN) })
}

func FuzzSplitMySQLDSN(f *testing.F) {
	f.Add("alice:pa?ss/x@tcp(db:3306)/app?tls=true&plugins=iam&iam_region=us-west-2&parseTime=true")
	f.Add("u@unix(/tmp/s)/db?secrets_manager_secret_id=prod%2Fdb&plugins=secrets")
	f.Fuzz(func(t *testing.T, dsn string) { checkSplitStable(t, dsn, SplitMySQLDSN) })
}

// FuzzStartupWatcher feeds any server bytes, in any split, to the pgxpool
// refusal watcher: it must not panic, and must report a refusal only for
// an ErrorResponse with 28P01 or 28000.
func FuzzStartupWatcher(f *testing.F) {
	refusal := []byte{'E', 0, 0, 0, 0x17, 'S', 'F', 'A', 'T', 'A', 'L', 0, 'C', '2', '8', 'P', '0', '1', 0, 'M', 'n', 'o', 0, 0}
	f.Add(refusal, uint8(3))
	f.Add([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3, 'R', 0, 0, 0, 8, 0, 0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		refused := false
		w := &startupWatcher{onRefused: func() { refused = true }}
		n := int(chunk)%16 + 1
		for i := 0; i < len(b); i += n {
			w.observe(b[i:min(i+n, len(b))])
		}
		if refused && !bytes.Contains(b, []byte("28")) {
			t.Fatalf("refusal reported for %q", b)
		}
	})
}

// FuzzScrub: whatever the DSN, scrubbing an error that quotes it whole
// leaves no value of a password parameter of 4 bytes or more.
func FuzzScrub(f *testing.F) {
	f.Add("alice@example.com&idp_password=Hunter22&app_id=1")
	f.Add("postgres://a:Hunter22@h/db?x=1")
	f.Add("host=h password='it\\'s secret' idpPassword=abcdef")
	f.Fuzz(func(t *testing.T, dsn string) {
		msg := scrub(errors.New("bad DSN "+dsn), dsn).Error()
		for _, s := range dsnSecrets(dsn) {
			if len(s) >= 4 && strings.Contains(msg, s) {
				t.Fatalf("%q survives in %q", s, msg)
			}
		}
	})
}
