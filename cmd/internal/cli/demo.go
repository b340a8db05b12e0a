package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/cmd/internal/buildinfo"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/internal/awscred"
	"github.com/oktafed/oktafed/internal/config"
	"github.com/oktafed/oktafed/internal/keystore"
	"github.com/oktafed/oktafed/okta"
	"github.com/oktafed/oktafed/sandbox"
)

type demoOptions struct {
	mfa  string
	keep bool
}

func newDemoCmd(ios *IOStreams) *cobra.Command {
	var opts demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Try oktafed end to end against the built-in sandbox",
		Long: `Start the sandbox (a local Okta org and AWS endpoints on 127.0.0.1) in this
process and log in end to end as its demo user, showing each step: Okta
sign-in with MFA, the AWS app's signed SAML assertion, STS, the profiles
written, and a signed AWS call made with them. Nothing outside a temporary
directory is touched.`,
		Example: `  go run ./cmd/oktafed demo
  oktafed demo --mfa totp
  oktafed demo --keep    # leave the sandbox running to try the AWS CLI against it`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), ios, opts)
		},
	}
	cmd.Flags().StringVar(&opts.mfa, "mfa", "push", "factor for the demo user: push or totp")
	cmd.Flags().BoolVar(&opts.keep, "keep", false, "keep the sandbox running after the demo, until Ctrl-C")
	return cmd
}

const (
	demoUser     = "demo@example.com"
	demoPassword = "Sandbox-Demo-1"
	demoTOTPSeed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	demoAppPath  = "/home/amazon_aws/0oa1demoawsapp0000001/272"
	// demoSandboxURL is where `oktafed sandbox` listens by default.
	demoSandboxURL = "http://127.0.0.1:8443"
)

