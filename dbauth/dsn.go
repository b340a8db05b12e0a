package dbauth

import (
	"fmt"
	"net/url"
	"strings"
)

// SplitPostgresDSN takes dbauth's parameters out of a pgx connection
// string, either a URL (postgres://…?iam_region=…) or keyword/value form
// (host=… iam_region=…), applies them to cfg and returns the rest
// unchanged for pgx.ParseConfig.
func SplitPostgresDSN(dsn string, cfg *Config) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		// Like net/url, the query starts at the first '?'; a '?' in a
		// password must be percent-encoded in a URL anyway.
		base, query, found := strings.Cut(dsn, "?")
		if !found {
			return dsn, nil
		}
		rest, err := stripQuery(query, cfg)
		if err != nil {
			return "", err
		}
		if rest == "" {
			return base, nil
		}
		return base + "?" + rest, nil
	}
	return stripKeywordValue(dsn, cfg)
}

// SplitMySQLDSN takes dbauth's parameters out of a go-sql-driver/mysql DSN
// ([user[:password]@][net[(addr)]]/dbname[?param=value&…]), applies them to
// cfg and returns the rest for mysql.ParseDSN.
func SplitMySQLDSN(dsn string, cfg *Config) (string, error) {
	// go-sql-driver/mysql reads parameters after the last '/', so a '?' in
	// the password (before that slash) is not a separator.
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return dsn, nil
	}
	q := strings.IndexByte(dsn[slash:], '?')
	if q < 0 {
		return dsn, nil
	}
	q += slash
	rest, err := stripQuery(dsn[q+1:], cfg)
	if err != nil {
		return "", err
	}
	if rest == "" {
		return dsn[:q], nil
	}
	return dsn[:q+1] + rest, nil
}

// stripQuery removes dbauth's parameters from a URL query, keeping every
// other parameter byte for byte, in order.
func stripQuery(query string, cfg *Config) (string, error) {
	var kept []string
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil || !IsParam(key) {
			kept = append(kept, part)
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return "", fmt.Errorf("dbauth: parameter %s is not valid URL encoding: percent-encode its value", key)
		}
		if err := cfg.ApplyParam(key, value); err != nil {
			return "", err
		}
	}
	return strings.Join(kept, "&"), nil
}

// kvPair is one keyword=value setting of a libpq connection string, with
// the byte span it occupies so the others can be kept as they were.
type kvPair struct {
	key, value string
	start, end int
}

// parseKeywordValue splits a libpq keyword/value connection string:
// settings are separated by whitespace, '=' may have spaces around it, and
// a value is either single-quoted (with \' and \\ escapes) or runs to the
// next whitespace (with backslash escapes).
func parseKeywordValue(s string) ([]kvPair, error) {
	var pairs []kvPair
	i := 0
	isSpace := func(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v' }
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return pairs, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, fmt.Errorf("dbauth: connection string: expected keyword=value at byte %d", start)
		}
		i++ // '='
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("dbauth: connection string: unterminated quoted value for %s", key)
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				val.WriteByte(s[i])
				i++
			}
		}
		pairs = append(pairs, kvPair{key: key, value: val.String(), start: start, end: i})
	}
}

func stripKeywordValue(dsn string, cfg *Config) (string, error) {
	pairs, err := parseKeywordValue(dsn)
	if err != nil {
		return "", err
	}
	var kept []string
	for _, p := range pairs {
		if !IsParam(p.key) {
			kept = append(kept, dsn[p.start:p.end])
			continue
		}
		if err := cfg.ApplyParam(p.key, p.value); err != nil {
			return "", err
		}
	}
	return strings.Join(kept, " "), nil
}
