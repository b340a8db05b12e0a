package awscred

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestConsoleURL(t *testing.T) {
	var gotSession map[string]string
	var gotDuration string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.URL.Path != "/federation" || r.Form.Get("Action") != "getSigninToken" {
			http.Error(w, "bad", 400)
			return
		}
		if r.URL.RawQuery != "" {
			t.Errorf("session sent in the URL: %q", r.URL.RawQuery)
		}
		_ = json.Unmarshal([]byte(r.PostForm.Get("Session")), &gotSession)
		gotDuration = r.PostForm.Get("SessionDuration")
		_, _ = w.Write([]byte(`{"SigninToken":"tok123"}`))
	}))
	defer srv.Close()

	u, err := ConsoleURL(context.Background(), sample, ConsoleOptions{SigninEndpoint: srv.URL, Region: "eu-west-1", Duration: time.Hour, Issuer: "oktafed"})
	if err != nil {
		t.Fatal(err)
	}
	if gotSession["sessionId"] != sample.AccessKeyID || gotSession["sessionKey"] != sample.SecretAccessKey || gotSession["sessionToken"] != sample.SessionToken || gotDuration != "3600" {
		t.Fatalf("endpoint saw %v duration %q", gotSession, gotDuration)
	}
	parsed, _ := url.Parse(u)
	q := parsed.Query()
	if q.Get("Action") != "login" || q.Get("SigninToken") != "tok123" || q.Get("Destination") != "https://console.aws.amazon.com/console/home?region=eu-west-1" || q.Get("Issuer") != "oktafed" {
		t.Fatalf("login URL %s", u)
	}
	if strings.Contains(u, url.QueryEscape(sample.SecretAccessKey)) {
		t.Fatal("secret key in the login URL")
	}
}

func TestConsoleURLErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 400) }))
	defer srv.Close()
	ctx := context.Background()
	if _, err := ConsoleURL(ctx, sample, ConsoleOptions{SigninEndpoint: srv.URL}); err == nil || !strings.Contains(err.Error(), "oktafed login") {
		t.Errorf("refused exchange: %v", err)
	}
	if _, err := ConsoleURL(ctx, aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "x"}, ConsoleOptions{}); err == nil {
		t.Error("long-term keys accepted")
	}
	if _, err := ConsoleURL(ctx, sample, ConsoleOptions{Partition: "aws-mars"}); err == nil {
		t.Error("unknown partition accepted")
	}
	if _, err := ConsoleURL(ctx, sample, ConsoleOptions{Duration: time.Minute}); err == nil {
		t.Error("1-minute console session accepted")
	}
}

func TestPartitionOfARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::1:role/A":        "aws",
		"arn:aws-cn:iam::1:role/A":     "aws-cn",
		"arn:aws-us-gov:iam::1:role/A": "aws-us-gov",
		"garbage":                      "aws",
	} {
		if got := PartitionOfARN(arn); got != want {
			t.Errorf("%s: %s", arn, got)
		}
	}
}