func runDemo(ctx context.Context, ios *IOStreams, opts demoOptions) error {
	if opts.mfa != "push" && opts.mfa != "totp" {
		return fmt.Errorf("--mfa %q: the demo user has push and totp", opts.mfa)
	}
	step := 0
	say := func(format string, args ...any) {
		step++
		fmt.Fprintf(ios.Out, "%s %s\n", colorize(ios, bold, fmt.Sprintf("%d.", step)), fmt.Sprintf(format, args...))
	}
	detail := func(format string, args ...any) {
		fmt.Fprintf(ios.Out, "   %s\n", colorize(ios, gray, fmt.Sprintf(format, args...)))
	}

	srv, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "oktafed-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := federation.Files{Credentials: filepath.Join(dir, "aws", "credentials"), Config: filepath.Join(dir, "aws", "config")}
	if err := os.MkdirAll(filepath.Dir(files.Credentials), 0o700); err != nil {
		return err
	}
	say("Started the sandbox at %s: a local Okta org and AWS STS, for development and tests only.", srv.URL)
	detail("AWS files for this demo live in %s", filepath.Dir(files.Credentials))

	p := &config.Profile{Name: "demo", OrgURL: srv.URL, AppURL: srv.URL + demoAppPath, Username: demoUser, MFA: opts.mfa,
		Region: "us-east-1", Role: "all", SignIn: "password"}
	// The demo must not touch the user's keyring.
	secrets := keyringStore{keystore.NewMemory()}
	hc := httpClientFor(ios)
	mfa := &okta.MFA{Preferred: opts.mfa}
	if opts.mfa == "totp" {
		mfa.TOTPSeed = secret.New(demoTOTPSeed)
	}
	var sp *spinner
	mfa.PushNumber = func(n int) { detail("Okta Verify shows a number challenge: the user taps %d on their phone", n) }
	mfa.Waiting = func(okta.Factor) {
		detail("push sent to Okta Verify; the sandbox approves it after 2 s")
		sp = startSpinner(ios, "Waiting for the push to be approved…")
	}
	// The demo's own resolver: the sandbox for every endpoint, the demo's
	// files and keyring, nothing of the user's environment.
	r := &awsauth.Resolver{
		Getenv: func(k string) string {
			if k == "AWS_ENDPOINT_URL" {
				return srv.URL
			}
			return ""
		},
		Files: &files, Sessions: awsauth.KeyringSessions{Keyring: secrets}, HTTPClient: hc, UserAgent: "oktafed-demo/" + buildinfo.Version(),
	}
	events := func(e federation.Event) {
		if sp != nil {
			sp.Stop()
			sp = nil
		}
		switch e.Step {
		case "okta-authn":
			say("Okta: %s", e.Detail)
		case "okta-session":
			detail("%s", e.Detail)
		case "saml":
			say("AWS app: %s (signed by the org; STS checks the signature)", e.Detail)
		case "assume":
			say("STS AssumeRoleWithSAML: %s, in parallel", e.Detail)
		case "write":
			detail("wrote %s", e.Detail)
		default:
			detail("%s", e.Detail)
		}
	}
	// Profile names use account aliases, read with IAM's
	// ListAccountAliases as `oktafed login` does.
	l, err := r.NewLogin(ctx, p, awsauth.LoginOptions{LookupAliases: true, Events: events, SignIn: federation.SignInOptions{
		Password: func(context.Context) (string, error) { return demoPassword, nil }, MFA: mfa,
	}})
	if err != nil {
		return err
	}
	start := time.Now()
	out, err := l.Run(ctx, "", nil, 0)
	if sp != nil {
		sp.Stop()
	}
	if err != nil {
		return fmt.Errorf("demo login failed: %w", err)
	}
	say("Logged in: %d AWS profiles written in %s.", len(out.Written), time.Since(start).Round(time.Millisecond))

	first := out.Written[0].AWSProfile
	for _, w := range out.Written {
		if w.Role.RoleName == "Admin" {
			first = w.AWSProfile
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithSharedConfigFiles([]string{files.Config}),
		awsconfig.WithSharedCredentialsFiles([]string{files.Credentials}),
		awsconfig.WithSharedConfigProfile(first),
		awsconfig.WithBaseEndpoint(srv.URL))
	if err != nil {
		return err
	}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("signed call with profile %s: %w", first, err)
	}
	say("The AWS SDK read profile %s and made a SigV4-signed call: GetCallerIdentity → %s", first, aws.ToString(who.Arn))

	cache := &federation.Cache{Files: files, Refresh: l.Reassume}
	creds, err := cache.Credentials(ctx, first)
	if err != nil {
		return err
	}
	shown := creds
	shown.SecretAccessKey, shown.SessionToken = "[redacted]", "[redacted]"
	doc, _ := awscred.ProcessJSON(shown)
	say("credential_process output for %s (what `oktafed credential-process` prints; secrets hidden here):", first)
	detail("%s", doc)

	// The refresh path: no password, the Okta session alone, and every
	// stored credential counted as stale.
	quiet := func(e federation.Event) { detail("%s", e.Detail) }
	refresh, err := r.NewLogin(ctx, p, awsauth.LoginOptions{Events: quiet})
	if err != nil {
		return err
	}
	cache = &federation.Cache{Files: files, Refresh: refresh.Reassume, Window: 24 * time.Hour, Events: quiet}
	fresh, err := cache.Credentials(ctx, first)
	if err != nil {
		return fmt.Errorf("silent refresh: %w", err)
	}
	say("Silent refresh through the Okta session, no password or MFA: new key %s…", fresh.AccessKeyID[:8])

	if !opts.keep {
		fmt.Fprintf(ios.Out, "\nDone. Next: `oktafed init` for your own Okta org, or `oktafed demo --keep` to try the AWS CLI here.\n")
		fmt.Fprintf(ios.Out, "To try the sandbox with your own profile, start `oktafed sandbox` (it listens on %s) and use:\n%s", demoSandboxURL, sandboxSignIn(demoSandboxURL, sandbox.DefaultConfig()))
		return nil
	}
	fmt.Fprintf(ios.Out, "\nThe sandbox keeps running. In another shell:\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s\n  aws --endpoint-url %s sts get-caller-identity --profile %s\n",
		files.Credentials, files.Config, srv.URL, first)
	fmt.Fprint(ios.Out, sandboxSignIn(srv.URL, sandbox.DefaultConfig()))
	fmt.Fprintln(ios.Out, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}
