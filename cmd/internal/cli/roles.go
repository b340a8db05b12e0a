package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/oktafed/oktafed/federation/browser"
	"github.com/spf13/cobra"
)

func newRolesCmd(ios *IOStreams) *cobra.Command {
	var opts profileFlags
	cmd := &cobra.Command{
		Use:   "roles",
		Short: "List the AWS roles the Okta app grants you, and the profiles oktafed wrote",
		Args:  cobra.NoArgs,
		Example: `  oktafed roles
  oktafed roles --profile work --output json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRoles(cmd.Context(), ios, &opts)
		},
	}
	opts.register(cmd, "oktafed profile (default: $OKTAFED_PROFILE or default)")
	opts.registerOutput(cmd)
	return cmd
}

type roleJSON struct {
	RoleARN      string `json:"roleArn"`
	PrincipalARN string `json:"principalArn"`
	AccountID    string `json:"accountId"`
	AWSProfile   string `json:"awsProfile"`
}

func runRoles(ctx context.Context, ios *IOStreams, opts *profileFlags) error {
	if err := opts.checkOutput(); err != nil {
		return err
	}
	ps, err := loadProfile(ios, opts.profile)
	if err != nil {
		return err
	}
	p := ps.profile
	deps := loginDeps{ios: ios, secrets: ps.secrets, interactive: interactiveAllowed(ios, opts), waiting: ios.factory().waiting}
	defer deps.waiting.stop()
	l, err := newLogin(ctx, p, deps, signInFlags{browser: &browserFlags{timeout: browser.DefaultTimeout}})
	if err != nil {
		return err
	}
	a, err := l.Source.Assertion(ctx)
	if err != nil {
		return signInAdvice(err, p, deps)
	}
	var out []roleJSON
	for _, r := range a.Roles {
		name, _ := p.AWSProfileName(r.AccountID, r.RoleName)
		out = append(out, roleJSON{RoleARN: r.RoleARN, PrincipalARN: r.PrincipalARN, AccountID: r.AccountID, AWSProfile: name})
	}
	if opts.output == "json" {
		enc := json.NewEncoder(ios.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, r := range out {
		fmt.Fprintf(ios.Out, "%-40s %s\n", r.AWSProfile, r.RoleARN)
	}
	return nil
}
