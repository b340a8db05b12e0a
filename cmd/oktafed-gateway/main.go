// Command oktafed-gateway is the oktafed gateway: a reverse proxy that
// admits only requests carrying a valid access token. It is a binary of
// its own, apart from oktafed, so the program people install and that
// credential_process starts before every AWS call does not carry the
// server's grpc, Redis and Prometheus libraries. It only parses flags and
// the environment; package gateway holds the behaviour.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// defaultGrace is how long the process may take to stop after SIGTERM or
// Ctrl-C before main exits anyway, unless a serving gateway asked for
// longer to cover its drain period and shutdown (stopGrace).
const defaultGrace = 2 * time.Second

// stopGrace, when positive, replaces defaultGrace; serve sets it.
var stopGrace atomic.Int64

func grace() time.Duration {
	if d := time.Duration(stopGrace.Load()); d > 0 {
		return d
	}
	return defaultGrace
}

func main() {
	// SIGHUP reloads the configuration (serve); caught from the start so
	// that one arriving while the gateway starts does not kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		time.Sleep(grace())
		fmt.Fprintln(os.Stderr, "\noktafed-gateway: interrupted")
		os.Exit(130)
	}()
	code := run(ctx, streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, Getenv: os.Getenv, Reload: hup}, os.Args[1:])
	stop()
	os.Exit(code)
}

// streams is every byte the command reads or writes and the environment it
// reads, so tests drive it without a process.
type streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	Getenv func(string) string
	// Reload delivers SIGHUP: each one reloads a serving gateway's
	// configuration. nil in tests that do not reload.
	Reload <-chan os.Signal
}

func (s streams) getenv(k string) string {
	if s.Getenv == nil {
		return ""
	}
	return s.Getenv(k)
}

// genDocs writes the command reference and man pages; gendocs.go sets it
// in builds with -tags gendocs only (go generate), so the released binary
// carries no documentation writers.
var genDocs func(args []string) int

//go:generate go run -tags gendocs . gen-docs ../../docs

// run executes the command line args and returns the exit code: 0, or 1
// after printing the error.
func run(ctx context.Context, s streams, args []string) int {
	if genDocs != nil && len(args) > 0 && args[0] == "gen-docs" {
		return genDocs(args[1:])
	}
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(s.ErrOut, "oktafed-gateway: %v\n", err)
	return 1
}

// newRootCmd builds the command tree: serving is the root command itself;
// revoke, version and completion are its subcommands.
func newRootCmd(s streams) *cobra.Command {
	root := newServeCmd(s)
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.AddCommand(newRevokeCmd(s), newVersionCmd(s))
	return root
}
