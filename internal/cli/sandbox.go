package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/sandbox"
)

type sandboxOptions struct {
	configPath string
	addr       string
	verbose    bool
}

func newSandboxCmd(ios *IOStreams) *cobra.Command {
	var opts sandboxOptions
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local Okta org and AWS endpoints for development and tests",
		Long: `Run a local Okta-compatible org (users, MFA factors, an AWS SAML app,
authorization servers) and local AWS endpoints (STS) on 127.0.0.1.
Without --config it serves the built-in demo org.`,
		Example: `  oktafed sandbox
  oktafed sandbox --config sandbox.yaml --addr 127.0.0.1:8443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSandbox(cmd.Context(), ios, opts)
		},
	}
	cmd.Flags().StringVar(&opts.configPath, "config", "", "sandbox.yaml to serve (default: the built-in demo org)")
	cmd.Flags().StringVar(&opts.addr, "addr", "", "address to listen on (default 127.0.0.1:8443, or addr from the config)")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "log every request to standard error")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	return cmd
}

func runSandbox(ctx context.Context, ios *IOStreams, opts sandboxOptions) error {
	cfg := sandbox.DefaultConfig()
	if opts.configPath != "" {
		var err error
		if cfg, err = sandbox.LoadConfig(opts.configPath); err != nil {
			return err
		}
	}
	switch {
	case opts.addr != "":
		cfg.Addr = opts.addr
	case cfg.Addr == "":
		cfg.Addr = "127.0.0.1:8443"
	}
	level := slog.LevelWarn
	if opts.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(ios.ErrOut, &slog.HandlerOptions{Level: level}))
	srv, err := sandbox.New(cfg, sandbox.Options{Logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprint(ios.ErrOut, srv.Banner())
	fmt.Fprintln(ios.ErrOut, "Press Ctrl-C to stop.")
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
