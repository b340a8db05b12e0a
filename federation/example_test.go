package federation_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

// A login as a program composes it: the saved Okta session in front of a
// password sign-in with a TOTP factor, the STS assumer, and the AWS CLI
// files the profiles go to. The sandbox stands in for Okta and AWS.
func ExampleLogin() {
	srv, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	profile := &federation.Profile{Name: "default", OrgURL: srv.URL, Username: "demo@example.com", Region: "us-east-1",
		AppURL: srv.URL + "/home/amazon_aws/0oa1demoawsapp0000001/272"}
	app := &federation.App{Profile: profile, Okta: &okta.Client{BaseURL: srv.URL}, Sessions: federation.NewMemorySessions()}
	password := &federation.Password{
		App:      app,
		Password: func(context.Context) (string, error) { return "Sandbox-Demo-1", nil },
		MFA:      &okta.MFA{Preferred: "totp", TOTPSeed: secret.New("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")},
	}
	login := &federation.Login{
		Profile: profile,
		Source:  &federation.Session{App: app, SignIn: password},
		STS:     federation.NewSTSClient("us-east-1", srv.URL, nil),
		Files:   federation.Files{Credentials: filepath.Join(dir, "credentials"), Config: filepath.Join(dir, "config")},
	}
	out, err := login.Run(context.Background(), "/Admin$/", nil, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range out.Written {
		fmt.Println(w.AWSProfile, w.Role.RoleARN)
	}
	// Output: okta-123456789012-Admin arn:aws:iam::123456789012:role/Admin
}
