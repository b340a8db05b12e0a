package awsfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/oktafed/oktafed/internal/atomicfile"
)

// CredentialsPath returns the shared credentials file the AWS CLI uses:
// $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials. getenv reads the
// environment (os.Getenv when nil), so tests and callers with an
// environment of their own need not change the process's.
func CredentialsPath(getenv func(string) string) (string, error) {
	return sharedPath(getenv, "AWS_SHARED_CREDENTIALS_FILE", "credentials")
}

// ConfigPath returns the shared config file the AWS CLI uses:
// $AWS_CONFIG_FILE, else ~/.aws/config; getenv as for CredentialsPath.
func ConfigPath(getenv func(string) string) (string, error) {
	return sharedPath(getenv, "AWS_CONFIG_FILE", "config")
}

func sharedPath(getenv func(string) string, env, base string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	home := func() (string, error) {
		if h := getenv("HOME"); h != "" {
			return h, nil
		}
		return os.UserHomeDir()
	}
	if p := getenv(env); p != "" {
		// The AWS CLI expands a leading ~ in these variables, so a value
		// copied from its docs works here too.
		if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~"+string(filepath.Separator)) {
			h, err := home()
			if err != nil {
				return "", fmt.Errorf("expand %s: %w", env, err)
			}
			p = filepath.Join(h, p[1:])
		}
		return p, nil
	}
	h, err := home()
	if err != nil {
		return "", fmt.Errorf("find the AWS %s file: %w (set %s to its path)", base, err, env)
	}
	return filepath.Join(h, ".aws", base), nil
}

// LockTimeout bounds how long Update waits for another process's edit.
// Edits take milliseconds, so a lock held this long is a stuck process.
var LockTimeout = 30 * time.Second

// Update edits the file at path under a lock: it takes path+".lock", reads
// and parses the file afresh (a missing file is empty), calls fn, and when
// fn succeeded and changed something replaces the file atomically with mode
// 0600. If path is a symbolic link the link stays and its target is edited.
// When fn fails, or the file does not parse, nothing is written and the
// error is returned.
func Update(path string, fn func(*File) error) error {
	return UpdateContext(context.Background(), path, fn)
}

// UpdateContext is Update with a context that bounds the wait for the lock.
func UpdateContext(ctx context.Context, path string, fn func(*File) error) error {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}

	lock := flock.New(target+".lock", flock.SetPermissions(0o600))
	lctx, cancel := context.WithTimeout(ctx, LockTimeout)
	defer cancel()
	ok, err := lock.TryLockContext(lctx, 5*time.Millisecond)
	if err != nil || !ok {
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("lock %s: another process has held %s.lock for over %s; if no oktafed or AWS tool is running, delete the lock file", path, filepath.Base(target), LockTimeout)
		}
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer lock.Unlock()

	// A write killed before its rename leaves a temporary copy holding
	// live keys; no write can be in progress while the lock is held.
	if err := atomicfile.RemoveStale(target); err != nil {
		return err
	}
	if st, err := os.Stat(target); err == nil && st.Mode().Perm()&0o200 == 0 {
		return fmt.Errorf("%s is read-only (mode %04o): oktafed does not replace a file someone protected; make it writable (chmod 600 %s) or set %s to another file", path, st.Mode().Perm(), path, envFor(target))
	}

	data, err := readCapped(target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := Parse(path, data)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	out := f.Bytes()
	if string(out) == string(data) {
		return nil
	}
	// Re-read what would be written and make sure the AWS CLI will see what
	// the edits meant; a mismatch is a bug here, and the old file is safer.
	back, err := Parse(path, out)
	if err != nil {
		return fmt.Errorf("awsfile: refusing to write %s: the edited file would not parse (%v)", path, err)
	}
	if !sameModel(f, back) {
		return fmt.Errorf("awsfile: refusing to write %s: the edited file would read back differently", path)
	}
	return writeAtomic(target, out)
}

// envFor names the variable that points the AWS tools at another file
// like the one at path.
func envFor(path string) string {
	if strings.Contains(filepath.Base(path), "config") {
		return "AWS_CONFIG_FILE"
	}
	return "AWS_SHARED_CREDENTIALS_FILE"
}

// resolve follows symbolic links (atomicfile.Resolve) so the edit
// replaces the real file and the link keeps pointing at it. A link to a
// missing file is refused: the user's layout is probably not what they
// think, and creating a file at the far end would hide that.
func resolve(path string) (string, error) {
	if path == "" {
		return "", errors.New("awsfile: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := atomicfile.Resolve(abs)
	if err != nil {
		return "", fmt.Errorf("follow symbolic link %s: %w", path, err)
	}
	if real != abs {
		if _, err := os.Stat(real); errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s is a symbolic link to a missing file: create the file it points to, or remove the link", path)
		}
	}
	return real, nil
}

// writeAtomic replaces target with data so that readers see the old file or
// the new one, never a mix, and a crash leaves one of the two on disk.
func writeAtomic(target string, data []byte) error {
	if err := atomicfile.Write(target, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return nil
}

// sameModel reports whether two files have the same sections, keys and
// values in the same order.
func sameModel(a, b *File) bool {
	if len(a.sections) != len(b.sections) {
		return false
	}
	for i, sa := range a.sections {
		sb := b.sections[i]
		if sa.name != sb.name {
			return false
		}
		ka, kb := sa.Keys(), sb.Keys()
		if len(ka) != len(kb) {
			return false
		}
		for j := range ka {
			va, _ := sa.Get(ka[j])
			vb, _ := sb.Get(kb[j])
			if ka[j] != kb[j] || va != vb {
				return false
			}
		}
	}
	return true
}
