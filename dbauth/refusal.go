package dbauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/atomicfile"
	"github.com/oktafed/oktafed/okta"
)

// DefaultSignInBackoff is how long a password that Okta refused is not
// sent again (unless it changes); each further refusal of the same
// password doubles it, up to MaxSignInBackoff.
const DefaultSignInBackoff = 15 * time.Minute

// MaxSignInBackoff caps the doubling of the sign-in backoff.
const MaxSignInBackoff = 24 * time.Hour

// DefaultLockoutProbe is how long after Okta answers that the account is
// locked out one sign-in is tried again (doubling while it stays locked,
// up to MaxLockoutProbe): an administrator may unlock it at any time, and
// the correct password must not wait for a long backoff then.
const DefaultLockoutProbe = time.Minute

// MaxLockoutProbe caps the doubling of the lockout re-probe.
const MaxLockoutProbe = 30 * time.Minute

// ErrSignInRefused matches errors returned while a password that Okta
// refused is held back: connects fail at once, without asking Okta, so a
// wrong idp_password in a service cannot lock the Okta account.
var ErrSignInRefused = errors.New("okta refused this password; it is held back until it changes")

// refusals remembers, per (Okta org, user, password), sign-ins that Okta
// refused, per (org, user) a lockout, and per (org, app_id) an app that
// does not exist. It is shared by every process of the user: entries are
// files in the user's cache directory (HoldBackDir), so restarting a
// service with a wrong idp_password does not send it again, and five
// restarts cannot lock the account. Files are named and keyed by an HMAC
// under a random key kept beside them (0600): they hold no password, no
// user name and nothing that could be guessed offline without the key.
// Where no cache directory can be used the book lives in memory, for the
// process only.
var refusals = &refusalBook{m: map[[32]byte]refusal{}}

type refusalBook struct {
	once sync.Once
	key  [32]byte
	dir  string // "" when the book is in memory only

	mu sync.Mutex
	m  map[[32]byte]refusal // used when dir is ""
}

type refusal struct {
	At      time.Time     `json:"at"`
	Until   time.Time     `json:"until"`
	Backoff time.Duration `json:"backoff"`
	Cause   string        `json:"cause"` // why Okta refused, without the password
}

// HoldBackDir is where refused sign-ins are remembered across processes:
// $OKTAFED_HOLDBACK_DIR, else oktafed/dbauth-holdback in the user's cache
// directory ($XDG_CACHE_HOME or ~/.cache on Linux).
func HoldBackDir() (string, error) {
	if d := os.Getenv("OKTAFED_HOLDBACK_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(c, "oktafed", "dbauth-holdback"), nil
}

// init loads (or makes) the key: on disk beside the entries when the
// cache directory can be used, else a random one for this process.
func (b *refusalBook) init() {
	b.once.Do(func() {
		if dir, err := HoldBackDir(); err == nil {
			if key, err := loadOrMakeKey(dir); err == nil {
				b.key, b.dir = key, dir
				return
			}
		}
		if _, err := rand.Read(b.key[:]); err != nil {
			panic("dbauth: no randomness for the refused sign-in table: " + err.Error())
		}
	})
}

func loadOrMakeKey(dir string) ([32]byte, error) {
	var key [32]byte
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return key, err
	}
	path := filepath.Join(dir, "key")
	for range 2 {
		if data, err := os.ReadFile(path); err == nil {
			if n, err := hex.Decode(key[:], bytes.TrimSpace(data)); err == nil && n == len(key) {
				return key, nil
			}
			return key, errors.New("dbauth: the hold-back key file is damaged")
		}
		if _, err := rand.Read(key[:]); err != nil {
			return key, err
		}
		// O_EXCL: of two processes starting together, one key wins and
		// the other reads it.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return key, err
		}
		_, werr := f.WriteString(hex.EncodeToString(key[:]) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return key, werr
		}
		return key, nil
	}
	return key, errors.New("dbauth: cannot read the hold-back key")
}

func (b *refusalBook) id(parts ...string) [32]byte {
	b.init()
	h := hmac.New(sha256.New, b.key[:])
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var id [32]byte
	copy(id[:], h.Sum(nil))
	return id
}

// passwordID, lockoutID and appID name the three kinds of entries.
func (b *refusalBook) passwordID(org, user, password string) [32]byte {
	return b.id("password", org, user, password)
}
func (b *refusalBook) lockoutID(org, user string) [32]byte { return b.id("lockout", org, user) }
func (b *refusalBook) appID(org, app string) [32]byte      { return b.id("app", org, app) }

func (b *refusalBook) path(id [32]byte) string {
	return filepath.Join(b.dir, hex.EncodeToString(id[:16]))
}

func (b *refusalBook) load(id [32]byte) (refusal, bool) {
	if b.dir == "" {
		r, ok := b.m[id]
		return r, ok
	}
	data, err := os.ReadFile(b.path(id))
	if err != nil {
		return refusal{}, false
	}
	var r refusal
	if json.Unmarshal(data, &r) != nil {
		return refusal{}, false
	}
	return r, true
}

func (b *refusalBook) store(id [32]byte, r refusal) {
	if b.dir == "" {
		b.m[id] = r
		return
	}
	data, _ := json.Marshal(r)
	if err := atomicfile.Write(b.path(id), data, 0o600); err != nil {
		b.m[id] = r // at least this process remembers
	}
}

// held returns the refusal still in force for id at now.
func (b *refusalBook) held(id [32]byte, now time.Time) (refusal, bool) {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.load(id)
	if !ok && b.dir != "" {
		r, ok = b.m[id]
	}
	return r, ok && now.Before(r.Until)
}

