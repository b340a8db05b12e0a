package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/awsfile"
	"github.com/oktafed/oktafed/internal/config"
)

type loginOptions struct {
	profileFlags
	role     string
	duration string
	mfa      string
	force    bool
	verbose  bool
	device   bool   // the OIDC device flow (device.go)
	signIn   string // the way to sign in (signin.go)
	open     bool
	aliases  bool         // look up account aliases for profile names
	browser  browserFlags // sign in in the browser (login_browser.go)
}

func newLoginCmd(ios *IOStreams) *cobra.Command {
	var opts loginOptions
	cmd := &cobra.Command{
		Use: "login",
		// refresh is what okta-aws-cred-helper's users type.
		Aliases: []string{"refresh"},
		Short:   "Sign in to Okta and write short-lived AWS credentials",
		Long: `Sign in to Okta (password and MFA, or the saved Okta session), get the AWS
app's SAML assertion, assume the chosen roles with STS in parallel and write
them as profiles to the AWS credentials file (AWS_SHARED_CREDENTIALS_FILE or
~/.aws/credentials), keeping every other section as it was.

The password comes from OKTA_PASSWORD, the keyring (oktafed init
--save-password) or a prompt; TOTP codes from OKTAFED_TOTP_SECRET, the keyring
or a prompt. While the Okta session lives, later logins and refreshes need
neither.`,
		Example: `  oktafed login
  oktafed login --profile work --role all
  oktafed login --role '/ReadOnly$/' --duration 4h --mfa push
  OKTA_PASSWORD=… OKTAFED_TOTP_SECRET=… oktafed login --non-interactive --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogin(cmd.Context(), ios, &opts)
		},
	}
	opts.register(cmd, "oktafed profile to log in with (default: $OKTAFED_PROFILE or default)")
	opts.registerOutput(cmd)
	cmd.Flags().StringVarP(&opts.role, "role", "r", "", "roles to assume: an ARN, a role name, an account alias or id, ACCOUNT/ROLE, /regex/ or all (default: the profile's role, else ask)")
	cmd.Flags().StringVarP(&opts.duration, "duration", "d", "", "session length, e.g. 1h or 3600 (capped by the app's SessionDuration and the role's maximum)")
	cmd.Flags().StringVar(&opts.mfa, "mfa", "", "MFA factor to use: push, totp, sms or email")
	cmd.Flags().BoolVar(&opts.force, "force", false, "sign in again even if the Okta session still lives (the saved session and credentials stay until the new sign-in succeeds)")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "show each step")
	cmd.Flags().BoolVar(&opts.aliases, "lookup-aliases", true, "name profiles by account alias (IAM ListAccountAliases; remembered in the oktafed config)")
	cmd.Flags().BoolVar(&opts.device, "device", false, "sign in with the OIDC device flow in a browser (the default for Okta Identity Engine orgs; needs oidc_client_id)")
	cmd.Flags().StringVar(&opts.signIn, "sign-in", "", "how to sign in this time: password, browser, device or direct (default: the profile's sign_in, else by org)")
	cmd.Flags().BoolVar(&opts.open, "open", false, "open the device sign-in page in the default browser")
	opts.browser.register(cmd)
	_ = cmd.RegisterFlagCompletionFunc("mfa", cobra.FixedCompletions(config.MFAMethods, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("sign-in", cobra.FixedCompletions(config.SignInMethods, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"all"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

type loginJSON struct {
	Profile  string            `json:"profile"`
	Written  []writtenJSON     `json:"written"`
	Failed   map[string]string `json:"failed,omitempty"`
	Duration int               `json:"durationSeconds"`
}

type writtenJSON struct {
	AWSProfile string    `json:"awsProfile"`
	RoleARN    string    `json:"roleArn"`
	AccountID  string    `json:"accountId"`
	Expiration time.Time `json:"expiration"`
}

func runLogin(ctx context.Context, ios *IOStreams, opts *loginOptions) error {
	if err := opts.checkOutput(); err != nil {
		return err
	}
	if opts.mfa != "" && !slices.Contains(config.MFAMethods, opts.mfa) {
		return fmt.Errorf("--mfa %q: choose push, totp, sms or email", opts.mfa)
	}
	d, err := config.ParseDuration(opts.duration)
	if err != nil {
		return fmt.Errorf("--duration: %w", err)
	}
	if opts.role != "" {
		if _, err := config.RoleMatcher(opts.role); err != nil {
			return fmt.Errorf("--role: %w", err)
		}
	}
	ps, err := loadProfile(ios, opts.profile)
	if err != nil {
		return err
	}
	cfg, cfgPath, p, secrets := ps.cfg, ps.cfgPath, ps.profile, ps.secrets
	// What can be checked without Okta is checked before any secret is
	// asked for: names AWS tools can read, AWS files that can be written.
	if err := p.CheckNames(); err != nil {
		return fmt.Errorf("profile %s: %w; fix it with `oktafed init %s--profile-template …`", p.Name, err, profileArg(p.Name))
	}
	if err := p.CheckAppLink(); err != nil {
		return fmt.Errorf("profile %s: %w; fix it with `oktafed init %s--app-url …`", p.Name, err, profileArg(p.Name))
	}
	if err := checkAWSFilesWritable(ios); err != nil {
		return err
	}
	interactive := interactiveAllowed(ios, &opts.profileFlags)
	deps := loginDeps{ios: ios, secrets: secrets, interactive: interactive, mfa: opts.mfa, waiting: ios.factory().waiting}
	defer deps.waiting.stop()
	deps.events = func(e federation.Event) {
		switch {
		case e.Step == "warning":
			fmt.Fprintf(ios.ErrOut, "%s %s\n", colorize(ios, cyan, "!"), e.Detail)
		case opts.verbose:
			fmt.Fprintf(ios.ErrOut, "%s %s\n", colorize(ios, gray, "["+e.Step+"]"), e.Detail)
		}
	}
	// --force signs in again, but the saved session and credentials stay
	// until the new sign-in has succeeded.
	l, err := newLogin(ctx, p, deps, signInFlags{method: opts.signIn, device: opts.device, open: opts.open, force: opts.force, aliases: opts.aliases, browser: &opts.browser})
	if err != nil {
		return err
	}
	var choose federation.Chooser
	if interactive {
		choose = func(ctx context.Context, roles []federation.Role) ([]federation.Role, error) {
			arns := make([]string, len(roles))
			for i, r := range roles {
				arns[i] = r.RoleARN
			}
			idx, err := newPrompter(ios).pickRoles("Which roles?", roleRows(p, arns))
			if err != nil {
				return nil, err
			}
			out := make([]federation.Role, len(idx))
			for i, j := range idx {
				out[i] = roles[j]
			}
			return out, nil
		}
	}
	out, err := l.Run(ctx, opts.role, choose, d)
	if err != nil {
		return signInAdvice(err, p, deps)
	}
	if !out.Changes.Empty() {
		// Remember found aliases, so profile names stay put even when a
		// later lookup cannot be made, and roles' maximum sessions, so the
		// next login asks each role for what it allows at once.
		out.Changes.Apply(p)
		if err := cfg.Save(cfgPath); err != nil {
			fmt.Fprintf(ios.ErrOut, "%s could not save account aliases and role session limits to %s: %v\n", colorize(ios, cyan, "!"), cfgPath, err)
		}
	}
	if opts.output == "json" {
		doc := loginJSON{Profile: p.Name, Duration: int(out.Duration / time.Second), Failed: map[string]string{}}
		for _, w := range out.Written {
			doc.Written = append(doc.Written, writtenJSON{AWSProfile: w.AWSProfile, RoleARN: w.Role.RoleARN, AccountID: w.Role.AccountID, Expiration: w.Expires.UTC()})
		}
		for _, f := range out.Failed() {
			doc.Failed[f.Role.RoleARN] = f.Err.Error()
		}
		enc := json.NewEncoder(ios.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	for _, w := range out.Written {
		fmt.Fprintf(ios.Out, "%s %-40s %s (until %s)\n", colorize(ios, green, "✓"), w.AWSProfile, w.Role.RoleARN, w.Expires.Local().Format(federation.TimeLayout))
	}
	for _, f := range out.Failed() {
		fmt.Fprintf(ios.ErrOut, "%s %s: %v\n", colorize(ios, red, "✗"), f.Role.RoleARN, f.Err)
	}
	if len(out.Written) > 0 {
		fmt.Fprintf(ios.ErrOut, "Use them with: aws --profile %s sts get-caller-identity\n", out.Written[0].AWSProfile)
	}
	if n := len(out.Failed()); n > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d roles could not be assumed", n, len(out.Assumed))}
	}
	return nil
}

// checkAWSFilesWritable runs the checks of a write to the AWS credentials
// and config files (the lock, a read-only file, sections or keys the AWS
// CLI would refuse) without changing them, so a login refuses before the
// password and MFA rather than after.
func checkAWSFilesWritable(ios *IOStreams) error {
	files, err := resolverFor(ios).AWSFiles()
	if err != nil {
		return err
	}
	for _, path := range []string{files.Credentials, files.Config} {
		if path == "" {
			continue
		}
		if err := awsfile.Update(path, func(*awsfile.File) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}
