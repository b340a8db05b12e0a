package dbauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const redacted = "[redacted]"

// plainConfig is Config without its methods, so Format can print the
// fields with fmt's own rules once the secret is replaced.
type plainConfig Config

func (c Config) redactedCopy() plainConfig {
	p := plainConfig(c)
	// IdPPassword is a secret.String and prints redacted by itself; a
	// credentials provider is an interface whose value (a static
	// provider's keys) fmt would print.
	if p.Credentials != nil {
		p.Credentials = redactedProvider{}
	}
	p.overridden, p.ignored = nil, nil
	return p
}

// Format prints the Config with IdPPassword redacted under every verb.
func (c Config) Format(f fmt.State, verb rune) {
	out := fmt.Sprintf(fmt.FormatString(f, verb), c.redactedCopy())
	fmt.Fprint(f, strings.Replace(out, "dbauth.plainConfig", "dbauth.Config", 1))
}

// String is the %v form, with IdPPassword redacted.
func (c Config) String() string { return fmt.Sprintf("%+v", c) }

// GoString is the %#v form, with IdPPassword redacted.
func (c Config) GoString() string { return fmt.Sprintf("%#v", c) }

// paramValues returns the settings that have a DSN parameter, by
// snake_case name, with secrets redacted and unset ones left out.
func (c Config) paramValues() map[string]string {
	m := map[string]string{}
	for i := range params {
		p := &params[i]
		if p.Name == "" {
			continue // a camelCase-only spelling of a field listed already
		}
		var v string
		switch f := p.target(&c).(type) {
		case *string:
			v = *f
		case *secret.String:
			v = f.Reveal()
		case *Plugin:
			v = string(*f)
		case *int:
			if *f != 0 {
				v = strconv.Itoa(*f)
			}
		case *time.Duration:
			if *f != 0 {
				v = strconv.Itoa(int(f.Seconds()))
			}
		case *bool:
			switch {
			case p.Name == ParamSSLSecure && *f:
				v = "false"
			case *f:
				v = "true"
			}
		}
		if v == "" {
			continue
		}
		if p.Secret {
			v = redacted
		}
		m[p.Name] = v
	}
	return m
}

