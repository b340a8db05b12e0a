// Package fastpath answers `oktafed credential-process` from the AWS
// credentials file, as the first thing cmd/oktafed's main does, before the
// command line is parsed or any part of the CLI is built.
//
// The AWS SDKs run credential_process before every AWS call. When the named
// profile's cached credentials are fresh, Answer prints them and main
// returns; nothing else of the CLI runs. Go initializes every package
// linked into the binary before main, so what this path costs is the
// runtime's start-up for a binary of oktafed's size plus the package
// initializers: the program's own packages keep theirs cheap (tables are
// built on first use), and TestInitWork in cmd/internal/cli keeps them so
// and names the dependencies whose initializers do real work. The
// companion binary cmd/oktafed-credential-process links this package and
// the standard library only, so it pays neither: it answers from here and
// hands the rest to `oktafed credential-process`.
//
// Anything else (another command, a role flag it does not understand,
// stale or missing credentials, an oktafed profile name rather than an AWS
// one) falls through to the full program, which refreshes through the Okta
// session or explains what to do. The answer is the same either way: a test
// compares the two (OKTAFED_NO_FASTPATH=1 turns this path off).
package fastpath

import (
	"encoding/json"
	"io"
	"os"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/internal/owned"
)

// Window is how long before expiry cached credentials count as stale: the
// module's one refresh window, so the fast path and the full program agree.
const Window = owned.RefreshWindow

// disabledEnv turns the fast path off, for the test that compares it with
// the full program.
const disabledEnv = "OKTAFED_NO_FASTPATH"

// Answer handles args (os.Args without the program name) when they are a
// credential-process for a profile whose cached credentials are fresh: it
// writes the credential_process document to out and reports true, and the
// caller exits 0. It reports false, having written nothing, for anything
// else, or when the write fails; the full program then runs, and reports
// a failed write with its exit code.
func Answer(args []string, out io.Writer) bool {
	if len(args) < 1 || args[0] != "credential-process" || os.Getenv(disabledEnv) != "" {
		return false
	}
	profile, ok := profileArg(args[1:])
	if !ok {
		return false
	}
	doc, ok := Cached(profile, time.Now())
	if !ok {
		return false
	}
	_, err := out.Write(doc)
	return err == nil
}

// profileArg reads --profile/-p from args; ok is false for anything it does
// not understand, which the full program then handles.
func profileArg(args []string) (string, bool) {
	profile := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--profile" || a == "-p":
			if i+1 >= len(args) {
				return "", false
			}
			i++
			profile = args[i]
		case strings.HasPrefix(a, "--profile="):
			profile = strings.TrimPrefix(a, "--profile=")
		default:
			return "", false
		}
	}
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	return profile, profile != ""
}

// Cached returns the credential_process document for an AWS profile that
// oktafed wrote, when its credentials are fresh.
func Cached(profile string, now time.Time) ([]byte, bool) {
	path, err := awsfile.CredentialsPath(nil)
	if err != nil {
		return nil, false
	}
	f, err := awsfile.Load(path)
	if err != nil {
		return nil, false
	}
	sec, ok := owned.Read(f.Profile(awsfile.Credentials, profile))
	if !ok || !sec.Fresh(now, Window) {
		return nil, false
	}
	doc, err := json.Marshal(struct {
		Version         int
		AccessKeyId     string //nolint:revive // the wire name
		SecretAccessKey string
		SessionToken    string `json:",omitempty"`
		Expiration      string
	}{1, sec.AccessKeyID, sec.SecretAccessKey, sec.SessionToken, sec.Expires.UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, false
	}
	return append(doc, '\n'), true
}
