package awsauth_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/sandbox/sandboxtest"
)

// A program reads the AWS profile that `oktafed login` wrote. Here the
// sandbox stands in for Okta and AWS, and the helper does the login.
func ExampleLoadConfig() {
	ctx := context.Background()
	env, err := sandboxtest.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()
	defer env.Setenv()()
	if _, err := env.Login(ctx, "/Admin$/"); err != nil {
		fmt.Println(err)
		return
	}

	// In a real program: awsauth.LoadConfig(ctx), with AWS_PROFILE set, or
	// WithProfile. WithSessions points at the helper's in-memory keyring.
	cfg, err := awsauth.LoadConfig(ctx, awsauth.WithProfile("okta-prod-Admin"), awsauth.WithSessions(env.Sessions))
	var lr *awsauth.LoginRequiredError
	if errors.As(err, &lr) {
		// Tell the person which oktafed profile to log in with.
		fmt.Println("sign in with: oktafed login --profile", lr.Profile)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Region, aws.ToString(id.Arn))
	// Output: us-east-1 arn:aws:sts::123456789012:assumed-role/Admin/demo@example.com
}
