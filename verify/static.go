package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// DefaultReloadInterval is how often key files are checked for changes.
const DefaultReloadInterval = 5 * time.Second

// fileKeys serves keys read from PEM, JWK or JWKS files and reloads them
// when a file changes. A file that fails to parse after a change leaves the
// previous keys in place: a half-written file must not lock everyone out.
type fileKeys struct {
	name     string
	paths    []string
	inline   []byte // keys given in the configuration itself
	interval time.Duration
	f        *fetcher
	lim      keyLimits
	maxKeys  int

	cur       atomic.Pointer[keySnapshot]
	lastCheck atomic.Int64 // unix nanoseconds of the last change check
	digest    [32]byte
	mu        sync.Mutex // serialises reloads
	gen       uint64
	reloading atomic.Bool
}

func (fk *fileKeys) current() *keySnapshot {
	fk.checkDue()
	return fk.cur.Load()
}

// checkDue starts a check of the files for changes when the reload
// interval has passed since the last one. The check runs off the request
// path; the request that started it uses the keys as they are.
func (fk *fileKeys) checkDue() {
	if len(fk.paths) > 0 && fk.f.clk.Now().UnixNano()-fk.lastCheck.Load() >= int64(fk.interval) && fk.reloading.CompareAndSwap(false, true) {
		go func() {
			defer fk.reloading.Store(false)
			_ = fk.reload()
		}()
	}
}

// reloadLoop checks the files every interval until ctx ends, so removed
// keys leave the set (and cached verifications made with them are
// refused) even while no request looks a key up.
func (fk *fileKeys) reloadLoop(ctx context.Context) {
	if len(fk.paths) == 0 {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-clock.After(fk.f.clk, fk.interval):
		}
		if fk.reloading.CompareAndSwap(false, true) {
			_ = fk.reload()
			fk.reloading.Store(false)
		}
	}
}

func (fk *fileKeys) lookup(_ context.Context, kid, alg string) (*publicKey, uint64, error) {
	fk.checkDue()
	s := fk.cur.Load()
	if s == nil {
		return nil, 0, newError(ErrKeysUnavailable, "")
	}
	if k := s.set.find(kid, alg); k != nil {
		return k, s.gen, nil
	}
	return nil, 0, newError(ErrUnknownKey, "")
}

// reload reads every file and swaps the key set if the content changed.
func (fk *fileKeys) reload() error {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	fk.lastCheck.Store(fk.f.clk.Now().UnixNano())
	var all []byte
	var docs [][]byte
	var labels []string
	if len(fk.inline) > 0 {
		docs, labels = append(docs, fk.inline), append(labels, "inline keys")
	}
	for _, p := range fk.paths {
		b, err := readLimited(p, fk.f.maxBytes)
		if err != nil {
			return err
		}
		docs, labels = append(docs, b), append(labels, p)
		all = append(append(all, b...), 0)
	}
	all = append(all, fk.inline...)
	sum := sha256.Sum256(all)
	if fk.cur.Load() != nil && sum == fk.digest {
		return nil
	}
	var keys []*publicKey
	var skipped []string
	for i, d := range docs {
		ks, err := parseKeyDocument(d, fk.lim, fk.maxKeys)
		if err != nil {
			err = fmt.Errorf("%s: %w", labels[i], err)
			if fk.cur.Load() != nil {
				fk.f.log.Warn("verify: key file reload failed; keeping previous keys", "provider", fk.name, "err", err)
			}
			return err
		}
		keys = append(keys, ks.all...)
		skipped = append(skipped, ks.skipped...)
	}
	set := newKeySet(keys, skipped)
	now := fk.f.clk.Now()
	fk.gen++
	fk.digest = sum
	fk.cur.Store(&keySnapshot{set: set, gen: fk.gen, fetchedAt: now, refreshAt: now.Add(fk.interval)})
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return os.ReadFile(path)
}

// parseKeyDocument accepts PEM (any number of public keys or
// certificates), a JWK, or a JWK Set.
func parseKeyDocument(b []byte, lim keyLimits, maxKeys int) (*keySet, error) {
	t := bytes.TrimSpace(b)
	if bytes.HasPrefix(t, []byte("-----BEGIN")) {
		keys, err := parsePEMKeys(t, lim)
		if err != nil {
			return nil, err
		}
		if maxKeys > 0 && len(keys) > maxKeys {
			return nil, fmt.Errorf("more than %d keys", maxKeys)
		}
		return newKeySet(keys, nil), nil
	}
	return parseJWKSet(string(t), lim, maxKeys)
}
