package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/federation"
)

// awsCredentialsFor returns fresh credentials for an oktafed-owned AWS
// profile. The common case, cached credentials that are still fresh, reads
// one file and touches neither the keyring nor the network; that keeps
// credential_process fast. Otherwise it refreshes through the Okta session,
// and signs in again only when allowLogin is set.
func awsCredentialsFor(ctx context.Context, ios *IOStreams, owned federation.Owned, allowLogin, interactive bool) (aws.Credentials, *federation.Login, error) {
	creds, ok, err := resolverFor(ios).Cached(owned)
	if err != nil {
		return aws.Credentials{}, nil, err
	}
	if ok {
		return creds, nil, nil
	}
	l, err := loginForOwned(ctx, ios, owned, allowLogin, interactive)
	if err != nil {
		return aws.Credentials{}, nil, err
	}
	creds, err = l.Credentials(ctx, owned.AWSProfile)
	return creds, l, err
}

// refreshWindow is how long before expiry the CLI refreshes credentials.
const refreshWindow = 5 * time.Minute

// loginForOwned builds the pipeline that refreshes an owned AWS profile.
func loginForOwned(ctx context.Context, ios *IOStreams, owned federation.Owned, allowLogin, interactive bool) (*federation.Login, error) {
	cfg, _, err := loadConfig(ios)
	if err != nil {
		return nil, err
	}
	p, err := cfg.Profile(owned.OktafedProfile)
	if err != nil {
		return nil, fmt.Errorf("AWS profile %s was written for oktafed profile %q, which is no longer configured: %w", owned.AWSProfile, owned.OktafedProfile, err)
	}
	secrets, err := openSecrets(ios)
	if err != nil {
		return nil, err
	}
	l, err := newLogin(ctx, p, loginDeps{ios: ios, secrets: secrets, interactive: interactive, allowPassword: allowLogin})
	if err != nil {
		return nil, err
	}
	l.RefreshWindow = refreshWindow
	return l, nil
}

// ownedProvider is an aws.CredentialsProvider for an owned AWS profile
// that refreshes through the Okta session (never prompting), for children
// that outlive their first credentials.
func ownedProvider(ios *IOStreams, owned federation.Owned) aws.CredentialsProvider {
	return aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		c, _, err := awsCredentialsFor(ctx, ios, owned, false, false)
		return c, err
	}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = refreshWindow })
}
