package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
	fmt.Fprint(ios.ErrOut, sandboxSignIn(srv.URL, cfg))
	fmt.Fprintln(ios.ErrOut, "Press Ctrl-C to stop.")
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// sandboxSignIn tells a newcomer how to sign in to the sandbox at url: a
// user's login, password and TOTP seed, the AWS app's embed link, and the
// `oktafed init` and `oktafed login` lines that use them. Every secret in
// a sandbox config is public (the banner says so), so printing them is
// what makes the sandbox usable without reading its YAML. It is empty
// when the config has no user with a password or no AWS app.
func sandboxSignIn(url string, cfg sandbox.Config) string {
	var login, password, seed string
	for _, u := range cfg.Org.Users {
		if u.Password == "" || u.Status != "" && !strings.EqualFold(u.Status, "ACTIVE") {
			continue
		}
		s := ""
		for _, f := range u.Factors {
			if f.Type == "totp" && f.Secret != "" {
				s = f.Secret
				break
			}
		}
		if login == "" || (seed == "" && s != "") {
			login, password, seed = u.Login, u.Password, s
		}
		if seed != "" {
			break
		}
	}
	if login == "" || len(cfg.Org.Apps) == 0 || cfg.Org.Apps[0].ID == "" {
		return ""
	}
	app := url + "/home/amazon_aws/" + cfg.Org.Apps[0].ID + "/272"
	var b strings.Builder
	fmt.Fprintf(&b, "Sign in as the demo user (public sandbox secrets):\n")
	fmt.Fprintf(&b, "  login:             %s\n  password:          %s\n", login, password)
	env := "OKTA_PASSWORD=" + shellQuote(password)
	mfa, save := "", " --save-password"
	if seed != "" {
		fmt.Fprintf(&b, "  TOTP seed:         %s\n", seed)
		env += " OKTAFED_TOTP_SECRET=" + shellQuote(seed)
		mfa, save = " --mfa totp", save+" --save-totp"
	}
	fmt.Fprintf(&b, "  AWS app link:      %s\n", app)
	fmt.Fprintf(&b, "Set up and log in:\n  %s oktafed init --profile sandbox --org-url %s --app-url %s --username %s%s --region us-east-1 --sts-endpoint %s%s --non-interactive\n",
		env, shellQuote(url), shellQuote(app), shellQuote(login), mfa, shellQuote(url), save)
	fmt.Fprintf(&b, "  oktafed login --profile sandbox --role all\n")
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
