// Package dbauth holds database authentication for Amazon RDS and Aurora
// with federated IAM tokens, without a database driver: the configuration,
// the token and secret caches (Auth) and the database/sql Connector that
// retries a refused login. Its driver packages connect with it:
// dbauth/pgxauth (PostgreSQL over pgx, database/sql and pgxpool) and
// dbauth/mysqlauth (MySQL and MariaDB over github.com/go-sql-driver/mysql),
// so that a program links only the driver it uses.
//
// Three plugins supply the password a connection sends:
//
//   - okta: an Okta login, exchanged for a SAML assertion and then STS
//     credentials (AssumeRoleWithSAML), which sign an RDS IAM token;
//   - iam: the default AWS credential chain signs an RDS IAM token;
//   - secrets: a user name and password kept in AWS Secrets Manager.
//
// Parameters take the names and meanings of the AWS Advanced Wrappers:
// snake_case as the Python and JDBC wrappers spell them (db_user,
// idp_endpoint, app_id, iam_role_arn, …) or camelCase as the AWS Advanced
// Go Wrapper does (dbUser, idpEndpoint, appId, iamRoleArn, …; Params
// lists the mapping). They can be given as Config fields or inside a DSN,
// where this package strips them before the driver sees the DSN; a set
// Config field wins over the DSN. Unknown parameters that look like
// plugin parameters are refused, naming the likely one, so that a typo
// never carries its value to the database server.
//
// Unlike the wrappers, STS credentials are reused for their whole
// lifetime rather than renewed with a fresh Okta login for each token,
// and concurrent connects share one login and one token (singleflight).
// Under wrong input the package protects the accounts it uses: a password
// Okta refused is held back (per org, user and password, with a doubling
// backoff) instead of being resent until the account locks; a token the
// database refuses is retried once in the same connect, for database/sql
// and pgxpool alike, and the STS credentials are renewed at most once
// until a login succeeds again. No error, log line or formatted value
// carries a password or token.
//
// Connections use TLS unless the DSN asks for something stronger: RDS only
// accepts IAM tokens over TLS, and a token or secret must never cross the
// network in cleartext.
package dbauth

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/oktafed/oktafed/secret"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/owned"
)

// Plugin names an authentication plugin, as in the wrappers' "plugins"
// parameter.
type Plugin string

// The supported plugins.
const (
	// PluginOkta logs in to Okta, federates to AWS with SAML and signs RDS
	// IAM tokens with the resulting role credentials.
	PluginOkta Plugin = "okta"
	// PluginIAM signs RDS IAM tokens with the default AWS credential chain
	// (or Config.Credentials).
	PluginIAM Plugin = "iam"
	// PluginSecrets reads the database user name and password from an AWS
	// Secrets Manager secret.
	PluginSecrets Plugin = "secrets"
)

// Defaults for the parameters that have one, as the wrappers define them.
const (
	// DefaultTokenExpiration is how long an RDS IAM token is reused: tokens
	// are valid for 15 minutes and the wrappers renew them after 870 s.
	DefaultTokenExpiration = 870 * time.Second
	// DefaultHTTPTimeout bounds each HTTP request to the identity provider.
	DefaultHTTPTimeout = 60 * time.Second
	// DefaultSTSTimeout bounds each call to STS (AssumeRoleWithSAML).
	DefaultSTSTimeout = 30 * time.Second
	// DefaultHungAfter is how long a call to Okta or STS may stay
	// unanswered before new connects stop waiting for it.
	DefaultHungAfter = 1500 * time.Millisecond
	// DefaultSecretExpiration is how long a Secrets Manager secret is
	// reused before it is read again (it is also re-read at once after an
	// authentication failure, e.g. after rotation).
	DefaultSecretExpiration = 870 * time.Second
	// maxTokenLifetime is the validity of an RDS IAM token.
	maxTokenLifetime = 15 * time.Minute
	// credentialExpiryWindow is how long before their expiry STS
	// credentials are renewed, so that a token is never signed with
	// credentials about to lapse.
	credentialExpiryWindow = owned.RefreshWindow
)

