// Package awsauth gives Go programs the AWS credentials that an oktafed
// login wrote, with no glue code: LoadConfig returns an aws.Config whose
// credentials come from oktafed's cache and refresh themselves through the
// saved Okta session. It never prompts. When a person must sign in again,
// calls fail with an error that matches ErrLoginRequired; a
// *LoginRequiredError names the oktafed profile to log in with.
//
// The Resolver underneath is the one implementation of "which AWS profile
// did oktafed write, and how is it refreshed"; the oktafed CLI uses it too.
// Its NewLogin builds a whole login as `oktafed login` does, in one call:
// it asks a person for nothing itself, only through the prompts and the
// browser the caller passes in LoginOptions.
package awsauth
