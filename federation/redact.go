package federation

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/oktafed/oktafed/secret"
)

// plainAssumed is Assumed without its methods, so Format can print the
// fields by fmt's rules once the credentials' secrets are replaced.
type plainAssumed Assumed

// redacted is a copy whose SecretAccessKey and SessionToken (aws.Credentials
// is the SDK's type, with plain string fields) read [redacted].
func (a Assumed) redacted() plainAssumed {
	p := plainAssumed(a)
	if p.Credentials.SecretAccessKey != "" {
		p.Credentials.SecretAccessKey = secret.Redacted
	}
	if p.Credentials.SessionToken != "" {
		p.Credentials.SessionToken = secret.Redacted
	}
	return p
}

// Format prints the Assumed with the credentials' secrets redacted under
// every verb.
func (a Assumed) Format(f fmt.State, verb rune) {
	out := fmt.Sprintf(fmt.FormatString(f, verb), a.redacted())
	fmt.Fprint(f, strings.Replace(out, "federation.plainAssumed", "federation.Assumed", 1))
}

// LogValue logs the role, the access key ID and the expiry, never the
// secret key or session token.
func (a Assumed) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("role", a.Role.RoleARN), slog.String("access_key_id", a.Credentials.AccessKeyID), slog.Time("expires", a.Credentials.Expires)}
	if a.Err != nil {
		attrs = append(attrs, slog.String("error", a.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes the fields with the credentials' secrets redacted.
func (a Assumed) MarshalJSON() ([]byte, error) { return json.Marshal(a.redacted()) }
