package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/99designs/keyring"
)

// Environment variables Open reads.
const (
	// EnvBackend forces one backend: keychain, wincred, secret-service,
	// kwallet, pass, keyctl or file.
	EnvBackend = "OKTAFED_KEYRING_BACKEND"
	// EnvPassword is the passphrase of the encrypted-file backend, for
	// machines without a keyring and without a person to type it (CI).
	EnvPassword = "OKTAFED_KEYRING_PASSWORD"
	// EnvFileDir overrides where the encrypted-file backend keeps items.
	EnvFileDir = "OKTAFED_KEYRING_DIR"
)

// defaultBackends is the order Open tries: the OS keyrings, then the
// encrypted file. keyctl (lost at logout) and pass (needs GPG set up) are
// used only when asked for by name.
var defaultBackends = []keyring.BackendType{
	keyring.KeychainBackend,
	keyring.WinCredBackend,
	keyring.SecretServiceBackend,
	keyring.KWalletBackend,
	keyring.FileBackend,
}

// Options configures Open. The zero value is the normal setting.
type Options struct {
	// ServiceName groups the items in the OS keyring; "oktafed" when empty.
	ServiceName string
	// Backend forces a backend, as EnvBackend does; the variable wins.
	Backend string
	// FileDir is where the file backend keeps its encrypted items.
	// Default: $OKTAFED_KEYRING_DIR, else $XDG_DATA_HOME/oktafed/keyring,
	// else ~/.local/share/oktafed/keyring.
	FileDir string
	// Passphrase asks the user for the file backend's passphrase when
	// EnvPassword is not set. The CLI supplies it; nil means the file
	// backend fails with a message saying how to set one.
	Passphrase func(prompt string) (string, error)
	// Getenv reads the environment; os.Getenv when nil. Tests replace it.
	Getenv func(string) string
}

// ErrNoPassphrase means the file backend needs a passphrase and there is
// neither EnvPassword nor a prompt to get one.
var ErrNoPassphrase = errors.New("keystore: no passphrase for the file keyring")

// ErrWrongPassphrase means the file keyring's items were saved under
// another passphrase than the one given: nothing is read or written, so a
// mistyped passphrase never starts a second keyring beside the first.
var ErrWrongPassphrase = errors.New("keystore: wrong passphrase for the file keyring")

// checkItem names the file keyring's check value: written with the first
// item under the passphrase in use, read back before any other item, so a
// different passphrase is caught before it can read nothing or write
// something only it can read. It does not parse as a Key, so Keys skips it.
const checkItem = "oktafed-passphrase-check"

// checkValue is the check item's content; only its decryption matters.
const checkValue = "oktafed file keyring"

// Keyring is a Store backed by github.com/99designs/keyring.
type Keyring struct {
	kr      keyring.Keyring
	backend keyring.BackendType
	dir     string

	// checked holds the outcome of the file backend's passphrase check,
	// made once before the first read or write.
	checkOnce sync.Once
	checked   error
}

// Open opens the first keyring that works here: the OS keyring (macOS
// Keychain, Windows Credential Manager, Secret Service, KWallet), else the
// encrypted-file backend.
func Open(opts Options) (*Keyring, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	service := opts.ServiceName
	if service == "" {
		service = "oktafed"
	}
	dir, err := fileDir(opts, getenv)
	if err != nil {
		return nil, err
	}

	candidates := defaultBackends
	forced := strings.TrimSpace(getenv(EnvBackend))
	if forced == "" {
		forced = strings.TrimSpace(opts.Backend)
	}
	if forced != "" {
		b := keyring.BackendType(strings.ToLower(forced))
		if !slices.Contains(keyring.AvailableBackends(), b) {
			var names []string
			for _, a := range keyring.AvailableBackends() {
				names = append(names, string(a))
			}
			return nil, fmt.Errorf("keystore: keyring backend %q is not available on this system (%s or option); choose one of: %s", forced, EnvBackend, strings.Join(names, ", "))
		}
		candidates = []keyring.BackendType{b}
	}

	passphrase := func(prompt string) (string, error) {
		if p := getenv(EnvPassword); p != "" {
			return p, nil
		}
		if opts.Passphrase != nil {
			return opts.Passphrase(prompt)
		}
		return "", fmt.Errorf("%w: the encrypted file keyring in %s needs one; set %s, or run interactively", ErrNoPassphrase, dir, EnvPassword)
	}
	cfg := keyring.Config{
		ServiceName:              service,
		KeychainTrustApplication: true,
		FileDir:                  dir,
		FilePasswordFunc:         passphrase,
		KWalletAppID:             service,
		KWalletFolder:            service,
		LibSecretCollectionName:  "login",
		PassPrefix:               service,
		WinCredPrefix:            service,
	}
	available := keyring.AvailableBackends()
	var tried []string
	for _, b := range candidates {
		if !slices.Contains(available, b) {
			continue
		}
		if b == keyring.FileBackend {
			// Create the directory ourselves so it is private from the start.
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("keystore: create %s: %w", dir, err)
			}
			if err := os.Chmod(dir, 0o700); err != nil {
				return nil, fmt.Errorf("keystore: make %s private: %w", dir, err)
			}
		}
		c := cfg
		c.AllowedBackends = []keyring.BackendType{b}
		kr, err := keyring.Open(c)
		if err != nil {
			tried = append(tried, string(b))
			continue
		}
		return &Keyring{kr: kr, backend: b, dir: dir}, nil
	}
	return nil, fmt.Errorf("keystore: no keyring backend could be opened (tried %s): set %s=file to use the encrypted file", strings.Join(tried, ", "), EnvBackend)
}

