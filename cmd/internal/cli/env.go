package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/internal/awscred"
)

func newEnvCmd(ios *IOStreams) *cobra.Command {
	var profile, role, shell, output string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print AWS credentials as environment variables for a shell",
		Example: `  eval "$(oktafed env --profile okta-prod-Admin)"
  oktafed env --shell fish | source
  oktafed env --shell powershell | Invoke-Expression
  oktafed env --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "json" {
				shell = "json"
			} else if output != "text" {
				return fmt.Errorf("--output %q: choose text or json", output)
			}
			if !slices.Contains(awscred.Shells, shell) && shell != "bash" && shell != "zsh" && shell != "pwsh" {
				return fmt.Errorf("--shell %q: choose one of %s", shell, strings.Join(awscred.Shells, ", "))
			}
			owned, err := resolveAWSProfile(ios, profile, role)
			if err != nil {
				return err
			}
			creds, err := awsCredentialsFor(cmd.Context(), ios, owned)
			if err != nil {
				return withExitCode(err)
			}
			text, err := awscred.FormatEnv(shell, awscred.EnvVars(creds, ownedRegion(ios, owned)))
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(ios.Out, text)
			return err
		},
	}
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "AWS profile written by oktafed, or an oktafed profile with one role (default: $AWS_PROFILE)")
	cmd.Flags().StringVarP(&role, "role", "r", "", "role ARN, when the oktafed profile has several")
	cmd.Flags().StringVar(&shell, "shell", "sh", "sh, fish, powershell or json")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text (shell commands) or json")
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles)
	_ = cmd.RegisterFlagCompletionFunc("shell", cobra.FixedCompletions(awscred.Shells, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
