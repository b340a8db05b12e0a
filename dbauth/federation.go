package dbauth

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/federation"
)

// DefaultFederation is the okta plugin's Okta → SAML → AssumeRoleWithSAML
// provider when Config.Federation is nil: package federation's SAML
// provider, which keeps the Okta session in memory so refreshes reuse it
// rather than signing in again. STS is reached at l.STSEndpoint
// (Config.STSEndpoint, else AWS_ENDPOINT_URL_STS as the AWS SDKs read
// it) when set. It gives no MFA callbacks, so it passes only
// factors that need no answer typed in: an Okta Verify push is sent and
// waited for, but with number matching the number is shown nowhere. For
// passcodes (TOTP, SMS, email) or to show the number, set
// Config.Federation to a function that builds federation.NewSAMLProvider
// with SAMLConfig.MFA (Code, PushNumber), or with the CLI's keyring
// session.
func DefaultFederation(_ context.Context, l OktaLogin) (aws.CredentialsProvider, error) {
	password := l.Password
	return federation.NewSAMLProvider(federation.SAMLConfig{
		OrgURL: l.OrgURL, AppURL: l.AppURL, AppID: l.AppID,
		Username: l.Username,
		Password: func(context.Context) (string, error) { return password.Reveal(), nil },
		RoleARN:  l.RoleARN, PrincipalARN: l.PrincipalARN,
		Region: l.Region, STSEndpoint: l.STSEndpoint,
		HTTPClient: l.HTTPClient, STSHTTPClient: l.STSHTTPClient,
	})
}
