package federation_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/okta"
)

// Force signs in again, but a failed sign-in leaves the saved session; a
// successful one replaces it.
func TestForceKeepsTheSessionUntilASignInSucceeds(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.login.Run(ctx, "/Admin$/", nil, 0); err != nil {
		t.Fatal(err)
	}
	sid, _, _ := r.sessions.LoadSession(ctx, "default")
	r.session.Force = true
	r.password.Password = func(context.Context) (string, error) { return "mistyped", nil }
	if _, err := r.login.Run(ctx, "/Admin$/", nil, 0); !errors.Is(err, okta.ErrInvalidCredentials) {
		t.Fatalf("forced login with a wrong password: %v", err)
	}
	if got, _, _ := r.sessions.LoadSession(ctx, "default"); got != sid {
		t.Fatal("a failed forced sign-in replaced or removed the session")
	}
	r.password.Password = func(context.Context) (string, error) { return demoPass, nil }
	r.password.MFA = &okta.MFA{Preferred: "push"} // this window's TOTP code is spent
	before := r.counter.authn.Load()
	if _, err := r.login.Run(ctx, "/Admin$/", nil, 0); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := r.sessions.LoadSession(ctx, "default"); got == sid || got == "" || r.counter.authn.Load() == before {
		t.Fatal("a forced login did not sign in and replace the session")
	}
}

// With a sign-in lock, a forced login that waited for another one reuses
// the session that one saved instead of signing in again.
func TestSignInLockReusesTheSessionSavedMeanwhile(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	var mu sync.Mutex
	waiting := make(chan struct{})
	r.session.Force = true
	r.session.Lock = func(ctx context.Context) (func(), error) {
		close(waiting)
		mu.Lock()
		return mu.Unlock, nil
	}
	// Another process holds the lock and signs in while this one waits.
	mu.Lock()
	done := make(chan error, 1)
	go func() {
		_, err := r.login.Run(ctx, "/Admin$/", nil, 0)
		done <- err
	}()
	<-waiting
	other := &federation.Session{App: r.app, SignIn: r.password}
	if _, err := other.Assertion(ctx); err != nil {
		t.Fatal(err)
	}
	signIns := r.counter.authn.Load()
	mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.counter.authn.Load() != signIns {
		t.Fatalf("the waiting login signed in again (%d sign-ins, want %d)", r.counter.authn.Load(), signIns)
	}
}
