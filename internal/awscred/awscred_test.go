package awscred

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/oktafed/oktafed/internal/testenv"
)

var sample = aws.Credentials{
	AccessKeyID: "ASIAEXAMPLEEXAMPLE01", SecretAccessKey: "s3cr3t/with'quote\"and$dollar`tick`",
	SessionToken: "tok+en/==", CanExpire: true, Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second),
}

func TestProcessJSONRoundTrip(t *testing.T) {
	data, err := ProcessJSON(sample)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"Version":1`) || !strings.Contains(string(data), `"Expiration":"`+sample.Expires.Format(time.RFC3339)+`"`) {
		t.Fatalf("document = %s", data)
	}
	got, err := ParseProcessJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != sample.AccessKeyID || got.SecretAccessKey != sample.SecretAccessKey || got.SessionToken != sample.SessionToken || !got.Expires.Equal(sample.Expires) {
		t.Fatalf("round trip = %+v", got)
	}
	if _, err := ProcessJSON(aws.Credentials{}); err == nil {
		t.Fatal("empty credentials rendered")
	}
}

func TestParseProcessJSONErrors(t *testing.T) {
	for _, doc := range []string{`{`, `{"Version":2,"AccessKeyId":"a","SecretAccessKey":"b"}`, `{"Version":1}`, `{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"tomorrow"}`} {
		if _, err := ParseProcessJSON([]byte(doc)); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}

// TestFormatEnvShEvaluates runs the sh output through a real shell, so a
// quoting mistake shows up as a wrong value or a command that ran.
func TestFormatEnvShEvaluates(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	vars := EnvVars(sample, "eu-west-1")
	out, err := FormatEnv("sh", vars)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", out+"\nenv")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_PROFILE=should-be-unset"}
	res, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	env := string(res)
	for k, v := range vars {
		if !strings.Contains(env, k+"="+v+"\n") {
			t.Errorf("%s not exported as %q", k, v)
		}
	}
	if strings.Contains(env, "AWS_PROFILE=") {
		t.Error("AWS_PROFILE left set")
	}
}

func TestFormatEnvShells(t *testing.T) {
	vars := map[string]string{"A": "it's"}
	for shell, want := range map[string]string{
		"fish":       `set -gx A 'it\'s'`,
		"powershell": `$Env:A = 'it''s'`,
		"json":       `"A": "it's"`,
	} {
		out, err := FormatEnv(shell, vars)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("%s: %q, %v; want %q", shell, out, err, want)
		}
	}
	if _, err := FormatEnv("tcsh", vars); err == nil || !strings.Contains(err.Error(), "sh, fish, powershell, json") {
		t.Errorf("unknown shell error = %v", err)
	}
}

type countingProvider struct{ n int }

func (p *countingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	p.n++
	c := sample
	c.AccessKeyID = fmt.Sprintf("ASIAEXAMPLE%09d", p.n)
	return c, nil
}

func TestEndpointWithSDK(t *testing.T) {
	p := &countingProvider{}
	e, err := NewEndpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for k, v := range e.Env() {
		t.Setenv(k, v)
	}
	isolateAWSEnv(t)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != "ASIAEXAMPLE000000001" || got.SecretAccessKey != sample.SecretAccessKey || got.SessionToken != sample.SessionToken {
		t.Fatalf("SDK got %+v", got)
	}

	// Without the token the endpoint refuses.
	resp, err := http.Get(e.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated request: %d", resp.StatusCode)
	}
}

// TestEndpointWithAWSCLI has the Debian AWS CLI read the endpoint through
// its container credentials provider.
func TestEndpointWithAWSCLI(t *testing.T) {
	awsCLI := testenv.AWSCLI(t)
	e, err := NewEndpoint(&countingProvider{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	dir := t.TempDir()
	cmd := exec.Command(awsCLI, "configure", "export-credentials", "--format", "process")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true"}
	for k, v := range e.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws: %v\n%s", err, out)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("aws output %q: %v", out, err)
	}
	if doc["AccessKeyId"] != "ASIAEXAMPLE000000001" || doc["SecretAccessKey"] != sample.SecretAccessKey {
		t.Fatalf("aws read %v", doc)
	}
}

// TestProcessJSONWithAWSCLI has the AWS CLI run a credential_process that
// prints ProcessJSON's document: this test binary, re-executed.
func TestProcessJSONWithAWSCLI(t *testing.T) {
	awsCLI := testenv.AWSCLI(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf("[profile p]\ncredential_process = %s -test.run=^TestHelperProcess$\n", self)
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(awsCLI, "configure", "export-credentials", "--profile", "p", "--format", "env-no-export")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "AWS_CONFIG_FILE=" + cfgPath,
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"), "OKTAFED_HELPER_PROCESS=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "AWS_ACCESS_KEY_ID="+sample.AccessKeyID) || !strings.Contains(string(out), "AWS_SESSION_TOKEN="+sample.SessionToken) {
		t.Fatalf("aws printed %s", out)
	}
}

func TestHelperProcess(t *testing.T) {
	if os.Getenv("OKTAFED_HELPER_PROCESS") != "1" {
		return
	}
	data, _ := ProcessJSON(sample)
	os.Stdout.Write(data)
	os.Exit(0)
}

func isolateAWSEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func FuzzParseProcessJSON(f *testing.F) {
	good, _ := ProcessJSON(sample)
	f.Add(good)
	f.Add([]byte(`{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseProcessJSON(data)
		if err != nil {
			return
		}
		again, err := ProcessJSON(c)
		if err != nil {
			t.Fatalf("re-render: %v", err)
		}
		c2, err := ParseProcessJSON(again)
		if err != nil || c2.AccessKeyID != c.AccessKeyID || c2.SecretAccessKey != c.SecretAccessKey || c2.SessionToken != c.SessionToken {
			t.Fatalf("round trip changed credentials: %v", err)
		}
	})
}
