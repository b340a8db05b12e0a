package dbauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/oktafed/oktafed/secrets"
)

// secretEntry is a cached database login read from Secrets Manager.
type secretEntry struct {
	user, password string
	expires        time.Time
}

// secretFetcher reads one secret's string value.
type secretFetcher func(ctx context.Context) (string, error)

// secretLogin returns the cached secret, reading it on first use, after
// SecretExpiration and after a Reject.
func (a *Auth) secretLogin(ctx context.Context) (Login, error) {
	a.mu.Lock()
	e := a.secret
	a.mu.Unlock()
	if e == nil || !a.cfg.Now().Before(e.expires) {
		v, err := a.do(ctx, "secret", func(ctx context.Context) (any, error) {
			a.mu.Lock()
			e := a.secret
			a.mu.Unlock()
			if e != nil && a.cfg.Now().Before(e.expires) {
				return e, nil
			}
			return a.readSecret(ctx)
		})
		if err != nil {
			return Login{}, err
		}
		e = v.(*secretEntry)
	}
	return Login{User: e.user, Password: secret.New(e.password), secret: e}, nil
}

func (a *Auth) readSecret(ctx context.Context) (*secretEntry, error) {
	fetch, err := a.secretFetcher(ctx)
	if err != nil {
		return nil, err
	}
	s, err := fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("dbauth: read secret %s from Secrets Manager: %w", a.cfg.SecretID, err)
	}
	// RDS-managed and rotation-template secrets are JSON objects with
	// "username" and "password"; SecretUsernameKey and SecretPasswordKey
	// name other keys. Other keys (host, engine…) are ignored.
	var m map[string]any
	uk, pk := a.cfg.SecretUsernameKey, a.cfg.SecretPasswordKey
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		// The decoder's message may quote the secret; say only what is wrong.
		return nil, fmt.Errorf("dbauth: secret %s is not a JSON object: store the database login as {%q: …, %q: …}", a.cfg.SecretID, uk, pk)
	}
	user, _ := m[uk].(string)
	pass, _ := m[pk].(string)
	if user == "" || pass == "" {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("dbauth: secret %s has no string %q and %q (its keys: %s): set %s and %s to the keys that hold the user name and password", a.cfg.SecretID, uk, pk, strings.Join(keys, ", "), ParamSecretUsernameKey, ParamSecretPasswordKey)
	}
	v := struct{ Username, Password string }{user, pass}
	e := &secretEntry{user: v.Username, password: v.Password, expires: a.cfg.Now().Add(a.cfg.SecretExpiration)}
	a.mu.Lock()
	a.secret = e
	a.mu.Unlock()
	return e, nil
}

func (a *Auth) secretFetcher(ctx context.Context) (secretFetcher, error) {
	a.mu.Lock()
	f := a.fetcher
	a.mu.Unlock()
	if f != nil {
		return f, nil
	}
	base, err := a.loadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	region := a.cfg.SecretsRegion
	if region == "" {
		region = regionFromARN(a.cfg.SecretID)
	}
	if region == "" {
		region = base.Region
	}
	if region == "" {
		return nil, fmt.Errorf("dbauth: cannot tell the region of secret %s: set %s or AWS_REGION", a.cfg.SecretID, ParamSecretsRegion)
	}
	client := secretsmanager.NewFromConfig(base, func(o *secretsmanager.Options) {
		o.Region = region
		if a.cfg.SecretsEndpoint != "" {
			o.BaseEndpoint = aws.String(a.cfg.SecretsEndpoint)
		}
		if a.cfg.Credentials != nil {
			o.Credentials = a.cfg.Credentials
		}
	})
	// The secrets package reads (its errors say what to do, its values
	// print redacted); Auth keeps its own cache, which expires on
	// SecretExpiration and on a Reject, so the reader caches nothing.
	reader := secrets.NewWithAPI(client, secrets.WithTTL(-1))
	id := a.cfg.SecretID
	f = func(ctx context.Context) (string, error) {
		s, err := reader.Get(ctx, id)
		if err != nil {
			return "", err
		}
		if s.IsBinary() {
			return "", errors.New("the secret has no string value; store the login as a JSON string")
		}
		return s.Reveal(), nil
	}
	a.mu.Lock()
	a.fetcher = f
	a.mu.Unlock()
	return f, nil
}

// regionFromARN returns the region of arn:PARTITION:SERVICE:REGION:…, or "".
func regionFromARN(s string) string {
	parts := strings.SplitN(s, ":", 5)
	if len(parts) == 5 && parts[0] == "arn" {
		return parts[3]
	}
	return ""
}
