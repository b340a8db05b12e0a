package dbauth

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/oktafed/oktafed/dbauth/internal/dbconn"
)

// SplitPostgresDSN takes dbauth's parameters out of a pgx connection
// string, either a URL (postgres://…?iam_region=…) or keyword/value form
// (host=… iam_region=…), applies them to cfg and returns the rest
// unchanged for pgx.ParseConfig.
//
// Its errors never quote the DSN's credentials.
func SplitPostgresDSN(dsn string, cfg *Config) (string, error) {
	rest, err := splitPostgresDSN(dsn, cfg)
	if err != nil {
		return "", scrub(err, dsn)
	}
	return rest, nil
}

func splitPostgresDSN(dsn string, cfg *Config) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		// Like net/url, the query starts at the first '?'; a '?' in a
		// password must be percent-encoded in a URL anyway.
		base, query, found := strings.Cut(dsn, "?")
		if !found {
			return dsn, misplacedParam(dsn)
		}
		var d dsnParams
		rest, err := stripQuery(query, &d)
		if err != nil {
			return "", err
		}
		if err := misplacedParam(base); err != nil {
			return "", err
		}
		d.merge(cfg)
		if rest == "" {
			return base, nil
		}
		return base + "?" + rest, nil
	}
	var d dsnParams
	rest, err := stripKeywordValue(dsn, &d)
	if err != nil {
		return "", err
	}
	d.merge(cfg)
	return rest, nil
}

// SplitMySQLDSN takes dbauth's parameters out of a go-sql-driver/mysql DSN
// ([user[:password]@][net[(addr)]]/dbname[?param=value&…]), applies them to
// cfg and returns the rest for mysql.ParseDSN.
//
// Its errors never quote the DSN's credentials.
func SplitMySQLDSN(dsn string, cfg *Config) (string, error) {
	rest, err := splitMySQLDSN(dsn, cfg)
	if err != nil {
		return "", scrub(err, dsn)
	}
	return rest, nil
}

func splitMySQLDSN(dsn string, cfg *Config) (string, error) {
	q := mysqlQueryStart(dsn)
	if q < 0 {
		return dsn, misplacedParam(dsn)
	}
	var d dsnParams
	rest, err := stripQuery(dsn[q+1:], &d)
	if err != nil {
		return "", err
	}
	if err := misplacedParam(dsn[:q]); err != nil {
		return "", err
	}
	d.merge(cfg)
	if rest == "" {
		return dsn[:q], nil
	}
	return dsn[:q+1] + rest, nil
}

// mysqlQueryStart finds the '?' that starts a MySQL DSN's parameters, or
// -1. go-sql-driver/mysql takes the last '/' as the start of the database
// name, which fails when a parameter value holds an unescaped '/' (the
// AWS Advanced Go Wrapper's examples put ARNs such as
// arn:aws:iam::123456789012:role/Name and URLs in the query as they are).
// So the query is the first '?' that follows "/dbname" (a '/' and a name
// with none of '/', '@', '(', ')') and is followed by name=value, where a
// '?' in the password (before the address) fails these tests; a DSN
// where none qualifies falls back to the driver's rule.
func mysqlQueryStart(dsn string) int {
	for i := 0; i < len(dsn); i++ {
		if dsn[i] != '?' {
			continue
		}
		head := dsn[:i]
		slash := strings.LastIndexByte(head, '/')
		if slash < 0 || strings.ContainsAny(head[slash+1:], "@()") {
			continue
		}
		first, _, _ := strings.Cut(dsn[i+1:], "&")
		name, _, hasEq := strings.Cut(first, "=")
		if first != "" && (!hasEq || name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !isNameByte(byte(r)) }) >= 0) {
			continue
		}
		return i
	}
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return -1
	}
	q := strings.IndexByte(dsn[slash:], '?')
	if q < 0 {
		return -1
	}
	return q + slash
}

// misplacedParam refuses a DSN where one of dbauth's parameters appears
// outside the parameter list, e.g. a MySQL DSN with no "/" before "?" or
// a value with an unescaped "/": the driver would otherwise take it for a
// host name or database name, send it on, and quote it (and a password)
// in its errors. The error names the parameter, never its value.
func misplacedParam(s string) error {
	for i := 0; i < len(s); i++ {
		if i > 0 && !isParamStart(s[i-1]) {
			continue
		}
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		if j == i || j >= len(s) || s[j] != '=' {
			continue
		}
		if name := s[i:j]; IsParam(name) || looksLikePluginParam(name) {
			return fmt.Errorf("dbauth: parameter %s is outside the DSN's parameter list, so the DSN is malformed: put parameters after \"/dbname?\" and percent-encode '/', '?', '&' and '@' in values", name)
		}
	}
	return nil
}

func isParamStart(b byte) bool {
	return b == '?' || b == '&' || b == ' ' || b == '\t' || b == '@' || b == '(' || b == ',' || b == ';'
}

func isNameByte(b byte) bool {
	return b == '_' || b == '-' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

// stripQuery removes dbauth's parameters from a URL query, keeping every
// other parameter byte for byte, in order.
func stripQuery(query string, d *dsnParams) (string, error) {
	var kept []string
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			kept = append(kept, part)
			continue
		}
		if !IsParam(key) {
			if looksLikePluginParam(key) {
				return "", unknownParamError(key)
			}
			kept = append(kept, part)
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return "", fmt.Errorf("dbauth: parameter %s is not valid URL encoding: percent-encode its value", key)
		}
		if err := d.add(key, value); err != nil {
			return "", err
		}
	}
	return strings.Join(kept, "&"), nil
}

func stripKeywordValue(dsn string, d *dsnParams) (string, error) {
	pairs, err := dbconn.ParseKeywordValue(dsn)
	if err != nil {
		return "", err
	}
	var kept []string
	for _, p := range pairs {
		if !IsParam(p.Key) {
			if looksLikePluginParam(p.Key) {
				return "", unknownParamError(p.Key)
			}
			kept = append(kept, dsn[p.Start:p.End])
			continue
		}
		if err := d.add(p.Key, p.Value); err != nil {
			return "", err
		}
	}
	return strings.Join(kept, " "), nil
}
