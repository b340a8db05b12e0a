package cli

import (
	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/internal/awscred"
)

func newCredentialProcessCmd(ios *IOStreams) *cobra.Command {
	var profile, role string
	cmd := &cobra.Command{
		Use:   "credential-process",
		Short: "Print AWS credentials for the credential_process setting",
		Long: `Print credentials as the AWS SDKs and CLI expect from a credential_process
command (JSON, Version 1). Cached credentials are printed while they are
fresh; otherwise they are refreshed through the Okta session, without a
password or MFA. When the Okta session has ended the command fails (exit code
3) and says to run oktafed login.

In ~/.aws/config:

  [profile prod]
  credential_process = oktafed credential-process --profile okta-prod-Admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			owned, err := resolveAWSProfile(ios, profile, role)
			if err != nil {
				return err
			}
			creds, err := awsCredentialsFor(cmd.Context(), ios, owned)
			if err != nil {
				return withExitCode(err)
			}
			doc, err := awscred.ProcessJSON(creds)
			if err != nil {
				return err
			}
			_, err = ios.Out.Write(append(doc, '\n'))
			return err
		},
	}
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "AWS profile written by oktafed, or an oktafed profile with one role (default: $AWS_PROFILE)")
	cmd.Flags().StringVarP(&role, "role", "r", "", "role ARN, when the oktafed profile has several")
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles)
	return cmd
}
