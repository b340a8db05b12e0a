package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/oktafed/oktafed/gateway"
)

// The nginx configuration operators paste is the one the tests run: it is
// read from the documentation (README.md, or the docs/ page that holds it
// once the README is split), and only its three addresses are replaced.

// nginxSnippetMarker identifies the forward-auth snippet among the
// documentation's nginx blocks.
const nginxSnippetMarker = "auth_request /_oktafed/auth;"

var fencedNginx = regexp.MustCompile("(?s)```nginx\n(.*?)```")

// docNginxSnippet returns the documented forward-auth nginx configuration
// and the file it came from.
func docNginxSnippet(t testing.TB) (string, string) {
	t.Helper()
	files := []string{filepath.Join("..", "README.md")}
	more, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	files = append(files, more...)
	var found []string
	var snippet, from string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, m := range fencedNginx.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], nginxSnippetMarker) {
				snippet, from = m[1], f
				found = append(found, f)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one documented nginx forward-auth snippet (a ```nginx block with %q), found %d in %v", nginxSnippetMarker, len(found), found)
	}
	return snippet, from
}

// nginxAddresses are what the documented snippet uses and the tests
// replace, each exactly once.
var nginxAddresses = []string{"server 127.0.0.1:9000;", "server 127.0.0.1:8080;", "listen 80;"}

// nginxConf returns the documented nginx configuration pointed at app and
// oktafed, listening on 127.0.0.1:port.
func nginxConf(t testing.TB, app, oktafed string) func(port int) string {
	t.Helper()
	snippet, from := docNginxSnippet(t)
	for _, a := range nginxAddresses {
		if strings.Count(snippet, a) != 1 {
			t.Fatalf("%s: the nginx snippet must contain %q exactly once (the tests replace it)", from, a)
		}
	}
	return func(port int) string {
		return strings.NewReplacer(
			nginxAddresses[0], "server "+app+";",
			nginxAddresses[1], "server "+oktafed+";",
			nginxAddresses[2], fmt.Sprintf("listen 127.0.0.1:%d;", port),
		).Replace(snippet)
	}
}

// TestDocumentedNginxSetsEveryIdentityHeader: the pasted configuration
// overwrites every identity header the gateway sends, so none of the
// client's reaches the app (the README once elided seven).
func TestDocumentedNginxSetsEveryIdentityHeader(t *testing.T) {
	snippet, from := docNginxSnippet(t)
	for _, h := range []string{"Subject", "User", "Issuer", "Provider", "Client-Id", "Scopes", "Groups", "Role", "Roles"} {
		v := "$upstream_http_x_auth_" + strings.ReplaceAll(strings.ToLower(h), "-", "_")
		if !regexp.MustCompile(`proxy_set_header X-Auth-`+h+`\s+\$oktafed_\w+;`).MatchString(snippet) || !strings.Contains(snippet, v+";") {
			t.Errorf("%s: the nginx snippet does not copy X-Auth-%s from %s", from, h, v)
		}
	}
	if strings.Contains(snippet, "...") {
		t.Errorf("%s: the nginx snippet elides something (\"...\"): it must work pasted as written", from)
	}
}

var fencedYAML = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// docYAMLSnippet returns the one documented YAML block containing marker.
func docYAMLSnippet(t *testing.T, marker string) string {
	t.Helper()
	files := []string{filepath.Join("..", "README.md")}
	more, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	var found []string
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, m := range fencedYAML.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], marker) {
				found = append(found, m[1])
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one documented YAML block with %q, found %d", marker, len(found))
	}
	return found[0]
}

// TestDocumentedTraefikAndEnvoySnippets: Debian has neither Traefik nor
// Envoy, so their snippets are checked for what they must say as
// written: valid YAML, the gateway's endpoint, and header rules that copy
// every identity header and strip the client's, in every spelling.
func TestDocumentedTraefikAndEnvoySnippets(t *testing.T) {
	var traefik struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth struct {
					Address                  string `yaml:"address"`
					AuthResponseHeadersRegex string `yaml:"authResponseHeadersRegex"`
					TrustForwardHeader       bool   `yaml:"trustForwardHeader"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal([]byte(docYAMLSnippet(t, "forwardAuth:")), &traefik); err != nil {
		t.Fatalf("the Traefik snippet is not YAML: %v", err)
	}
	fa := traefik.HTTP.Middlewares["oktafed"].ForwardAuth
	if !strings.HasSuffix(fa.Address, gateway.DefaultForwardAuthPath) || fa.TrustForwardHeader {
		t.Errorf("Traefik forwardAuth %+v: want the address ending in %s and trustForwardHeader off", fa, gateway.DefaultForwardAuthPath)
	}
	re, err := regexp.Compile(fa.AuthResponseHeadersRegex)
	if err != nil {
		t.Fatalf("authResponseHeadersRegex %q: %v", fa.AuthResponseHeadersRegex, err)
	}
	for _, h := range []string{"Subject", "User", "Issuer", "Provider", "Client-Id", "Scopes", "Groups", "Role", "Roles"} {
		for _, name := range []string{"X-Auth-" + h, strings.ToLower("x-auth-" + h), "X_Auth_" + strings.ReplaceAll(h, "-", "_")} {
			if !re.MatchString(name) {
				t.Errorf("Traefik's authResponseHeadersRegex misses %s", name)
			}
		}
	}
	if re.MatchString("X-Forwarded-For") || re.MatchString("Authorization") {
		t.Error("Traefik's authResponseHeadersRegex matches headers that are not the identity")
	}

	var envoy struct {
		HTTPFilters []struct {
			Name        string `yaml:"name"`
			TypedConfig struct {
				Type                string `yaml:"@type"`
				TransportAPIVersion string `yaml:"transport_api_version"`
				GRPCService         struct {
					EnvoyGRPC struct {
						ClusterName string `yaml:"cluster_name"`
					} `yaml:"envoy_grpc"`
					Timeout string `yaml:"timeout"`
				} `yaml:"grpc_service"`
			} `yaml:"typed_config"`
		} `yaml:"http_filters"`
	}
	if err := yaml.Unmarshal([]byte(docYAMLSnippet(t, "envoy.filters.http.ext_authz")), &envoy); err != nil {
		t.Fatalf("the Envoy snippet is not YAML: %v", err)
	}
	if len(envoy.HTTPFilters) != 1 {
		t.Fatalf("Envoy snippet: %d filters", len(envoy.HTTPFilters))
	}
	tc := envoy.HTTPFilters[0].TypedConfig
	if envoy.HTTPFilters[0].Name != "envoy.filters.http.ext_authz" || tc.Type != "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz" ||
		tc.TransportAPIVersion != "V3" || tc.GRPCService.EnvoyGRPC.ClusterName == "" || tc.GRPCService.Timeout == "" {
		t.Errorf("Envoy ext_authz filter %+v", envoy.HTTPFilters[0])
	}
}
