package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every package linked into oktafed initializes before main, so before the
// credential-process fast path answers: what they allocate is paid on every
// AWS call that runs credential_process. The checks below count
// allocations (GODEBUG=inittrace=1), which do not depend on the machine's
// load, rather than time.
const (
	// maxOwnInitAllocs bounds one of the program's own packages: tables
	// larger than a few small maps are built on first use (sync.OnceValue).
	maxOwnInitAllocs = 32
	maxOwnInitBytes  = 8 << 10
	// maxInitAllocs bounds all packages together (about 7,900 measured).
	maxInitAllocs = 9000
	// A dependency allocating this much at start-up is listed in
	// heavyInits.
	heavyAllocs = 100
	heavyBytes  = 16 << 10
)

// heavyInits are the dependencies whose initializers do real work, with
// the package of ours that links them. A new one fails TestInitWork: avoid
// linking it into cmd/oktafed, or list it here with its reason.
var heavyInits = map[string]string{
	// AWS SDK service clients: endpoint tables (regular expressions) and
	// serialization schemas, built when the program starts.
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/internal/endpoints": "secrets, dbauth",
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/schemas":            "secrets, dbauth",
	"github.com/aws/aws-sdk-go-v2/service/sts/internal/endpoints":            "internal/stsclient, federation, m2m",
	"github.com/aws/aws-sdk-go-v2/service/sts/schemas":                       "internal/stsclient, federation, m2m",
	"github.com/aws/aws-sdk-go-v2/service/sso/internal/endpoints":            "sso",
	"github.com/aws/aws-sdk-go-v2/service/sso/schemas":                       "sso",
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/internal/endpoints":        "sso",
	"github.com/aws/aws-sdk-go-v2/service/ssooidc/schemas":                   "sso",
	"github.com/aws/aws-sdk-go-v2/service/signin/internal/endpoints":         "aws-sdk-go-v2/config (awsauth, dbauth, the CLI)",
	"github.com/aws/aws-sdk-go-v2/service/signin/schemas":                    "aws-sdk-go-v2/config (awsauth, dbauth, the CLI)",
	// The sandbox's passkeys.
	"github.com/go-webauthn/webauthn/protocol": "sandbox/internal/org",
	"github.com/google/go-tpm/legacy/tpm2":     "sandbox/internal/org (through webauthn)",
	// The HTML entity table, for the sign-in form holding the SAML response.
	"golang.org/x/net/html": "internal/saml",
	// Its KWallet backend asks D-Bus for the session bus at start-up.
	"github.com/99designs/keyring": "internal/keystore",
	"go.yaml.in/yaml/v3":           "internal/config, sandbox, the CLI",
}

type initRecord struct {
	pkg           string
	bytes, allocs int
}

