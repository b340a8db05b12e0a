package check

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// finalBases are the images the gateway may run on: no shell, no package
// manager, nothing to exploit after a compromise.
var finalBases = []string{"gcr.io/distroless/static-debian12:nonroot", "gcr.io/distroless/static-debian12", "scratch"}

// DockerfileProblems parses a Dockerfile with BuildKit's parser and
// linter (what `docker build` runs) and returns what breaks the image's
// rules, one sentence each; none means it passes:
//   - it parses with no parser or lint warning;
//   - the first stage builds ./cmd/oktafed-gateway statically
//     (CGO_ENABLED=0, -trimpath) and stamps cmd/internal/buildinfo, with the Go
//     version of go.mod (goVersion) as the default;
//   - the final stage is distroless/static or scratch, runs no RUN (there
//     is no shell to run it), sets a numeric non-root USER, uses the exec
//     form for ENTRYPOINT and CMD, and has no HEALTHCHECK that needs a
//     shell;
//   - the exposed port is the one GATEWAY_LISTEN names.
func DockerfileProblems(src []byte, goVersion string) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return []string{"parse: " + err.Error()}
	}
	for _, w := range res.Warnings {
		add("parser warning: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		add("lint %s (line %d): %s", rule, line, msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return append(problems, "instructions: "+err.Error())
	}
	if len(stages) < 2 {
		return append(problems, fmt.Sprintf("%d stage(s): want a build stage and a final stage", len(stages)))
	}

	// The build stage.
	build := stages[0]
	if !strings.HasPrefix(build.BaseName, "golang:") {
		add("first stage FROM %s: want a golang image", build.BaseName)
	}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Key == "GO_VERSION" && (kv.Value == nil || *kv.Value != goVersion) {
				v := "<unset>"
				if kv.Value != nil {
					v = *kv.Value
				}
				add("ARG GO_VERSION=%s: go.mod says go %s", v, goVersion)
			}
		}
	}
	var buildRun string
	for _, c := range build.Commands {
		if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
			buildRun = strings.Join(r.CmdLine, " ")
		}
	}
	if buildRun == "" {
		add("build stage: no RUN with go build")
	} else {
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/oktafed-gateway",
			"-X github.com/oktafed/oktafed/cmd/internal/buildinfo.version=", "-X github.com/oktafed/oktafed/cmd/internal/buildinfo.commit="} {
			if !strings.Contains(buildRun, want) {
				add("build stage: go build lacks %s", want)
			}
		}
	}

	// The final stage.
	final := stages[len(stages)-1]
	if !slices.Contains(finalBases, final.BaseName) {
		add("final stage FROM %s: want one of %s", final.BaseName, strings.Join(finalBases, ", "))
	}
	var user, listen string
	var exposed []string
	var entrypoint *instructions.EntrypointCommand
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			add("final stage: RUN %q needs a shell the image must not have", strings.Join(c.CmdLine, " "))
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entrypoint = c
		case *instructions.CmdCommand:
			if c.PrependShell {
				add("final stage: CMD in shell form needs a shell; use the exec form [\"...\"]")
			}
		case *instructions.HealthCheckCommand:
			if c.Health != nil && len(c.Health.Test) > 0 && c.Health.Test[0] != "NONE" {
				add("final stage: HEALTHCHECK %q cannot run without a shell or client in the image; probe /healthz and /readyz from the orchestrator", strings.Join(c.Health.Test, " "))
			}
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key == "GATEWAY_LISTEN" {
					listen = kv.Value
				}
			}
		}
	}
	if problem := nonRootUser(user); problem != "" {
		add("final stage: %s", problem)
	}
	switch {
	case entrypoint == nil:
		add("final stage: no ENTRYPOINT")
	case entrypoint.PrependShell:
		add("final stage: ENTRYPOINT in shell form needs a shell; use the exec form [\"...\"]")
	case len(entrypoint.CmdLine) == 0 || !strings.HasSuffix(entrypoint.CmdLine[0], "/oktafed-gateway"):
		add("final stage: ENTRYPOINT %q does not start oktafed-gateway", entrypoint.CmdLine)
	}
	if listen == "" {
		add("final stage: no ENV GATEWAY_LISTEN; the gateway's default 127.0.0.1 is unreachable from outside the container")
	} else if _, port, ok := strings.Cut(listen, ":"); !ok || !slices.Contains(exposed, port) {
		add("final stage: GATEWAY_LISTEN=%s but EXPOSE %v", listen, exposed)
	}
	return problems
}

var numericUser = regexp.MustCompile(`^([0-9]+)(:([0-9]+))?$`)

// nonRootUser says what is wrong with a USER value, or "". A numeric id
// is required: Kubernetes' runAsNonRoot refuses to start an image whose
// user is a name, since it cannot tell the name's id without running it.
func nonRootUser(user string) string {
	if user == "" {
		return "no USER: the image would run as root"
	}
	m := numericUser.FindStringSubmatch(user)
	if m == nil {
		return fmt.Sprintf("USER %s: use a numeric uid[:gid] so runAsNonRoot can check it", user)
	}
	if strings.TrimLeft(m[1], "0") == "" {
		return fmt.Sprintf("USER %s is root", user)
	}
	if m[3] != "" && strings.TrimLeft(m[3], "0") == "" {
		return fmt.Sprintf("USER %s: group 0 is root's", user)
	}
	return ""
}
