// Package fastpath answers `oktafed credential-process` from the AWS
// credentials file before most of oktafed starts.
//
// The AWS SDKs run credential_process before every AWS call. Go initializes
// every package linked into a binary before main, and oktafed links the AWS
// SDK's service clients, the keyring, the sandbox and database drivers.
// Since Go 1.21 packages are initialized in a specified order: repeatedly
// the package first by import path among those whose imports are done.
// This package imports only the standard library, internal/awsfile and
// internal/owned (and through awsfile gofrs/flock and
// golang.org/x/sys/unix), so its init runs once x/sys/unix has
// (GODEBUG=inittrace=1 lists the packages before it); the rest (the AWS SDK's endpoint tables, verify, the
// keyring, YAML, the sandbox, cobra and the CLI) never run. When the named
// profile's cached credentials are fresh it prints them and exits right
// there. TestFastPathInitOrder in cmd/internal/cli keeps the count under
// its bound and none of the program's own packages ahead of it.
//
// Why in init and not first thing in main: by the time main runs, every
// package has initialized, so answering from main pays for all of them
// (farm-bench --vs, whole process, paired runs, shows it plainly);
// bench/credproc prints the fast path against the full program
// (OKTAFED_NO_FASTPATH=1). The exit is
// the package's whole reason to exist, it happens only for the one
// command with fresh cached credentials, and nothing has started that
// would need to stop: no goroutine, no open file, no deferred call.
//
// Anything else (another command, a role flag it does not understand,
// stale or missing credentials, an oktafed profile name rather than an AWS
// one) falls through to the full program, which refreshes through the Okta
// session or explains what to do. The answer is the same either way: a test
// compares the two.
package fastpath

import (
	"encoding/json"
	"os"
	"strings"
	"time"

	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/internal/owned"
)

// Window is how long before expiry cached credentials count as stale: the
// module's one refresh window, so the fast path and the full program agree.
const Window = owned.RefreshWindow

// disabled turns the fast path off, for the test that compares it with the
// full program.
const disabledEnv = "OKTAFED_NO_FASTPATH"

func init() {
	if len(os.Args) < 2 || os.Args[1] != "credential-process" || os.Getenv(disabledEnv) != "" {
		return
	}
	profile, ok := profileArg(os.Args[2:])
	if !ok {
		return
	}
	if doc, ok := Cached(profile, time.Now()); ok {
		if _, err := os.Stdout.Write(doc); err == nil {
			os.Exit(0)
		}
	}
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
