package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/federation"
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
password or MFA. When the Okta session has ended, or a logout removed the
profile, the command fails (exit code 3) and says to run oktafed login.

A refresh gives up after 15 s in all, naming the host that did not answer:
each connection may take OKTAFED_CONNECT_TIMEOUT (default 5s here) and each
answer OKTAFED_RESPONSE_TIMEOUT (default 10s here).

In ~/.aws/config:

  [profile prod]
  credential_process = oktafed credential-process --profile okta-prod-Admin

oktafed-credential-process, installed beside oktafed, takes the same flags
and starts faster: it prints fresh cached credentials itself and hands
everything else to this command.

  credential_process = oktafed-credential-process --profile okta-prod-Admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			owned, err := resolveAWSProfile(ios, profile, role)
			if err != nil {
				// A profile a logout removed is a login to do: exit 3.
				return withExitCode(err)
			}
			// The AWS tool that started this command waits for it: a
			// service that takes the connection and never answers must
			// not hold it for long.
			ctx, cancel := context.WithTimeout(cmd.Context(), credentialProcessBudget)
			defer cancel()
			// The run's client has credential-process's deadlines
			// (deadlinesFor).
			creds, err := refresher(ios).Credentials(ctx, owned)
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

// credentialProcessBudget is the longest credential-process waits for
// Okta and STS in all.
const credentialProcessBudget = 15 * time.Second

// credentialProcessDeadlines are the per-call deadlines of
// credential-process: the variables when set, else shorter defaults than
// login's, which fit its budget.
func credentialProcessDeadlines(ios *IOStreams) federation.Deadlines {
	d, err := federation.DeadlinesFromEnv(func(k string) string {
		if v := ios.getenv(k); v != "" {
			return v
		}
		return map[string]string{federation.EnvConnectTimeout: "5s", federation.EnvResponseTimeout: "10s"}[k]
	})
	if err != nil {
		return federation.Deadlines{Connect: 5 * time.Second, Response: 10 * time.Second}
	}
	return d
}
