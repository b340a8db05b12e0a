package dbauth

import (
	"os"
	"testing"
)

// TestMain keeps the hold-back book of refused sign-ins, which lives in
// the user's cache directory, in a directory of the test run's own, unless
// a test started this process as a helper with a directory to share.
func TestMain(m *testing.M) {
	if os.Getenv("OKTAFED_HOLDBACK_DIR") == "" {
		dir, err := os.MkdirTemp("", "dbauth-holdback-")
		if err != nil {
			panic(err)
		}
		os.Setenv("OKTAFED_HOLDBACK_DIR", dir)
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}
