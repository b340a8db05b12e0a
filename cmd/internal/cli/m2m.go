package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/internal/awscred"
	"github.com/oktafed/oktafed/m2m"
)

// m2mFlags override the environment that m2m.ConfigFromEnv reads.
type m2mFlags struct {
	issuer, clientID, key, keyID, role, sessionName string
	scopes                                          []string
}

func (f *m2mFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.issuer, "issuer", "", "custom authorization server issuer URL ($OKTA_ISSUER)")
	fl.StringVar(&f.clientID, "client-id", "", "the machine's Okta app client id ($OKTA_CLIENT_ID)")
	fl.StringVar(&f.key, "key", "", "private key: a PEM or JWK file path ($OKTAFED_CLIENT_KEY, which may also hold the key itself)")
	fl.StringVar(&f.keyID, "key-id", "", "the key's kid in the app's JWKS ($OKTAFED_CLIENT_KEY_ID)")
	fl.StringVar(&f.role, "role", "", "role ARN to assume with web identity ($AWS_ROLE_ARN)")
	fl.StringVar(&f.sessionName, "session-name", "", "role session name ($AWS_ROLE_SESSION_NAME)")
	fl.StringSliceVar(&f.scopes, "scope", nil, "scope to request, repeatable ($OKTA_SCOPES)")
}

// provider builds the m2m provider from flags over the environment.
func (f *m2mFlags) provider(ios *IOStreams) (*m2m.Provider, error) {
	over := map[string]string{
		m2m.EnvIssuer: f.issuer, m2m.EnvClientID: f.clientID, m2m.EnvClientKey: f.key, m2m.EnvClientKeyID: f.keyID,
		m2m.EnvRoleARN: f.role, m2m.EnvSessionName: f.sessionName, m2m.EnvScopes: strings.Join(f.scopes, " "),
	}
	cfg, err := m2m.ConfigFromEnv(func(k string) string {
		if v := over[k]; v != "" {
			return v
		}
		return ios.getenv(k)
	})
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient = httpClientFor(ios)
	return m2m.New(cfg)
}

func newM2MCmd(ios *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "m2m",
		Short: "AWS credentials for a machine from its Okta app key (no person, no keyring)",
		Long: `A machine signs a client assertion with its Okta app's private key
(private_key_jwt), gets an access token from a custom authorization server
with the client credentials grant, and exchanges it for role credentials with
STS AssumeRoleWithWebIdentity. Settings come from flags or the environment
(OKTA_ISSUER, OKTA_CLIENT_ID, OKTAFED_CLIENT_KEY, AWS_ROLE_ARN, …).`,
	}
	cmd.AddCommand(newM2MCredentialsCmd(ios), newM2MEnvCmd(ios))
	return cmd
}

func newM2MCredentialsCmd(ios *IOStreams) *cobra.Command {
	var f m2mFlags
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Print credential_process JSON for the machine's role",
		Example: `  # ~/.aws/config
  [profile batch]
  credential_process = oktafed m2m credentials --key /etc/batch/okta-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.provider(ios)
			if err != nil {
				return err
			}
			creds, err := p.Retrieve(cmd.Context())
			if err != nil {
				return err
			}
			out, err := awscred.ProcessJSON(creds)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(ios.Out, string(out))
			return err
		},
	}
	f.register(cmd)
	return cmd
}

func newM2MEnvCmd(ios *IOStreams) *cobra.Command {
	var f m2mFlags
	var shell string
	cmd := &cobra.Command{
		Use:     "env",
		Short:   "Print the machine's role credentials as environment variables",
		Example: `  eval "$(oktafed m2m env)"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(awscred.Shells, shell) {
				return fmt.Errorf("--shell %q: choose one of %s", shell, strings.Join(awscred.Shells, ", "))
			}
			p, err := f.provider(ios)
			if err != nil {
				return err
			}
			creds, err := p.Retrieve(cmd.Context())
			if err != nil {
				return err
			}
			region := ios.getenv("AWS_REGION")
			if region == "" {
				region = ios.getenv("AWS_DEFAULT_REGION")
			}
			text, err := awscred.FormatEnv(shell, awscred.EnvVars(creds, region))
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(ios.Out, text)
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&shell, "shell", "sh", "sh, fish, powershell or json")
	_ = cmd.RegisterFlagCompletionFunc("shell", cobra.FixedCompletions(awscred.Shells, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
