package cli

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/oktafed/oktafed/internal/clock"
)

// testEnv is one test's environment. Commands read it through
// IOStreams.Getenv instead of the process's, so tests that each have one
// run in parallel (t.Setenv would forbid that).
type testEnv struct {
	mu   sync.Mutex
	vars map[string]string
	// clock, when set, is the commands' IOStreams.Clock.
	clock clock.Clock
}

func (e *testEnv) get(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vars[k]
}

// environ is the environment for a program a test starts: the process's
// (PATH, the Go caches) with the test's variables on top.
func (e *testEnv) environ() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Clone(origEnv)
	for _, k := range slices.Sorted(maps.Keys(e.vars)) {
		out = append(out, k+"="+e.vars[k])
	}
	return out
}

// testEnvs maps a test's name to its environment; subtests share their
// parent's.
var testEnvs sync.Map

// newTestEnv gives t (and its subtests) the environment vars.
func newTestEnv(t *testing.T, vars map[string]string) *testEnv {
	e := &testEnv{vars: maps.Clone(vars)}
	testEnvs.Store(t.Name(), e)
	t.Cleanup(func() { testEnvs.Delete(t.Name()) })
	return e
}

// envOf is the environment of t or its nearest parent; nil when none was
// made.
func envOf(t testing.TB) *testEnv {
	name := t.Name()
	for {
		if v, ok := testEnvs.Load(name); ok {
			return v.(*testEnv)
		}
		i := strings.LastIndex(name, "/")
		if i < 0 {
			return nil
		}
		name = name[:i]
	}
}

// clockOf is the clock t's commands run on; nil for the wall clock.
func clockOf(t testing.TB) clock.Clock {
	if e := envOf(t); e != nil {
		return e.clock
	}
	return nil
}

// getenvOf reads t's environment, or the process's when t has none.
func getenvOf(t testing.TB) func(string) string {
	if e := envOf(t); e != nil {
		return e.get
	}
	return func(k string) string { return origGetenv(k) }
}

// setenv is t.Setenv for the test's own environment: it sets k until t
// ends.
func setenv(t *testing.T, k, v string) {
	t.Helper()
	e := envOf(t)
	if e == nil {
		t.Fatalf("setenv %s: the test has no environment (call setupCLI first)", k)
	}
	e.mu.Lock()
	old, had := e.vars[k]
	e.vars[k] = v
	e.mu.Unlock()
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if had {
			e.vars[k] = old
		} else {
			delete(e.vars, k)
		}
	})
}
