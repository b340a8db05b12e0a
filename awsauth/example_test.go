package awsauth_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sandbox/sandboxtest"
	"github.com/oktafed/oktafed/secret"
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

// A program logs a person in as `oktafed login` does, with one call that
// builds the whole login: the saved Okta session, the sign-in of the
// profile's way (here the password and a TOTP factor), STS and the AWS
// files. The sandbox stands in for Okta and AWS.
func ExampleResolver_NewLogin() {
	ctx := context.Background()
	srv, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	r := &awsauth.Resolver{
		// Nothing of this process's environment (AWS_ENDPOINT_URL_STS…).
		Getenv:   func(string) string { return "" },
		Files:    &federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")},
		Sessions: federation.NewMemorySessions(),
	}
	profile := &federation.Profile{Name: "default", OrgURL: srv.URL, Username: "demo@example.com", Region: "us-east-1",
		AppURL: srv.URL + "/home/amazon_aws/0oa1demoawsapp0000001/272", STSEndpoint: srv.URL, SignIn: "password"}
	login, err := r.NewLogin(ctx, profile, awsauth.LoginOptions{SignIn: federation.SignInOptions{
		Password: func(context.Context) (string, error) { return "Sandbox-Demo-1", nil },
		MFA:      &okta.MFA{Preferred: "totp", TOTPSeed: secret.New("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := login.Run(ctx, "/Admin$/", nil, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range out.Written {
		fmt.Println(w.AWSProfile, w.Role.RoleARN)
	}
	// Output: okta-123456789012-Admin arn:aws:iam::123456789012:role/Admin
}
