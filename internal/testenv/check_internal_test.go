package testenv

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// recordingTB stands in for a test so Unavailable's choice between
// skipping and failing can be observed without ending the real test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recordingTB in its own goroutine, since Skipf and
// Fatalf end the goroutine as the real ones do.
func run(f func(tb testing.TB)) *recordingTB {
	r := &recordingTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestCheckMissingSkipsLocally(t *testing.T) {
	t.Setenv("CI", "")
	r := run(func(tb testing.TB) { check(tb, "Thing", missing("thing not found")) })
	if r.skipped == "" || r.failed != "" {
		t.Fatalf("skipped %q failed %q, want a skip", r.skipped, r.failed)
	}
}

func TestCheckMissingFailsInCI(t *testing.T) {
	t.Setenv("CI", "true")
	r := run(func(tb testing.TB) { check(tb, "Thing", fmt.Errorf("start: %w", missing("thing not found"))) })
	if r.failed == "" || r.skipped != "" {
		t.Fatalf("skipped %q failed %q, want a failure", r.skipped, r.failed)
	}
}

func TestCheckOtherErrorsFail(t *testing.T) {
	t.Setenv("CI", "")
	r := run(func(tb testing.TB) { check(tb, "Thing", errors.New("broken")) })
	if r.failed == "" {
		t.Fatal("a start failure that is not a missing program did not fail the test")
	}
}

func TestAddrInUse(t *testing.T) {
	for _, log := range []string{
		`LOG:  could not bind IPv4 address "127.0.0.1": Address already in use`,
		`[ERROR] Can't start server: Bind on TCP/IP port. Got error: 98: Address already in use`,
		`# Warning: Could not create server TCP listening socket 127.0.0.1:6379: bind: Address already in use`,
	} {
		if !addrInUse(log) {
			t.Errorf("addrInUse(%q) = false", log)
		}
	}
}
