package dbauth

import (
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

// FuzzDropQuoted: whatever a driver's parse error says about a DSN, the
// message kept holds no run of minQuoted bytes of the DSN (outside the
// "…" that replace them).
func FuzzDropQuoted(f *testing.F) {
	f.Add("cannot parse `postgres://alice:xxxxx@cial/pa&ss?x=1#%zz`: invalid URL escape \"%zz\"", "postgres://alice:xxxxx@cial/pa&ss?x=1#%zz")
	f.Add("default addr for network 'alice@example.com&idp_password=Hunter22' unknown", "alice@example.com&idp_password=Hunter22")
	f.Fuzz(func(t *testing.T, msg, dsn string) {
		out := dropQuoted(msg, dsn)
		for _, part := range strings.Split(out, "…") {
			for i := 0; i+minQuoted <= len(part); i++ {
				if strings.Contains(dsn, part[i:i+minQuoted]) {
					t.Fatalf("%q keeps %q of the DSN %q", out, part[i:i+minQuoted], dsn)
				}
			}
		}
	})
}
