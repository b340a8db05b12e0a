package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/internal/saml"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	demoUser   = "demo@example.com"
	demoPass   = "Sandbox-Demo-1"
	demoSeed   = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	demoApp    = "0oa1demoawsapp0000001"
	adminRole  = "arn:aws:iam::123456789012:role/Admin"
	oktaSAMLPr = "arn:aws:iam::123456789012:saml-provider/okta"
)

// authn drives the Classic authentication API with raw HTTP, independent
// of oktafed's own client, and returns the final response.
func postJSON(t *testing.T, u string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	out["_status"] = float64(resp.StatusCode)
	return out
}

// sessionToken logs the demo user in with password and TOTP.
func sessionToken(t *testing.T, base string) (string, string) {
	t.Helper()
	r := postJSON(t, base+"/api/v1/authn", map[string]string{"username": demoUser, "password": demoPass})
	if r["status"] != "MFA_REQUIRED" {
		t.Fatalf("authn: %v", r)
	}
	stateToken := r["stateToken"].(string)
	var verify string
	for _, f := range r["_embedded"].(map[string]any)["factors"].([]any) {
		f := f.(map[string]any)
		if f["factorType"] == "token:software:totp" {
			verify = f["_links"].(map[string]any)["verify"].(map[string]any)["href"].(string)
		}
	}
	if verify == "" {
		t.Fatalf("no TOTP factor offered: %v", r)
	}
	code, err := totp.GenerateCode(demoSeed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r = postJSON(t, verify, map[string]string{"stateToken": stateToken, "passCode": code})
	if r["status"] != "SUCCESS" {
		t.Fatalf("verify: %v", r)
	}
	return r["sessionToken"].(string), stateToken
}

func samlAssertion(t *testing.T, base, token string) *saml.Assertion {
	t.Helper()
	resp, err := http.Get(base + "/app/amazon_aws/" + demoApp + "/sso/saml?onetimetoken=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	a, err := saml.FromPage(page)
	if err != nil {
		t.Fatalf("SAML page (HTTP %d): %v", resp.StatusCode, err)
	}
	return a
}

func stsClient(base string) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), Credentials: aws.AnonymousCredentials{}})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestOktaToSTSWithSDKAndCLI is the sandbox's main path: Okta password and
// TOTP, the AWS app's signed SAML, STS with the AWS SDK for Go v2, then
// GetCallerIdentity signed with the issued credentials by the SDK and by the
// Debian AWS CLI.
func TestOktaToSTSWithSDKAndCLI(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ctx := context.Background()
	tok, _ := sessionToken(t, srv.URL)
	a := samlAssertion(t, srv.URL, tok)
	if len(a.Roles) != 3 || a.SessionDuration != time.Hour {
		t.Fatalf("assertion roles %v duration %v", a.Roles, a.SessionDuration)
	}

	out, err := stsClient(srv.URL).AssumeRoleWithSAML(ctx, &sts.AssumeRoleWithSAMLInput{
		RoleArn: aws.String(adminRole), PrincipalArn: aws.String(oktaSAMLPr), SAMLAssertion: aws.String(a.Raw),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
	signed := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.NewCredentialsCache(credsProvider(creds))})
	who, err := signed.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *who.Account != "123456789012" || !strings.HasPrefix(*who.Arn, "arn:aws:sts::123456789012:assumed-role/Admin/") {
		t.Fatalf("caller = %s %s", *who.Account, *who.Arn)
	}

	// A wrong secret is refused with AWS's code.
	bad := creds
	bad.SecretAccessKey = "wrong" + bad.SecretAccessKey[5:]
	badClient := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: credsProvider(bad)})
	if _, err := badClient.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("bad signature: %v", err)
	}

	awsCLI := testenv.AWSCLI(t)
	dir := t.TempDir()
	cmd := exec.Command(awsCLI, "--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json", "sts", "get-caller-identity")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "AWS_CONFIG_FILE=" + filepath.Join(dir, "c"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "k"),
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken}
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws sts get-caller-identity: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), `"Account": "123456789012"`) {
		t.Fatalf("aws printed %s", res)
	}
}

type credsProvider aws.Credentials

func (c credsProvider) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(c), nil
}

// TestClientsThatSkipStepsFail checks the cheats: no MFA, a reused
// one-time token, a tampered or mismatched assertion.
func TestClientsThatSkipStepsFail(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ctx := context.Background()

	// Password alone gives no session token, so no SAML.
	r := postJSON(t, srv.URL+"/api/v1/authn", map[string]string{"username": demoUser, "password": demoPass})
	if r["sessionToken"] != nil {
		t.Fatal("a session token without MFA")
	}
	if _, err := tryAssertion(srv.URL, r["stateToken"].(string)); err == nil {
		t.Fatal("a state token opened the SAML app without MFA")
	}

	tok, _ := sessionToken(t, srv.URL)
	a := samlAssertion(t, srv.URL, tok)
	if _, err := tryAssertion(srv.URL, tok); err == nil {
		t.Fatal("a one-time token worked twice")
	}

	cl := stsClient(srv.URL)
	assume := func(roleARN, principal, assertion string) error {
		_, err := cl.AssumeRoleWithSAML(ctx, &sts.AssumeRoleWithSAMLInput{RoleArn: aws.String(roleARN), PrincipalArn: aws.String(principal), SAMLAssertion: aws.String(assertion)})
		return err
	}
	// A role the assertion does not grant, or a mismatched provider.
	if err := assume("arn:aws:iam::123456789012:role/Automation", oktaSAMLPr, a.Raw); apiCode(err) == "" {
		t.Fatalf("ungranted role: %v", err)
	}
	if err := assume(adminRole, "arn:aws:iam::210987654321:saml-provider/okta", a.Raw); apiCode(err) == "" {
		t.Fatalf("wrong provider: %v", err)
	}
	// Tampering: grant a role by editing the signed XML.
	xml, err := base64Decode(a.Raw)
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(xml), "role/ReadOnly", "role/Automation", 1)
	if forged == string(xml) {
		t.Fatal("could not find a role to tamper with")
	}
	if err := assume("arn:aws:iam::123456789012:role/Automation", oktaSAMLPr, base64Encode([]byte(forged))); apiCode(err) != "InvalidIdentityToken" {
		t.Fatalf("tampered assertion: %v", err)
	}
	// An unsigned call to GetCallerIdentity.
	anon := stsClient(srv.URL)
	if _, err := anon.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) == "" {
		t.Fatalf("unsigned GetCallerIdentity: %v", err)
	}
	// The genuine assertion still works.
	if err := assume(adminRole, oktaSAMLPr, a.Raw); err != nil {
		t.Fatal(err)
	}
}

func tryAssertion(base, token string) (*saml.Assertion, error) {
	resp, err := http.Get(base + "/app/amazon_aws/" + demoApp + "/sso/saml?onetimetoken=" + url.QueryEscape(token))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return saml.FromPage(page)
}
