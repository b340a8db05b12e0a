//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// handOver replaces this process with oktafed (the same process id, the
// same standard streams and environment), so the exit code the AWS tool
// sees is oktafed's. It returns only when exec fails.
func handOver(path string, args []string) int {
	err := syscall.Exec(path, append([]string{path}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "oktafed-credential-process: running %s: %v\n", path, err)
	return exitNotInstalled
}
