package clock

import (
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
