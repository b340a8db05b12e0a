// Package federation turns an Okta login into AWS credentials. It is built
// from small pieces, each testable alone, composed as x/oauth2 composes
// token sources and aws-vault composes credential providers:
//
//   - assertion sources, one interface (AssertionSource) for every way of
//     getting the AWS app's SAML assertion: Session (the saved Okta session,
//     the sign-in lock and --force) in front of a sign-in source, Password
//     (password and MFA), Device (the OIDC device flow) or Direct (Okta
//     Direct Authentication); sign-ins outside Okta's APIs, such as the
//     person's browser (package federation/browser, which only the CLI
//     links), hand what they captured to App.FromCaptured; NewSignIn
//     chooses the way of signing in (the caller's, the profile's sign_in,
//     the org's kind) and builds it behind the saved session, in one call;
//   - the STS assumer (AssumeRoles: parallel AssumeRoleWithSAML, each role
//     for the longest session it allows);
//   - the profile writer (WriteProfiles, into the AWS CLI's files);
//   - Login, which runs the three for a person, and Reassume for refreshes;
//   - Cache, the caching wrapper: fresh credentials from the credentials
//     file, else a refresh through the Okta session, stored back.
//
// The package reads the oktafed profile and never edits it: what a login
// learns comes back as Changes for the caller to save.
package federation

import (
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/saml"
)

// Role is an AWS role offered by the Okta AWS app's assertion.
type Role = saml.Role

// Assertion is the SAML assertion an AssertionSource yields: the
// SAMLResponse as STS wants it and what it says (issuer, audiences,
// validity, roles, session name and duration).
type Assertion = saml.Assertion

// Profile is an oktafed profile as the CLI keeps it in its config file:
// the Okta org and AWS app, the user, the MFA preference, the role
// selector and profile-name template. A program builds one to log in
// without the CLI, or gets the CLI's from awsauth.Resolver.
type Profile = config.Profile

// Duration is the type of a Profile's session lengths (Duration and
// RoleMaxSessions): a time.Duration, written in the config file as a Go
// duration ("1h30m") or a number of seconds. Convert either way:
// federation.Duration(time.Hour), time.Duration(p.Duration).
type Duration = config.Duration
