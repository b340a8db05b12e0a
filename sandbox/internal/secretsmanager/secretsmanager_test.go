package secretsmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

const (
	readOnly   = "arn:aws:iam::123456789012:role/ReadOnly"
	automation = "arn:aws:iam::123456789012:role/Automation"
	developer  = "arn:aws:iam::210987654321:role/Developer"
)

func clientAs(t *testing.T, srv *sandbox.Server, role string) *sm.Client {
	t.Helper()
	creds, err := srv.IssueCredentials(role, "secrets-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return sm.New(sm.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.NewCredentialsCache(staticProvider(creds))})
}

type staticProvider aws.Credentials

func (p staticProvider) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials(p), nil
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestGetSecretValue(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ctx := context.Background()
	ro := clientAs(t, srv, readOnly)
	got, err := ro.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("demo/orders-db")})
	if err != nil {
		t.Fatal(err)
	}
	var login map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &login); err != nil || login["username"] != "orders_app" {
		t.Fatalf("value %v, %v", login, err)
	}
	arn := aws.ToString(got.ARN)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/orders-db-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:123456789012:secret:demo/orders-db-")+6 {
		t.Fatalf("ARN %s", arn)
	}
	if len(got.VersionStages) != 1 || got.VersionStages[0] != "AWSCURRENT" || got.CreatedDate == nil {
		t.Fatalf("stages %v created %v", got.VersionStages, got.CreatedDate)
	}
	tests := []struct {
		name     string
		client   *sm.Client
		id       string
		wantCode string
	}{
		{"by ARN", ro, arn, ""},
		{"by partial ARN", ro, arn[:len(arn)-7], ""},
		{"missing", ro, "demo/nope", "ResourceNotFoundException"},
		{"other account looks missing", clientAs(t, srv, developer), "demo/orders-db", "ResourceNotFoundException"},
		{"not a reader", ro, "demo/automation-api-key", "AccessDeniedException"},
		{"a reader", clientAs(t, srv, automation), "demo/automation-api-key", ""},
		{"empty id", ro, "", "InvalidParameterException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(tc.id)})
			if code(err) != tc.wantCode {
				t.Fatalf("err = %v, want code %q", err, tc.wantCode)
			}
		})
	}
	var nf *types.ResourceNotFoundException
	_, err = ro.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("demo/nope")})
	if !errors.As(err, &nf) {
		t.Fatalf("the SDK did not map the error to its type: %T", err)
	}
}

func TestPutSecretValueMovesStages(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	ctx := context.Background()
	c := clientAs(t, srv, readOnly)
	first, _ := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("demo/orders-db")})
	token := "0123456789abcdef0123456789abcdef"
	put, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("demo/orders-db"), SecretString: aws.String(`{"username":"u2"}`), ClientRequestToken: aws.String(token)})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("demo/orders-db"), SecretString: aws.String(`{"username":"u2"}`), ClientRequestToken: aws.String(token)})
	if err != nil || aws.ToString(again.VersionId) != aws.ToString(put.VersionId) {
		t.Fatalf("retry with the same token: %v %v", again, err)
	}
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("demo/orders-db"), SecretString: aws.String("other"), ClientRequestToken: aws.String(token)}); code(err) != "ResourceExistsException" {
		t.Fatalf("same token, other value: %v", err)
	}
	cur, _ := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("demo/orders-db")})
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("demo/orders-db"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cur.SecretString) != `{"username":"u2"}` || aws.ToString(prev.VersionId) != aws.ToString(first.VersionId) {
		t.Fatalf("current %s, previous %s", aws.ToString(cur.VersionId), aws.ToString(prev.VersionId))
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("demo/orders-db")})
	if err != nil || len(d.VersionIdsToStages) != 2 || aws.ToString(d.Description) == "" {
		t.Fatalf("describe %+v %v", d, err)
	}
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("demo/orders-db")}); code(err) != "InvalidParameterException" {
		t.Fatalf("no value: %v", err)
	}
}

func TestListSecrets(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	for _, n := range []string{"app/a", "app/b", "app/c"} {
		cfg.Secrets = append(cfg.Secrets, sandboxSecret(n))
	}
	srv := sandbox.Start(t, cfg)
	c := clientAs(t, srv, readOnly)
	var names []string
	p := sm.NewListSecretsPaginator(c, &sm.ListSecretsInput{MaxResults: aws.Int32(2), Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}}})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.SecretList {
			names = append(names, aws.ToString(s.Name))
		}
	}
	if strings.Join(names, ",") != "app/a,app/b,app/c" || pages != 2 {
		t.Fatalf("names %v in %d pages", names, pages)
	}
	// Readers limit listing as IAM would.
	all, err := c.ListSecrets(context.Background(), &sm.ListSecretsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all.SecretList {
		if aws.ToString(s.Name) == "demo/automation-api-key" {
			t.Fatal("listed a secret the caller may not read")
		}
	}
	if _, err := c.ListSecrets(context.Background(), &sm.ListSecretsInput{MaxResults: aws.Int32(101)}); code(err) != "InvalidParameterException" {
		t.Fatalf("MaxResults 101: %v", err)
	}
}

func TestRawRequestsAreRefused(t *testing.T) {
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	tests := []struct {
		name, target, body, wantType string
		wantStatus                   int
	}{
		{"unsigned", "secretsmanager.GetSecretValue", `{"SecretId":"demo/orders-db"}`, "MissingAuthenticationTokenException", 403},
		{"unknown operation", "secretsmanager.RotateSecret", `{}`, "UnknownOperationException", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(tc.body))
			req.Header.Set("X-Amz-Target", tc.target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || e.Type != tc.wantType || e.Message == "" {
				t.Fatalf("%d %+v", resp.StatusCode, e)
			}
		})
	}
}

func TestAWSCLIReadsASecret(t *testing.T) {
	awscli := testenv.AWSCLI(t)
	srv := sandbox.Start(t, sandbox.DefaultConfig())
	creds, err := srv.IssueCredentials(readOnly, "cli", 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(awscli, "secretsmanager", "get-secret-value", "--endpoint-url", srv.URL, "--secret-id", "demo/orders-db", "--query", "SecretString", "--output", "text")
	cmd.Env = []string{
		"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "AWS_ENDPOINT_URL=" + srv.URL, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"), "AWS_EC2_METADATA_DISABLED=true",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"username": "orders_app"`) && !strings.Contains(string(out), `"username":"orders_app"`) {
		t.Fatalf("aws printed %s", out)
	}
}
