package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/cmd/internal/buildinfo"
)

func newVersionCmd(ios *IOStreams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the oktafed version",
		Long: `Print the release version, commit and build date, the Go version and the
platform. A release says its tag; 'go install ...@v1.2.3' says the module
version; a build from a checkout says the commit it was built from.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := buildinfo.Get()
			switch output {
			case "json":
				return json.NewEncoder(ios.Out).Encode(info)
			case "text":
				_, err := fmt.Fprintf(ios.Out, "oktafed %s\n", info)
				return err
			}
			return fmt.Errorf("--output %q: choose text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
