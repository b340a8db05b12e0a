package sandbox

import (
	"fmt"

	"github.com/oktafed/oktafed/sandbox/internal/iam"
	"github.com/oktafed/oktafed/sandbox/internal/org"
)

// wireSAMLTrust makes every AWS SAML provider that names an org app trust
// that app's IdP metadata, as an administrator does by uploading the app's
// metadata document to IAM.
func wireSAMLTrust(cfg Config, o *org.Org, aws *iam.Service) error {
	for _, p := range cfg.AWS.SAMLProviders {
		if p.OktaApp == "" {
			continue
		}
		md, err := o.SAMLMetadata(p.OktaApp)
		if err != nil {
			return fmt.Errorf("sandbox: SAML provider %s names okta_app %q: %w", p.ARN, p.OktaApp, err)
		}
		if err := aws.AddSAMLProviderMetadata(p.ARN, md); err != nil {
			return fmt.Errorf("sandbox: SAML provider %s: %w", p.ARN, err)
		}
	}
	return nil
}
