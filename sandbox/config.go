package sandbox

import (
	"github.com/oktafed/oktafed/sandbox/internal/authserver"
	"github.com/oktafed/oktafed/sandbox/internal/iam"
	"github.com/oktafed/oktafed/sandbox/internal/identitycenter"
	"github.com/oktafed/oktafed/sandbox/internal/org"
	"github.com/oktafed/oktafed/sandbox/internal/rds"
	"github.com/oktafed/oktafed/sandbox/internal/secretsmanager"
)

// The sections of Config and the types inside them, named here because the
// services that read them are internal: a test builds a Config (or adds to
// DefaultConfig's) with these, as sandbox.yaml spells it. They are aliases,
// so a value is the service's own type and the fields' doc comments are on
// it (go doc prints them).
type (
	// OrgConfig is the org: section: the Okta org, its users, groups and apps.
	OrgConfig = org.Config
	// OrgPolicyConfig is the org's sign-on and API policy.
	OrgPolicyConfig = org.PolicyConfig
	// OrgUserConfig is a user of the org.
	OrgUserConfig = org.UserConfig
	// OrgFactorConfig is a user's enrolled MFA factor.
	OrgFactorConfig = org.FactorConfig
	// OrgPushConfig scripts the simulated phone of a push factor.
	OrgPushConfig = org.PushConfig
	// OrgGroupConfig is a group of the org's users.
	OrgGroupConfig = org.GroupConfig
	// OrgAppConfig is an AWS Account Federation SAML app.
	OrgAppConfig = org.AppConfig
	// OrgRoleConfig grants an IAM role through an app to groups and users.
	OrgRoleConfig = org.RoleConfig

	// OAuthConfig is the oauth: section: the org's authorization servers.
	OAuthConfig = authserver.Config
	// OAuthOrgServerConfig is the org authorization server.
	OAuthOrgServerConfig = authserver.OrgServerConfig
	// OAuthServerConfig is a custom authorization server.
	OAuthServerConfig = authserver.ServerConfig
	// OAuthScopeConfig is a scope an authorization server grants.
	OAuthScopeConfig = authserver.ScopeConfig
	// OAuthClaimConfig is a claim an authorization server adds to tokens.
	OAuthClaimConfig = authserver.ClaimConfig
	// OAuthGroupsClaimConfig is a claim that lists the user's groups.
	OAuthGroupsClaimConfig = authserver.GroupsClaimConfig
	// OAuthKeyRotationConfig schedules signing-key rotation.
	OAuthKeyRotationConfig = authserver.KeyRotationConfig
	// OAuthClientConfig is an OAuth client (application) of the org.
	OAuthClientConfig = authserver.ClientConfig

	// AWSConfig is the aws: section: accounts, roles, identity providers
	// and IAM users.
	AWSConfig = iam.Config
	// AWSAccountConfig is an AWS account.
	AWSAccountConfig = iam.AccountConfig
	// AWSRoleConfig is an IAM role and whom it trusts.
	AWSRoleConfig = iam.RoleConfig
	// AWSTrustConfig is a role's trust policy.
	AWSTrustConfig = iam.TrustConfig
	// AWSSAMLProviderConfig is an IAM SAML identity provider.
	AWSSAMLProviderConfig = iam.SAMLProviderConfig
	// AWSOIDCProviderConfig is an IAM OIDC identity provider.
	AWSOIDCProviderConfig = iam.OIDCProviderConfig
	// AWSUserConfig is an IAM user with a long-term access key.
	AWSUserConfig = iam.UserConfig

	// SSOConfig is the sso: section: IAM Identity Center.
	SSOConfig = identitycenter.Config
	// SSOAccountConfig is an account the access portal lists.
	SSOAccountConfig = identitycenter.AccountConfig
	// SSOPermissionSetConfig is a permission set (a role in each account).
	SSOPermissionSetConfig = identitycenter.PermissionSetConfig
	// SSOAssignmentConfig assigns a permission set in an account.
	SSOAssignmentConfig = identitycenter.AssignmentConfig

	// SecretConfig is a secret of the secrets: section (Secrets Manager).
	SecretConfig = secretsmanager.SecretConfig

	// RDSConfig is an IAM-auth database front of the rds: section.
	RDSConfig = rds.Config
	// RDSBackendConfig is how a front logs in to the real database.
	RDSBackendConfig = rds.BackendConfig
	// RDSFront is a running database front (Server.RDS, Server.StartRDS).
	RDSFront = rds.Server
	// RDSStats counts what a database front has done (RDSFront.Stats).
	RDSStats = rds.Stats

	// OAuthKeySet is a client's public keys (OAuthClientConfig.JWKS), a
	// JWK Set as sandbox.yaml spells it.
	OAuthKeySet = authserver.KeySet
	// SentCode is an SMS or email code the org sent (Server.LastCode).
	SentCode = org.SentCode
	// SessionInfo is a live Okta session (Server.Sessions).
	SessionInfo = org.SessionInfo
	// Caller is who signed a presigned URL (Server.VerifyPresignedURL).
	Caller = iam.Caller
)

// The engines an RDS front speaks (RDSConfig.Engine).
const (
	RDSPostgres = rds.EnginePostgres
	RDSMySQL    = rds.EngineMySQL
)

// StartRDS starts one more database front for a test, as Config.RDS does,
// for a database started after the sandbox. It accepts tokens signed with
// credentials this sandbox issued, checked on the sandbox's clock, and
// closes when the test ends.
func (s *Server) StartRDS(t TB, cfg RDSConfig) *RDSFront {
	t.Helper()
	return rds.Start(t, cfg, rds.Options{Verifier: s.aws, Clock: s.clock})
}
