// Command oktafed makes an Okta login the only credential a team needs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/oktafed/oktafed/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.System(), os.Args[1:])
	stop()
	os.Exit(code)
}
