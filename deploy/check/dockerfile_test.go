package check

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository root, two levels above this module.
var root = filepath.Join("..", "..")

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goVersion is the go directive of the main module's go.mod.
func goVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go ([0-9.]+)$`).FindSubmatch(read(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	for _, p := range DockerfileProblems(read(t, "Dockerfile"), goVersion(t)) {
		t.Error(p)
	}
}

// TestDockerignore: the build context leaves out the git directory, the
// tool cache and node_modules (large, and .git would put history in the
// builder), but keeps what go build needs.
func TestDockerignore(t *testing.T) {
	lines := map[string]bool{}
	for _, l := range strings.Split(string(read(t, ".dockerignore")), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".git", ".cache", "**/node_modules"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd", "gateway", "internal", "*.go", "**/*.go"} {
		if lines[keep] {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}

// TestDockerfileProblems holds the checker to each rule with a Dockerfile
// that breaks it, so a rule that stopped checking fails here.
func TestDockerfileProblems(t *testing.T) {
	good := string(read(t, "Dockerfile"))
	gv := goVersion(t)
	if p := DockerfileProblems([]byte(good), gv); len(p) != 0 {
		t.Fatalf("the real Dockerfile fails: %q", p)
	}
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("the Dockerfile no longer contains %q; update this test", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	const entry = `ENTRYPOINT ["/usr/local/bin/oktafed-gateway"]`
	for name, tc := range map[string]struct {
		src, want string
	}{
		"root user":             {replace("USER 65532:65532", "USER 0"), "USER 0 is root"},
		"root by name":          {replace("USER 65532:65532", "USER root"), "numeric uid"},
		"root group":            {replace("USER 65532:65532", "USER 65532:0"), "group 0"},
		"named user":            {replace("USER 65532:65532", "USER nonroot"), "numeric uid"},
		"no user":               {replace("USER 65532:65532\n", ""), "no USER"},
		"run in final stage":    {replace(entry, "RUN [\"/usr/local/bin/oktafed-gateway\", \"version\"]\n"+entry), "RUN"},
		"shell-form entrypoint": {replace(entry, "ENTRYPOINT /usr/local/bin/oktafed-gateway"), "shell form"},
		"shell-form cmd":        {replace(entry, entry+"\nCMD serve the default config"), "CMD in shell form"},
		"no entrypoint":         {replace(entry, ""), "no ENTRYPOINT"},
		"wrong program":         {replace(entry, `ENTRYPOINT ["/bin/sh"]`), "does not start oktafed-gateway"},
		"healthcheck":           {replace(entry, entry+"\nHEALTHCHECK CMD [\"wget\", \"-q\", \"http://127.0.0.1:8080/healthz\"]"), "HEALTHCHECK"},
		"debian final stage":    {replace("FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:bookworm-slim"), "final stage FROM debian"},
		"distroless with shell": {replace("FROM gcr.io/distroless/static-debian12:nonroot", "FROM gcr.io/distroless/static-debian12:debug-nonroot"), "final stage FROM"},
		"cgo":                   {replace("CGO_ENABLED=0", "CGO_ENABLED=1"), "CGO_ENABLED=0"},
		"no trimpath":           {replace("-trimpath ", ""), "-trimpath"},
		"no version stamp":      {replace("-X github.com/oktafed/oktafed/cmd/internal/buildinfo.version=${VERSION}", ""), "buildinfo.version"},
		"go version behind":     {replace("ARG GO_VERSION="+gv, "ARG GO_VERSION=1.20.0"), "go.mod says go " + gv},
		"listen on loopback":    {replace("ENV GATEWAY_LISTEN=:8080", "ENV GATEWAY_LISTEN=:9000"), "EXPOSE"},
		"no listen":             {replace("ENV GATEWAY_LISTEN=:8080\n", ""), "no ENV GATEWAY_LISTEN"},
		"one stage":             {"FROM gcr.io/distroless/static-debian12:nonroot\nUSER 65532\n" + entry + "\n", "stage"},
		"lint: lower-case as":   {replace("AS build", "as build"), "lint FromAsCasing"},
		"not a Dockerfile":      {"FROM\n", "FROM requires"},
	} {
		t.Run(name, func(t *testing.T) {
			got := DockerfileProblems([]byte(tc.src), gv)
			if !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("problems %q, want one mentioning %q", got, tc.want)
			}
		})
	}
}
