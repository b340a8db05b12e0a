package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/cmd/internal/buildinfo"
)

func newVersionCmd(s streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the oktafed-gateway version",
		Long: `Print the release version, commit and build date, the Go version and the
platform, as text or (--output json) one JSON object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := buildinfo.Get()
			switch output {
			case "json":
				return json.NewEncoder(s.Out).Encode(info)
			case "text":
				_, err := fmt.Fprintf(s.Out, "oktafed-gateway %s\n", info)
				return err
			}
			return fmt.Errorf("--output %q: choose text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
