// Package secretsmanager is the sandbox's AWS Secrets Manager: the JSON
// protocol (1.1) at POST / with X-Amz-Target secretsmanager.<Operation>,
// every call SigV4-verified by the sandbox's IAM, secrets from the
// sandbox config. It serves GetSecretValue, DescribeSecret, ListSecrets
// and PutSecretValue with AWS's shapes and error codes, so the AWS SDKs
// and CLI work against it unchanged. Values never reach the log.
package secretsmanager

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox/internal/iam"
)

// Version stages AWS maintains.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// Authenticator verifies SigV4 requests; *iam.Service is one.
type Authenticator interface {
	Authenticate(r *http.Request, service string) (*iam.Caller, error)
}

// Options are the service's runtime dependencies.
type Options struct {
	Auth   Authenticator
	Region string
	// DefaultAccount owns secrets whose config names no account.
	DefaultAccount string
	Clock          clock.Clock
	Logger         *slog.Logger
}

// Service is the sandbox Secrets Manager. It is an http.Handler.
type Service struct {
	auth    Authenticator
	region  string
	clock   clock.Clock
	log     *slog.Logger
	mu      sync.Mutex
	secrets map[string]*secret // by ARN
}

type secret struct {
	arn, name, account, description string
	readers                         map[string]bool
	created, changed, accessed      time.Time
	versions                        map[string]*version // by id
	tokens                          map[string]string   // ClientRequestToken → version id
}

type version struct {
	id      string
	str     *string
	bin     []byte
	stages  []string
	created time.Time
}

// New builds the service from the sandbox's `secrets:` list.
func New(cfgs []SecretConfig, opts Options) (*Service, error) {
	if opts.Auth == nil {
		return nil, fmt.Errorf("secretsmanager: no authenticator")
	}
	s := &Service{auth: opts.Auth, region: opts.Region, clock: clock.Or(opts.Clock), log: opts.Logger, secrets: map[string]*secret{}}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := s.clock.Now()
	names := map[string]bool{}
	for i, c := range cfgs {
		where := fmt.Sprintf("secrets[%d]", i)
		if !namePattern.MatchString(c.Name) {
			return nil, fmt.Errorf("%s: name %q must be 1 to 512 of letters, digits and /_+=.@-", where, c.Name)
		}
		account := c.Account
		if account == "" {
			account = opts.DefaultAccount
		}
		if !accountPattern.MatchString(account) {
			return nil, fmt.Errorf("%s (%s): account must be a 12-digit AWS account id", where, c.Name)
		}
		key := account + "/" + c.Name
		if names[key] {
			return nil, fmt.Errorf("%s: secret %q is defined twice in account %s", where, c.Name, account)
		}
		names[key] = true
		str, bin, err := c.value()
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", where, c.Name, err)
		}
		sec := &secret{
			arn:  s.arnFor(account, c.Name),
			name: c.Name, account: account, description: c.Description,
			readers: map[string]bool{}, created: now, changed: now,
			versions: map[string]*version{}, tokens: map[string]string{},
		}
		for _, r := range c.Readers {
			sec.readers[r] = true
		}
		v := &version{id: derivedUUID(sec.arn + "\x00initial"), str: str, bin: bin, stages: []string{StageCurrent}, created: now}
		sec.versions[v.id] = v
		s.secrets[sec.arn] = sec
	}
	return s, nil
}

// arnFor builds a secret ARN. AWS appends six random characters to the
// name; deriving them from the name keeps ARNs stable across restarts.
func (s *Service) arnFor(account, name string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	h := sha256.Sum256([]byte(account + "/" + name))
	suffix := make([]byte, 6)
	for i := range suffix {
		suffix[i] = alphabet[int(h[i])%len(alphabet)]
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, account, name, suffix)
}

// derivedUUID formats a hash of seed as a version-4-shaped UUID.
func derivedUUID(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return formatUUID(h[:16])
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return formatUUID(b)
}

func formatUUID(b []byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// find resolves a SecretId (name, full ARN, or ARN without the random
// suffix) in the caller's account.
func (s *Service) find(id, account string) *secret {
	if strings.HasPrefix(id, "arn:") {
		if sec := s.secrets[id]; sec != nil {
			return sec
		}
		for _, sec := range s.secrets {
			if sec.arn[:len(sec.arn)-7] == id {
				return sec
			}
		}
		return nil
	}
	for _, sec := range s.secrets {
		if sec.account == account && sec.name == id {
			return sec
		}
	}
	return nil
}

// allowed stands in for IAM: the secret's listed readers, or anyone in its
// account when it lists none.
func (sec *secret) allowed(c *iam.Caller) bool {
	if len(sec.readers) > 0 {
		return sec.readers[c.RoleARN] || sec.readers[c.ARN]
	}
	return c.Account == sec.account
}

// current returns the version labelled stage.
func (sec *secret) withStage(stage string) *version {
	for _, v := range sec.versions {
		for _, st := range v.stages {
			if st == stage {
				return v
			}
		}
	}
	return nil
}

func (sec *secret) stagesByVersion() map[string][]string {
	out := map[string][]string{}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			out[id] = append([]string(nil), v.stages...)
		}
	}
	return out
}

func sortedSecrets(m map[string]*secret) []*secret {
	out := make([]*secret, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].name < out[j].name || (out[i].name == out[j].name && out[i].arn < out[j].arn)
	})
	return out
}
