// Package awscred holds the ways oktafed hands AWS credentials to other
// programs: the credential_process JSON document, environment variables for
// several shells, and a local ECS-style credentials endpoint that serves
// fresh credentials to a long-running child process.
package awscred

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// processOutput is the document the AWS SDKs and CLI read from a
// credential_process command (Version 1).
type processOutput struct {
	Version         int
	AccessKeyId     string //nolint:revive // the wire name
	SecretAccessKey string
	SessionToken    string `json:",omitempty"`
	Expiration      string `json:",omitempty"`
}

// ProcessJSON renders creds as a credential_process document.
func ProcessJSON(creds aws.Credentials) ([]byte, error) {
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, fmt.Errorf("credential_process output needs an access key id and a secret key")
	}
	out := processOutput{Version: 1, AccessKeyId: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}
	if creds.CanExpire {
		out.Expiration = creds.Expires.UTC().Format(time.RFC3339)
	}
	return json.Marshal(out)
}

// ParseProcessJSON reads a credential_process document, as an SDK would.
func ParseProcessJSON(data []byte) (aws.Credentials, error) {
	var in processOutput
	if err := json.Unmarshal(data, &in); err != nil {
		return aws.Credentials{}, fmt.Errorf("credential_process output: %w", err)
	}
	if in.Version != 1 {
		return aws.Credentials{}, fmt.Errorf("credential_process output: Version %d, want 1", in.Version)
	}
	if in.AccessKeyId == "" || in.SecretAccessKey == "" {
		return aws.Credentials{}, fmt.Errorf("credential_process output: AccessKeyId and SecretAccessKey are required")
	}
	c := aws.Credentials{AccessKeyID: in.AccessKeyId, SecretAccessKey: in.SecretAccessKey, SessionToken: in.SessionToken, Source: "credential_process"}
	if in.Expiration != "" {
		t, err := time.Parse(time.RFC3339, in.Expiration)
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("credential_process output: Expiration %q is not RFC 3339", in.Expiration)
		}
		c.CanExpire, c.Expires = true, t
	}
	return c, nil
}

// EnvVars returns the variables an AWS SDK reads for creds. Region and
// profile are included when non-empty; AWS_PROFILE is always unset so it
// cannot override the exported keys.
func EnvVars(creds aws.Credentials, region string) map[string]string {
	vars := map[string]string{
		"AWS_ACCESS_KEY_ID":     creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
	}
	if creds.SessionToken != "" {
		vars["AWS_SESSION_TOKEN"] = creds.SessionToken
	}
	if creds.CanExpire {
		vars["AWS_CREDENTIAL_EXPIRATION"] = creds.Expires.UTC().Format(time.RFC3339)
	}
	if region != "" {
		vars["AWS_REGION"] = region
		vars["AWS_DEFAULT_REGION"] = region
	}
	return vars
}

// UnsetVars are variables that would make an SDK ignore exported keys.
var UnsetVars = []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}

// Shells that FormatEnv writes for.
var Shells = []string{"sh", "fish", "powershell", "json"}

// FormatEnv renders vars as commands for shell (sh, fish, powershell) or as
// a JSON object. Values are quoted so that no value can run a command.
func FormatEnv(shell string, vars map[string]string) (string, error) {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	switch shell {
	case "sh", "bash", "zsh", "":
		for _, k := range UnsetVars {
			fmt.Fprintf(&b, "unset %s\n", k)
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "export %s=%s\n", k, shQuote(vars[k]))
		}
	case "fish":
		for _, k := range UnsetVars {
			fmt.Fprintf(&b, "set -e %s\n", k)
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "set -gx %s %s\n", k, fishQuote(vars[k]))
		}
	case "powershell", "pwsh":
		for _, k := range UnsetVars {
			fmt.Fprintf(&b, "Remove-Item Env:%s -ErrorAction SilentlyContinue\n", k)
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "$Env:%s = %s\n", k, psQuote(vars[k]))
		}
	case "json":
		data, err := json.MarshalIndent(vars, "", "  ")
		if err != nil {
			return "", err
		}
		b.Write(data)
		b.WriteByte('\n')
	default:
		return "", fmt.Errorf("unknown shell %q: choose one of %s", shell, strings.Join(Shells, ", "))
	}
	return b.String(), nil
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
