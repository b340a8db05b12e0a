package authserver

import (
	"crypto/rsa"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const keysPath = "/oauth2/default/v1/keys"

func (e *env) kids(path string) []string {
	e.t.Helper()
	var out []string
	for _, k := range e.fetchJWKS(path).Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func TestRotateKeysOverlap(t *testing.T) {
	tests := []struct {
		name    string
		overlap time.Duration
		// after the overlap the old token is inactive because its key is
		// gone (short overlap) or because it expired (default overlap).
	}{
		{"default overlap is the token lifetime", 0},
		{"short overlap", 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Servers[0].KeyRotation.Overlap = tc.overlap })
			overlap := tc.overlap
			if overlap == 0 {
				overlap = time.Hour
			}
			old := e.ccToken("read")
			kid1 := kidOf(t, old)
			if got := e.kids(keysPath); !slices.Equal(got, []string{kid1}) {
				t.Fatalf("JWKS before rotation = %v", got)
			}
			if err := e.s.RotateKeys("default"); err != nil {
				t.Fatal(err)
			}
			fresh := e.ccToken("read")
			kid2 := kidOf(t, fresh)
			if kid2 == kid1 {
				t.Fatal("rotation kept the kid")
			}
			if cur, _ := e.s.SigningKeyID("default"); cur != kid2 {
				t.Errorf("SigningKeyID = %s, want %s", cur, kid2)
			}
			if got := e.kids(keysPath); !slices.Equal(got, []string{kid2, kid1}) {
				t.Fatalf("JWKS during overlap = %v, want new key first then old", got)
			}
			e.verifyWithJWKS(keysPath, old)
			e.verifyWithJWKS(keysPath, fresh)
			if e.introspect(old)["active"] != true {
				t.Error("old token inactive during overlap")
			}

			e.clk.Advance(overlap - time.Second)
			if got := e.kids(keysPath); len(got) != 2 {
				t.Fatalf("JWKS just before the overlap ends = %v", got)
			}
			e.clk.Advance(time.Second)
			if got := e.kids(keysPath); !slices.Equal(got, []string{kid2}) {
				t.Fatalf("JWKS after overlap = %v", got)
			}
			if e.introspect(old)["active"] != false {
				t.Error("token signed by a dropped key is still active")
			}
			if tc.overlap != 0 && e.introspect(fresh)["active"] != true {
				t.Error("token signed by the current key inactive")
			}
		})
	}
}

func TestScheduledRotation(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Servers[0].KeyRotation = KeyRotationConfig{Interval: 24 * time.Hour, Overlap: time.Hour}
	})
	maxAge := func() string {
		return e.do(http.MethodGet, keysPath, nil, nil).header.Get("Cache-Control")
	}
	k1 := e.kids(keysPath)
	if len(k1) != 1 || maxAge() != "max-age=86400, must-revalidate" {
		t.Fatalf("start: %v %q", k1, maxAge())
	}
	e.clk.Advance(23 * time.Hour)
	if got := maxAge(); got != "max-age=3600, must-revalidate" {
		t.Errorf("an hour before rotation Cache-Control = %q", got)
	}
	e.clk.Advance(time.Hour)
	k2 := e.kids(keysPath)
	if len(k2) != 2 || k2[1] != k1[0] {
		t.Fatalf("after the interval JWKS = %v (was %v)", k2, k1)
	}
	if kidOf(t, e.ccToken("read")) != k2[0] {
		t.Error("new tokens not signed with the new key")
	}
	e.clk.Advance(time.Hour)
	if got := e.kids(keysPath); !slices.Equal(got, k2[:1]) {
		t.Fatalf("after the overlap JWKS = %v", got)
	}
	// An on-demand rotation restarts the schedule.
	e.clk.Advance(time.Hour)
	if err := e.s.RotateKeys("default"); err != nil {
		t.Fatal(err)
	}
	if got := maxAge(); got != "max-age=86400, must-revalidate" {
		t.Errorf("after manual rotation Cache-Control = %q", got)
	}
	// Other servers keep their keys.
	if got := e.kids("/oauth2/second/v1/keys"); len(got) != 1 {
		t.Errorf("second server JWKS = %v", got)
	}
}

func TestScheduledRotationCatchUp(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Servers[0].KeyRotation = KeyRotationConfig{Interval: time.Hour, Overlap: 30 * time.Minute}
	})
	// A far jump needs only the keys still published: the one that took
	// over at the last boundary (100h) and the one it replaced, whose
	// overlap runs to 100h30m. Older ones are never made. The rotation is
	// triggered through the Go API so the counting hook is swapped on this
	// goroutine only, with no HTTP handler running.
	calls := 0
	orig := newRSAKey
	newRSAKey = func() (*rsa.PrivateKey, error) { calls++; return orig() }
	e.clk.Advance(100*time.Hour + 10*time.Minute)
	_, err := e.s.SigningKeyID("default")
	newRSAKey = orig
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("generated %d keys for a 100-rotation jump, want 2", calls)
	}
	if got := e.kids(keysPath); len(got) != 2 {
		t.Fatalf("JWKS after jump = %v", got)
	}
	e.clk.Advance(20 * time.Minute)
	if got := e.kids(keysPath); len(got) != 1 {
		t.Fatalf("JWKS after overlap = %v", got)
	}
}

func TestKeyRingCatchUpWithLongOverlap(t *testing.T) {
	// Overlap longer than the interval keeps several keys; the ring caps
	// how many it keeps.
	kr, err := newKeyRing(testStart, time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.advance(testStart.Add(10 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(kr.published()); n != 9 {
		t.Errorf("published %d keys, want current plus %d retired", n, maxPublishedKeys)
	}
	if !kr.next.Equal(testStart.Add(11 * time.Minute)) {
		t.Errorf("next rotation %v", kr.next)
	}
}

func TestAdminRotate(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ id, keys string }{{"default", keysPath}, {"org", "/oauth2/v1/keys"}} {
		before := e.kids(tc.keys)
		r := e.do(http.MethodPost, "/sandbox/admin/oauth/"+tc.id+"/rotate", nil, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", tc.id, r.status, r.body)
		}
		after := e.kids(tc.keys)
		if len(after) != 2 || after[1] != before[0] || r.json(t)["kid"] != after[0] {
			t.Errorf("%s: before %v after %v response %s", tc.id, before, after, r.body)
		}
	}
	if r := e.do(http.MethodGet, "/sandbox/admin/oauth/default/rotate", nil, nil); r.status == 200 {
		t.Error("GET rotated keys")
	}
	if err := e.s.RotateKeys("ghost"); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("RotateKeys(ghost) = %v", err)
	}
	off := false
	s, err := New(Config{OrgServer: OrgServerConfig{Enabled: &off}}, Options{BaseURL: "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RotateKeys(""); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("RotateKeys on a disabled org server = %v", err)
	}
}
