package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newGatewayCmd answers the command the gateway once had here. The gateway
// is the oktafed-gateway binary now, so that this program, which
// credential_process starts before every AWS call, does not carry the
// server's libraries; scripts that still say "oktafed gateway" learn where
// it went instead of reading "unknown command".
func newGatewayCmd(*IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:                "gateway",
		Short:              "Moved: the gateway is its own binary, oktafed-gateway",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("the gateway is its own binary now: run oktafed-gateway with the same flags, subcommands and environment variables (e.g. oktafed-gateway --check, oktafed-gateway revoke)")
		},
	}
}
