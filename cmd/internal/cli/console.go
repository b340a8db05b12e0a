package cli

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/internal/awscred"
	"github.com/oktafed/oktafed/internal/config"
)

func newConsoleCmd(ios *IOStreams) *cobra.Command {
	var profile, role, destination, duration, partition, output string
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Open the AWS console signed in with an oktafed profile",
		Long: `Exchange the profile's temporary credentials for a console sign-in URL at
the AWS federation endpoint (aws, aws-cn and aws-us-gov partitions) and open
it in a browser, or print it with --print. OKTAFED_SIGNIN_ENDPOINT overrides
the federation endpoint (e.g. the sandbox).`,
		Example: `  oktafed console --profile okta-prod-Admin
  oktafed console -p okta-prod-Admin --destination https://console.aws.amazon.com/s3/ --print`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: choose text or json", output)
			}
			d, err := config.ParseDuration(duration)
			if err != nil {
				return fmt.Errorf("--duration: %w", err)
			}
			owned, err := resolveAWSProfile(ios, profile, role)
			if err != nil {
				return err
			}
			creds, err := awsCredentialsFor(cmd.Context(), ios, owned)
			if err != nil {
				return withExitCode(err)
			}
			if partition == "" {
				partition = awscred.PartitionOfARN(owned.RoleARN)
			}
			u, err := awscred.ConsoleURL(cmd.Context(), creds, awscred.ConsoleOptions{
				Partition: partition, Destination: destination, Duration: d, Issuer: "oktafed",
				SigninEndpoint: ios.getenv("OKTAFED_SIGNIN_ENDPOINT"), HTTPClient: httpClientFor(ios),
			})
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(ios.Out).Encode(map[string]string{"url": u, "awsProfile": owned.AWSProfile})
			}
			if printOnly || !ios.OutTTY {
				_, err = fmt.Fprintln(ios.Out, u)
				return err
			}
			if err := openBrowser(u); err != nil {
				fmt.Fprintf(ios.ErrOut, "Could not open a browser (%v); open this URL:\n", err)
				_, err = fmt.Fprintln(ios.Out, u)
				return err
			}
			fmt.Fprintf(ios.ErrOut, "Opened the AWS console for %s in your browser.\n", owned.AWSProfile)
			return nil
		},
	}
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "AWS profile written by oktafed, or an oktafed profile with one role (default: $AWS_PROFILE)")
	cmd.Flags().StringVarP(&role, "role", "r", "", "role ARN, when the oktafed profile has several")
	cmd.Flags().StringVar(&destination, "destination", "", "console page to open (default: the console home)")
	cmd.Flags().StringVar(&duration, "duration", "", "console session length, 15m to 12h")
	cmd.Flags().StringVar(&partition, "partition", "", "aws, aws-cn or aws-us-gov (default: from the role ARN)")
	cmd.Flags().BoolVar(&printOnly, "print", false, "print the URL instead of opening a browser")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles)
	_ = cmd.RegisterFlagCompletionFunc("partition", cobra.FixedCompletions([]string{"aws", "aws-cn", "aws-us-gov"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// openBrowser opens u with the desktop's handler. The URL goes in argv,
// which other local users can read; it holds a one-time sign-in token that
// AWS accepts for minutes, not the credentials themselves.
func openBrowser(u string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", u)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		c = exec.Command("xdg-open", u)
	}
	return c.Start()
}
