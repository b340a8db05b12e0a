// Package cli is oktafed's command-line layer: one file per command, each
// parsing input, calling library packages and printing. It holds no logic
// that a Go program could not reach through the library packages.
package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/ledger"
	"github.com/oktafed/oktafed/sso"
	"github.com/spf13/cobra"
)

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// commands lists every top-level command's constructor; each lives in a
// file named for the command.
var commands = []func(*IOStreams) *cobra.Command{
	newVersionCmd,
	newSandboxCmd,
	newDBCmd,
	newDemoCmd,
	newInitCmd,
	newLoginCmd,
	newLogoutCmd,
	newRolesCmd,
	newCredentialProcessCmd,
	newExecCmd,
	newEnvCmd,
	newConsoleCmd,
	newDoctorCmd,
	newGatewayCmd,
	newM2MCmd,
	newTokenCmd, newJWK2PEMCmd,
}

// NewRootCmd builds the oktafed command tree over ios.
func NewRootCmd(ios *IOStreams) *cobra.Command {
	ios.startRun(nil)
	root := &cobra.Command{
		Use:   "oktafed",
		Short: "Make an Okta login the only credential a team needs",
		Long: `oktafed turns an Okta login into short-lived AWS credentials, database
connections authenticated with federated IAM tokens, and verified tokens for
your services. Try it offline with 'oktafed demo'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// A mistyped network deadline is said before anything runs.
			if _, err := federation.DeadlinesFromEnv(ios.getenv); err != nil {
				return err
			}
			// One HTTP client and one keyring for the whole run.
			ios.startRun(cmd)
			return nil
		},
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	for _, newCmd := range commands {
		root.AddCommand(newCmd(ios))
	}
	return root
}

// Main runs oktafed with args and returns the process exit code.
func Main(ctx context.Context, ios *IOStreams, args []string) int {
	root := NewRootCmd(ios)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if !errors.As(err, new(silentError)) {
		fmt.Fprintf(ios.ErrOut, "oktafed: %v\n", err)
		if hint := advice(err); hint != "" {
			fmt.Fprintln(ios.ErrOut, hint)
		}
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// advice is the command that helps after a library's typed error: the
// libraries name what is wrong, the CLI which oktafed command fixes it.
func advice(err error) string {
	var lr *federation.LoginRequiredError
	if errors.As(err, &lr) && lr.Profile != "" {
		return fmt.Sprintf("Run `oktafed login --profile %s` to sign in again.", lr.Profile)
	}
	var ue *federation.UnreachableError
	if errors.As(err, &ue) {
		switch ue.Service {
		case "STS":
			return "`oktafed init --sts-endpoint URL` sets the profile's STS endpoint."
		case "Okta":
			return "`oktafed init --profile NAME --org-url URL` changes a profile's org URL."
		}
	}
	if errors.Is(err, ledger.ErrSeedRefused) {
		return "The seed is OKTAFED_TOTP_SECRET's, else the one `oktafed init` saved in the keyring."
	}
	if errors.Is(err, sso.ErrLoginRequired) {
		return "Run `oktafed sso login` to sign in to IAM Identity Center again."
	}
	return ""
}