// LogValue logs the DSN-parameter settings, with IdPPassword redacted.
func (c Config) LogValue() slog.Value {
	m := c.paramValues()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	attrs := make([]slog.Attr, 0, len(names))
	for _, k := range names {
		attrs = append(attrs, slog.String(k, m[k]))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes the DSN-parameter settings as an object keyed by
// snake_case parameter name, with IdPPassword redacted. Function and
// client fields are left out.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.paramValues()) }

// GoString hides the password from %#v.
func (l Login) GoString() string { return l.String() }

// LogValue hides the password from slog.
func (l Login) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", l.User), slog.String("password", redacted))
}

// GoString hides the password from %#v.
func (l OktaLogin) GoString() string { return l.String() }

// LogValue hides the password from slog.
func (l OktaLogin) LogValue() slog.Value {
	return slog.GroupValue(slog.String("org_url", l.OrgURL), slog.String("app_id", l.AppID), slog.String("username", l.Username), slog.String("role_arn", l.RoleARN), slog.String("password", redacted))
}

// dsnSecrets returns the substrings of dsn that may be credentials: the
// values of password-like parameters in any form (URL query, keyword/
// value, MySQL), and the password part of "user:password@". It reads dsn
// loosely, since it is used on DSNs the drivers could not parse.
func dsnSecrets(dsn string) []string {
	var out []string
	add := func(v string) {
		v = strings.Trim(v, "'\"")
		if v == "" {
			return
		}
		out = append(out, v)
		if u, err := url.QueryUnescape(v); err == nil && u != v {
			out = append(out, u)
		}
		if e := url.QueryEscape(v); e != v {
			out = append(out, e)
		}
	}
	// name=value pairs, wherever they are.
	for i := 0; i < len(dsn); i++ {
		if dsn[i] != '=' {
			continue
		}
		j := i
		for j > 0 && isNameByte(dsn[j-1]) {
			j--
		}
		for j > 0 && (dsn[j-1] == ' ' || dsn[j-1] == '\t') {
			j--
			for j > 0 && isNameByte(dsn[j-1]) {
				j--
			}
		}
		name := strings.TrimSpace(dsn[j:i])
		if !secretName(name) {
			continue
		}
		k := i + 1
		for k < len(dsn) && dsn[k] == ' ' {
			k++
		}
		end := k
		if end < len(dsn) && dsn[end] == '\'' {
			end++
			for end < len(dsn) && dsn[end] != '\'' {
				if dsn[end] == '\\' {
					end++
				}
				end++
			}
		} else {
			for end < len(dsn) && dsn[end] != '&' && dsn[end] != ' ' && dsn[end] != '\t' && dsn[end] != ')' {
				end++
			}
		}
		add(dsn[k:min(end, len(dsn))])
	}
	// user:password@ (URL userinfo or MySQL), for each '@' there is.
	start := 0
	if i := strings.Index(dsn, "://"); i >= 0 {
		start = i + 3
	}
	for i := start; i < len(dsn); i++ {
		if dsn[i] != '@' {
			continue
		}
		if colon := strings.IndexByte(dsn[start:i], ':'); colon >= 0 {
			add(dsn[start+colon+1 : i])
		}
	}
	return out
}

// secretName reports whether a parameter of that name holds a credential:
// dbauth's secret parameters and the drivers' passwords.
func secretName(name string) bool {
	if isSecretParam(name) {
		return true
	}
	n := normalizeName(name)
	return strings.Contains(n, "password") || strings.Contains(n, "passwd") || n == "pass" || n == "pwd" ||
		strings.Contains(n, "token") || strings.Contains(n, "secret") && !strings.Contains(n, "secretid")
}

// scrub returns err with every possible credential of dsn removed from its
// message. The driver's error is not kept in the chain, so nothing can
// reach the original text through errors.Unwrap. When a credential is too
// short to replace safely, only a generic message is kept.
func scrub(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	secrets := dsnSecrets(dsn)
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, s := range secrets {
		if !strings.Contains(msg, s) {
			continue
		}
		if len(s) < 4 {
			return errors.New("dbauth: the DSN cannot be parsed (details withheld because they would show a password): check its form")
		}
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return &scrubbedError{msg: msg}
}

// DSNError is a driver's refusal to parse what SplitPostgresDSN or
// SplitMySQLDSN left of dsn, with every credential of dsn and every run of
// its bytes taken out, so that it can be returned or logged: a driver
// package returns it in place of the driver's own error.
func DSNError(err error, dsn string) error {
	msg := scrub(err, dsn).Error()
	return &scrubbedError{msg: "dbauth: the driver cannot parse the DSN (quoted parts withheld): " + dropQuoted(msg, dsn) + ": check the DSN's form and percent-encode '%', '/', '?', '#', '&' and '@' in the user name, password and values"}
}

// minQuoted is the shortest run of the DSN's bytes that dropQuoted takes
// out of a message: shorter runs are ordinary words and punctuation.
const minQuoted = 3

// dropQuoted replaces every run of minQuoted or more bytes of msg that
// also occurs in dsn with "…", so a driver's parse error never quotes the
// DSN, even when a malformed DSN defeats the search for its password (a
// URL with an unescaped '/', '#' or '%' in it). What stays is the
// driver's own wording: what is wrong, not where.
func dropQuoted(msg, dsn string) string {
	if dsn == "" {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		n := 0
		for l := minQuoted; i+l <= len(msg) && strings.Contains(dsn, msg[i:i+l]); l++ {
			n = l
		}
		if n == 0 {
			b.WriteByte(msg[i])
			i++
			continue
		}
		b.WriteString("…")
		i += n
	}
	return b.String()
}

type scrubbedError struct{ msg string }

func (e *scrubbedError) Error() string { return e.msg }

// plainEndpoint is Endpoint without its methods.
type plainEndpoint Endpoint

// Format prints the Endpoint with Password redacted under every verb.
func (e Endpoint) Format(f fmt.State, verb rune) {
	p := plainEndpoint(e) // Password is a secret.String
	out := fmt.Sprintf(fmt.FormatString(f, verb), p)
	fmt.Fprint(f, strings.Replace(out, "dbauth.plainEndpoint", "dbauth.Endpoint", 1))
}

// LogValue hides the password from slog.
func (e Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", e.Host), slog.Int("port", e.Port), slog.String("user", e.User), slog.String("password", redacted))
}

// redactedProvider stands in for Config.Credentials when a Config is
// printed: the provider itself may hold keys (a static provider does).
type redactedProvider struct{}

func (redactedProvider) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("dbauth: redacted")
}

func (redactedProvider) String() string { return "[credentials provider]" }
