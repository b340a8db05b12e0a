package iam

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	rdsauth "github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/oktafed/oktafed/internal/testenv"
)

func TestRDSAuthToken(t *testing.T) {
	e := newEnv(t)
	creds, err := e.svc.IssueCredentials(devRole, "db-client", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// BuildAuthToken signs with the wall clock, which the fake clock starts at.
	token, err := rdsauth.BuildAuthToken(ctx, "db.sandbox.internal:5432", "us-east-1", "app_user", static(creds))
	if err != nil {
		t.Fatal(err)
	}
	caller, err := e.svc.VerifyPresignedURL(token, "rds-db", "", time.Time{})
	if err != nil {
		t.Fatalf("VerifyPresignedURL(BuildAuthToken): %v", err)
	}
	if caller.ARN != "arn:aws:sts::111111111111:assumed-role/Dev/db-client" || caller.Host != "db.sandbox.internal:5432" ||
		caller.Params.Get("DBUser") != "app_user" || caller.Params.Get("Action") != "connect" || caller.Service != "rds-db" {
		t.Errorf("caller %+v", caller)
	}

	refuse := func(name, tok, service, region string, now time.Time, code string) {
		t.Helper()
		if _, err := e.svc.VerifyPresignedURL(tok, service, region, now); ErrorCodeOf(err) != code {
			t.Errorf("%s: got %v, want %s", name, err, code)
		}
	}
	now := e.clk.Now()
	refuse("other user", strings.Replace(token, "DBUser=app_user", "DBUser=admin", 1), "rds-db", "", now, CodeSignatureDoesNotMatch)
	refuse("other host", strings.Replace(token, "db.sandbox.internal:5432", "db.sandbox.internal:5433", 1), "rds-db", "", now, CodeSignatureDoesNotMatch)
	refuse("signature flipped", flipLastHex(token), "rds-db", "", now, CodeSignatureDoesNotMatch)
	refuse("past X-Amz-Expires", token, "rds-db", "", now.Add(16*time.Minute), CodeSignatureDoesNotMatch)
	refuse("wrong service", token, "sts", "", now, CodeSignatureDoesNotMatch)
	refuse("wrong region", token, "rds-db", "eu-west-1", now, CodeSignatureDoesNotMatch)
	refuse("longer expiry", strings.Replace(token, "X-Amz-Expires=900", "X-Amz-Expires=901", 1), "rds-db", "", now, CodeIncompleteSignature)
	refuse("no signature", token[:strings.Index(token, "&X-Amz-Signature=")], "rds-db", "", now, CodeIncompleteSignature)

	// Credentials that expire while the token is still within its 15
	// minutes stop the token from working.
	e.clk.Set(e.start.Add(-50 * time.Minute))
	short, err := e.svc.IssueCredentials(devRole, "db-client", time.Hour) // expires at start+10m
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Set(e.start)
	tok2, err := rdsauth.BuildAuthToken(ctx, "db.sandbox.internal:5432", "us-east-1", "app_user", static(short))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyPresignedURL(tok2, "rds-db", "", now.Add(5*time.Minute)); err != nil {
		t.Errorf("token within credential lifetime: %v", err)
	}
	refuse("credentials expired", tok2, "rds-db", "", now.Add(11*time.Minute), CodeExpiredToken)
}

func flipLastHex(s string) string {
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

// TestAuthenticatePresignedRequest checks query auth on a live request, the
// way other sandbox services receive presigned calls.
func TestAuthenticatePresignedRequest(t *testing.T) {
	e := newEnv(t)
	creds, err := e.svc.IssueCredentials(devRole, "presigner", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var got *Caller
	var gotErr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = e.svc.Authenticate(r, "secretsmanager")
	}))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/some/path?Action=Describe&Name=x", nil)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "300")
	req.URL.RawQuery = q.Encode()
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptySHA256, "secretsmanager", "us-east-1", e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Get(signed)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotErr != nil || got.ARN != "arn:aws:sts::111111111111:assumed-role/Dev/presigner" || got.Params.Get("Name") != "x" {
		t.Fatalf("Authenticate(presigned) = %+v, %v", got, gotErr)
	}
	resp, err = srv.Client().Get(strings.Replace(signed, "Name=x", "Name=y", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ErrorCodeOf(gotErr) != CodeSignatureDoesNotMatch {
		t.Fatalf("tampered presigned request: %v", gotErr)
	}

	// Header-signed requests to another service, with a body and a
	// declared payload hash.
	body := `{"SecretId":"db"}`
	hreq, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
	hreq.Header.Set("Content-Type", "application/x-amz-json-1.1")
	hreq.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, hreq, sha256Hex(body), "secretsmanager", "us-east-1", e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err = srv.Client().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotErr != nil || got.Service != "secretsmanager" {
		t.Fatalf("Authenticate(header) = %+v, %v", got, gotErr)
	}
	// Same signature, different body.
	hreq2, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"SecretId":"prod"}`))
	hreq2.Header = hreq.Header.Clone()
	resp, err = srv.Client().Do(hreq2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ErrorCodeOf(gotErr) != CodeSignatureDoesNotMatch {
		t.Fatalf("body swapped under a signature: %v", gotErr)
	}
}

func TestParseAuthorization(t *testing.T) {
	a, err := ParseAuthorization("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	if err != nil || a.AccessKeyID != "AKIDEXAMPLE" || a.Date != "20150830" || a.Service != "iam" || len(a.SignedHeaders) != 3 {
		t.Fatalf("ParseAuthorization = %+v, %v", a, err)
	}
	for _, h := range []string{
		"",
		"AWS4-HMAC-SHA1 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
		"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=Host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=zz",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Credential=a/b/c/d/e, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
	} {
		if _, err := ParseAuthorization(h); ErrorCodeOf(err) != CodeIncompleteSignature {
			t.Errorf("ParseAuthorization(%q) = %v, want IncompleteSignature", h, err)
		}
	}
}

// TestAWSCLI drives the Debian AWS CLI against the sandbox.
func TestAWSCLI(t *testing.T) {
	awsCLI := testenv.AWSCLI(t)
	e := newEnv(t)
	creds, err := e.svc.IssueCredentials(devRole, "cli-user", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(secret string) (string, error) {
		cmd := exec.Command(awsCLI, "--endpoint-url", e.srv.URL, "--output", "json", "sts", "get-caller-identity")
		cmd.Env = []string{
			"PATH=/usr/bin:/bin",
			"HOME=" + dir,
			"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
			"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY=" + secret,
			"AWS_SESSION_TOKEN=" + creds.SessionToken,
			"AWS_REGION=us-east-1",
			"AWS_DEFAULT_REGION=us-east-1",
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_MAX_ATTEMPTS=1",
			"AWS_PAGER=",
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(creds.SecretAccessKey)
	if err != nil {
		t.Fatalf("aws sts get-caller-identity: %v\n%s", err, out)
	}
	mustContain(t, out, `"Arn": "arn:aws:sts::111111111111:assumed-role/Dev/cli-user"`)
	mustContain(t, out, `"Account": "111111111111"`)

	out, err = run("x" + creds.SecretAccessKey[1:])
	if err == nil {
		t.Fatalf("wrong secret accepted:\n%s", out)
	}
	mustContain(t, out, "SignatureDoesNotMatch")
}

func sha256Hex(s string) string {
	h, _ := payloadHash("", []byte(s), "")
	return h
}
