package verify

import (
	"context"
	"testing"
)

func TestTokenIDAndCacheStats(t *testing.T) {
	v, _ := staticVerifier(t, nil)
	k := keys(t)
	c := baseClaims()
	c["jti"] = "AT.one"
	tok := mint(t, RS256, k.rsa, "rsa1", c)
	for i := range 3 {
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
		if p.TokenID != "AT.one" {
			t.Fatalf("TokenID = %q", p.TokenID)
		}
	}
	s := v.Stats()
	if s.CacheMisses != 1 || s.CacheHits != 2 {
		t.Errorf("hits/misses = %d/%d, want 2/1", s.CacheHits, s.CacheMisses)
	}
	if len(s.Providers) != 1 || s.Providers[0].Remote || s.Providers[0].Issuer != testIssuer {
		t.Errorf("providers = %+v", s.Providers)
	}
}
