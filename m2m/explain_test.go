package m2m

import (
	"errors"
	"testing"

	"github.com/aws/smithy-go"
)

// explainSTS keeps the STS error in the chain, with or without a hint.
func TestExplainSTSKeepsTheChain(t *testing.T) {
	for _, code := range []string{"InvalidIdentityToken", "AccessDenied", "ExpiredTokenException", "IDPCommunicationError", "Throttling"} {
		err := explainSTS("arn:aws:iam::1:role/R", &smithy.GenericAPIError{Code: code, Message: "m"})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Errorf("%s: chain lost: %v", code, err)
		}
	}
}