func fileDir(opts Options, getenv func(string) string) (string, error) {
	if opts.FileDir != "" {
		return opts.FileDir, nil
	}
	if d := getenv(EnvFileDir); d != "" {
		return d, nil
	}
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "oktafed", "keyring"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("keystore: find a directory for the file keyring: %w (set %s)", err, EnvFileDir)
		}
	}
	return filepath.Join(home, ".local", "share", "oktafed", "keyring"), nil
}

// Backend names the backend in use, e.g. "secret-service" or "file".
func (k *Keyring) Backend() string { return string(k.backend) }

// Unlock checks the file keyring's passphrase against the check value
// (writing it when the keyring has none and every existing item reads
// under this passphrase). Get and Set call it; other backends need
// nothing. It returns an error matching ErrWrongPassphrase or
// ErrNoPassphrase when the keyring cannot be opened with what was given.
func (k *Keyring) Unlock() error {
	if k.backend != keyring.FileBackend {
		return nil
	}
	k.checkOnce.Do(func() { k.checked = k.checkPassphrase() })
	return k.checked
}

func (k *Keyring) checkPassphrase() error {
	wrong := func() error {
		return fmt.Errorf("%w in %s: its items were saved under another one; give that passphrase (%s or the prompt), or remove %s to start over without the saved passwords, seeds and sessions", ErrWrongPassphrase, k.dir, EnvPassword, k.dir)
	}
	it, err := k.kr.Get(checkItem)
	switch {
	case err == nil:
		if string(it.Data) != checkValue {
			return wrong()
		}
		return nil
	case errors.Is(err, ErrNoPassphrase):
		return err
	case !errors.Is(err, keyring.ErrKeyNotFound):
		if _, ok := err.(*fs.PathError); ok {
			return fmt.Errorf("keystore: read the file keyring in %s: %w", k.dir, err)
		}
		return wrong()
	}
	// No check value yet: a keyring from before it existed, or a new one.
	// Every item it holds must read under this passphrase before the
	// check value is written with it.
	names, err := k.kr.Keys()
	if err != nil {
		return fmt.Errorf("keystore: list the file keyring in %s: %w", k.dir, err)
	}
	for _, n := range names {
		if _, err := ParseKey(n); err != nil {
			continue
		}
		if _, err := k.kr.Get(n); err != nil {
			if errors.Is(err, ErrNoPassphrase) {
				return err
			}
			if errors.Is(err, keyring.ErrKeyNotFound) {
				continue
			}
			return wrong()
		}
	}
	if err := k.kr.Set(keyring.Item{Key: checkItem, Data: []byte(checkValue), Label: "oktafed passphrase check"}); err != nil {
		return fmt.Errorf("keystore: write the file keyring in %s: %w", k.dir, err)
	}
	return nil
}

// Get implements Store.
func (k *Keyring) Get(key Key) (Secret, error) {
	if err := key.Validate(); err != nil {
		return Secret{}, err
	}
	if k.backend == keyring.FileBackend {
		// A missing item needs no passphrase (the file backend reads none
		// for it either), so "nothing saved" stays what it is.
		if _, err := k.kr.GetMetadata(key.String()); errors.Is(err, keyring.ErrKeyNotFound) {
			return Secret{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		if err := k.Unlock(); err != nil {
			return Secret{}, err
		}
	}
	it, err := k.kr.Get(key.String())
	if err != nil {
		if errors.Is(err, keyring.ErrKeyNotFound) {
			return Secret{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return Secret{}, k.wrap("read", key, err)
	}
	return NewSecret(string(it.Data)), nil
}

// Set implements Store.
func (k *Keyring) Set(key Key, value Secret) error {
	if err := key.Validate(); err != nil {
		return err
	}
	if err := k.Unlock(); err != nil {
		return err
	}
	err := k.kr.Set(keyringItem(key, value.Reveal()))
	if err != nil {
		return k.wrap("store", key, err)
	}
	return nil
}

// Remove implements Store.
func (k *Keyring) Remove(key Key) error {
	if err := key.Validate(); err != nil {
		return err
	}
	err := k.kr.Remove(key.String())
	if err == nil || errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return k.wrap("remove", key, err)
}

// Keys lists oktafed's items in the keyring.
func (k *Keyring) Keys() ([]Key, error) {
	names, err := k.kr.Keys()
	if err != nil {
		return nil, fmt.Errorf("keystore: list %s keyring: %w", k.backend, err)
	}
	var keys []Key
	for _, n := range names {
		if key, err := ParseKey(n); err == nil {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// wrap explains backend errors. The file backend's decryption failure
// almost always means a wrong passphrase.
func (k *Keyring) wrap(op string, key Key, err error) error {
	if errors.Is(err, ErrNoPassphrase) || errors.Is(err, ErrWrongPassphrase) {
		return err
	}
	if k.backend == keyring.FileBackend && op == "read" && !errors.Is(err, fs.ErrPermission) {
		if _, ok := err.(*fs.PathError); !ok {
			return fmt.Errorf("keystore: cannot decrypt %s from the file keyring in %s: wrong passphrase (%s)? (%v)", key, k.dir, EnvPassword, err)
		}
	}
	return fmt.Errorf("keystore: %s %s in the %s keyring: %w", op, key, k.backend, err)
}

// keyringItem is the backend's item for key, as Set writes it.
func keyringItem(key Key, value string) keyring.Item {
	return keyring.Item{
		Key:         key.String(),
		Data:        []byte(value),
		Label:       fmt.Sprintf("oktafed %s (%s)", key.Kind, key.Profile),
		Description: "oktafed secret",
	}
}