// Config holds one authentication setup. The fields documented with a
// parameter name can also be given in a DSN under that name (snake_case,
// as the AWS Advanced Python and JDBC Wrappers spell it, or camelCase, as
// the AWS Advanced Go Wrapper does; Params lists both).
//
// Precedence: a Config field that is set wins over the same setting in
// the DSN; the DSN fills only fields left empty. Code is reviewed, a DSN
// often comes from the environment, so the reviewed value is kept. A DSN
// parameter overridden this way is logged (by name, at Warn) when the
// Auth is created, never silently dropped. Two spellings of one setting
// in the same DSN with different values are an error.
//
// A Config prints with IdPPassword as "[redacted]" under fmt (%v, %+v,
// %#v, %s), log/slog and encoding/json.
type Config struct {
	// Plugin selects how the password is obtained. Param "plugins"
	// (okta, iam, secrets; the Go wrapper's awsSecretsManager means
	// secrets).
	Plugin Plugin

	// DBUser is the database user the IAM token is for; default: the
	// connection's user. Param "db_user".
	DBUser string

	// IdPUsername and IdPPassword are the Okta credentials; default: the
	// connection's user and password. Prefer setting IdPPassword here, or
	// Federation with a password prompt, to putting it in a DSN.
	// Params "idp_username", "idp_password".
	IdPUsername string
	IdPPassword secret.String
	// IdPEndpoint is the Okta org host, e.g. "example.okta.com", or a full
	// URL such as "http://127.0.0.1:8080" for the sandbox. Param
	// "idp_endpoint".
	IdPEndpoint string
	// IdPPort is the Okta org port when IdPEndpoint has none; default 443.
	// Param "idp_port".
	IdPPort int
	// AppID is the Okta AWS app's id (the segment after /amazon_aws/ in
	// its embed link). Param "app_id".
	AppID string
	// IAMRoleARN is the role to assume. Param "iam_role_arn".
	IAMRoleARN string
	// IAMIdPARN is the IAM SAML provider's ARN. Param "iam_idp_arn".
	IAMIdPARN string

	// IAMRegion is the region tokens are signed for; default: taken from
	// an RDS host name (…​.REGION.rds.amazonaws.com), else the AWS
	// configuration's region. Param "iam_region".
	IAMRegion string
	// IAMHost is the host name the token is signed for, when the
	// connection goes to another name (a proxy, a tunnel, a DNS alias).
	// Param "iam_host".
	IAMHost string
	// IAMDefaultPort is the port the token is signed for; default: the
	// connection's port, else 5432 (PostgreSQL) or 3306 (MySQL). Param
	// "iam_default_port".
	IAMDefaultPort int
	// IAMTokenExpiration is how long a token is reused; default 870 s,
	// at most 15 minutes. Param "iam_token_expiration" (seconds).
	IAMTokenExpiration time.Duration

	// HTTPTimeout bounds each request to Okta (the identity provider);
	// default 60 s. Param "http_request_connect_timeout" (seconds), or the
	// Go wrapper's "httpTimeoutMs" (milliseconds). STS calls have their
	// own STSTimeout.
	HTTPTimeout time.Duration
	// STSTimeout bounds each call to STS; default DefaultSTSTimeout. No
	// DSN parameter.
	STSTimeout time.Duration
	// STSEndpoint is the STS URL the okta plugin's AssumeRoleWithSAML
	// goes to; default: AWS_ENDPOINT_URL_STS when set (as the AWS SDKs
	// read it), else the region's. No DSN parameter.
	STSEndpoint string
	// HungAfter is how long a request to Okta or STS may stay unanswered
	// before it is taken as hung: connects that arrive later stop waiting
	// for the login it belongs to and start one of their own (at most one
	// per HungAfter), so once the service answers again the next connect
	// succeeds instead of waiting out the hung request's timeout. Default
	// DefaultHungAfter. No DSN parameter.
	HungAfter time.Duration
	// SSLInsecure turns off verification of the identity provider's TLS
	// certificate. Param "ssl_secure" (its negation; default true).
	SSLInsecure bool
	// RootCAs are the certificate authorities trusted for the database
	// server's certificate when the DSN names none (no sslrootcert, no
	// registered tls= config): for instance the RDS bundle
	// global-bundle.pem loaded once for every DSN, or an oktafed sandbox
	// front's CA. nil means the system roots. No DSN parameter.
	RootCAs *x509.CertPool
	// InsecureUnverifiedDBTLS lets the password go to a database server
	// over TLS that does not verify it (sslmode=require, verify-ca, prefer
	// or allow; MySQL tls=skip-verify, preferred or a registered config
	// with InsecureSkipVerify). Cleartext is refused even so. Without it
	// such settings are refused: an IAM token that reaches an impostor is
	// a working credential for 15 minutes. Only for local tests; every
	// connect logs a warning. Param "insecure_unverified_db_tls".
	InsecureUnverifiedDBTLS bool

	// AWSProfile is the shared-config profile whose credentials sign
	// tokens (iam) or read the secret (secrets) when neither Credentials
	// nor AWSConfig is set. Param "aws_profile" (the Go wrapper's
	// awsProfile).
	AWSProfile string

	// SecretID names the Secrets Manager secret (name or ARN). Param
	// "secrets_manager_secret_id".
	SecretID string
	// SecretsRegion is the secret's region; default: from an ARN SecretID,
	// else the AWS configuration's region. Param "secrets_manager_region".
	SecretsRegion string
	// SecretsEndpoint overrides the Secrets Manager endpoint URL. Param
	// "secrets_manager_endpoint".
	SecretsEndpoint string
	// SecretExpiration is how long a secret is reused; default 870 s.
	// Param "secrets_manager_expiration" (seconds).
	SecretExpiration time.Duration
	// SecretUsernameKey and SecretPasswordKey are the keys of the secret's
	// JSON object that hold the database user name and password; default
	// "username" and "password". Params "secrets_manager_secret_username",
	// "secrets_manager_secret_password".
	SecretUsernameKey string
	SecretPasswordKey string

	// The fields below have no DSN parameter.

	// SignInBackoff is how long a password Okta refused is held back
	// (doubling with each further refusal, up to MaxSignInBackoff) unless
	// it changes; default DefaultSignInBackoff.
	SignInBackoff time.Duration
	// LockoutProbe is how long after Okta answers that the account is
	// locked out one sign-in is tried again (doubling while it stays
	// locked, up to MaxLockoutProbe); default DefaultLockoutProbe.
	LockoutProbe time.Duration

	// Federation makes the Okta → SAML → STS credentials provider for the
	// okta plugin. It is called lazily (again after Okta refuses the
	// password); the provider it returns is cached and renewed ahead of
	// expiry. nil means DefaultFederation, package federation's SAML
	// provider; set it to answer MFA prompts or to share the CLI's
	// keyring session.
	Federation func(ctx context.Context, login OktaLogin) (aws.CredentialsProvider, error)
	// Credentials signs tokens (iam) or Secrets Manager calls (secrets)
	// instead of the default AWS credential chain.
	Credentials aws.CredentialsProvider
	// AWSConfig is the base AWS configuration for the iam and secrets
	// plugins; default: config.LoadDefaultConfig.
	AWSConfig *aws.Config
	// HTTPClient talks to Okta; default: a client built from HTTPTimeout
	// and SSLInsecure.
	HTTPClient *http.Client
	// Now is the clock for cache lifetimes and token signing; default
	// time.Now.
	Now func() time.Time
	// Logger receives cache and retry events, never a secret; default
	// discards.
	Logger *slog.Logger

	// overridden lists DSN parameters that a set field overrode.
	overridden []string
	// ignored lists the AWS Advanced Go Wrapper's parameters and plugin
	// codes the DSN carried that dbauth does not act on.
	ignored []string
}

