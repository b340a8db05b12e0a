// Package atomicfile replaces files so that a reader, or a crash, sees
// either the old content or the new, never a mix or a truncated file.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces the file at path with data: it writes a temporary file in
// the same directory, syncs it, renames it over path and syncs the
// directory. The new file gets mode perm. When path is a symbolic link the
// link is kept and its target is replaced, so users who link their AWS files
// into a dotfiles repository keep the link.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	target, err := Resolve(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, tempPrefix(target)+"*")
	if err != nil {
		return fmt.Errorf("create temporary file beside %s: %w", target, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("set mode of %s: %w", tmp.Name(), err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("replace %s: %w", target, err)
	}
	return syncDir(dir)
}

// tempPrefix starts the names of Write's temporary files for target.
func tempPrefix(target string) string { return "." + filepath.Base(target) + ".tmp-" }

// RemoveStale deletes temporary files that a Write to path left behind
// when its process was killed between creating and renaming them. They
// hold whatever was being written (for the AWS credentials file, live
// keys), so they must not linger. Call it only while holding the lock
// that serialises writes to path, so no Write in progress loses its file.
func RemoveStale(path string) error {
	target, err := Resolve(path)
	if err != nil {
		return err
	}
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(target), globEscape(tempPrefix(target))+"*"))
	if err != nil {
		return err
	}
	var first error
	for _, m := range matches {
		if fi, err := os.Lstat(m); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(m); err != nil && !os.IsNotExist(err) && first == nil {
			first = fmt.Errorf("remove the stale temporary file %s: %w", m, err)
		}
	}
	return first
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Resolve follows symbolic links at path to the file an edit must replace,
// so the links stay and keep pointing at it. A link to a missing file
// resolves to that file's path (a write creates it); loops end in an error.
// It is the module's one symlink resolver: awsfile's edits use it too.
func Resolve(path string) (string, error) {
	for range 40 {
		fi, err := os.Lstat(path)
		if os.IsNotExist(err) {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return path, nil
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some file systems refuse to sync directories; the rename is already
	// done, so that is not worth failing the write for.
	_ = d.Sync()
	return nil
}
