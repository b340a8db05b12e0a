// Package secrets reads AWS Secrets Manager secrets with an in-process
// cache: each secret is fetched once per TTL however many goroutines ask,
// values never appear in logs, errors or %v output, and JSON secrets (the
// usual {"username": …, "password": …}) have field helpers.
//
// A Reader is built from an aws.Config, typically from awsauth.LoadConfig,
// so the secrets are read with the credentials of an oktafed login. Get,
// String and Field at package level take awsauth's options (WithProfile,
// WithRole, …) and use one Reader per profile, built that way on first
// use: the profile is resolved exactly as awsauth.LoadConfig resolves it.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/singleflight"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/internal/clock"
)

// DefaultTTL is how long a secret is reused before it is read again.
const DefaultTTL = 5 * time.Minute

// ErrNotFound means the secret does not exist (or, as AWS answers it, is in
// an account the caller cannot see).
var ErrNotFound = errors.New("secret not found")

// ErrAccessDenied means the caller may not read the secret.
var ErrAccessDenied = errors.New("not allowed to read the secret")

// ErrNoField means a JSON secret lacks the field asked for.
var ErrNoField = errors.New("secret has no such field")

// API is the part of the Secrets Manager client a Reader calls.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secret is one version of a secret. Its value prints as [redacted] with
// fmt, slog and encoding/json; call Reveal or Bytes to use it.
type Secret struct {
	Name      string
	ARN       string
	VersionID string
	value     string
	binary    []byte
	isBinary  bool
}

const redacted = "[redacted]"

// Reveal returns the SecretString (or the SecretBinary as a string).
func (s Secret) Reveal() string {
	if s.isBinary {
		return string(s.binary)
	}
	return s.value
}

// Bytes returns the value as bytes: the SecretBinary, or the SecretString.
func (s Secret) Bytes() []byte {
	if s.isBinary {
		return append([]byte(nil), s.binary...)
	}
	return []byte(s.value)
}

// IsBinary reports whether the secret holds a SecretBinary.
func (s Secret) IsBinary() bool { return s.isBinary }

// String hides the value.
func (s Secret) String() string { return "secret " + s.Name + " " + redacted }

// GoString hides the value from %#v.
func (s Secret) GoString() string {
	return fmt.Sprintf("secrets.Secret{Name:%q, ARN:%q, VersionID:%q, value:%s}", s.Name, s.ARN, s.VersionID, redacted)
}

// Format hides the value from every fmt verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("version", s.VersionID), slog.String("value", redacted))
}

// MarshalJSON hides the value from encoding/json.
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"name": s.Name, "arn": s.ARN, "version_id": s.VersionID, "value": redacted})
}

// Field returns one top-level field of a JSON secret as a string (numbers
// and booleans in their JSON form).
func (s Secret) Field(field string) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(s.Bytes(), &m); err != nil {
		// The decoder's message may quote the value; say only what is wrong.
		return "", fmt.Errorf("secret %s is not a JSON object, so it has no field %q: read it whole with String", s.Name, field)
	}
	raw, ok := m[field]
	if !ok {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		return "", fmt.Errorf("%w: secret %s has no field %q (it has: %s)", ErrNoField, s.Name, field, strings.Join(names, ", "))
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return str, nil
	}
	return string(raw), nil
}

// Decode unmarshals a JSON secret into v.
func (s Secret) Decode(v any) error {
	if err := json.Unmarshal(s.Bytes(), v); err != nil {
		return fmt.Errorf("secret %s does not decode into %T: check its JSON shape (value not shown)", s.Name, v)
	}
	return nil
}

// Option configures a Reader.
type Option func(*Reader)

// WithTTL sets how long a value is reused (DefaultTTL by default; a
// negative TTL disables caching).
func WithTTL(d time.Duration) Option { return func(r *Reader) { r.ttl = d } }

// WithClock sets the clock that ages cached values, for tests.
func WithClock(c interface{ Now() time.Time }) Option { return func(r *Reader) { r.clock = c } }

// WithVersionStage reads this stage instead of AWSCURRENT.
func WithVersionStage(stage string) Option { return func(r *Reader) { r.stage = stage } }

// Reader reads secrets through a TTL cache. It is safe for concurrent use.
type Reader struct {
	api    API
	ttl    time.Duration
	clock  clock.Clock
	stage  string
	flight singleflight.Group

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	secret  Secret
	expires time.Time
}

// New returns a Reader that calls Secrets Manager with cfg.
func New(cfg aws.Config, opts ...Option) *Reader {
	return NewWithAPI(secretsmanager.NewFromConfig(cfg), opts...)
}

// NewWithAPI returns a Reader over any implementation of API.
func NewWithAPI(api API, opts ...Option) *Reader {
	r := &Reader{api: api, ttl: DefaultTTL, cache: map[string]entry{}}
	for _, o := range opts {
		o(r)
	}
	r.clock = clock.Or(r.clock)
	return r
}

