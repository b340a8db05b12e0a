// Command oktafed makes an Okta login the only credential a team needs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/oktafed/oktafed/cmd/internal/cli"
	"github.com/oktafed/oktafed/cmd/internal/fastpath"
)

// interruptGrace is how long a command may take to stop after Ctrl-C
// before the process exits anyway: network calls end through the context,
// but a prompt blocked on the terminal does not.
const interruptGrace = 2 * time.Second

// genDocs writes the command reference and man pages; gendocs.go sets it
// in builds with -tags gendocs only (go generate), so the released binary
// carries no documentation writers.
var genDocs func(args []string) int

//go:generate go run -tags gendocs . gen-docs ../../docs

func main() {
	// credential-process on fresh cached credentials, before anything of
	// the CLI is built; see the fastpath package comment.
	if fastpath.Answer(os.Args[1:], os.Stdout) {
		return
	}
	if genDocs != nil && len(os.Args) > 1 && os.Args[1] == "gen-docs" {
		os.Exit(genDocs(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		time.Sleep(interruptGrace)
		cli.RestoreTerminal()
		fmt.Fprintln(os.Stderr, "\noktafed: interrupted")
		os.Exit(130)
	}()
	code := cli.Main(ctx, cli.System(), os.Args[1:])
	stop()
	os.Exit(code)
}
