//go:build !unix

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
)

// handOver runs oktafed as a child with this process's standard streams
// and environment, and returns its exit code.
func handOver(path string, args []string) int {
	return runChild(path, args, os.Stdin, os.Stdout, os.Stderr)
}

// runChild runs path with args, passing the standard streams and the
// environment through, and returns its exit code.
func runChild(path string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		if code := ee.ExitCode(); code >= 0 {
			return code
		}
		return exitNotInstalled // ended by a signal
	}
	if err != nil {
		fmt.Fprintf(stderr, "oktafed-credential-process: running %s: %v\n", path, err)
		return exitNotInstalled
	}
	return 0
}
