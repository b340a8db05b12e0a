package federation

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/singleflight"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/owned"
)

// Cache serves the credentials of AWS profiles oktafed wrote from the
// credentials file while they are fresh, and otherwise from Refresh,
// storing what it returns for the next caller (another process too). Many
// callers at once share one refresh per profile. It is the caching wrapper
// around a refresh, as aws-vault's cached session provider is.
type Cache struct {
	Files Files
	// Refresh returns new credentials for an owned profile, e.g.
	// Login.Reassume.
	Refresh func(ctx context.Context, o Owned) (aws.Credentials, error)
	// Clock decides freshness (any value with a Now method); the wall
	// clock when nil.
	Clock interface{ Now() time.Time }
	// Window is how long before expiry credentials count as stale; the
	// module's one window (owned.RefreshWindow) when zero.
	Window time.Duration
	// Events, when set, hears of credentials that could not be stored.
	Events func(Event)

	flight singleflight.Group
}

func (c *Cache) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return owned.RefreshWindow
}

// Fresh returns the stored credentials of awsProfile; ok is false when
// they expire within the window. It reads one file and touches neither
// the keyring nor the network.
func (c *Cache) Fresh(awsProfile string) (creds aws.Credentials, o Owned, ok bool, err error) {
	return CachedCredentials(c.Files, awsProfile, clock.Or(c.Clock).Now(), c.window())
}

// Credentials returns valid credentials for awsProfile: the stored ones
// while fresh, else Refresh's, stored back.
func (c *Cache) Credentials(ctx context.Context, awsProfile string) (aws.Credentials, error) {
	creds, o, ok, err := c.Fresh(awsProfile)
	if err != nil || ok {
		return creds, err
	}
	v, err, _ := c.flight.Do(awsProfile, func() (any, error) {
		creds, err := c.Refresh(ctx, o)
		if err != nil {
			return aws.Credentials{}, err
		}
		if err := StoreCredentials(c.Files, o, creds); err != nil && c.Events != nil {
			// The new credentials are good; failing to cache them only
			// means the next caller refreshes again. Hand them out and
			// say why.
			c.Events(Event{Step: "warning", Detail: "could not cache the refreshed credentials of " + o.AWSProfile + ", so the next use refreshes again: " + err.Error()})
		}
		return creds, nil
	})
	if err != nil {
		return aws.Credentials{}, err
	}
	return v.(aws.Credentials), nil
}

// Provider is an aws.CredentialsProvider for awsProfile. Wrap it in
// aws.NewCredentialsCache for in-process reuse.
func (c *Cache) Provider(awsProfile string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		return c.Credentials(ctx, awsProfile)
	})
}
