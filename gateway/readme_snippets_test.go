package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
