package dbauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/okta"
)

// DefaultSignInBackoff is how long a password that Okta refused is not
// sent again (unless it changes); each further refusal of the same
// password doubles it, up to MaxSignInBackoff.
const DefaultSignInBackoff = 15 * time.Minute

// MaxSignInBackoff caps the doubling of the sign-in backoff.
const MaxSignInBackoff = 24 * time.Hour

// ErrSignInRefused matches errors returned while a password that Okta
// refused is held back: connects fail at once, without asking Okta, so a
// wrong idp_password in a service cannot lock the Okta account.
var ErrSignInRefused = errors.New("okta refused this password; it is held back until it changes")

// refusals remembers, per (Okta org, user, password), sign-ins that Okta
// refused. It is process-wide: every sql.Open of the same DSN makes a new
// Auth, and none of them may resend a refused password. Passwords are
// kept only as an HMAC under a key made at start-up, so the table holds
// nothing that could be guessed offline.
var refusals = &refusalBook{m: map[[32]byte]refusal{}}

type refusalBook struct {
	once sync.Once
	key  [32]byte

	mu sync.Mutex
	m  map[[32]byte]refusal
}

type refusal struct {
	at, until time.Time
	backoff   time.Duration
	cause     string // why Okta refused, without the password
}

func (b *refusalBook) id(org, user, password string) [32]byte {
	b.once.Do(func() {
		if _, err := rand.Read(b.key[:]); err != nil {
			panic("dbauth: no randomness for the refused sign-in table: " + err.Error())
		}
	})
	h := hmac.New(sha256.New, b.key[:])
	for _, s := range []string{org, user, password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var id [32]byte
	copy(id[:], h.Sum(nil))
	return id
}

// held returns the refusal still in force for id at now.
func (b *refusalBook) held(id [32]byte, now time.Time) (refusal, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.m[id]
	return r, ok && now.Before(r.until)
}

// record notes a refusal at now and returns it.
func (b *refusalBook) record(id [32]byte, now time.Time, base time.Duration, cause string) refusal {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, old := range b.m {
		// Forget refusals long past, so the table stays small.
		if now.Sub(old.until) > MaxSignInBackoff {
			delete(b.m, k)
		}
	}
	r := b.m[id]
	if r.backoff == 0 {
		r.backoff = base
	} else {
		r.backoff = min(2*r.backoff, MaxSignInBackoff)
	}
	r.at, r.until, r.cause = now, now.Add(r.backoff), cause
	b.m[id] = r
	return r
}

// forget clears id after a successful sign-in.
func (b *refusalBook) forget(id [32]byte) {
	b.mu.Lock()
	delete(b.m, id)
	b.mu.Unlock()
}

// isSignInRefusal reports whether err is Okta refusing the password
// itself: resending it could only count towards a lockout.
func isSignInRefusal(err error) bool {
	return errors.Is(err, okta.ErrInvalidCredentials) || errors.Is(err, okta.ErrLockedOut) || errors.Is(err, okta.ErrPasswordExpired)
}

// signInRefusedError says that a refused password is held back, until
// when, and what to do.
type signInRefusedError struct {
	user, org string
	r         refusal
	first     bool // this call was the refused sign-in itself
}

func (e *signInRefusedError) Error() string {
	const clock = "15:04:05 MST"
	what := fmt.Sprintf("dbauth: Okta refused the sign-in of %s at %s (%s) at %s", e.user, e.org, e.r.cause, e.r.at.Format(clock))
	if !e.first {
		what += "; this connect did not ask Okta again"
	}
	return what + fmt.Sprintf(": the same password will not be sent again until it changes or until %s, so that retries cannot lock the account: fix idp_password (or the connection's password)", e.r.until.Format(clock))
}

func (e *signInRefusedError) Is(target error) bool { return target == ErrSignInRefused }

// guardedProvider is the okta plugin's credentials provider behind a
// check of the refusal book: a held-back password never reaches Okta, and
// a refusal is recorded before it is returned.
type guardedProvider struct {
	inner   aws.CredentialsProvider
	a       *Auth
	id      [32]byte
	user    string
	org     string
	dropped func() // forgets the provider so the next connect reads the password again
}

func (g *guardedProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	now := g.a.cfg.Now()
	if r, ok := refusals.held(g.id, now); ok {
		g.dropped()
		return aws.Credentials{}, &signInRefusedError{user: g.user, org: g.org, r: r}
	}
	c, err := g.inner.Retrieve(ctx)
	if err != nil && isSignInRefusal(err) {
		cause := "invalid username or password"
		switch {
		case errors.Is(err, okta.ErrLockedOut):
			cause = "the account is locked out"
		case errors.Is(err, okta.ErrPasswordExpired):
			cause = "the password has expired"
		}
		r := refusals.record(g.id, now, g.a.cfg.SignInBackoff, cause)
		g.a.log.Warn("dbauth: Okta refused the sign-in; holding the password back", "user", g.user, "org", g.org, "until", r.until)
		g.dropped()
		return aws.Credentials{}, &signInRefusedError{user: g.user, org: g.org, r: r, first: true}
	}
	if err == nil {
		refusals.forget(g.id)
	}
	return c, err
}
