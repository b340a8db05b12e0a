package verify

import "time"

// Stats is a snapshot of a Verifier's counters, for metrics exporters.
type Stats struct {
	// CacheHits and CacheMisses count lookups in the verified-token cache
	// (both stay zero when the cache is disabled).
	CacheHits, CacheMisses uint64
	Providers              []ProviderStats
}

// ProviderStats describes one provider's key source.
type ProviderStats struct {
	Name, Issuer string
	// Remote is true for providers whose keys come from a JWK Set URL;
	// KeyFetches and KeysFetchedAt apply only to them.
	Remote bool
	// KeyFetches counts JWK Set downloads attempted, failed ones included.
	KeyFetches int64
	// KeysFetchedAt is when the keys in use were fetched; zero before the
	// first successful fetch.
	KeysFetchedAt time.Time
}

// Stats returns the verifier's counters. It takes no locks on the
// verification path and is cheap enough to call on every metrics scrape.
func (v *Verifier) Stats() Stats {
	s := Stats{CacheHits: v.hits.Load(), CacheMisses: v.misses.Load()}
	for _, p := range v.providers {
		ps := ProviderStats{Name: p.name, Issuer: p.issuer}
		if rk, ok := p.keys.(*remoteKeys); ok {
			ps.Remote = true
			ps.KeyFetches = rk.fetches.Load()
			if snap := rk.cur.Load(); snap != nil {
				ps.KeysFetchedAt = snap.fetchedAt
			}
		}
		s.Providers = append(s.Providers, ps)
	}
	return s
}
