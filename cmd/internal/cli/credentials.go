package cli

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
)

// refresher is the library's one refresh path for oktafed-owned AWS
// profiles (awsauth.Resolver over awsauth.KeyringSessions), as the run's
// factory built it: the environment comes through ios, and on a terminal
// the encrypted-file keyring may ask for its passphrase. The common case,
// cached credentials that are still fresh, reads one file and touches
// neither the keyring nor the network; that keeps credential_process fast.
// Otherwise it refreshes through the Okta session and never signs in with
// a password.
func refresher(ios *IOStreams) *awsauth.Resolver { return resolverFor(ios) }

// awsCredentialsFor returns fresh credentials for an oktafed-owned AWS
// profile through the refresh path.
func awsCredentialsFor(ctx context.Context, ios *IOStreams, owned federation.Owned) (aws.Credentials, error) {
	return refresher(ios).Credentials(ctx, owned)
}

// ownedProvider is an aws.CredentialsProvider for an owned AWS profile
// that refreshes through the Okta session (never signing in), for
// children that outlive their first credentials.
func ownedProvider(ios *IOStreams, owned federation.Owned) aws.CredentialsProvider {
	return resolverFor(ios).Provider(owned)
}
