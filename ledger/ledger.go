// Package ledger keeps, across processes, what one Okta user's sign-ins
// on this machine have used up: a lock so that concurrent sign-ins take
// turns (the later ones then reuse the session the first saved), and the
// TOTP time steps already spent, so a code is sent to Okta at most once.
//
// Okta refuses a TOTP code that was already accepted (E0000082), and a
// sign-in that sends one has lost its 30-second window. Two logins started
// by a script, a shell loop or several terminals at once would otherwise
// race for the same code. The ledger lives in the XDG state directory, one
// pair of files per user and org, named by a hash of both. It never holds
// the seed, a code or the user name: only the number of the last time step
// spent, which anyone can compute from the clock.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/oktafed/oktafed/internal/atomicfile"
)

// Ledger is the record of one Okta user at one org.
type Ledger struct {
	dir string
	key string
}

// DefaultDir is where ledgers live: $XDG_STATE_HOME/oktafed/signin, else
// ~/.local/state/oktafed/signin.
func DefaultDir(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "oktafed", "signin"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("ledger: find the state directory: %w (set XDG_STATE_HOME)", err)
		}
	}
	return filepath.Join(home, ".local", "state", "oktafed", "signin"), nil
}

// Open returns the ledger of username at orgURL in dir, creating dir
// (private to the user) when needed.
func Open(dir, orgURL, username string) (*Ledger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: make %s private: %w", dir, err)
	}
	return &Ledger{dir: dir, key: Key(orgURL, username)}, nil
}

// Key names a user's files: a hash of the org and the user, so the file
// names say nothing about either. The org's trailing slash and the case
// of both do not matter, as they do not to Okta.
func Key(orgURL, username string) string {
	org := strings.ToLower(strings.TrimRight(strings.TrimSpace(orgURL), "/"))
	sum := sha256.Sum256([]byte("oktafed-ledger\x00" + org + "\x00" + strings.ToLower(strings.TrimSpace(username))))
	return hex.EncodeToString(sum[:16])
}

func (l *Ledger) path(ext string) string { return filepath.Join(l.dir, l.key+ext) }

// Lock waits until no other process signs in as this user, then holds the
// sign-in lock until unlock is called. waiting, when not nil, is called
// once if another process holds it. The lock is the operating system's
// (flock), so a process that dies releases it.
func (l *Ledger) Lock(ctx context.Context, waiting func()) (unlock func(), err error) {
	return lockFile(ctx, l.path(".lock"), waiting)
}

func lockFile(ctx context.Context, path string, waiting func()) (func(), error) {
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("ledger: lock %s: %w", path, err)
	}
	if !ok {
		if waiting != nil {
			waiting()
		}
		ok, err = fl.TryLockContext(ctx, 20*time.Millisecond)
		if err != nil || !ok {
			if err == nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("ledger: wait for %s: %w", path, err)
		}
	}
	return func() { _ = fl.Unlock() }, nil
}

// Reserve takes the first TOTP time step (of period) that is later than
// every step spent before and starts no earlier than the one now is in,
// records it as spent, and returns it. A step is only ever reserved once,
// across processes; the caller waits for it to begin (Start) before
// computing its code. skipCurrent passes over the current step, for when
// too little of it is left for a code to reach Okta in time.
func (l *Ledger) Reserve(ctx context.Context, now time.Time, period time.Duration, skipCurrent bool) (int64, error) {
	if period <= 0 {
		return 0, errors.New("ledger: TOTP period must be positive")
	}
	unlock, err := lockFile(ctx, l.path(".totp.lock"), nil)
	if err != nil {
		return 0, err
	}
	defer unlock()
	step := Step(now, period)
	if skipCurrent {
		step++
	}
	last, err := l.lastStep()
	if err != nil {
		return 0, err
	}
	if step <= last {
		step = last + 1
	}
	if err := atomicfile.Write(l.path(".totp"), []byte(strconv.FormatInt(step, 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("ledger: record the TOTP step: %w", err)
	}
	return step, nil
}

// lastStep reads the last spent step; -1 when none is recorded. A file
// that does not read as a number (a crash cannot make one: writes are
// atomic) is treated as no record, since Okta still refuses a reused code.
func (l *Ledger) lastStep() (int64, error) {
	b, err := os.ReadFile(l.path(".totp"))
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: read the TOTP step: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return -1, nil
	}
	return n, nil
}

// Step is the TOTP time step t falls in: windows count from the Unix epoch.
func Step(t time.Time, period time.Duration) int64 {
	return t.Unix() / int64(period/time.Second)
}

// Start is when step begins.
func Start(step int64, period time.Duration) time.Time {
	return time.Unix(step*int64(period/time.Second), 0)
}
