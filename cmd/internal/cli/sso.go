package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/sso"
)

// The sso command registers itself so the command list in root.go stays
// as its owner wrote it.
func init() { commands = append(commands, newSSOCmd) }

type ssoOptions struct {
	session, profile    string
	startURL, region    string
	accountID, roleName string
	open, nonInter      bool
}

func newSSOCmd(ios *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sso",
		Short: "Sign in to AWS IAM Identity Center, sharing the AWS CLI's login",
		Long: `Sign in to AWS IAM Identity Center with the device flow, as 'aws sso login'
does. The token goes to the AWS CLI's cache (~/.aws/sso/cache) in its own
format, and profiles use [sso-session] sections, so the AWS CLI, the SDKs and
oktafed share one login.`,
	}
	cmd.AddCommand(newSSOLoginCmd(ios), newSSOLogoutCmd(ios))
	return cmd
}

func newSSOLoginCmd(ios *IOStreams) *cobra.Command {
	var o ssoOptions
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to IAM Identity Center and cache the token for every AWS tool",
		Example: `  oktafed sso login --profile dev
  oktafed sso login --sso-session corp --start-url https://corp.awsapps.com/start --region eu-west-1 \
      --profile dev --account-id 123456789012 --role-name ReadOnlyAccess`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSSOLogin(cmd.Context(), ios, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.session, "sso-session", "", "the [sso-session] to sign in (default: the profile's sso_session)")
	f.StringVarP(&o.profile, "profile", "p", "", "AWS profile to sign in for, and to write when --account-id and --role-name are given (default: $AWS_PROFILE)")
	f.StringVar(&o.startURL, "start-url", "", "access portal URL; writes it to the [sso-session] section")
	f.StringVar(&o.region, "region", "", "Identity Center region for a new [sso-session] (default: $AWS_REGION)")
	f.StringVar(&o.accountID, "account-id", "", "account of the profile to write")
	f.StringVar(&o.roleName, "role-name", "", "permission set (role name) of the profile to write")
	f.BoolVar(&o.open, "open", false, "open the verification page in the default browser")
	f.BoolVar(&o.nonInter, "non-interactive", false, "never prompt")
	return cmd
}

func newSSOLogoutCmd(ios *IOStreams) *cobra.Command {
	var o ssoOptions
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Sign out of IAM Identity Center and remove the cached token",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runSSOLogout(cmd.Context(), ios, &o) },
	}
	cmd.Flags().StringVar(&o.session, "sso-session", "", "the [sso-session] to sign out (default: the profile's sso_session)")
	cmd.Flags().StringVarP(&o.profile, "profile", "p", "", "AWS profile whose sso_session to sign out (default: $AWS_PROFILE)")
	return cmd
}

// ssoClient builds the client with the endpoint variables the AWS SDKs
// honour, so the same environment points every tool at one place.
func ssoClient(ios *IOStreams, region string) *sso.Client {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := ios.getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	c := sso.New(region, sso.Endpoints{
		OIDC:   first("AWS_ENDPOINT_URL_SSO_OIDC", "AWS_ENDPOINT_URL"),
		Portal: first("AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL"),
	}, httpClientFor(ios))
	if dir, err := sso.DefaultCacheDir(ios.getenv); err == nil {
		c.CacheDir = dir
	}
	c.Clock = ios.Clock
	return c
}

// ssoSessionFor resolves the session: the flag, else the profile's
// sso_session.
func ssoSessionFor(ios *IOStreams, cfgPath string, o *ssoOptions) (string, error) {
	if o.session != "" {
		return o.session, nil
	}
	profile := o.profile
	if profile == "" {
		profile = ios.getenv("AWS_PROFILE")
	}
	if profile == "" {
		return "", errors.New("name the login with --sso-session NAME or --profile NAME (a profile with sso_session)")
	}
	return sso.ProfileSession(cfgPath, profile)
}

