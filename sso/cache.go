// Package sso signs in to AWS IAM Identity Center the way `aws sso login`
// does (SSO OIDC device authorization), keeps the token in the AWS CLI's
// cache (~/.aws/sso/cache) in the CLI's own format, and writes
// [sso-session] sections and sso_* profile keys with awsfile, so the AWS
// CLI, the SDKs and oktafed share one login.
package sso

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/internal/atomicfile"
)

// Token is one file of the AWS CLI's SSO token cache. Field names are the
// CLI's; the SDKs read the same files. It holds bearer tokens and a client
// secret: String leaves them out.
type Token struct {
	StartURL              string        `json:"startUrl"`
	Region                string        `json:"region"`
	AccessToken           secret.String `json:"accessToken"`
	ExpiresAt             time.Time     `json:"-"`
	ClientID              string        `json:"clientId,omitempty"`
	ClientSecret          secret.String `json:"clientSecret,omitempty"`
	RegistrationExpiresAt time.Time     `json:"-"`
	RefreshToken          secret.String `json:"refreshToken,omitempty"`
}

// String describes the token without its secrets.
func (t *Token) String() string {
	return fmt.Sprintf("sso.Token{StartURL: %s, Region: %s, ExpiresAt: %s, AccessToken: [redacted]}", t.StartURL, t.Region, t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString keeps %#v from printing the secrets.
func (t *Token) GoString() string { return t.String() }

// tokenJSON is the file's shape: the CLI writes times as UTC RFC 3339
// with a Z and no fraction.
type tokenJSON struct {
	StartURL              string `json:"startUrl"`
	Region                string `json:"region"`
	AccessToken           string `json:"accessToken"`
	ExpiresAt             string `json:"expiresAt"`
	ClientID              string `json:"clientId,omitempty"`
	ClientSecret          string `json:"clientSecret,omitempty"`
	RegistrationExpiresAt string `json:"registrationExpiresAt,omitempty"`
	RefreshToken          string `json:"refreshToken,omitempty"`
}

const cacheTime = "2006-01-02T15:04:05Z"

// maxCacheFile caps what is read from a cache file; real ones are ~2 KB.
const maxCacheFile = 1 << 20

// cacheFile writes the CLI's format, secrets included. Token itself has
// no MarshalJSON: encoding/json prints its secrets as [redacted], so a
// token logged as JSON shows none.
func (t Token) cacheFile() ([]byte, error) {
	j := tokenJSON{StartURL: t.StartURL, Region: t.Region, AccessToken: t.AccessToken.Reveal(), ExpiresAt: t.ExpiresAt.UTC().Format(cacheTime),
		ClientID: t.ClientID, ClientSecret: t.ClientSecret.Reveal(), RefreshToken: t.RefreshToken.Reveal()}
	if !t.RegistrationExpiresAt.IsZero() {
		j.RegistrationExpiresAt = t.RegistrationExpiresAt.UTC().Format(cacheTime)
	}
	return json.Marshal(j)
}

// ParseToken reads a cache file's content. Files other tools wrote are
// untrusted input: times may carry fractions or offsets, and an access
// token and expiry are required.
func ParseToken(data []byte) (*Token, error) {
	if len(data) > maxCacheFile {
		return nil, errors.New("sso: token cache file is too large")
	}
	var j tokenJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("sso: token cache file is not JSON the AWS CLI writes: %w", err)
	}
	if j.AccessToken == "" {
		return nil, errors.New("sso: token cache file has no accessToken")
	}
	t := &Token{StartURL: j.StartURL, Region: j.Region, AccessToken: secret.New(j.AccessToken), ClientID: j.ClientID, ClientSecret: secret.New(j.ClientSecret), RefreshToken: secret.New(j.RefreshToken)}
	var err error
	if t.ExpiresAt, err = parseCacheTime(j.ExpiresAt); err != nil {
		return nil, fmt.Errorf("sso: token cache expiresAt: %w", err)
	}
	if j.RegistrationExpiresAt != "" {
		if t.RegistrationExpiresAt, err = parseCacheTime(j.RegistrationExpiresAt); err != nil {
			return nil, fmt.Errorf("sso: token cache registrationExpiresAt: %w", err)
		}
	}
	return t, nil
}

func parseCacheTime(s string) (time.Time, error) {
	t, err := parseCacheTimeAnyYear(s)
	// Years a cache never holds would not survive the CLI's own format.
	if err == nil && (t.Year() < 1970 || t.Year() > 9999) {
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	return t, err
}

func parseCacheTimeAnyYear(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Older CLIs wrote "+0000" or "UTC" suffixes.
		for _, layout := range []string{"2006-01-02T15:04:05-0700", "2006-01-02T15:04:05UTC"} {
			if t2, err2 := time.Parse(layout, s); err2 == nil {
				return t2.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// CacheKey is the cache file's base name for a login: the SHA-1 of the
// sso-session name, or of the start URL for legacy profiles that set
// sso_start_url themselves, as the AWS CLI and SDKs compute it.
func CacheKey(sessionNameOrStartURL string) string {
	sum := sha1.Sum([]byte(sessionNameOrStartURL))
	return hex.EncodeToString(sum[:]) + ".json"
}

// DefaultCacheDir is ~/.aws/sso/cache, where the CLI and SDKs look (they
// take no variable to move it; HOME moves it). getenv reads HOME
// (os.Getenv when nil).
func DefaultCacheDir(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	home, err := getenv("HOME"), error(nil)
	if home == "" {
		home, err = os.UserHomeDir()
	}
	if err != nil {
		return "", fmt.Errorf("sso: find the home directory for ~/.aws/sso/cache: %w (set HOME)", err)
	}
	return filepath.Join(home, ".aws", "sso", "cache"), nil
}

// ReadToken reads the cached token for key. A missing file gives an error
// matching fs.ErrNotExist.
func ReadToken(dir, key string) (*Token, error) {
	f, err := os.Open(filepath.Join(dir, key))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, 0, 4096)
	buf := make([]byte, 4096)
	for len(data) <= maxCacheFile {
		n, err := f.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			break
		}
	}
	return ParseToken(data)
}

// WriteToken stores t for key atomically, with mode 0600 in a 0700
// directory, as the CLI does.
func WriteToken(dir, key string, t *Token) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sso: create %s: %w", dir, err)
	}
	data, err := t.cacheFile()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, key), data, 0o600); err != nil {
		return fmt.Errorf("sso: write the token cache: %w", err)
	}
	return nil
}

// RemoveToken deletes a cached token; a missing one is not an error.
func RemoveToken(dir, key string) error {
	err := os.Remove(filepath.Join(dir, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// CachedTokens lists the cache's token files (key → token), skipping
// files that are not tokens (the CLI also caches client registrations
// there).
func CachedTokens(dir string) (map[string]*Token, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*Token{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if t, err := ReadToken(dir, e.Name()); err == nil {
			out[e.Name()] = t
		}
	}
	return out, nil
}
