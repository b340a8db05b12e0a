package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/federation"
)

func newLogoutCmd(ios *IOStreams) *cobra.Command {
	var opts profileFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "End the Okta session and remove the AWS profiles oktafed wrote",
		Long: `End the profile's Okta session, forget it, and remove the AWS profiles that
oktafed wrote for it from the AWS credentials and config files. Sections
oktafed did not write stay exactly as they are. Saved passwords and TOTP
seeds stay in the keyring (remove them with oktafed init --forget).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkOutput(); err != nil {
				return err
			}
			cfg, _, err := loadConfig(ios)
			if err != nil {
				return err
			}
			names := []string{oktafedProfileName(ios, opts.profile)}
			if all {
				names = cfg.Names()
			}
			secrets, err := openSecrets(ios)
			if err != nil {
				return err
			}
			removed := map[string][]string{}
			for _, n := range names {
				p, err := cfg.Profile(n)
				if err != nil {
					return err
				}
				app, err := resolverFor(ios).App(p)
				if err != nil {
					return err
				}
				files, err := resolverFor(ios).AWSFiles()
				if err != nil {
					return err
				}
				// The OIDC refresh token and device secret go too, so no
				// later login skips the browser.
				r, err := federation.Logout(cmd.Context(), app, storeTokens{secrets}, files)
				if err != nil {
					return err
				}
				removed[n] = r
			}
			if opts.output == "json" {
				return json.NewEncoder(ios.Out).Encode(map[string]any{"removed": removed})
			}
			for n, r := range removed {
				fmt.Fprintf(ios.ErrOut, "%s Logged out of %s; removed %d AWS profile(s)\n", colorize(ios, green, "✓"), n, len(r))
				for _, name := range r {
					fmt.Fprintf(ios.Out, "  %s\n", name)
				}
			}
			return nil
		},
	}
	opts.register(cmd, "oktafed profile (default: $OKTAFED_PROFILE or default)")
	opts.registerOutput(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "log out of every profile")
	return cmd
}
