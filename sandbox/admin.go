package sandbox

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// What a test does to a running sandbox as an administrator of its
// services, or as the service itself would.

// Issuer returns the issuer URL of the authorization server authServerID
// (e.g. "default"; "" is the org server).
func (s *Server) Issuer(authServerID string) string { return s.oauth.Issuer(authServerID) }

// MintAccessToken signs an access token for tests that need unusual
// claims: it starts from ver, jti, iss, aud, iat and exp as the server
// would set them and applies claims over them (wrong values included).
// ttl 0 is the server's access token lifetime; a negative ttl makes an
// expired token.
func (s *Server) MintAccessToken(authServerID string, claims map[string]any, ttl time.Duration) (string, error) {
	return s.oauth.MintAccessToken(authServerID, claims, ttl)
}

// SigningKeyID returns the kid of the key the authorization server signs
// with now.
func (s *Server) SigningKeyID(authServerID string) (string, error) {
	return s.oauth.SigningKeyID(authServerID)
}

// RotateKeys replaces the authorization server's signing key now; the old
// key stays in its key set for the configured overlap.
func (s *Server) RotateKeys(authServerID string) error { return s.oauth.RotateKeys(authServerID) }

// RevokeToken revokes an access or refresh token as if its client had
// called the revocation endpoint (a refresh token's access tokens go
// too); it reports whether the token was the server's.
func (s *Server) RevokeToken(authServerID, token string) (bool, error) {
	return s.oauth.Revoke(authServerID, token)
}

// IssueCredentials returns session credentials for the IAM role as if it
// had been assumed with sessionName for d (0: one hour), skipping the
// identity-provider checks.
func (s *Server) IssueCredentials(roleARN, sessionName string, d time.Duration) (aws.Credentials, error) {
	return s.aws.IssueCredentials(roleARN, sessionName, d)
}

// SSOStartURL returns the IAM Identity Center access portal's start URL.
func (s *Server) SSOStartURL() string { return s.sso.StartURL() }

// LastCode returns the last SMS or email code the org sent to the user
// (login or id).
func (s *Server) LastCode(user string) (SentCode, error) { return s.org.LastCode(user) }

// Unlock ends a lockout of the user and clears the failure counters.
func (s *Server) Unlock(user string) error { return s.org.Unlock(user) }

// UserActive reports whether the user exists and is not locked out.
func (s *Server) UserActive(user string) bool {
	_, ok := s.org.User(user)
	return ok
}

// Sessions lists the org's live Okta sessions, oldest first.
func (s *Server) Sessions() []SessionInfo { return s.org.Sessions() }

// VerifyPresignedURL checks a presigned GET URL, such as an RDS IAM
// authentication token, as the service would: signed for service and
// region (the sandbox's region when empty) with credentials this sandbox
// issued, as of now (the sandbox's clock when zero). For "rds-db",
// X-Amz-Expires is required and at most 900 seconds.
func (s *Server) VerifyPresignedURL(rawURL, service, region string, now time.Time) (*Caller, error) {
	return s.aws.VerifyPresignedURL(rawURL, service, region, now)
}
