package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/gateway"
)

// testStreams gives buffers for output and env as the only environment.
func testStreams(env map[string]string) (s streams, out, errOut *bytes.Buffer) {
	out, errOut = &bytes.Buffer{}, &bytes.Buffer{}
	return streams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut, Getenv: func(k string) string { return env[k] }}, out, errOut
}

func TestGatewayCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(`
upstream: http://127.0.0.1:9000
routes:
  - {prefix: /admin/, roles: [admin]}
  - {prefix: /grpc.health.v1.Health/, upstream: "h2c://127.0.0.1:9001", roles: [read]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OKTA_ORG_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://default", "ADMIN_GROUPS": "admins"}
	retired := filepath.Join(dir, "retired.yaml")
	if err := os.WriteFile(retired, []byte("okta: {org_domain: example.okta.com, audience: [api://default], client_id: [0oaA]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oldClientID := map[string]string{"OKTA_ORG_DOMAIN": "example.okta.com", "OKTA_AUDIENCE": "api://default", "OKTA_CLIENT_ID": "0oaA"}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"text", []string{"--config", path, "--check"}, env, "https://example.okta.com/oauth2/default", ""},
		{"json", []string{"--config", path, "--check", "-o", "json"}, env, `"prefix": "/grpc.health.v1.Health/"`, ""},
		{"no issuer", []string{"--config", path, "--check"}, map[string]string{}, "", "OKTA_ORG_DOMAIN"},
		{"bad output", []string{"--check", "-o", "yaml"}, env, "", "choose text or json"},
		{"half TLS", []string{"--config", path, "--check", "--tls-cert", "c.pem"}, env, "", "--tls-key"},
		{"revoke without redis", []string{"revoke", "--jti", "AT.x"}, map[string]string{}, "", "REDIS_URL"},
		{"revoke without jti", []string{"revoke"}, map[string]string{}, "", "--jti"},
		{"org domain with a scheme", []string{"--config", path, "--check"}, map[string]string{"OKTA_ORG_DOMAIN": "http://example.okta.com", "OKTA_AUDIENCE": "api://default"}, "", "OKTA_BASE_URL=http://127.0.0.1:PORT"},
		{"org domain as an https URL", []string{"--config", path, "--check"}, map[string]string{"OKTA_ORG_DOMAIN": "https://example.okta.com/", "OKTA_AUDIENCE": "api://default"}, "https://example.okta.com/oauth2/default", ""},
		{"org domain with a path", []string{"--config", path, "--check"}, map[string]string{"OKTA_ORG_DOMAIN": "example.okta.com/oauth2", "OKTA_AUDIENCE": "api://default"}, "", "host name only"},
		{"base url for the sandbox", []string{"--config", path, "--check"}, map[string]string{"OKTA_BASE_URL": "http://127.0.0.1:8443", "OKTA_AUDIENCE": "api://default"}, "http://127.0.0.1:8443/oauth2/default", ""},
		{"bad access log", []string{"--check", "--access-log", "text"}, env, "", "choose json or off"},
		{"bad redis failure mode", []string{"--config", path, "--check", "--redis-failure", "maybe"}, env, "", "use closed"},
		{"default policy", []string{"--check", "--upstream", "http://127.0.0.1:9000"}, env, "roles=read scopes= (read: GET/HEAD/OPTIONS)", ""},
		{"help names OKTA_BASE_URL", []string{"--help"}, env, "OKTA_BASE_URL", ""},
		// The gateway's old name for the accepted client ids: ignored, it
		// would let every client's tokens through.
		{"old client id variable", []string{"--config", path, "--check"}, oldClientID, "", "rename the variable"},
		{"retired okta section", []string{"--config", retired, "--check"}, map[string]string{}, "", "issuers:\n  - name: okta\n    type: okta\n    domain: example.okta.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, out, errOut := testStreams(tc.env)
			code := run(context.Background(), s, tc.args)
			if tc.wantErr != "" {
				if code == 0 || !strings.Contains(errOut.String(), tc.wantErr) {
					t.Fatalf("exit %d, stderr %q, want %q", code, errOut.String(), tc.wantErr)
				}
				return
			}
			if code != 0 || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
			}
			if strings.Contains(tc.name, "json") && !json.Valid(bytes.TrimSpace(out.Bytes())) {
				t.Errorf("not JSON: %s", out.String())
			}
		})
	}
}

// TestGatewayRevokeHelp: the --jti line shows a string value and the whole
// sentence (pflag once took a back-quoted word for the value's name).
func TestGatewayRevokeHelp(t *testing.T) {
	s, out, errOut := testStreams(nil)
	if code := run(context.Background(), s, []string{"revoke", "--help"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var line string
	for l := range strings.SplitSeq(out.String(), "\n") {
		if strings.Contains(l, "--jti") {
			line = l
		}
	}
	if !strings.Contains(line, "--jti string") || !strings.Contains(line, "'oktafed token decode' shows") {
		t.Fatalf("--jti help line: %q", line)
	}
}

// TestCommands: the subcommands a server's scripts use, and a stray word
// refused with exit 1 rather than serving.
func TestCommands(t *testing.T) {
	cases := []struct {
		args    []string
		code    int
		out     string
		errText string
	}{
		{[]string{"version"}, 0, "oktafed-gateway dev (", ""},
		{[]string{"version", "--output", "json"}, 0, `{"version":"dev",`, ""},
		{[]string{"version", "-o", "yaml"}, 1, "", `--output "yaml": choose text or json`},
		{[]string{"version", "extra"}, 1, "", "unknown command"},
		{[]string{"completion", "bash"}, 0, "oktafed-gateway", ""},
		{[]string{"--help"}, 0, "revoke", ""},
		{[]string{"serve"}, 1, "", `unknown command "serve"`},
		{[]string{"--no-such-flag"}, 1, "", "unknown flag"},
	}
	for _, tc := range cases {
		s, out, errOut := testStreams(nil)
		if code := run(context.Background(), s, tc.args); code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errOut.String(), tc.errText) {
			t.Errorf("%q: exit %d, stdout %.200q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errOut.String(), tc.code, tc.out, tc.errText)
		}
	}
}

// TestRevokeHelpNamesRedisVariables: revoke --help names every Redis
// variable the configuration reads, so an operator of a Cluster, a
// Sentinel or TLS learns them from the command.
func TestRevokeHelpNamesRedisVariables(t *testing.T) {
	var read []string
	var cfg gateway.Config
	_ = cfg.ApplyEnv(func(k string) string {
		if strings.HasPrefix(k, "REDIS_") {
			read = append(read, k)
		}
		return ""
	})
	if len(read) < 10 {
		t.Fatalf("ApplyEnv read only %v", read)
	}
	s, out, _ := testStreams(nil)
	if code := run(context.Background(), s, []string{"revoke", "--help"}); code != 0 {
		t.Fatalf("revoke --help: exit %d", code)
	}
	for _, k := range read {
		if k == "REDIS_FAILURE_MODE" {
			continue // the gateway's, not the command's
		}
		if !strings.Contains(out.String(), k) {
			t.Errorf("revoke --help does not name %s, which it reads:\n%s", k, out)
		}
	}
}
