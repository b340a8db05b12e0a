// Package m2m gets AWS credentials for a machine from its Okta app, with
// no person and no keyring: the app's private key signs a client assertion
// (private_key_jwt), a custom authorization server answers the client
// credentials grant with an access token, and STS exchanges that token for
// role credentials with AssumeRoleWithWebIdentity. The Provider implements
// aws.CredentialsProvider; wrap it with Cache for in-process reuse.
package m2m