// withDefaults returns a copy with defaults filled in and checks that the
// plugin has what it needs; user and password are the connection's.
func (c Config) withDefaults() Config {
	if c.IAMTokenExpiration == 0 {
		c.IAMTokenExpiration = DefaultTokenExpiration
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.STSTimeout == 0 {
		c.STSTimeout = DefaultSTSTimeout
	}
	if c.HungAfter == 0 {
		c.HungAfter = DefaultHungAfter
	}
	if c.SecretExpiration == 0 {
		c.SecretExpiration = DefaultSecretExpiration
	}
	if c.SecretUsernameKey == "" {
		c.SecretUsernameKey = "username"
	}
	if c.SecretPasswordKey == "" {
		c.SecretPasswordKey = "password"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SignInBackoff == 0 {
		c.SignInBackoff = DefaultSignInBackoff
	}
	if c.LockoutProbe == 0 {
		c.LockoutProbe = DefaultLockoutProbe
	}
	return c
}

// validate reports what is missing for the plugin, saying how to fix it.
func (c *Config) validate() error {
	switch c.Plugin {
	case PluginOkta:
		var missing []string
		if c.IdPEndpoint == "" {
			missing = append(missing, ParamIdPEndpoint)
		}
		if c.AppID == "" {
			missing = append(missing, ParamAppID)
		}
		if c.IAMRoleARN == "" {
			missing = append(missing, ParamIAMRoleARN)
		}
		if c.IAMIdPARN == "" {
			missing = append(missing, ParamIAMIdPARN)
		}
		if len(missing) > 0 {
			return fmt.Errorf("dbauth: the okta plugin needs %v: set them as Config fields or DSN parameters", missing)
		}
	case PluginIAM:
	case PluginSecrets:
		if c.SecretID == "" {
			return fmt.Errorf("dbauth: the secrets plugin needs %s: set Config.SecretID or the DSN parameter", ParamSecretID)
		}
	case "":
		return fmt.Errorf("dbauth: no authentication plugin: set Config.Plugin or the DSN parameter %s=okta, iam or secrets", ParamPlugins)
	default:
		return fmt.Errorf("dbauth: plugin %q is not supported; use okta, iam or secrets", c.Plugin)
	}
	if c.IAMTokenExpiration > maxTokenLifetime {
		return fmt.Errorf("dbauth: %s=%s exceeds the 15-minute validity of RDS IAM tokens; use at most 900 seconds", ParamIAMTokenExpiration, c.IAMTokenExpiration)
	}
	return nil
}
