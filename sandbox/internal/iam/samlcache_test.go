package iam

import (
	"testing"
	"time"
)

// TestSAMLCacheKeepsEveryCheck reuses one assertion: the second call takes
// the cached signature, yet expiry, the role pair and replaced metadata are
// still judged on every call.
func TestSAMLCacheKeepsEveryCheck(t *testing.T) {
	e := newEnv(t)
	now := e.clk.Now()
	good := samlAssertion(t, now, samlSpec{})
	for i := range 2 {
		if _, err := e.assumeSAML(good, devRole, oktaIdP, 0); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := len(e.svc.verified.entries); n != 1 {
		t.Fatalf("%d cache entries, want 1", n)
	}
	// A role the assertion does not name is still refused on a cache hit.
	_, err := e.assumeSAML(good, "arn:aws:iam::111111111111:role/NotInAssertion", oktaIdP, 0)
	wantCode(t, err, CodeAccessDenied)

	// New metadata for the provider (a key rotation the client did not
	// follow): the cached verification no longer counts.
	_, evil := idps(t)
	if err := e.svc.AddSAMLProviderMetadata(oktaIdP, evil.metadata(entityID)); err != nil {
		t.Fatal(err)
	}
	_, err = e.assumeSAML(good, devRole, oktaIdP, 0)
	wantCode(t, err, CodeInvalidIdentityToken)

	// And expiry is checked on the cached path too.
	e2 := newEnv(t)
	fresh := samlAssertion(t, e2.clk.Now(), samlSpec{})
	if _, err := e2.assumeSAML(fresh, devRole, oktaIdP, 0); err != nil {
		t.Fatal(err)
	}
	e2.clk.Advance(11 * time.Minute)
	_, err = e2.assumeSAML(fresh, devRole, oktaIdP, 0)
	wantCode(t, err, CodeExpiredTokenException)
}