func runSSOLogin(ctx context.Context, ios *IOStreams, o *ssoOptions) error {
	cfgPath, err := awsfile.ConfigPath(ios.getenv)
	if err != nil {
		return err
	}
	name, err := ssoSessionFor(ios, cfgPath, o)
	if err != nil {
		return err
	}
	if o.startURL != "" {
		region := o.region
		if region == "" {
			region = ios.getenv("AWS_REGION")
		}
		if region == "" {
			return errors.New("--start-url needs --region (the Identity Center region)")
		}
		if err := sso.WriteSession(cfgPath, &sso.Session{Name: name, StartURL: o.startURL, Region: region, Scopes: sso.DefaultScopes}); err != nil {
			return err
		}
	}
	s, err := sso.ReadSession(cfgPath, name)
	if err != nil {
		return ssoAdvice(err, name)
	}
	c := ssoClient(ios, s.Region)
	tok, err := c.Login(ctx, s, func(dc sso.DeviceCode) error {
		showDeviceCode(ios, dc.VerificationURI, dc.VerificationURIComplete, dc.UserCode, o.open)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(ios.ErrOut, "%s Signed in to %s (token cached until %s)\n", colorize(ios, green, "✓"), s.StartURL, tok.ExpiresAt.Local().Format("2006-01-02 15:04 MST"))
	if o.profile == "" {
		return nil
	}
	account, role := o.accountID, o.roleName
	if account == "" || role == "" {
		if _, err := sso.ProfileSession(cfgPath, o.profile); err == nil {
			return nil // the profile is already set up
		}
		if account, role, err = pickRole(ctx, ios, c, tok, o); err != nil {
			return err
		}
	}
	if err := sso.WriteProfile(cfgPath, sso.ProfileSpec{Name: o.profile, Session: name, AccountID: account, RoleName: role, Region: s.Region}); err != nil {
		return err
	}
	fmt.Fprintf(ios.ErrOut, "Profile %s uses %s in %s. Try: aws --profile %s sts get-caller-identity\n", o.profile, role, account, o.profile)
	return nil
}

// pickRole chooses the account and role for a new profile: the only one,
// or one picked at a terminal.
func pickRole(ctx context.Context, ios *IOStreams, c *sso.Client, tok *sso.Token, o *ssoOptions) (string, string, error) {
	accounts, err := c.Accounts(ctx, tok)
	if err != nil {
		return "", "", err
	}
	type choice struct{ account, role, label string }
	var all []choice
	for _, a := range accounts {
		if o.accountID != "" && a.ID != o.accountID {
			continue
		}
		roles, err := c.Roles(ctx, tok, a.ID)
		if err != nil {
			return "", "", err
		}
		for _, r := range roles {
			if o.roleName == "" || r == o.roleName {
				all = append(all, choice{a.ID, r, fmt.Sprintf("%s (%s) %s", a.Name, a.ID, r)})
			}
		}
	}
	switch {
	case len(all) == 0:
		return "", "", errors.New("IAM Identity Center gives you no matching account and role")
	case len(all) == 1:
		return all[0].account, all[0].role, nil
	}
	if o.nonInter || !(ios.InTTY && ios.ErrTTY) {
		var labels []string
		for _, c := range all {
			labels = append(labels, c.label)
		}
		return "", "", fmt.Errorf("you have %d roles: choose with --account-id and --role-name (%v)", len(all), labels)
	}
	labels := make([]string, len(all))
	for i, c := range all {
		labels[i] = c.label
	}
	i, err := newPrompter(ios).Select("Which role for profile "+o.profile+"?", labels)
	if err != nil {
		return "", "", err
	}
	return all[i].account, all[i].role, nil
}

func runSSOLogout(ctx context.Context, ios *IOStreams, o *ssoOptions) error {
	cfgPath, err := awsfile.ConfigPath(ios.getenv)
	if err != nil {
		return err
	}
	name, err := ssoSessionFor(ios, cfgPath, o)
	if err != nil {
		return err
	}
	s, err := sso.ReadSession(cfgPath, name)
	if err != nil {
		return ssoAdvice(err, name)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ssoClient(ios, s.Region).Logout(ctx, s); err != nil {
		return err
	}
	fmt.Fprintf(ios.ErrOut, "Signed out of %s\n", s.StartURL)
	return nil
}

// ssoAdvice words sso.ReadSession's error for a missing section with the
// command that adds it.
func ssoAdvice(err error, name string) error {
	if errors.Is(err, sso.ErrNoSession) {
		return fmt.Errorf("%w: run `oktafed sso login --sso-session %s --start-url URL --region REGION` to add it", err, name)
	}
	return err
}
