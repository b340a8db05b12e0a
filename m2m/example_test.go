package m2m_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oktafed/oktafed/m2m"
	"github.com/oktafed/oktafed/sandbox"
)

// A batch job turns its Okta app key into AWS credentials. In production
// the settings come from the environment with m2m.ConfigFromEnv.
func ExampleProvider() {
	ctx := context.Background()
	srv, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	key, err := m2m.LoadKey("../sandbox/testdata/demo-m2m-client.PUBLIC-TEST-KEY.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	key.ID = "demo-m2m-1"
	p, err := m2m.New(m2m.Config{
		Issuer:      srv.URL + "/oauth2/default",
		ClientID:    "0oa1demom2m000000001",
		Key:         key,
		Scopes:      []string{"orders.read"},
		RoleARN:     "arn:aws:iam::123456789012:role/Automation",
		Region:      "us-east-1",
		STSEndpoint: srv.URL,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: p.Cache(), BaseEndpoint: aws.String(srv.URL)}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(aws.ToString(id.Arn))
	// Output: arn:aws:sts::123456789012:assumed-role/Automation/oktafed-0oa1demom2m000000001
}
