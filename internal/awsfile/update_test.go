package awsfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func setKey(section, key, value string) func(*File) error {
	return func(f *File) error {
		s, err := f.AddSection(section)
		if err != nil {
			return err
		}
		return s.Set(key, value)
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestUpdateCreatesPrivateDirAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", ".aws", "credentials")
	if err := Update(path, setKey("dev", "aws_access_key_id", "AKID")); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, filepath.Dir(path)); got != 0o700 {
		t.Errorf("dir mode = %v, want 0700", got)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("file mode = %v, want 0600", got)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "[dev]\naws_access_key_id = AKID\n" {
		t.Errorf("file = %q", data)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestUpdateTightensLooseMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte("[a]\nk = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Update(path, setKey("a", "k", "2")); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, path); got != 0o600 {
		t.Errorf("mode = %v, want 0600", got)
	}
}

func TestUpdateEditsSymlinkTargetAndKeepsLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "aws-credentials")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("# mine\n[a]\nk = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "credentials")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Update(link, setKey("a", "k", "2")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(link)
	if err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link was replaced by a regular file")
	}
	data, _ := os.ReadFile(target)
	if string(data) != "# mine\n[a]\nk = 2\n" {
		t.Fatalf("target = %q", data)
	}

	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := Update(dangling, setKey("a", "k", "1")); err == nil || !strings.Contains(err.Error(), "missing file") {
		t.Fatalf("dangling link: err = %v", err)
	}
}

func TestUpdateLeavesFileAloneOnError(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, src string
		fn        func(*File) error
		want      string
	}{
		{"file does not parse", "[a]\nk = 1\nnot a setting\n", setKey("a", "k", "2"), ":3: "},
		{"callback fails", "[a]\nk = 1\n", func(f *File) error {
			f.Section("a").Set("k", "2")
			return errors.New("callback said no")
		}, "callback said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Update(path, tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			data, _ := os.ReadFile(path)
			if string(data) != tt.src {
				t.Fatalf("file changed to %q", data)
			}
		})
	}
}

func TestUpdateWithoutChangesDoesNotRewrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte("[a]\nk = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := Update(path, setKey("a", "k", "1")); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) || after.Mode().Perm() != 0o644 {
		t.Fatalf("an edit that changed nothing rewrote the file")
	}
	missing := filepath.Join(dir, "absent")
	if err := Update(missing, func(*File) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a no-op update created the file")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("loading a directory: err = %v", err)
	}
}

// Environment of the child processes TestConcurrentUpdates starts.
const (
	helperPath   = "AWSFILE_TEST_HELPER_PATH"
	helperWorker = "AWSFILE_TEST_HELPER_WORKER"
	helperCount  = "AWSFILE_TEST_HELPER_COUNT"
)

// increment is one unit of work for the concurrency test: bump the worker's
// own counter and the shared one in a single locked edit, so a lost update
// shows up as a total that does not add up.
func increment(path string, worker int) error {
	return Update(path, func(f *File) error {
		for _, sk := range [][2]string{{fmt.Sprintf("worker-%d", worker), "count"}, {"shared", "total"}} {
			s, err := f.AddSection(sk[0])
			if err != nil {
				return err
			}
			v, _ := s.Get(sk[1])
			n, _ := strconv.Atoi(v)
			if err := s.Set(sk[1], strconv.Itoa(n+1)); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestHelperUpdater is not a test: TestConcurrentUpdates runs the test
// binary again with this test selected to get a separate process.
func TestHelperUpdater(t *testing.T) {
	path := os.Getenv(helperPath)
	if path == "" {
		t.Skip("helper process for TestConcurrentUpdates")
	}
	worker, _ := strconv.Atoi(os.Getenv(helperWorker))
	count, _ := strconv.Atoi(os.Getenv(helperCount))
	for i := 0; i < count; i++ {
		if err := increment(path, worker); err != nil {
			t.Fatalf("worker %d update %d: %v", worker, i, err)
		}
	}
}

func TestConcurrentUpdates(t *testing.T) {
	const (
		goroutines = 8
		processes  = 8
		total      = 1000
	)
	workers := goroutines + processes
	share := func(w int) int {
		n := total / workers
		if w < total%workers {
			n++
		}
		return n
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	keep := "# hand-written, must survive\r\n[keep]\r\naws_access_key_id = AKIDKEEP\r\n  ; odd comment\r\n\r\n"
	if err := os.WriteFile(path, []byte(keep), 0o600); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < goroutines; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < share(w); i++ {
				if err := increment(path, w); err != nil {
					errs <- fmt.Errorf("goroutine %d: %w", w, err)
					return
				}
			}
		}()
	}
	for w := goroutines; w < workers; w++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperUpdater$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			helperPath+"="+path,
			helperWorker+"="+strconv.Itoa(w),
			helperCount+"="+strconv.Itoa(share(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("process %d: %v\n%s", w, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), keep) {
		t.Fatalf("untouched section changed:\n%q", data)
	}
	f, err := Parse(path, data)
	if err != nil {
		t.Fatalf("file corrupted: %v", err)
	}
	if got, _ := f.Section("shared").Get("total"); got != strconv.Itoa(total) {
		t.Errorf("shared total = %s, want %d", got, total)
	}
	for w := 0; w < workers; w++ {
		sec := f.Section(fmt.Sprintf("worker-%d", w))
		if sec == nil {
			t.Errorf("worker %d left no section", w)
			continue
		}
		got, _ := sec.Get("count")
		if got != strconv.Itoa(share(w)) {
			t.Errorf("worker %d count = %s, want %d", w, got, share(w))
		}
	}
}

// A file someone made read-only is refused with a message, and neither it
// nor its mode changes.
func TestUpdateRefusesReadOnlyFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Log("running as root: the mode bits still decide, as they should")
	}
	path := filepath.Join(t.TempDir(), "credentials")
	orig := []byte("[mine]\naws_access_key_id = AKIDKEEP\n")
	if err := os.WriteFile(path, orig, 0o444); err != nil {
		t.Fatal(err)
	}
	err := Update(path, setKey("okta-x", "aws_access_key_id", "ASIANEW"))
	if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Update on a 0444 file: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(orig) {
		t.Fatalf("read-only file changed to %q", got)
	}
	if got := mode(t, path); got != 0o444 {
		t.Fatalf("mode changed to %v", got)
	}
}

// Temporary files a killed write left beside the file hold live keys; the
// next update removes them, and leaves files that only look similar.
func TestUpdateRemovesTempFilesOfKilledWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte("[a]\nk = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stale := []string{".credentials.tmp-123456", ".credentials.tmp-999"}
	for _, n := range stale {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("[okta]\naws_secret_access_key = LIVE\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := []string{"credentials.tmp-1", ".config.tmp-1", ".credentials.bak"}
	for _, n := range keep {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Update(path, setKey("a", "k", "2")); err != nil {
		t.Fatal(err)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("stale %s still there (%v)", n, err)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
}

// Appending a profile to a file without a final newline keeps the end as
// it was, byte for byte.
func TestUpdateKeepsMissingFinalNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte("[mine]\naws_access_key_id = AKIDKEEP"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Update(path, func(f *File) error {
		s, err := f.AddSection("okta-x")
		if err != nil {
			return err
		}
		return s.Set("aws_access_key_id", "ASIANEW")
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "[mine]\naws_access_key_id = AKIDKEEP\n\n[okta-x]\naws_access_key_id = ASIANEW"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
