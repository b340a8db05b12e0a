package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/otpseed"
	"github.com/oktafed/oktafed/okta"
)

// MinValidity is how long a code must stay valid when it is computed: a
// code with less of its window left could expire on the way to Okta, so
// the next window's is used instead.
const MinValidity = okta.TOTPMinValidity

// TOTP answers Okta's TOTP challenges from a seed, each code for a time
// step its ledger reserved, so no two sign-ins on this machine send the
// same code. Use Answer as okta.MFA.Code (with okta.MFA.TOTPSeed empty).
type TOTP struct {
	// Seed is the base32 secret or otpauth:// URL of the user's factor.
	Seed string
	// Ledger records the spent steps across processes. nil keeps them in
	// this value only (when no state directory is writable).
	Ledger *Ledger
	// Clock tells time (any value with a Now method); the wall clock when
	// nil.
	Clock interface{ Now() time.Time }
	// Sleep waits for d or until ctx is done; a wait on Clock when nil
	// (a timer for the wall clock, as clock.Sleep).
	Sleep func(ctx context.Context, d time.Duration) error
	// Waiting, when set, is told that the code must wait for a later
	// window, and when that window begins, so a person is not left
	// staring at a silent terminal for up to 30 seconds.
	Waiting func(until time.Time)

	spent int64 // last step used, when Ledger is nil
}

// ErrSeedRefused means Okta refused as wrong (not as already used) a code
// computed from the seed.
var ErrSeedRefused = errors.New("okta refused the code computed from the TOTP seed as wrong")

// Answer is an okta.MFA.Code callback for a TOTP factor. A code Okta
// refused as already used (E0000082, say by the authenticator app on a
// phone) is followed by the next window's; a code refused as wrong means
// the seed or this machine's clock is off, and says so.
func (t *TOTP) Answer(ctx context.Context, p okta.CodePrompt) (string, error) {
	if p.Attempt > 1 && !Used(p.Problem) {
		return "", fmt.Errorf("%w: check that the seed belongs to this user's authenticator and that this computer's clock is right (%v)", ErrSeedRefused, p.Problem)
	}
	return t.Code(ctx)
}

// Used reports whether err is Okta refusing a code that was already used.
func Used(err error) bool {
	var oe *okta.Error
	return errors.As(err, &oe) && oe.Code == "E0000082"
}

// Code reserves the next unspent time step and returns its code, waiting
// for the step to begin when it lies ahead.
func (t *TOTP) Code(ctx context.Context) (string, error) {
	seed, err := otpseed.Parse(t.Seed)
	if err != nil {
		return "", err
	}
	period := seed.Period()
	clk := clock.Or(t.Clock)
	now := clk.Now()
	left := Start(Step(now, period)+1, period).Sub(now)
	var step int64
	if t.Ledger != nil {
		if step, err = t.Ledger.Reserve(ctx, now, period, left < MinValidity); err != nil {
			return "", err
		}
	} else {
		step = max(Step(now, period), t.spent+1)
		if left < MinValidity && step == Step(now, period) {
			step++
		}
		t.spent = step
	}
	at := Start(step, period)
	if wait := at.Sub(now); wait > 0 {
		if t.Waiting != nil {
			t.Waiting(at)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return "", err
		}
	}
	return seed.Code(at)
}

func (t *TOTP) sleep(ctx context.Context, d time.Duration) error {
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	return clock.Sleep(ctx, clock.Or(t.Clock), d)
}
