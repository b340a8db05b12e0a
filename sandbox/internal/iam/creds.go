package iam

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// credential is an access key the sandbox accepts: a configured user's
// long-term key, or session credentials it issued for a role.
type credential struct {
	accessKeyID  string
	secret       string
	sessionToken string // empty for long-term keys

	account string
	arn     string // user ARN, or assumed-role ARN
	userID  string // AIDA… for users, AROA…:session for roles

	roleARN     string
	sessionName string
	expiration  time.Time // zero for long-term keys
}

// forgetExpiredAfter is how long expired session credentials are still
// recognised, so that using them yields ExpiredToken rather than the less
// helpful InvalidClientTokenId.
const forgetExpiredAfter = 7 * 24 * time.Hour

// IssueCredentials creates session credentials for roleARN as if the role had
// been assumed with session name sessionName for duration d (0 means one
// hour). It skips the identity-provider checks, so tests and other sandbox
// services can get a signed identity directly; it still enforces the role's
// existence, the session name syntax and the 15 min .. MaxSessionDuration
// bounds.
func (s *Service) IssueCredentials(roleARN, sessionName string, d time.Duration) (aws.Credentials, error) {
	ro := s.roles[roleARN]
	if ro == nil {
		return aws.Credentials{}, newError(CodeAccessDenied, "Role %s does not exist in the sandbox.", roleARN)
	}
	if !sessionNameRE.MatchString(sessionName) {
		return aws.Credentials{}, newError(CodeValidationError, "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
	}
	if d == 0 {
		d = time.Hour
	}
	if d < minSessionTime || d > ro.maxSession {
		return aws.Credentials{}, newError(CodeValidationError, "The requested DurationSeconds must be between 900 and the MaxSessionDuration (%d) set for this role.", int(ro.maxSession/time.Second))
	}
	c := s.issue(ro, sessionName, s.clock.Now().Add(d))
	return c.awsCredentials(), nil
}

// issue mints and records session credentials for a role session.
func (s *Service) issue(ro *role, sessionName string, expiration time.Time) *credential {
	c := &credential{
		accessKeyID:  "ASIA" + randomBase32(10),
		secret:       randomBase64(30),
		sessionToken: randomBase64(96),
		account:      ro.account,
		arn:          "arn:aws:sts::" + ro.account + ":assumed-role/" + ro.name + "/" + sessionName,
		userID:       ro.id + ":" + sessionName,
		roleARN:      ro.arn,
		sessionName:  sessionName,
		// AWS reports expirations to the second; truncating keeps what a
		// client reads and what the sandbox enforces identical.
		expiration: expiration.UTC().Truncate(time.Second),
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.creds {
		if now.Sub(old.expiration) > forgetExpiredAfter {
			delete(s.creds, id)
		}
	}
	s.creds[c.accessKeyID] = c
	return c
}

// lookupKey finds the credential an access key id belongs to.
func (s *Service) lookupKey(accessKeyID string) *credential {
	if u := s.users[accessKeyID]; u != nil {
		return u
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.creds[accessKeyID]
}

func (c *credential) awsCredentials() aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     c.accessKeyID,
		SecretAccessKey: c.secret,
		SessionToken:    c.sessionToken,
		Source:          "oktafed-sandbox",
		CanExpire:       !c.expiration.IsZero(),
		Expires:         c.expiration,
		AccountID:       c.account,
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return b
}

func randomBase32(n int) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(randomBytes(n))
}

func randomBase64(n int) string { return base64.StdEncoding.EncodeToString(randomBytes(n)) }

// newRequestID returns a random UUID, the form of AWS request ids.
func newRequestID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexdig = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, v := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexdig[v>>4], hexdig[v&0xf])
	}
	return string(out)
}
