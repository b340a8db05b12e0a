package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/federation"
	"github.com/oktafed/oktafed/federation/browser"
	"github.com/oktafed/oktafed/ledger"
	"github.com/oktafed/oktafed/sso"
)

// TestAdviceWordsLibraryErrors: the libraries' errors name no oktafed
// command; the CLI adds the one that helps, through wrapping, and adds
// nothing to other errors.
func TestAdviceWordsLibraryErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("fetch: %w", &federation.LoginRequiredError{Profile: "prod", Reason: "Okta session expired"}), "oktafed login --profile prod"},
		{fmt.Errorf("%w: nope", ledger.ErrSeedRefused), "OKTAFED_TOTP_SECRET"},
		{fmt.Errorf("%w: refused", sso.ErrLoginRequired), "oktafed sso login"},
		{fmt.Errorf("login: %w", &federation.UnreachableError{Service: "STS", Host: "127.0.0.1:1", Cause: "connection refused", Hint: "check"}), "--sts-endpoint"},
		{&federation.UnreachableError{Service: "Okta", Host: "x.invalid", Cause: "does not resolve", Hint: "check"}, "--org-url"},
		{errors.New("something else"), ""},
	} {
		got := advice(tc.err)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("advice(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if strings.Contains(tc.err.Error(), "oktafed ") {
			t.Errorf("the library's error names a command: %v", tc.err)
		}
	}
	if err := ssoAdvice(fmt.Errorf("read: %w", sso.ErrNoSession), "corp"); !strings.Contains(err.Error(), "oktafed sso login --sso-session corp") || !errors.Is(err, sso.ErrNoSession) {
		t.Errorf("ssoAdvice: %v", err)
	}
	for _, err := range []error{browser.ErrNoBrowser, browser.ErrTimeout, browser.ErrClosed} {
		if strings.Contains(err.Error(), "--browser") {
			t.Errorf("the library's error names a flag: %v", err)
		}
		if h := browserHint(err); !errors.Is(h, err) || !strings.Contains(h.Error(), "--browser") {
			t.Errorf("browserHint(%v) = %v", err, h)
		}
	}
}
