package keystore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const plain = "hunter2-TOP-SECRET"

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(plain)
	holder := struct {
		Name   string
		Secret Secret
		Ptr    *Secret
	}{"x", s, &s}
	var shown []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		shown = append(shown, fmt.Sprintf(verb, s), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &s))
	}
	shown = append(shown, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString())
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("x", "secret", s, "holder", holder)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("x", "secret", s, "holder", holder)
	shown = append(shown, text.String(), js.String())
	b, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	shown = append(shown, string(b))
	for _, out := range shown {
		if strings.Contains(out, plain) || strings.Contains(out, fmt.Sprintf("%x", plain)) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != plain || s.IsZero() || !(Secret{}).IsZero() {
		t.Errorf("Reveal/IsZero wrong")
	}
	if got := fmt.Sprintf("%#v", s); got != "keystore.Secret{[redacted]}" {
		t.Errorf("%%#v = %q", got)
	}
}

func TestKeyNames(t *testing.T) {
	tests := []struct {
		key  Key
		name string
	}{
		{Key{"dev", KindPassword}, "oktafed:dev:password"},
		{Key{"a:b/c d", KindOktaSession}, "oktafed:a:b%2Fc%20d:okta-session"},
		{Key{"ünï", KindTOTPSeed}, "oktafed:%C3%BCn%C3%AF:totp-seed"},
	}
	for _, tt := range tests {
		if got := tt.key.String(); got != tt.name {
			t.Errorf("%+v.String() = %q, want %q", tt.key, got, tt.name)
		}
		back, err := ParseKey(tt.name)
		if err != nil || back != tt.key {
			t.Errorf("ParseKey(%q) = %+v, %v", tt.name, back, err)
		}
	}
	for _, bad := range []Key{{"", KindPassword}, {"p", ""}, {"p", "a:b"}, {"p", " x"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	for _, bad := range []string{"other:dev:password", "oktafed:dev", "oktafed:%zz:password"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}

// exercise runs the Store contract against s.
func exercise(t *testing.T, s Store) {
	t.Helper()
	k := Key{"dev", KindPassword}
	if _, err := s.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.Set(k, NewSecret(plain)); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(Key{"other", KindPassword}, NewSecret("other")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(k)
	if err != nil || got.Reveal() != plain {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if err := s.Set(k, NewSecret("replaced")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(k); got.Reveal() != "replaced" {
		t.Fatalf("Set did not replace")
	}
	if err := s.Remove(k); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(k); err != nil {
		t.Fatalf("removing a missing key: %v", err)
	}
	if _, err := s.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Remove: %v", err)
	}
	if got, _ := s.Get(Key{"other", KindPassword}); got.Reveal() != "other" {
		t.Fatalf("Remove touched another key")
	}
	if err := s.Set(Key{}, NewSecret("x")); err == nil {
		t.Fatalf("Set with an empty key succeeded")
	}
}

func TestMemoryStore(t *testing.T) {
	var m Memory
	exercise(t, &m)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := Key{fmt.Sprint("p", i), KindToken}
			for j := 0; j < 100; j++ {
				_ = m.Set(k, NewSecret("v"))
				_, _ = m.Get(k)
			}
		}()
	}
	wg.Wait()
	if n := len(m.Keys()); n != 9 {
		t.Fatalf("Keys() has %d entries, want 9", n)
	}
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestFileKeyring(t *testing.T) {
	dataHome := t.TempDir()
	vars := map[string]string{EnvBackend: "file", EnvPassword: "correct horse", "XDG_DATA_HOME": dataHome}
	k, err := Open(Options{Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	if k.Backend() != "file" {
		t.Fatalf("backend = %s", k.Backend())
	}
	exercise(t, k)

	dir := filepath.Join(dataHome, "oktafed", "keyring")
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("keyring dir %s: %v, mode %v; want 0700", dir, err, st.Mode().Perm())
	}
	if err := k.Set(Key{"dev", KindTOTPSeed}, NewSecret(plain)); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(data, []byte(plain)) {
			t.Errorf("%s holds the secret in clear text", e.Name())
		}
	}
	keys, err := k.Keys()
	if err != nil || len(keys) != 2 {
		t.Errorf("Keys() = %v, %v", keys, err)
	}

	// Another process with a wrong passphrase cannot read it, and says why.
	vars[EnvPassword] = "wrong"
	k2, err := Open(Options{Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k2.Get(Key{"dev", KindTOTPSeed})
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), plain) {
		t.Fatalf("wrong passphrase: err = %v", err)
	}

	// Without the variable the prompt callback supplies it.
	delete(vars, EnvPassword)
	prompted := ""
	k3, err := Open(Options{Getenv: env(vars), Passphrase: func(p string) (string, error) { prompted = p; return "correct horse", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k3.Get(Key{"dev", KindTOTPSeed}); err != nil || got.Reveal() != plain {
		t.Fatalf("Get via prompt = %v, %v", got, err)
	}
	if !strings.Contains(prompted, dir) {
		t.Errorf("prompt %q does not name the keyring", prompted)
	}

	// With neither, the error says what to set.
	k4, err := Open(Options{Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k4.Get(Key{"dev", KindTOTPSeed})
	if !errors.Is(err, ErrNoPassphrase) || !strings.Contains(err.Error(), EnvPassword) {
		t.Fatalf("no passphrase: err = %v", err)
	}
}

func TestOpenOptions(t *testing.T) {
	if _, err := Open(Options{Getenv: env(map[string]string{EnvBackend: "carrier-pigeon"})}); err == nil || !strings.Contains(err.Error(), "choose one of") {
		t.Fatalf("unknown backend: err = %v", err)
	}
	tests := []struct {
		name string
		opts Options
		vars map[string]string
		want string
	}{
		{"explicit dir", Options{FileDir: "/x/y"}, nil, "/x/y"},
		{"env dir", Options{}, map[string]string{EnvFileDir: "/e/d", "XDG_DATA_HOME": "/xdg"}, "/e/d"},
		{"xdg", Options{}, map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/h"}, "/xdg/oktafed/keyring"},
		{"relative xdg ignored", Options{}, map[string]string{"XDG_DATA_HOME": "rel", "HOME": "/h"}, "/h/.local/share/oktafed/keyring"},
	}
	for _, tt := range tests {
		got, err := fileDir(tt.opts, env(tt.vars))
		if err != nil || got != tt.want {
			t.Errorf("%s: fileDir = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	// The option forces a backend when the variable does not.
	dir := t.TempDir()
	k, err := Open(Options{Backend: "file", FileDir: dir, Getenv: env(map[string]string{EnvPassword: "p"})})
	if err != nil || k.Backend() != "file" {
		t.Fatalf("Open(Backend: file) = %v, %v", k, err)
	}
}

// A mistyped passphrase is answered "wrong passphrase" before anything is
// read or written: no item is saved under it, so the keyring never splits
// into halves that each passphrase reads only partly.
func TestFileKeyringRefusesAWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	open := func(pass string) *Keyring {
		t.Helper()
		k, err := Open(Options{Getenv: env(map[string]string{EnvBackend: "file", EnvPassword: pass, EnvFileDir: dir})})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if err := open("pp1").Set(Key{"dev", KindPassword}, NewSecret(plain)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)

	k := open("pp2")
	if _, err := k.Get(Key{"dev", KindOktaSession}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing item under another passphrase: %v, want not found (nothing to decrypt)", err)
	}
	_, err := k.Get(Key{"dev", KindPassword})
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), EnvPassword) {
		t.Fatalf("Get under pp2: %v, want wrong passphrase naming %s and %s", err, dir, EnvPassword)
	}
	if err := k.Set(Key{"dev", KindOktaSession}, NewSecret("sid")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Set under pp2: %v, want wrong passphrase", err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Fatalf("a wrong passphrase changed the keyring: %d files, had %d", len(after), len(before))
	}

	// A keyring written before the check value existed is checked through
	// its items, and gets the check value under the right passphrase.
	legacy := t.TempDir()
	k1, err := Open(Options{Getenv: env(map[string]string{EnvBackend: "file", EnvPassword: "pp1", EnvFileDir: legacy})})
	if err != nil {
		t.Fatal(err)
	}
	if err := k1.kr.Set(keyringItem(Key{"dev", KindTOTPSeed}, plain)); err != nil {
		t.Fatal(err)
	}
	k2, _ := Open(Options{Getenv: env(map[string]string{EnvBackend: "file", EnvPassword: "pp2", EnvFileDir: legacy})})
	if err := k2.Set(Key{"dev", KindOktaSession}, NewSecret("sid")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Set under pp2 on an older keyring: %v", err)
	}
	k3, _ := Open(Options{Getenv: env(map[string]string{EnvBackend: "file", EnvPassword: "pp1", EnvFileDir: legacy})})
	if got, err := k3.Get(Key{"dev", KindTOTPSeed}); err != nil || got.Reveal() != plain {
		t.Fatalf("Get under pp1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(legacy, checkItem)); err != nil {
		t.Fatalf("no check value written under the right passphrase: %v", err)
	}
	if keys, _ := k3.Keys(); len(keys) != 1 {
		t.Fatalf("Keys() = %v: the check value must not show", keys)
	}
}
