package federation

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oktafed/oktafed/internal/awsfile"
)

// TestConcurrentRefreshAcrossProcesses has 8 processes store refreshed
// credentials into the same credentials file, 1,000 times in all, while the
// user's own sections sit between them. Nothing may be lost or corrupted:
// every profile ends with its last write and the user's bytes are intact.
func TestConcurrentRefreshAcrossProcesses(t *testing.T) {
	const procs, perProc = 8, 125
	dir := t.TempDir()
	files := Files{Credentials: filepath.Join(dir, "credentials")}
	user := "# hand-written\n[default]\naws_access_key_id = AKIAUSER\naws_secret_access_key = keep/me+exactly==\n\n"
	if err := os.WriteFile(files.Credentials, []byte(user), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		c := exec.Command(self, "-test.run=^TestRefreshWorker$")
		c.Env = append(os.Environ(), "OKTAFED_REFRESH_WORKER="+strconv.Itoa(i), "OKTAFED_REFRESH_FILE="+files.Credentials, "OKTAFED_REFRESH_N="+strconv.Itoa(perProc))
		out := &strings.Builder{}
		c.Stdout, c.Stderr = out, out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = c
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, c.Stdout)
		}
	}
	data, err := os.ReadFile(files.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), user) {
		t.Fatalf("the user's section changed:\n%s", data)
	}
	f, err := awsfile.Parse(files.Credentials, data)
	if err != nil {
		t.Fatalf("file corrupt: %v\n%s", err, data)
	}
	for i := range procs {
		name := fmt.Sprintf("okta-worker-%d", i)
		creds, _, _, err := CachedCredentials(files, name, time.Unix(0, 0), 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := fmt.Sprintf("ASIAW%dN%d", i, perProc-1); creds.AccessKeyID != want {
			t.Errorf("%s holds %s, want the last write %s", name, creds.AccessKeyID, want)
		}
	}
	if n := len(f.Sections()); n != procs+1 {
		t.Fatalf("%d sections, want %d", n, procs+1)
	}
	fi, _ := os.Stat(files.Credentials)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
}

// TestRefreshWorker is the child process of the test above.
func TestRefreshWorker(t *testing.T) {
	id := os.Getenv("OKTAFED_REFRESH_WORKER")
	if id == "" {
		t.Skip("child process of TestConcurrentRefreshAcrossProcesses")
	}
	n, _ := strconv.Atoi(os.Getenv("OKTAFED_REFRESH_N"))
	files := Files{Credentials: os.Getenv("OKTAFED_REFRESH_FILE")}
	owned := Owned{AWSProfile: "okta-worker-" + id, OktafedProfile: "default", RoleARN: "arn:aws:iam::123456789012:role/W" + id, PrincipalARN: "arn:aws:iam::123456789012:saml-provider/okta"}
	for j := range n {
		creds := aws.Credentials{AccessKeyID: fmt.Sprintf("ASIAW%sN%d", id, j), SecretAccessKey: "secret-" + id, SessionToken: "token-" + id,
			CanExpire: true, Expires: time.Date(2030, 1, 1, 0, 0, j, 0, time.UTC)}
		if err := StoreCredentials(files, owned, creds); err != nil {
			t.Fatalf("write %d: %v", j, err)
		}
	}
}
