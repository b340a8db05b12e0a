package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeAdvances(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := NewFake(start)
	f.Advance(90 * time.Second)
	if got, want := f.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
	f.Set(start)
	if !f.Now().Equal(start) {
		t.Fatalf("Set did not move the clock")
	}
	if _, ok := Or(nil).(System); !ok {
		t.Fatalf("Or(nil) should be the system clock")
	}
	if Or(f) != Clock(f) {
		t.Fatalf("Or(f) should return f")
	}
}

func TestFakeAfterFiresWhenMovedPast(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := NewFake(start)
	ch := After(f, time.Minute)
	if f.Waiters() != 1 {
		t.Fatalf("%d waiters, want 1", f.Waiters())
	}
	f.Advance(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired before its time")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-ch:
		if !got.Equal(start.Add(time.Minute)) {
			t.Fatalf("fired with %v", got)
		}
	default:
		t.Fatal("did not fire when moved past")
	}
	if f.Waiters() != 0 {
		t.Fatalf("%d waiters left", f.Waiters())
	}
	select {
	case <-f.After(0):
	default:
		t.Fatal("a zero wait did not fire at once")
	}
}

func TestFakeAutoAdvanceSleepsWithoutWaiting(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := NewFake(start)
	f.AutoAdvance(true)
	before := time.Now()
	for range 10 {
		if err := Sleep(context.Background(), f, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.Now(); !got.Equal(start.Add(10 * time.Hour)) {
		t.Fatalf("clock at %v after ten hour-long sleeps", got)
	}
	if time.Since(before) > time.Second {
		t.Fatal("auto-advanced sleeps waited in real time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.AutoAdvance(false)
	if err := Sleep(ctx, f, time.Hour); err == nil {
		t.Fatal("a sleep with a done context returned nil")
	}
}
