package verify

import (
	"crypto/sha256"
	"sync"
)

// tokenKey identifies a token in caches without keeping the token: a
// SHA-256 of the whole token, signature included. A bearer token held in
// memory is a credential that a heap dump or a debugging endpoint could
// leak; its hash is not.
type tokenKey [32]byte

func keyOf(token string) tokenKey { return sha256.Sum256([]byte(token)) }

const cacheShards = 16

// ttlCache is a bounded, sharded map with per-entry expiry. When a shard
// is full it first drops expired entries and then arbitrary ones: cheap
// and good enough, since a miss only costs one verification.
type ttlCache[V any] struct {
	perShard int
	shards   [cacheShards]cacheShard[V]
}

type cacheShard[V any] struct {
	mu sync.RWMutex
	m  map[tokenKey]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v       V
	expires int64 // unix seconds; the entry is dead from this second on
}

func newTTLCache[V any](size int) *ttlCache[V] {
	c := &ttlCache[V]{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[tokenKey]cacheEntry[V])
	}
	return c
}

func (c *ttlCache[V]) shard(k tokenKey) *cacheShard[V] { return &c.shards[k[0]%cacheShards] }

func (c *ttlCache[V]) get(k tokenKey, now int64) (V, bool) {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	if !ok || now >= e.expires {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k tokenKey, v V, expires, now int64) {
	if expires <= now {
		return
	}
	s := c.shard(k)
	s.mu.Lock()
	if len(s.m) >= c.perShard {
		for key, e := range s.m {
			if now >= e.expires {
				delete(s.m, key)
			}
		}
		// Still full: evict an eighth of the shard at random (map order).
		for key := range s.m {
			if len(s.m) < c.perShard-c.perShard/8 {
				break
			}
			delete(s.m, key)
		}
	}
	s.m[k] = cacheEntry[V]{v: v, expires: expires}
	s.mu.Unlock()
}

func (c *ttlCache[V]) remove(k tokenKey) {
	s := c.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

func (c *ttlCache[V]) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
