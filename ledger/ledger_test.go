package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/okta"
)

const seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func open(t *testing.T, dir string) *Ledger {
	t.Helper()
	l, err := Open(dir, "https://Example.okta.com/", "Demo@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Several processes (each its own Ledger, so its own file locks) reserving
// at once never get the same step, and never one before the current.
func TestReserveHandsOutEachStepOnce(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_700_000_010, 0)
	const n = 8
	steps := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := open(t, dir).Reserve(context.Background(), now, 30*time.Second, false)
			if err != nil {
				t.Error(err)
			}
			steps[i] = s
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, s := range steps {
		if seen[s] || s < Step(now, 30*time.Second) || s >= Step(now, 30*time.Second)+n {
			t.Fatalf("steps %v: duplicate or out of range", steps)
		}
		seen[s] = true
	}
	// A later call in a later window takes that window, not the next
	// unreserved one far ahead.
	later := now.Add(10 * time.Minute)
	if s, _ := open(t, dir).Reserve(context.Background(), later, 30*time.Second, false); s != Step(later, 30*time.Second) {
		t.Fatalf("later reserve got %d, want %d", s, Step(later, 30*time.Second))
	}
}

// The files hold neither the user, the org, the seed nor a code.
func TestLedgerFilesHoldNoSecret(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	tp := &TOTP{Seed: seed, Ledger: open(t, dir), Clock: clk, Sleep: func(ctx context.Context, d time.Duration) error { clk.Advance(d); return nil }}
	code, err := tp.Code(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := tp.Ledger.Lock(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Fatal("no ledger files")
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		for _, s := range []string{seed, code, "demo", "example", "okta"} {
			if strings.Contains(strings.ToLower(e.Name()+string(b)), strings.ToLower(s)) {
				t.Errorf("%s holds %q", e.Name(), s)
			}
		}
		if fi, _ := e.Info(); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", e.Name(), fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode().Perm())
	}
}

func want(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPSpendsEachWindowOnceAndWaitsVisibly(t *testing.T) {
	dir := t.TempDir()
	const b = 1_699_999_980     // a window starts here
	start := time.Unix(b+10, 0) // 20 s left in its window
	clk := clock.NewFake(start)
	var slept time.Duration
	var told []time.Time
	mk := func() *TOTP {
		return &TOTP{Seed: seed, Ledger: open(t, dir), Clock: clk,
			Sleep:   func(ctx context.Context, d time.Duration) error { slept += d; clk.Advance(d); return nil },
			Waiting: func(u time.Time) { told = append(told, u) }}
	}
	c1, err := mk().Code(context.Background())
	if err != nil || c1 != want(t, start) || slept != 0 || len(told) != 0 {
		t.Fatalf("first code %q err %v slept %v told %v", c1, err, slept, told)
	}
	// A second sign-in in the same window (another process: another
	// TOTP value) waits for the next window and says until when.
	c2, err := mk().Code(context.Background())
	next := time.Unix(b+30, 0)
	if err != nil || c2 != want(t, next) || c2 == c1 || slept != 20*time.Second || len(told) != 1 || !told[0].Equal(next) {
		t.Fatalf("second code %q err %v slept %v told %v", c2, err, slept, told)
	}
	// Less than MinValidity left: the next window, even if unspent.
	clk.Set(time.Unix(b+30*10+27, 0))
	c3, err := mk().Code(context.Background())
	if err != nil || c3 != want(t, time.Unix(b+30*11, 0)) {
		t.Fatalf("late code %q err %v", c3, err)
	}
}

func TestAnswerNeverBlamesTheSeedForAUsedCode(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_010, 0))
	tp := &TOTP{Seed: seed, Ledger: open(t, t.TempDir()), Clock: clk, Sleep: func(ctx context.Context, d time.Duration) error { clk.Advance(d); return nil }}
	f := okta.Factor{Kind: okta.KindTOTP}
	c1, err := tp.Answer(context.Background(), okta.CodePrompt{Factor: f, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Used elsewhere (the phone's app): the next window's code, no blame.
	used := &okta.Error{Status: 403, Code: "E0000082"}
	c2, err := tp.Answer(context.Background(), okta.CodePrompt{Factor: f, Attempt: 2, Problem: used})
	if err != nil || c2 == c1 {
		t.Fatalf("after a used code: %q, %v", c2, err)
	}
	// Wrong: the seed or the clock, and the message says so.
	wrong := &okta.Error{Status: 403, Code: "E0000068"}
	_, err = tp.Answer(context.Background(), okta.CodePrompt{Factor: f, Attempt: 2, Problem: wrong})
	if !errors.Is(err, ErrSeedRefused) || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("after a wrong code: %v", err)
	}
	if strings.Contains(err.Error(), seed) {
		t.Fatal("the error holds the seed")
	}
}

func TestTOTPBadSeeds(t *testing.T) {
	for _, s := range []string{"", "   ", "otpauth://hotp/x?secret=AAAA", "not base32 !!"} {
		tp := &TOTP{Seed: s, Ledger: open(t, t.TempDir())}
		if _, err := tp.Code(context.Background()); err == nil {
			t.Errorf("seed %q: no error", s)
		} else if s != "" && strings.Contains(err.Error(), strings.TrimSpace(s)) && strings.TrimSpace(s) != "" {
			t.Errorf("seed %q echoed in %v", s, err)
		}
	}
}

func TestLockWaitsForTheHolder(t *testing.T) {
	dir := t.TempDir()
	unlock, err := open(t, dir).Lock(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		u, err := open(t, dir).Lock(context.Background(), func() { close(waited) })
		if err == nil {
			u()
		}
		got <- err
	}()
	<-waited
	select {
	case <-got:
		t.Fatal("second lock taken while the first is held")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	unlock, _ = open(t, dir).Lock(context.Background(), nil)
	defer unlock()
	if _, err := open(t, dir).Lock(ctx, nil); err == nil {
		t.Fatal("lock taken past a deadline")
	}
}

func TestKeyIgnoresCaseAndSlash(t *testing.T) {
	if Key("https://x.okta.com/", "A@b.c") != Key("https://X.okta.com", "a@b.c") || Key("https://x.okta.com", "a") == Key("https://x.okta.com", "b") {
		t.Fatal("key")
	}
}

// Without a ledger (no writable state directory) one TOTP value still
// never sends the same window's code twice.
func TestTOTPWithoutLedger(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_699_999_980+5, 0))
	tp := &TOTP{Seed: seed, Clock: clk, Sleep: func(ctx context.Context, d time.Duration) error { clk.Advance(d); return nil }}
	c1, err := tp.Code(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := tp.Code(context.Background())
	if err != nil || c1 == c2 || c2 != want(t, time.Unix(1_699_999_980+30, 0)) {
		t.Fatalf("codes %q then %q (%v)", c1, c2, err)
	}
}