// TestInitWork runs the built binary with GODEBUG=inittrace=1 on a cached
// credential-process, which the fast path answers first thing in main: the
// answer must come, none of the program's own packages may do more than a
// little work at start-up, no dependency outside heavyInits may do much,
// and all together stay under maxInitAllocs.
func TestInitWork(t *testing.T) {
	bin := oktafedBinary(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(section("okta-fresh", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "credential-process", "--profile", "okta-fresh")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "GODEBUG=inittrace=1"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"AccessKeyId":"ASIAFASTFRESH"`) {
		t.Fatalf("no credentials printed: %q", out.String())
	}
	inits, err := parseInitTrace(errOut.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(inits) < 50 {
		t.Fatalf("only %d init lines in the trace; did GODEBUG=inittrace=1 change its format?\n%s", len(inits), errOut.String())
	}
	for _, bad := range checkInitWork(inits) {
		t.Error(bad)
	}
	total := 0
	for _, r := range inits {
		total += r.allocs
	}
	t.Logf("%d packages initialized, %d allocations in all", len(inits), total)
}

// parseInitTrace reads the runtime's lines
// "init PKG @T ms, C ms clock, B bytes, A allocs".
func parseInitTrace(trace string) ([]initRecord, error) {
	var out []initRecord
	for line := range strings.SplitSeq(trace, "\n") {
		f := strings.Fields(line)
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," || f[10] != "allocs" {
			continue
		}
		b, err := strconv.Atoi(f[7])
		if err != nil {
			return nil, err
		}
		a, err := strconv.Atoi(f[9])
		if err != nil {
			return nil, err
		}
		out = append(out, initRecord{pkg: f[1], bytes: b, allocs: a})
	}
	return out, nil
}

// checkInitWork says what breaks the start-up rules in an init trace.
func checkInitWork(inits []initRecord) []string {
	var bad []string
	total := 0
	seen := map[string]bool{}
	for _, r := range inits {
		total += r.allocs
		heavy := r.allocs >= heavyAllocs || r.bytes >= heavyBytes
		switch {
		case strings.HasPrefix(r.pkg, "github.com/oktafed/oktafed/"):
			if r.allocs > maxOwnInitAllocs || r.bytes > maxOwnInitBytes {
				bad = append(bad, r.pkg+" allocates "+strconv.Itoa(r.allocs)+" objects ("+strconv.Itoa(r.bytes)+
					" bytes) when the program starts: build its tables on first use (sync.OnceValue)")
			}
		case heavyInits[r.pkg] != "":
			seen[r.pkg] = true
		case heavy && !strings.Contains(r.pkg, "."):
			// The standard library's own tables (encoding/xml's
			// entities): not ours to choose.
		case heavy:
			bad = append(bad, r.pkg+" allocates "+strconv.Itoa(r.allocs)+" objects ("+strconv.Itoa(r.bytes)+
				" bytes) when the program starts, before every credential-process: avoid linking it into cmd/oktafed, or list it in heavyInits with the reason")
		}
	}
	for pkg := range heavyInits {
		if !seen[pkg] {
			bad = append(bad, pkg+" no longer initializes with real work (or is no longer linked): remove it from heavyInits")
		}
	}
	if total > maxInitAllocs {
		bad = append(bad, strconv.Itoa(total)+" allocations by package initializers in all, more than "+strconv.Itoa(maxInitAllocs))
	}
	slices.Sort(bad)
	return bad
}

// TestCheckInitWorkCatches feeds checkInitWork a trace that breaks each
// rule once, so a check that stopped reporting fails here.
func TestCheckInitWorkCatches(t *testing.T) {
	trace := "init runtime @0.01 ms, 0.01 ms clock, 0 bytes, 0 allocs\n" +
		"init github.com/oktafed/oktafed/verify @1 ms, 0.2 ms clock, 47736 bytes, 132 allocs\n" +
		"init github.com/example/heavy @1 ms, 0.2 ms clock, 90000 bytes, 700 allocs\n" +
		"init encoding/xml @1 ms, 0.01 ms clock, 18776 bytes, 6 allocs\n" +
		"init github.com/example/light @1 ms, 0.01 ms clock, 512 bytes, 9000 allocs\n"
	for pkg := range heavyInits {
		if pkg != "go.yaml.in/yaml/v3" {
			trace += "init " + pkg + " @1 ms, 0.1 ms clock, 20000 bytes, 200 allocs\n"
		}
	}
	inits, err := parseInitTrace(trace)
	if err != nil {
		t.Fatal(err)
	}
	if len(inits) != 4+len(heavyInits) {
		t.Fatalf("parsed %d lines", len(inits))
	}
	bad := strings.Join(checkInitWork(inits), "\n")
	for _, want := range []string{
		"github.com/oktafed/oktafed/verify allocates 132 objects",
		"github.com/example/heavy allocates 700 objects",
		"github.com/example/light allocates 9000 objects",
		"go.yaml.in/yaml/v3 no longer initializes",
		"allocations by package initializers in all",
	} {
		if !strings.Contains(bad, want) {
			t.Errorf("not reported: %q\ngot:\n%s", want, bad)
		}
	}
	if strings.Contains(bad, "encoding/xml") || strings.Contains(bad, "runtime") {
		t.Errorf("standard library reported:\n%s", bad)
	}
}
