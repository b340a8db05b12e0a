package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/dbauth"
)

func newDBCmd(ios *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Database credentials for RDS and Aurora IAM authentication",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDBTokenCmd(ios))
	return cmd
}

// dbTokenOutput is the --output json document.
type dbTokenOutput struct {
	Token   string    `json:"token"`
	Host    string    `json:"host"`
	Port    int       `json:"port"`
	User    string    `json:"user"`
	Region  string    `json:"region"`
	Expires time.Time `json:"expires"`
}

func newDBTokenCmd(ios *IOStreams) *cobra.Command {
	var (
		host, user, region, profile, output string
		port                                int
	)
	cmd := &cobra.Command{
		Use:   "token --host HOST --port PORT --user USER",
		Short: "Print an RDS IAM authentication token",
		Long: `Print an RDS IAM authentication token for USER at HOST:PORT, signed with
the AWS credentials of the default chain (or --profile), like
'aws rds generate-db-auth-token'. Use it as the password of a TLS
connection within 15 minutes, e.g.

  PGPASSWORD="$(oktafed db token --host db.example.us-east-1.rds.amazonaws.com --port 5432 --user app)" \
    psql "host=db.example.us-east-1.rds.amazonaws.com user=app sslmode=verify-full sslrootcert=rds-ca.pem"

The region comes from --region, AWS_REGION, the RDS host name or the
profile, in that order. The token is a credential: do not log it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if host == "" || user == "" || port == 0 {
				return errors.New("db token needs --host, --port and --user (e.g. --host db.example.us-east-1.rds.amazonaws.com --port 5432 --user app)")
			}
			if port < 1 || port > 65535 {
				return fmt.Errorf("--port %d: give a port from 1 to 65535", port)
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: use text or json", output)
			}
			if region == "" {
				region = ios.getenv("AWS_REGION")
			}
			if region == "" {
				region = ios.getenv("AWS_DEFAULT_REGION")
			}
			if region == "" {
				region = dbauth.RegionFromHost(host)
			}
			if profile == "" {
				profile = ios.getenv("AWS_PROFILE")
			}
			ctx := cmd.Context()
			// awsauth resolves the profile as every other command does: an
			// oktafed-written profile refreshes through the Okta session,
			// any other is the SDK's.
			opts := []awsauth.Option{awsauth.WithGetenv(ios.getenv), awsauth.WithHTTPClient(httpClientFor(ios))}
			if profile != "" {
				opts = append(opts, awsauth.WithProfile(profile))
			}
			if region != "" {
				opts = append(opts, awsauth.WithSDKOptions(config.WithRegion(region)))
			}
			awsCfg, err := awsauth.LoadConfig(ctx, opts...)
			if err != nil {
				return fmt.Errorf("load AWS configuration: %w (check --profile and ~/.aws/config)", err)
			}
			if awsCfg.Region == "" {
				return errors.New("no AWS region: pass --region or set AWS_REGION")
			}
			a, err := dbauth.New(dbauth.Config{Plugin: dbauth.PluginIAM, IAMRegion: awsCfg.Region, AWSConfig: &awsCfg})
			if err != nil {
				return err
			}
			tok, err := a.Token(ctx, host, port, user)
			if err != nil {
				return err
			}
			if output == "text" {
				_, err = fmt.Fprintln(ios.Out, tok)
				return err
			}
			enc := json.NewEncoder(ios.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(dbTokenOutput{Token: tok, Host: host, Port: port, User: user, Region: awsCfg.Region, Expires: tokenExpiry(tok)})
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", "", "database endpoint host name")
	f.IntVar(&port, "port", 0, "database port (5432 PostgreSQL, 3306 MySQL)")
	f.StringVar(&user, "user", "", "database user with IAM authentication enabled")
	f.StringVar(&region, "region", "", "AWS region (default: AWS_REGION, the RDS host name, the profile)")
	f.StringVar(&profile, "profile", "", "AWS shared config profile (default: AWS_PROFILE)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// tokenExpiry reads when a token stops working from its X-Amz-Date and
// X-Amz-Expires; zero if it cannot tell.
func tokenExpiry(tok string) time.Time {
	_, q, ok := strings.Cut(tok, "?")
	if !ok {
		return time.Time{}
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return time.Time{}
	}
	signed, err := time.Parse("20060102T150405Z", v.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}
	}
	secs, err := strconv.Atoi(v.Get("X-Amz-Expires"))
	if err != nil {
		return time.Time{}
	}
	return signed.Add(time.Duration(secs) * time.Second)
}
