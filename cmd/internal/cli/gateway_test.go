package cli

import (
	"context"
	"strings"
	"testing"
)

// TestGatewayMoved: the old command line, flags and all, says where the
// gateway went and fails, and "oktafed --help" no longer offers it.
func TestGatewayMoved(t *testing.T) {
	for _, args := range [][]string{{"gateway"}, {"gateway", "--upstream", "http://127.0.0.1:9000"}, {"gateway", "revoke", "--jti", "AT.x"}} {
		ios, _, out, errOut := Test()
		if code := Main(context.Background(), ios, args); code != 1 || out.Len() != 0 || !strings.Contains(errOut.String(), "run oktafed-gateway") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), errOut.String())
		}
	}
	ios, _, out, _ := Test()
	if code := Main(context.Background(), ios, []string{"--help"}); code != 0 || strings.Contains(out.String(), "gateway") {
		t.Errorf("--help: exit %d, lists the gateway:\n%s", code, out.String())
	}
}
