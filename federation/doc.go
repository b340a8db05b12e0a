// Package federation turns an Okta login into AWS credentials. It is built
// from small pieces, each testable alone: an Okta session source (password
// and MFA once, then the session cookie from the keystore), a SAML assertion
// source (the AWS app's form, read by package saml), role assumption with
// STS, and a credentials provider that refreshes through the Okta session
// and says when a person must log in again.
package federation

import "github.com/oktafed/oktafed/saml"

// Role is an AWS role offered by the Okta AWS app's assertion.
type Role = saml.Role
