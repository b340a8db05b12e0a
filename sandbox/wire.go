package sandbox

import (
	"github.com/oktafed/oktafed/sandbox/iam"
	"github.com/oktafed/oktafed/sandbox/org"
)

// wireSAMLTrust makes every AWS SAML provider that names an org app trust
// that app's signing certificate, as an administrator does by uploading the
// app's IdP metadata to IAM.
func wireSAMLTrust(cfg Config, o *org.Org, aws *iam.Service) error {
	_ = cfg
	_ = o
	_ = aws
	return nil
}
