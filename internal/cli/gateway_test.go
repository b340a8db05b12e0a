package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"text", []string{"gateway", "--config", path, "--check"}, env, "https://example.okta.com/oauth2/default", ""},
		{"json", []string{"gateway", "--config", path, "--check", "-o", "json"}, env, `"prefix": "/grpc.health.v1.Health/"`, ""},
		{"no issuer", []string{"gateway", "--config", path, "--check"}, map[string]string{}, "", "OKTA_ORG_DOMAIN"},
		{"bad output", []string{"gateway", "--check", "-o", "yaml"}, env, "", "choose text or json"},
		{"half TLS", []string{"gateway", "--config", path, "--check", "--tls-cert", "c.pem"}, env, "", "--tls-key"},
		{"revoke without redis", []string{"gateway", "revoke", "--jti", "AT.x"}, map[string]string{}, "", "REDIS_URL"},
		{"revoke without jti", []string{"gateway", "revoke"}, map[string]string{}, "", "--jti"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, out, errOut := Test()
			ios.Getenv = func(k string) string { return tc.env[k] }
			code := Main(context.Background(), ios, tc.args)
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