// Get returns the secret called name (a name or an ARN), from the cache
// while it is younger than the TTL. Concurrent callers share one read.
func (r *Reader) Get(ctx context.Context, name string) (Secret, error) {
	if name == "" {
		return Secret{}, errors.New("secrets: no secret name given")
	}
	now := r.clock.Now()
	r.mu.Lock()
	e, ok := r.cache[name]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.secret, nil
	}
	v, err, _ := r.flight.Do(name, func() (any, error) { return r.fetch(ctx, name) })
	if err != nil {
		return Secret{}, err
	}
	return v.(Secret), nil
}

func (r *Reader) fetch(ctx context.Context, name string) (Secret, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
	if r.stage != "" {
		in.VersionStage = aws.String(r.stage)
	}
	out, err := r.api.GetSecretValue(ctx, in)
	if err != nil {
		return Secret{}, explain(name, err)
	}
	s := Secret{Name: aws.ToString(out.Name), ARN: aws.ToString(out.ARN), VersionID: aws.ToString(out.VersionId)}
	if s.Name == "" {
		s.Name = name
	}
	switch {
	case out.SecretString != nil:
		s.value = *out.SecretString
	case out.SecretBinary != nil:
		s.binary, s.isBinary = out.SecretBinary, true
	default:
		return Secret{}, fmt.Errorf("secrets: %s has no value in this version", name)
	}
	if r.ttl > 0 {
		r.mu.Lock()
		r.cache[name] = entry{secret: s, expires: r.clock.Now().Add(r.ttl)}
		r.mu.Unlock()
	}
	return s, nil
}

// String returns the secret's value as a string.
func (r *Reader) String(ctx context.Context, name string) (string, error) {
	s, err := r.Get(ctx, name)
	if err != nil {
		return "", err
	}
	return s.Reveal(), nil
}

// Field returns one field of a JSON secret, e.g. Field(ctx, "prod/db", "password").
func (r *Reader) Field(ctx context.Context, name, field string) (string, error) {
	s, err := r.Get(ctx, name)
	if err != nil {
		return "", err
	}
	return s.Field(field)
}

// Decode unmarshals a JSON secret into v.
func (r *Reader) Decode(ctx context.Context, name string, v any) error {
	s, err := r.Get(ctx, name)
	if err != nil {
		return err
	}
	return s.Decode(v)
}

// Invalidate forgets a cached secret, e.g. after a database refused its
// password because it was rotated.
func (r *Reader) Invalidate(name string) {
	r.mu.Lock()
	delete(r.cache, name)
	r.mu.Unlock()
}

// explain turns Secrets Manager's refusals into errors that say what to do.
func explain(name string, err error) error {
	if errors.Is(err, awsauth.ErrLoginRequired) {
		return err
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("secrets: read %s: %w", name, err)
	}
	switch ae.ErrorCode() {
	case "ResourceNotFoundException":
		return fmt.Errorf("%w: %s: check the name, the AWS account of your profile and AWS_REGION", ErrNotFound, name)
	case "AccessDeniedException":
		return fmt.Errorf("%w: %s: %s (ask for secretsmanager:GetSecretValue on it, or use a profile with a role that has it)", ErrAccessDenied, name, ae.ErrorMessage())
	case "DecryptionFailure":
		return fmt.Errorf("secrets: %s: its KMS key cannot be used by this role (ask for kms:Decrypt): %w", name, err)
	}
	return fmt.Errorf("secrets: read %s: %w", name, err)
}

var (
	defaultMu      sync.Mutex
	defaultReaders = map[string]*Reader{}
)

// Default returns the package-level Reader for the profile that
// awsauth.LoadConfig(opts...) resolves (WithProfile, else $AWS_PROFILE,
// else $OKTAFED_PROFILE, else "default"), built on first success from
// awsauth.LoadConfig with the same options, so an oktafed login applies
// and a profile oktafed manages never falls back to instance metadata.
// There is one Reader per profile (see awsauth.ProfileKey); a failure,
// such as a login being required, is retried on the next call.
func Default(ctx context.Context, opts ...awsauth.Option) (*Reader, error) {
	key := awsauth.ProfileKey(opts...)
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if r := defaultReaders[key]; r != nil {
		return r, nil
	}
	cfg, err := awsauth.LoadConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	r := New(cfg)
	defaultReaders[key] = r
	return r, nil
}

// Get reads a secret with the Default reader for opts' profile.
func Get(ctx context.Context, name string, opts ...awsauth.Option) (Secret, error) {
	r, err := Default(ctx, opts...)
	if err != nil {
		return Secret{}, err
	}
	return r.Get(ctx, name)
}

// String reads a secret's value with the Default reader for opts' profile.
func String(ctx context.Context, name string, opts ...awsauth.Option) (string, error) {
	r, err := Default(ctx, opts...)
	if err != nil {
		return "", err
	}
	return r.String(ctx, name)
}

// Field reads one field of a JSON secret with the Default reader for
// opts' profile.
func Field(ctx context.Context, name, field string, opts ...awsauth.Option) (string, error) {
	r, err := Default(ctx, opts...)
	if err != nil {
		return "", err
	}
	return r.Field(ctx, name, field)
}
