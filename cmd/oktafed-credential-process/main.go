// Command oktafed-credential-process is oktafed's credential_process for
// the AWS SDKs and CLI, kept small so it starts fast: the SDKs run it
// before every AWS call.
//
//	[profile prod]
//	credential_process = oktafed-credential-process --profile okta-prod-Admin
//
// It takes the arguments `oktafed credential-process` takes. While the
// profile's cached credentials are fresh it prints them itself, byte for
// byte what oktafed would print. Anything else (credentials to refresh, a
// missing profile, --role, a flag it does not know) it hands to the full
// program, `oktafed credential-process` with the same arguments, found
// beside this program first and then on PATH; the answer, the messages and
// the exit code are then oktafed's own. On unix oktafed replaces this
// process (exec), so no extra process stays between the AWS tool and it.
//
// It links only the standard library and cmd/internal/fastpath (the
// credentials file and its oktafed sections); internal/archtest keeps it
// so. Without oktafed to hand over to, it says what to install and exits 1.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/oktafed/oktafed/cmd/internal/fastpath"
)

// fullProgram is the program the companion hands over to.
const fullProgram = "oktafed"

// exitNotInstalled is the exit code when oktafed cannot be found: a
// failure that is not a login to do (3 would tell scripts to log in).
const exitNotInstalled = 1

func main() {
	args := append([]string{"credential-process"}, os.Args[1:]...)
	if fastpath.Answer(args, os.Stdout) {
		return
	}
	path, ok := locate()
	if !ok {
		fmt.Fprintln(os.Stderr, notFound())
		os.Exit(exitNotInstalled)
	}
	os.Exit(handOver(path, args))
}

// locate finds oktafed: beside this program's executable (as the release
// archives, Homebrew and Scoop install them), then on PATH. A PATH entry
// relative to the working directory is not followed (exec.LookPath
// refuses it), so a program planted in the current directory is never
// run; nor is this program itself under oktafed's name.
func locate() (string, bool) {
	name := fullProgram
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	self, selfErr := os.Executable()
	var dirs []string
	if selfErr == nil {
		dirs = append(dirs, filepath.Dir(self))
		// A symlink (Homebrew links its bin/ to the cask's folder):
		// also the folder of the file it points to.
		if real, err := filepath.EvalSymlinks(self); err == nil && filepath.Dir(real) != filepath.Dir(self) {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	for _, dir := range dirs {
		if p := filepath.Join(dir, name); runnable(p, self) {
			return p, true
		}
	}
	if p, err := exec.LookPath(fullProgram); err == nil {
		if abs, err := filepath.Abs(p); err == nil && runnable(abs, self) {
			return abs, true
		}
	}
	return "", false
}

// notFound is the message when oktafed cannot be found: what was looked
// for, where, and what to do.
func notFound() string {
	where := "beside this program"
	if self, err := os.Executable(); err == nil {
		where = "in " + filepath.Dir(self)
	}
	return "oktafed-credential-process: these credentials need oktafed (to refresh them, or for what was asked), " +
		"and it is neither " + where + " nor on PATH.\n" +
		"Install oktafed (its release archive, Homebrew cask and Scoop package hold both programs) or put the folder holding it on PATH;\n" +
		"or set credential_process = oktafed credential-process ... instead."
}

// runnable reports whether path is a regular, executable file other than
// self, the running program.
func runnable(path, self string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || (runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0) {
		return false
	}
	if self != "" {
		if si, err := os.Stat(self); err == nil && os.SameFile(fi, si) {
			return false
		}
	}
	return true
}
