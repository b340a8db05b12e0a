// Package stsclient builds the STS client that oktafed's unsigned STS
// calls use (AssumeRoleWithSAML in federation, AssumeRoleWithWebIdentity
// in m2m), so that the machine-credentials path need not import the login
// pipeline to get one.
package stsclient

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DefaultRegion is the region of STS calls when none is configured.
const DefaultRegion = "us-east-1"

// New returns an STS client that needs no AWS credentials (the calls are
// authenticated by the SAML assertion or web identity token they carry)
// for region (DefaultRegion when empty), at endpoint when it is not empty,
// sending with hc when it is not nil.
func New(region, endpoint string, hc aws.HTTPClient) *sts.Client {
	if region == "" {
		region = DefaultRegion
	}
	opts := sts.Options{Region: region, Credentials: aws.AnonymousCredentials{}}
	if hc != nil {
		opts.HTTPClient = hc
	}
	if endpoint != "" {
		opts.BaseEndpoint = aws.String(endpoint)
	}
	return sts.New(opts)
}
