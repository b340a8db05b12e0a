package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/internal/awscred"
)

func newExecCmd(ios *IOStreams) *cobra.Command {
	var profile, role string
	var server bool
	cmd := &cobra.Command{
		Use:   "exec [flags] -- command [args...]",
		Short: "Run a command with AWS credentials in its environment",
		Long: `Run a command with AWS credentials from an oktafed profile in its
environment. With --server the credentials are not put in the environment;
instead a local credentials endpoint (the ECS container credentials protocol,
on 127.0.0.1 with a random token) serves them, so a long-running command
keeps getting fresh credentials through the Okta session.`,
		Example: `  oktafed exec --profile okta-prod-Admin -- aws s3 ls
  oktafed exec --server -p okta-prod-Admin -- ./long-running-job`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			owned, err := resolveAWSProfile(ios, profile, role)
			if err != nil {
				return err
			}
			env := childEnv(os.Environ())
			var extra map[string]string
			if server {
				ep, err := awscred.NewEndpoint(ownedProvider(ios, owned))
				if err != nil {
					return err
				}
				defer ep.Close()
				extra = ep.Env()
			} else {
				creds, err := awsCredentialsFor(cmd.Context(), ios, owned)
				if err != nil {
					return withExitCode(err)
				}
				extra = awscred.EnvVars(creds, "")
			}
			if region := ownedRegion(ios, owned); region != "" {
				extra["AWS_REGION"], extra["AWS_DEFAULT_REGION"] = region, region
			}
			extra["OKTAFED_PROFILE"], extra["OKTAFED_AWS_PROFILE"] = owned.OktafedProfile, owned.AWSProfile
			env = setEnv(env, extra)
			return runChild(ios, args, env)
		},
	}
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "AWS profile written by oktafed, or an oktafed profile with one role (default: $AWS_PROFILE)")
	cmd.Flags().StringVarP(&role, "role", "r", "", "role ARN, when the oktafed profile has several")
	cmd.Flags().BoolVar(&server, "server", false, "serve refreshing credentials from a local endpoint instead of fixed environment variables")
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles)
	return cmd
}

// childEnv drops variables that would make the child's SDK ignore the
// credentials oktafed gives it.
func childEnv(environ []string) []string {
	drop := map[string]bool{"AWS_PROFILE": true, "AWS_DEFAULT_PROFILE": true, "AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true,
		"AWS_SESSION_TOKEN": true, "AWS_SECURITY_TOKEN": true, "AWS_CREDENTIAL_EXPIRATION": true,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": true, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": true, "AWS_CONTAINER_AUTHORIZATION_TOKEN": true,
		"OKTA_PASSWORD": true, "OKTAFED_TOTP_SECRET": true, "OKTAFED_KEYRING_PASSWORD": true}
	out := environ[:0:0]
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}

// setEnv returns environ with vars set, each replacing any earlier value
// of the same name.
func setEnv(environ []string, vars map[string]string) []string {
	out := environ[:0:0]
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// runChild runs args with env, passing signals on and exiting with the
// child's exit code.
func runChild(ios *IOStreams, args []string, env []string) error {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return fmt.Errorf("%s: command not found", args[0])
	}
	c := exec.Command(path, args[1:]...)
	c.Env, c.Stdin, c.Stdout, c.Stderr = env, ios.In, ios.Out, ios.ErrOut
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return err
	}
	go func() {
		for s := range sigs {
			_ = c.Process.Signal(s)
		}
	}()
	err = c.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code < 0 {
			code = 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
		}
		return &exitError{code: code, err: silentError{}}
	}
	return err
}

// silentError ends the process with a code and no message: the child
// already said what went wrong.
type silentError struct{}

func (silentError) Error() string { return "" }
