package gateway_test

import (
	"testing"
)

// TestIdentityHeadersUnambiguous: groups and subjects whose values a
// header would mangle (a ',' inside a group, leading white space, a tab,
// non-ASCII, '%') reach a real WSGI upstream percent-encoded, never
// trimmed or split, so no value matches a group or user the gateway did
// not verify; ordinary values are unchanged.
func TestIdentityHeadersUnambiguous(t *testing.T) {
	e := newHostileEnv(t)
	tok := mint(t, e.sb, []string{"orders.read"}, []string{"readers", "analysts,platform-admins", " platform-admins", "Platform Admins", "équipe", "100%"},
		map[string]any{"sub": "\talice@example.com "})
	st, env, body := e.send(t, "GET", "/x", tok, nil, "")
	if st != 200 {
		t.Fatalf("status %d: %s", st, body)
	}
	want := map[string]string{
		"HTTP_X_AUTH_GROUPS":  "readers,analysts%2Cplatform-admins,%20platform-admins,Platform Admins,%C3%A9quipe,100%25",
		"HTTP_X_AUTH_SUBJECT": "%09alice@example.com%20",
		"HTTP_X_AUTH_ROLE":    "read",
	}
	for k, w := range want {
		if got := env.str(k); got != w {
			t.Errorf("upstream %s = %q, want %q", k, got, w)
		}
	}
}
