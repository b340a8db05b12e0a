package iam

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/beevik/etree"
)

// samlCache remembers assertions whose signature already verified, so a
// client assuming twenty roles with one assertion pays for the XML parse and
// signature check once. Only the signature work is reused: the claims, the
// time conditions and the role checks run on every call, and an entry is
// tied to the provider object it verified against, so new metadata (or a
// certificate that has since expired) means a full check again.
type samlCache struct {
	mu      sync.Mutex
	entries map[[32]byte]samlCacheEntry
}

type samlCacheEntry struct {
	provider  *samlProvider
	assertion *etree.Element // the verified element; read-only from here on
	certsEnd  time.Time      // the earliest NotAfter of the provider's certificates
	added     time.Time
}

// samlCacheSize bounds the cache; each entry is one parsed assertion.
const samlCacheSize = 256

// samlCacheTTL bounds how long a verified signature is reused, well beyond
// any client's burst of calls and well inside an assertion's lifetime.
const samlCacheTTL = 5 * time.Minute

// verify is verifySAMLResponse with the signature check reused for an
// assertion seen before.
func (c *samlCache) verify(b64 string, p *samlProvider, now time.Time) (*SAMLAssertion, error) {
	key := sha256.Sum256([]byte(stripSpace(b64)))
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.provider == p && now.Before(e.certsEnd) && now.Sub(e.added) < samlCacheTTL && !now.Before(e.added) {
		return readAssertion(e.assertion, p.entityID, now)
	}
	el, a, err := verifySAMLElement(b64, p, now)
	if err != nil {
		return nil, err
	}
	end := time.Time{}
	for _, cert := range p.certs {
		if end.IsZero() || cert.NotAfter.Before(end) {
			end = cert.NotAfter
		}
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[[32]byte]samlCacheEntry{}
	}
	if len(c.entries) >= samlCacheSize {
		for k, old := range c.entries {
			if now.Sub(old.added) >= samlCacheTTL || len(c.entries) >= samlCacheSize {
				delete(c.entries, k)
			}
		}
	}
	c.entries[key] = samlCacheEntry{provider: p, assertion: el, certsEnd: end, added: now}
	c.mu.Unlock()
	return a, nil
}
