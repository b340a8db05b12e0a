package awscred

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// partitionHosts are the sign-in and console hosts of each AWS partition.
var partitionHosts = map[string]struct{ signin, console string }{
	"aws":        {"https://signin.aws.amazon.com", "https://console.aws.amazon.com"},
	"aws-cn":     {"https://signin.amazonaws.cn", "https://console.amazonaws.cn"},
	"aws-us-gov": {"https://signin.amazonaws-us-gov.com", "https://console.amazonaws-us-gov.com"},
}

// PartitionOfARN returns the partition an ARN names ("aws" when unsure).
func PartitionOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) >= 2 {
		if _, ok := partitionHosts[parts[1]]; ok {
			return parts[1]
		}
	}
	return "aws"
}

// ConsoleOptions shape a console sign-in URL.
type ConsoleOptions struct {
	// Partition is aws, aws-cn or aws-us-gov; default aws.
	Partition string
	// Destination is the console page to land on; default the console home
	// of the partition (with ?region= when Region is set).
	Destination string
	Region      string
	// Duration of the console session, 15 min to 12 h; zero leaves AWS's default.
	Duration time.Duration
	// Issuer is shown by AWS as where to go when the session ends.
	Issuer string
	// SigninEndpoint overrides the partition's sign-in base URL (for the sandbox).
	SigninEndpoint string
	HTTPClient     *http.Client
}

// ConsoleURL exchanges temporary credentials for a sign-in token at the AWS
// federation endpoint and returns a URL that opens the console signed in.
func ConsoleURL(ctx context.Context, creds aws.Credentials, opts ConsoleOptions) (string, error) {
	if creds.SessionToken == "" {
		return "", fmt.Errorf("the console needs temporary credentials (with a session token): log in with `oktafed login` and use one of its profiles")
	}
	part := opts.Partition
	if part == "" {
		part = "aws"
	}
	hosts, ok := partitionHosts[part]
	if !ok {
		return "", fmt.Errorf("partition %q: choose aws, aws-cn or aws-us-gov", part)
	}
	signin := hosts.signin
	if opts.SigninEndpoint != "" {
		signin = strings.TrimRight(opts.SigninEndpoint, "/")
	}
	dest := opts.Destination
	if dest == "" {
		dest = hosts.console + "/console/home"
		if opts.Region != "" {
			dest += "?region=" + url.QueryEscape(opts.Region)
		}
	}
	session, err := json.Marshal(map[string]string{"sessionId": creds.AccessKeyID, "sessionKey": creds.SecretAccessKey, "sessionToken": creds.SessionToken})
	if err != nil {
		return "", err
	}
	q := url.Values{"Action": {"getSigninToken"}, "Session": {string(session)}}
	if opts.Duration != 0 {
		if opts.Duration < 15*time.Minute || opts.Duration > 12*time.Hour {
			return "", fmt.Errorf("console session duration %v: choose between 15m and 12h", opts.Duration)
		}
		q.Set("SessionDuration", strconv.Itoa(int(opts.Duration/time.Second)))
	}
	// The session document holds the secret key, so it travels in a POST
	// body rather than a URL that proxies and logs might keep.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, signin+"/federation", strings.NewReader(q.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("AWS federation endpoint %s: %w", signin, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("AWS federation endpoint refused the credentials (HTTP %d): they may have expired; run `oktafed login` again", resp.StatusCode)
	}
	var tok struct{ SigninToken string }
	if err := json.Unmarshal(body, &tok); err != nil || tok.SigninToken == "" {
		return "", fmt.Errorf("AWS federation endpoint gave no sign-in token")
	}
	login := url.Values{"Action": {"login"}, "Destination": {dest}, "SigninToken": {tok.SigninToken}}
	if opts.Issuer != "" {
		login.Set("Issuer", opts.Issuer)
	}
	return signin + "/federation?" + login.Encode(), nil
}