// record notes a refusal at now, doubling the backoff of the last one
// (up to max), and returns it.
func (b *refusalBook) record(id [32]byte, now time.Time, base, max time.Duration, cause string) refusal {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	r, _ := b.load(id)
	if r.Backoff == 0 || now.Sub(r.Until) > max {
		r.Backoff = base
	} else {
		r.Backoff = min(2*r.Backoff, max)
	}
	r.At, r.Until, r.Cause = now, now.Add(r.Backoff), cause
	b.store(id, r)
	return r
}

// forget clears ids after a successful sign-in.
func (b *refusalBook) forget(ids ...[32]byte) {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		delete(b.m, id)
		if b.dir != "" {
			os.Remove(b.path(id))
		}
	}
}

// The kinds of hold-back.
const (
	heldPassword = iota // Okta refused this password
	heldLockout         // Okta said the account is locked out
	heldApp             // the app_id leads to no app
)

// signInRefusedError says what is held back, until when, and what to do.
type signInRefusedError struct {
	user, org, app string
	kind           int
	r              refusal
	first          bool // this call was the refused sign-in itself
}

func (e *signInRefusedError) Error() string {
	const clock = "15:04:05 MST"
	again := ""
	if !e.first {
		again = "; this connect did not ask Okta again"
	}
	switch e.kind {
	case heldLockout:
		return fmt.Sprintf("dbauth: Okta answered that the account of %s at %s is locked out (at %s)%s: no sign-in is tried until %s, then one is (the wait doubles while it stays locked, up to %s): ask an Okta admin to unlock the account, or wait for it to unlock", e.user, e.org, e.r.At.Format(clock), again, e.r.Until.Format(clock), MaxLockoutProbe)
	case heldApp:
		return fmt.Sprintf("dbauth: the Okta org %s has no AWS app with app_id %s (checked at %s)%s: no sign-in is made for it until %s or until app_id changes, so a wrong app_id costs no Okta sign-ins: fix app_id (the segment after /amazon_aws/ in the app's embed link)", e.org, e.app, e.r.At.Format(clock), again, e.r.Until.Format(clock))
	}
	return fmt.Sprintf("dbauth: Okta refused the sign-in of %s at %s (%s) at %s%s: the same password will not be sent again until it changes or until %s, so that retries (in this or any other process of this user) cannot lock the account: fix idp_password (or the connection's password)", e.user, e.org, e.r.Cause, e.r.At.Format(clock), again, e.r.Until.Format(clock))
}

func (e *signInRefusedError) Is(target error) bool { return target == ErrSignInRefused }

// holdBack is what the okta plugin checks before it lets a sign-in reach
// Okta, and records when Okta refuses one.
type holdBack struct {
	pw, lockout, app [32]byte
	user, org, appID string
}

func newHoldBack(l OktaLogin) holdBack {
	return holdBack{
		pw:      refusals.passwordID(l.OrgURL, l.Username, l.Password.Reveal()),
		lockout: refusals.lockoutID(l.OrgURL, l.Username),
		app:     refusals.appID(l.OrgURL, l.AppID),
		user:    l.Username, org: l.OrgURL, appID: l.AppID,
	}
}

// held returns the hold-back in force, if any.
func (h holdBack) held(now time.Time) (*signInRefusedError, bool) {
	for _, k := range []struct {
		id   [32]byte
		kind int
	}{{h.lockout, heldLockout}, {h.app, heldApp}, {h.pw, heldPassword}} {
		if r, ok := refusals.held(k.id, now); ok {
			return &signInRefusedError{user: h.user, org: h.org, app: h.appID, kind: k.kind, r: r}, true
		}
	}
	return nil, false
}

// record notes what err says is wrong, if it is a refusal no retry can
// fix, and returns the error to give.
func (h holdBack) record(err error, now time.Time, cfg Config) (*signInRefusedError, bool) {
	e := &signInRefusedError{user: h.user, org: h.org, app: h.appID, first: true}
	switch {
	case errors.Is(err, okta.ErrLockedOut):
		e.kind = heldLockout
		e.r = refusals.record(h.lockout, now, cfg.LockoutProbe, MaxLockoutProbe, "the account is locked out")
	case errors.Is(err, okta.ErrAppNotFound):
		e.kind = heldApp
		e.r = refusals.record(h.app, now, cfg.SignInBackoff, MaxSignInBackoff, "no such app")
	case errors.Is(err, okta.ErrInvalidCredentials):
		e.r = refusals.record(h.pw, now, cfg.SignInBackoff, MaxSignInBackoff, "invalid username or password")
	case errors.Is(err, okta.ErrPasswordExpired):
		e.r = refusals.record(h.pw, now, cfg.SignInBackoff, MaxSignInBackoff, "the password has expired")
	default:
		return nil, false
	}
	return e, true
}

// guardedProvider is the okta plugin's credentials provider behind a
// check of the hold-back book: a held-back sign-in never reaches Okta,
// and a refusal is recorded before it is returned.
type guardedProvider struct {
	inner   aws.CredentialsProvider
	a       *Auth
	hb      holdBack
	dropped func() // forgets the provider so the next connect reads the password again
}

func (g *guardedProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	now := g.a.cfg.Now()
	if e, ok := g.hb.held(now); ok {
		g.dropped()
		return aws.Credentials{}, e
	}
	c, err := g.inner.Retrieve(ctx)
	if err != nil {
		if e, ok := g.hb.record(err, now, g.a.cfg); ok {
			g.a.log.Warn("dbauth: Okta refused the sign-in; holding it back", "user", g.hb.user, "org", g.hb.org, "cause", e.r.Cause, "until", e.r.Until)
			g.dropped()
			return aws.Credentials{}, e
		}
		return c, err
	}
	refusals.forget(g.hb.pw, g.hb.lockout, g.hb.app)
	return c, nil
}
