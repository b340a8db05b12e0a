// Package clock holds the time source that every time-dependent part of
// oktafed takes as a dependency, so tests can move time instead of waiting.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the current time.
type Clock interface {
	Now() time.Time
}

// Waiter is a Clock that can also wait: System waits on the wall clock,
// Fake until it is moved past the deadline.
type Waiter interface {
	Clock
	// After sends the time on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

// System is the wall clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// After is time.After.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Or returns c, or the wall clock when c is nil. Constructors use it so a
// zero-valued option means "real time".
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}

// After waits d on c when c can wait (a Fake in tests), else on the wall
// clock: a clock that only tells time still gets real waits.
func After(c Clock, d time.Duration) <-chan time.Time {
	if w, ok := c.(Waiter); ok {
		return w.After(d)
	}
	return time.After(d)
}

// Sleep waits d on c (see After), or until ctx is done.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-After(c, d):
		return nil
	}
}

// Fake is a manually advanced clock for tests. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	t       time.Time
	auto    bool
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a Fake clock that reads t until moved.
func NewFake(t time.Time) *Fake { return &Fake{t: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// After returns a channel that receives the fake time once the clock has
// been moved d past now. With AutoAdvance the clock moves at once, so code
// that sleeps runs without waiting while time passes as it expects.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	at := f.t.Add(d)
	if f.auto && at.After(f.t) {
		f.t = at
		f.fireLocked()
	}
	if !at.After(f.t) {
		ch <- f.t
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: at, ch: ch})
	return ch
}

// AutoAdvance makes every After (and so every Sleep) move the clock by its
// duration at once instead of waiting for Advance.
func (f *Fake) AutoAdvance(on bool) {
	f.mu.Lock()
	f.auto = on
	f.mu.Unlock()
}

// Waiters is how many After channels have not fired yet, so a test can
// tell that the code under test is waiting before it moves the clock.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Advance moves the clock forward by d, firing the waits it passes.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.fireLocked()
	f.mu.Unlock()
}

// Set moves the clock to t, firing the waits it passes.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.fireLocked()
	f.mu.Unlock()
}

func (f *Fake) fireLocked() {
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.t) {
			kept = append(kept, w)
			continue
		}
		w.ch <- f.t
	}
	f.waiters = kept
}
