package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// credprocFixture is a home with a credentials file holding a fresh and a
// stale oktafed profile and one of the user's, and the environment the
// programs run with (no oktafed configuration: a refresh ends in "run
// oktafed init").
type credprocFixture struct {
	dir string
	env []string
}

func newCredprocFixture(t *testing.T) credprocFixture {
	t.Helper()
	dir := t.TempDir()
	credsPath := filepath.Join(dir, "credentials")
	fresh := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	stale := time.Now().Add(2 * time.Minute).UTC().Format(time.RFC3339)
	data := "[mine]\naws_access_key_id = AKIAUSER\naws_secret_access_key = user\n\n" +
		section("okta-fresh", fresh) + "\n" + section("okta-stale", stale)
	if err := os.WriteFile(credsPath, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return credprocFixture{dir: dir, env: []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "AWS_SHARED_CREDENTIALS_FILE=" + credsPath, "AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"), "OKTAFED_KEYRING_BACKEND=file", "OKTAFED_KEYRING_PASSWORD=x", "OKTAFED_KEYRING_DIR=" + filepath.Join(dir, "kr")}}
}

// run runs bin with args in dir (the fixture's home when ""), with the
// fixture's environment plus extraEnv (a later entry wins).
func (f credprocFixture) run(t *testing.T, dir string, extraEnv []string, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append([]string{}, f.env...), extraEnv...)
	cmd.Dir = f.dir
	if dir != "" {
		cmd.Dir = dir
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestCredentialProcessFastPathMatchesFullProgram runs, for every case,
// the built oktafed, whose start-up fast path answers credential-process
// from the cache, the same binary with the fast path off, and the
// oktafed-credential-process companion beside it: all three must print
// the same bytes on both streams and exit alike. Where the companion does
// not answer itself it hands over to oktafed, so the messages and codes of
// the stale, missing and flag cases are the full program's.
func TestCredentialProcessFastPathMatchesFullProgram(t *testing.T) {
	bin, companion := oktafedBinary(t), companionBinary(t)
	f := newCredprocFixture(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int    // the full program's exit code
		out  string // in its standard output (success) or error
	}{
		{"fresh", nil, []string{"--profile", "okta-fresh"}, 0, `"AccessKeyId":"ASIAFASTFRESH"`},
		{"fresh by AWS_PROFILE", []string{"AWS_PROFILE=okta-fresh"}, nil, 0, `"AccessKeyId":"ASIAFASTFRESH"`},
		{"fresh, -p", nil, []string{"-p", "okta-fresh"}, 0, `"AccessKeyId":"ASIAFASTFRESH"`},
		{"fresh, --profile=", nil, []string{"--profile=okta-fresh"}, 0, `"AccessKeyId":"ASIAFASTFRESH"`},
		{"role flag", nil, []string{"--profile", "okta-fresh", "--role", "arn:aws:iam::123456789012:role/Admin"}, 0, `"AccessKeyId":"ASIAFASTFRESH"`},
		{"stale", nil, []string{"--profile", "okta-stale"}, 1, "which is no longer configured"},
		{"not oktafed's", nil, []string{"--profile", "mine"}, 1, `"mine"`},
		{"missing", nil, []string{"--profile", "nope"}, 1, `"nope" is neither`},
		{"no profile", nil, nil, 1, "oktafed: "},
		{"unknown flag", nil, []string{"--profile", "okta-fresh", "--bogus"}, 1, "unknown flag: --bogus"},
		{"an argument", nil, []string{"--profile", "okta-fresh", "extra"}, 1, `unknown command "extra"`},
		{"turned off", []string{"OKTAFED_NO_FASTPATH=1"}, []string{"--profile", "okta-fresh"}, 0, `"AccessKeyId":"ASIAFASTFRESH"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			so, se, sc := f.run(t, "", append(tc.env, "OKTAFED_NO_FASTPATH=1"), bin, append([]string{"credential-process"}, tc.args...)...)
			fo, fe, fc := f.run(t, "", tc.env, bin, append([]string{"credential-process"}, tc.args...)...)
			co, ce, cc := f.run(t, "", tc.env, companion, tc.args...)
			if sc != tc.code || !strings.Contains(so+se, tc.out) || (sc == 0) != (se == "" && strings.HasSuffix(so, "}\n")) {
				t.Fatalf("full program: exit %d, stdout %q, stderr %q; want exit %d and %q", sc, so, se, tc.code, tc.out)
			}
			if fo != so || fe != se || fc != sc {
				t.Errorf("oktafed's fast path: exit %d %q %q\nfull program: exit %d %q %q", fc, fo, fe, sc, so, se)
			}
			if co != so || ce != se || cc != sc {
				t.Errorf("oktafed-credential-process: exit %d %q %q\nfull program: exit %d %q %q", cc, co, ce, sc, so, se)
			}
		})
	}
}

// TestCredentialProcessCompanionAlone runs oktafed-credential-process
// where oktafed is not beside it: fresh credentials it answers alone;
// anything else needs oktafed, which it looks for on PATH, and without it
// it says what to install and exits 1, not 3 (nothing a login fixes).
// Neither a program planted in the working directory (PATH entry ".")
// nor the companion itself under oktafed's name is run in its place.
func TestCredentialProcessCompanionAlone(t *testing.T) {
	bin := oktafedBinary(t)
	f := newCredprocFixture(t)
	alone := t.TempDir()
	companion := filepath.Join(alone, "oktafed-credential-process")
	data, err := os.ReadFile(companionBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(companion, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// A planted oktafed in the working directory, which would leave a mark.
	cwd := t.TempDir()
	mark := filepath.Join(cwd, "ran")
	if err := os.WriteFile(filepath.Join(cwd, "oktafed"), []byte("#!/bin/sh\ntouch "+mark+"\necho planted\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fullOut, fullErr, fullCode := f.run(t, "", nil, bin, "credential-process", "--profile", "okta-stale")
	if fullCode != 1 || !strings.Contains(fullErr, "no longer configured") {
		t.Fatalf("oktafed on stale credentials: exit %d, %q", fullCode, fullErr)
	}
	notFound := func(t *testing.T, stdout, stderr string, code int) {
		t.Helper()
		if code != 1 || stdout != "" || !strings.Contains(stderr, "oktafed-credential-process: ") ||
			!strings.Contains(stderr, "neither in "+alone+" nor on PATH") || !strings.Contains(stderr, "Install oktafed") {
			t.Fatalf("exit %d, stdout %q, stderr %q; want the install message and exit 1", code, stdout, stderr)
		}
	}

	t.Run("fresh, answered alone", func(t *testing.T) {
		want, _, _ := f.run(t, "", nil, bin, "credential-process", "--profile", "okta-fresh")
		out, errOut, code := f.run(t, "", nil, companion, "--profile", "okta-fresh")
		if code != 0 || out != want || errOut != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
		}
	})
	t.Run("stale, no oktafed", func(t *testing.T) {
		out, errOut, code := f.run(t, "", nil, companion, "--profile", "okta-stale")
		notFound(t, out, errOut, code)
	})
	t.Run("stale, oktafed on PATH", func(t *testing.T) {
		out, errOut, code := f.run(t, "", []string{"PATH=/usr/bin:" + filepath.Dir(bin) + ":/bin"}, companion, "--profile", "okta-stale")
		if out != fullOut || errOut != fullErr || code != fullCode {
			t.Fatalf("exit %d %q %q; oktafed: exit %d %q %q", code, out, errOut, fullCode, fullOut, fullErr)
		}
	})
	t.Run("stale, through a symlink to the companion beside oktafed", func(t *testing.T) {
		// As Homebrew links a cask's binaries into its bin/.
		link := filepath.Join(t.TempDir(), "oktafed-credential-process")
		if err := os.Symlink(companionBinary(t), link); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := f.run(t, "", nil, link, "--profile", "okta-stale")
		if out != fullOut || errOut != fullErr || code != fullCode {
			t.Fatalf("exit %d %q %q; oktafed: exit %d %q %q", code, out, errOut, fullCode, fullOut, fullErr)
		}
	})
	t.Run("planted in the working directory", func(t *testing.T) {
		for _, path := range []string{".:/usr/bin:/bin", "/usr/bin::/bin", "/usr/bin:/bin:."} {
			out, errOut, code := f.run(t, cwd, []string{"PATH=" + path}, companion, "--profile", "okta-stale")
			notFound(t, out, errOut, code)
			if _, err := os.Stat(mark); err == nil {
				t.Fatalf("PATH=%s: the companion ran ./oktafed", path)
			}
		}
	})
	t.Run("itself under oktafed's name", func(t *testing.T) {
		if err := os.Symlink(companion, filepath.Join(alone, "oktafed")); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(alone, "oktafed"))
		out, errOut, code := f.run(t, "", nil, companion, "--profile", "okta-stale")
		notFound(t, out, errOut, code)
	})
}

func section(name, exp string) string {
	return "[" + name + "]\naws_access_key_id = ASIAFAST" + strings.ToUpper(strings.TrimPrefix(name, "okta-")) + "\naws_secret_access_key = s3cret\naws_session_token = tok\n" +
		"oktafed_expiration = " + exp + "\noktafed_profile = default\noktafed_role_arn = arn:aws:iam::123456789012:role/Admin\noktafed_principal_arn = arn:aws:iam::123456789012:saml-provider/okta\n"
}
