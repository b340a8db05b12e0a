package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/internal/config"
)

type initOptions struct {
	profileFlags
	orgURL, appURL, username, mfa, region, duration, role, template, stsEndpoint, oidcClientID string
	savePassword, saveTOTP, forget                                                             bool
	signIn                                                                                     string // --sign-in, or browser for --browser
	from                                                                                       string // --from: another tool's settings (importcfg.go)
}

func newInitCmd(ios *IOStreams) *cobra.Command {
	var opts initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Set up an oktafed profile: Okta org, AWS app, user and MFA",
		Long: `Write an oktafed profile to $OKTAFED_CONFIG or $XDG_CONFIG_HOME/oktafed/config.yaml.
Values come from flags, else prompts on a terminal (showing the current ones).

Secrets never go on the command line: --save-password stores the password
from OKTA_PASSWORD (or a prompt) in the OS keyring; --save-totp stores the
TOTP seed from OKTAFED_TOTP_SECRET (or a prompt). Where no OS keyring exists
an encrypted file is used (passphrase from OKTAFED_KEYRING_PASSWORD or a prompt).

--from saml2aws, gimme-aws-creds, okta-aws-cli or okta-aws-cred-helper
writes profiles from that tool's settings (~/.saml2aws,
~/.okta_aws_login_config, the OKTA_AWSCLI_* variables,
~/.aws/okta-aws/settings.json), moves a password or TOTP seed it kept into
the keyring, and says what it did not carry over. A first init that finds
one of them offers it.`,
		Example: `  oktafed init
  oktafed init --profile work --org-url https://example.okta.com \
    --app-url https://example.okta.com/home/amazon_aws/0oa1…/272 \
    --username alice@example.com --mfa push --region eu-west-1 --non-interactive
  oktafed init --from saml2aws`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInit(cmd.Context(), ios, &opts)
		},
	}
	opts.register(cmd, "oktafed profile to write (default: $OKTAFED_PROFILE or default)")
	opts.registerOutput(cmd)
	f := cmd.Flags()
	f.StringVar(&opts.orgURL, "org-url", "", "Okta org URL, e.g. https://example.okta.com (also OKTA_ORG_DOMAIN)")
	f.StringVar(&opts.appURL, "app-url", "", "the AWS app's embed link from the Okta dashboard")
	f.StringVar(&opts.username, "username", "", "Okta username (also OKTA_USERNAME)")
	f.StringVar(&opts.mfa, "mfa", "", "preferred MFA factor: push, totp, sms or email")
	f.StringVar(&opts.region, "region", "", "default AWS region for written profiles")
	f.StringVar(&opts.duration, "duration", "", "session length to ask for, e.g. 1h")
	f.StringVar(&opts.role, "role", "", "roles to assume by default: ARN, /regex/ or all")
	f.StringVar(&opts.template, "profile-template", "", "AWS profile names, default "+config.DefaultProfileTemplate)
	f.StringVar(&opts.stsEndpoint, "sts-endpoint", "", "STS endpoint URL (AWS_ENDPOINT_URL_STS wins)")
	f.StringVar(&opts.oidcClientID, "oidc-client-id", "", "client id of the native OIDC app used for the device flow on Okta Identity Engine orgs (also OKTA_CLIENT_ID)")
	f.StringVar(&opts.signIn, "sign-in", "", "how new Okta sign-ins happen: password, browser, device or direct (default: by org)")
	f.Var(browserSignIn{&opts.signIn}, "browser", "sign in in the browser (same as --sign-in browser): every Okta authenticator, such as security keys")
	f.Lookup("browser").NoOptDefVal = "true"
	f.BoolVar(&opts.savePassword, "save-password", false, "store the Okta password (from OKTA_PASSWORD or a prompt) in the keyring")
	f.BoolVar(&opts.saveTOTP, "save-totp", false, "store the TOTP seed (from OKTAFED_TOTP_SECRET or a prompt) in the keyring")
	f.StringVar(&opts.from, "from", "", "import the settings of saml2aws, gimme-aws-creds, okta-aws-cli or okta-aws-cred-helper")
	_ = cmd.RegisterFlagCompletionFunc("from", cobra.FixedCompletions(importTools, cobra.ShellCompDirectiveNoFileComp))
	f.BoolVar(&opts.forget, "forget", false, "remove the profile's saved password, TOTP seed and Okta session from the keyring")
	_ = cmd.RegisterFlagCompletionFunc("mfa", cobra.FixedCompletions(config.MFAMethods, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runInit(ctx context.Context, ios *IOStreams, opts *initOptions) error {
	if err := opts.checkOutput(); err != nil {
		return err
	}
	cfg, path, err := loadConfig(ios)
	if err != nil {
		return err
	}
	if opts.from != "" {
		return runImport(ctx, ios, opts, cfg, path)
	}
	if len(cfg.Profiles) == 0 && !opts.forget {
		if tools := detectTools(ios); len(tools) > 0 {
			if interactiveAllowed(ios, &opts.profileFlags) && opts.orgURL == "" {
				choices := append(append([]string{}, tools...), "No, set up a profile by hand")
				i, err := newPrompter(ios).Select("Found settings of another Okta login tool. Import them?", choices)
				if err != nil {
					return err
				}
				if i < len(tools) {
					opts.from = tools[i]
					return runImport(ctx, ios, opts, cfg, path)
				}
			} else {
				for _, t := range tools {
					fmt.Fprintf(ios.ErrOut, "%s Found settings of %s: `oktafed init --from %s` imports them\n", colorize(ios, cyan, "!"), t, t)
				}
			}
		}
	}
	name := oktafedProfileName(ios, opts.profile)
	p := &config.Profile{}
	if old, ok := cfg.Profiles[name]; ok {
		cp := *old
		p = &cp
	}
	p.Name = name
	if err := config.CheckAWSProfileName(name); err != nil && !opts.forget {
		// Checked before any question: the name enters AWS profile names
		// and every command oktafed prints for it.
		return fmt.Errorf("--profile %s: %w; choose another name, e.g. %s", shellQuote(name), err, shellQuote(suggestProfileName(name)))
	}
	interactive := interactiveAllowed(ios, &opts.profileFlags)
	pr := newPrompter(ios)

	if opts.forget {
		secrets, err := openSecrets(ios)
		if err != nil {
			return err
		}
		for _, k := range []string{secretPassword, secretTOTP, secretSession} {
			if err := secrets.Remove(ctx, name, k); err != nil {
				return err
			}
		}
		fmt.Fprintf(ios.ErrOut, "%s Removed the saved secrets of profile %s from the keyring\n", colorize(ios, green, "✓"), name)
		return nil
	}

	orgDefault := firstNonEmpty(opts.orgURL, orgFromEnv(ios), p.OrgURL)
	fields := []struct {
		flag, question string
		dst            *string
		def            string
		required       bool
	}{
		{"--org-url", "Okta org URL", &p.OrgURL, orgDefault, true},
		{"--app-url", "AWS app embed link (Okta dashboard → AWS app → copy link)", &p.AppURL, firstNonEmpty(opts.appURL, p.AppURL), true},
		{"--username", "Okta username", &p.Username, firstNonEmpty(opts.username, ios.getenv("OKTA_USERNAME"), p.Username), true},
		{"--mfa", "Preferred MFA (push, totp, sms, email; empty to ask)", &p.MFA, firstNonEmpty(opts.mfa, p.MFA), false},
		{"--region", "Default AWS region", &p.Region, firstNonEmpty(opts.region, p.Region, ios.getenv("AWS_REGION")), false},
		{"--role", "Roles to assume by default (ARN, /regex/, all; empty to ask)", &p.Role, firstNonEmpty(opts.role, p.Role), false},
	}
	flagGiven := func(flag string) bool {
		switch flag {
		case "--org-url":
			return opts.orgURL != ""
		case "--app-url":
			return opts.appURL != ""
		case "--username":
			return opts.username != ""
		case "--mfa":
			return opts.mfa != ""
		case "--region":
			return opts.region != ""
		case "--role":
			return opts.role != ""
		}
		return false
	}
	for _, fl := range fields {
		v := fl.def
		if interactive && !flagGiven(fl.flag) {
			if v, err = pr.Input(fl.question, fl.def); err != nil {
				return err
			}
		}
		if fl.required && v == "" {
			return needInteractive(strings.TrimPrefix(fl.flag, "--"), fl.flag, "")
		}
		*fl.dst = strings.TrimSpace(v)
	}
	p.OrgURL = normalizeOrgURL(p.OrgURL)
	if p.AppURL != "" && !strings.Contains(p.AppURL, "://") {
		p.AppURL = strings.TrimRight(p.OrgURL, "/") + "/" + strings.TrimLeft(p.AppURL, "/")
	}
	if opts.duration != "" {
		d, err := config.ParseDuration(opts.duration)
		if err != nil {
			return fmt.Errorf("--duration: %w", err)
		}
		p.Duration = config.Duration(d)
	}
	if opts.template != "" {
		p.ProfileTemplate = opts.template
	}
	if opts.stsEndpoint != "" {
		p.STSEndpoint = opts.stsEndpoint
	}
	if v := firstNonEmpty(opts.oidcClientID, ios.getenv("OKTA_CLIENT_ID")); v != "" {
		p.OIDCClientID = v
	}
	if opts.signIn != "" {
		p.SignIn = opts.signIn
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	if err := p.CheckNames(); err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	if err := p.CheckAppLink(); err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}

	if opts.savePassword || opts.saveTOTP {
		secrets, err := openSecrets(ios)
		if err != nil {
			return err
		}
		if opts.savePassword {
			v := ios.getenv("OKTA_PASSWORD")
			if v == "" && interactive {
				if v, err = pr.Password("Okta password for " + p.Username); err != nil {
					return err
				}
			}
			if v == "" {
				return needInteractive("the Okta password to save", "OKTA_PASSWORD in the environment", "")
			}
			if err := secrets.Set(ctx, name, secretPassword, v); err != nil {
				return err
			}
		}
		if opts.saveTOTP {
			v := ios.getenv("OKTAFED_TOTP_SECRET")
			if v == "" && interactive {
				if v, err = pr.Password("TOTP seed (base32, or an otpauth:// URL)"); err != nil {
					return err
				}
			}
			if v == "" {
				return needInteractive("the TOTP seed to save", "OKTAFED_TOTP_SECRET in the environment", "")
			}
			if err := secrets.Set(ctx, name, secretTOTP, strings.TrimSpace(v)); err != nil {
				return err
			}
		}
	}

	cfg.Profiles[name] = p
	if err := cfg.Save(path); err != nil {
		return err
	}
	if opts.output == "json" {
		return json.NewEncoder(ios.Out).Encode(map[string]any{"profile": name, "config": path})
	}
	fmt.Fprintf(ios.ErrOut, "%s Saved profile %s to %s\nNext: oktafed login %s\n", colorize(ios, green, "✓"), name, path, strings.TrimSpace(profileArg(name)))
	return nil
}

// orgFromEnv reads OKTA_ORG_DOMAIN (a host) as an org URL.
func orgFromEnv(ios *IOStreams) string {
	if d := ios.getenv("OKTA_ORG_DOMAIN"); d != "" {
		return normalizeOrgURL(d)
	}
	return ""
}

// normalizeOrgURL accepts example.okta.com or https://example.okta.com/.
func normalizeOrgURL(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	if u, err := url.Parse(s); err == nil {
		u.Path, u.RawQuery, u.Fragment = "", "", ""
		return u.String()
	}
	return strings.TrimRight(s, "/")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// browserSignIn is init's --browser: a boolean flag that sets --sign-in.
type browserSignIn struct{ signIn *string }

func (b browserSignIn) String() string {
	if b.signIn != nil && *b.signIn == "browser" {
		return "true"
	}
	return "false"
}

func (b browserSignIn) Set(v string) error {
	switch v {
	case "true":
		*b.signIn = "browser"
	case "false":
	default:
		return fmt.Errorf("--browser takes no value")
	}
	return nil
}

func (b browserSignIn) Type() string { return "bool" }

// suggestProfileName turns a refused profile name into one AWS tools can
// read: each run of refused characters becomes one "-".
func suggestProfileName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.TrimSpace(name) {
		if config.CheckAWSProfileName(string(r)) != nil {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(r)
		dash = false
	}
	if s := strings.Trim(b.String(), "-"); s != "" {
		return s
	}
	return "work"
}
