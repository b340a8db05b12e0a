package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// KeyCache tunes how remote key sets are cached. Zero fields take the
// defaults below.
type KeyCache struct {
	// MinRefresh and MaxRefresh bound the lifetime taken from the
	// response's Cache-Control max-age; DefaultRefresh applies when the
	// response has none.
	MinRefresh     time.Duration `json:"min_refresh,omitempty" yaml:"min_refresh,omitempty"`
	MaxRefresh     time.Duration `json:"max_refresh,omitempty" yaml:"max_refresh,omitempty"`
	DefaultRefresh time.Duration `json:"default_refresh,omitempty" yaml:"default_refresh,omitempty"`
	// RefetchFloor is the least time between two fetches of one key set,
	// whatever triggers them (unknown kid, failed fetch, refresh). It is
	// what keeps a storm of tokens with random kids from becoming a storm
	// of requests to the issuer. One exception: after a failed fetch, an
	// unknown kid may fetch again after a tenth of the floor, so that
	// keys an issuer rotated during an outage are picked up soon after it
	// comes back, not a whole floor after the last failed attempt.
	RefetchFloor time.Duration `json:"refetch_floor,omitempty" yaml:"refetch_floor,omitempty"`
	// MaxStale is how long keys stay in use after the last successful
	// fetch when refreshing fails (stale-if-error).
	MaxStale time.Duration `json:"max_stale,omitempty" yaml:"max_stale,omitempty"`
	// FetchTimeout bounds one HTTP fetch.
	FetchTimeout time.Duration `json:"fetch_timeout,omitempty" yaml:"fetch_timeout,omitempty"`
	// ColdFetchTimeout bounds how long a request waits for keys when
	// none are held (first use, or past MaxStale); default FetchTimeout.
	// A shorter value answers such requests sooner (ErrKeysUnavailable,
	// 503) while the fetch itself goes on, bounded by FetchTimeout, and
	// fills the cache for later requests.
	ColdFetchTimeout time.Duration `json:"cold_fetch_timeout,omitempty" yaml:"cold_fetch_timeout,omitempty"`
	// UnknownKeyWait bounds how long a request whose kid is not in the
	// held set waits for the refetch that might bring it (default 2s).
	// A hanging key server then costs such requests this long at most,
	// and requests whose keys are held never wait.
	UnknownKeyWait time.Duration `json:"unknown_key_wait,omitempty" yaml:"unknown_key_wait,omitempty"`
}

// Key cache defaults.
const (
	DefaultMinRefresh     = 5 * time.Minute
	DefaultMaxRefresh     = 24 * time.Hour
	DefaultRefreshPeriod  = time.Hour
	DefaultRefetchFloor   = time.Minute
	DefaultMaxStale       = 24 * time.Hour
	DefaultFetchTimeout   = 10 * time.Second
	DefaultUnknownKeyWait = 2 * time.Second
	DefaultMaxJWKSBytes   = 512 << 10
	DefaultMaxKeys        = 64
	DefaultMaxTokenBytes  = 16 << 10
	defaultMaxIntrospectB = 256 << 10
)

func (c KeyCache) withDefaults() KeyCache {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinRefresh, DefaultMinRefresh)
	def(&c.MaxRefresh, DefaultMaxRefresh)
	def(&c.DefaultRefresh, DefaultRefreshPeriod)
	def(&c.RefetchFloor, DefaultRefetchFloor)
	def(&c.MaxStale, DefaultMaxStale)
	def(&c.FetchTimeout, DefaultFetchTimeout)
	def(&c.ColdFetchTimeout, c.FetchTimeout)
	def(&c.UnknownKeyWait, DefaultUnknownKeyWait)
	if c.MaxRefresh < c.MinRefresh {
		c.MaxRefresh = c.MinRefresh
	}
	return c
}

// keySource yields keys for one issuer.
type keySource interface {
	// lookup returns the key for kid/alg and the generation of the set it
	// came from.
	lookup(ctx context.Context, kid, alg string) (*publicKey, uint64, error)
	// current returns the key set in use (nil before the first load),
	// and starts the change check when it is due (a file's content, a
	// remote set's refresh) without waiting for it, so a source checked
	// only through cached verifications still notices removed keys.
	current() *keySnapshot
}

// fetcher is the shared HTTP side of remote documents.
type fetcher struct {
	client   *http.Client
	clk      clock.Clock
	log      *slog.Logger
	maxBytes int64
	timeout  time.Duration
	// redirectHosts are the provider's extra allowed redirect targets.
	redirectHosts []string
}

// get fetches url and returns the body and the Cache-Control max-age (or
// -1). Only loopback hosts may be reached over plain http.
func (f *fetcher) get(ctx context.Context, url string, req func(*http.Request)) (string, time.Duration, error) {
	if err := checkURL(url); err != nil {
		return "", 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	r.Header.Set("Accept", "application/json")
	if req != nil {
		req(r)
	}
	return f.do(r)
}

func (f *fetcher) do(r *http.Request) (string, time.Duration, error) {
	if len(f.redirectHosts) > 0 {
		r = r.WithContext(withRedirectHosts(r.Context(), f.redirectHosts))
	}
	resp, err := f.client.Do(r)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return "", 0, err
	}
	if int64(len(body)) > f.maxBytes {
		return "", 0, fmt.Errorf("%s: response is larger than %d bytes", r.URL.Redacted(), f.maxBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, &statusError{url: r.URL.Redacted(), code: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"), f.clk.Now())}
	}
	return string(body), maxAge(resp.Header.Get("Cache-Control")), nil
}

// statusError is a fetch answered with a status other than 200.
type statusError struct {
	url  string
	code int
	// retryAfter is the answer's Retry-After (RFC 9110 section 10.2.3:
	// seconds or an HTTP date), 0 when absent or unreadable.
	retryAfter time.Duration
}

func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: HTTP %d", e.url, e.code) }

// maxAge reads max-age from a Cache-Control value; no-store and no-cache
// count as zero (the caller then applies its minimum). It returns -1 when
// the header says nothing about lifetime.
func maxAge(cc string) time.Duration {
	age := time.Duration(-1)
	for part := range strings.SplitSeq(cc, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		switch {
		case part == "no-store" || part == "no-cache":
			return 0
		case strings.HasPrefix(part, "max-age="):
			n, err := strconv.ParseInt(strings.Trim(part[len("max-age="):], `"`), 10, 64)
			if err == nil && n >= 0 {
				age = time.Duration(min(n, 1<<31)) * time.Second
			}
		}
	}
	return age
}

// keySnapshot is one fetched key set with its timing.
type keySnapshot struct {
	set       *keySet
	gen       uint64
	fetchedAt time.Time
	refreshAt time.Time
}

// remoteKeys caches the JWK Set of one issuer.
type remoteKeys struct {
	name    string
	resolve func(ctx context.Context) (string, error) // the jwks_uri
	f       *fetcher
	cfg     KeyCache
	lim     keyLimits
	maxKeys int

	cur atomic.Pointer[keySnapshot]

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error
	inflight    chan struct{}
	gen         uint64
	// fetches counts HTTP fetches, for tests and metrics.
	fetches atomic.Int64
}

func (rk *remoteKeys) current() *keySnapshot {
	s := rk.cur.Load()
	if s != nil && !rk.f.clk.Now().Before(s.refreshAt) {
		_ = rk.fetch(context.Background(), noWait)
	}
	return s
}

// usable returns the current snapshot unless it is older than MaxStale.
func (rk *remoteKeys) usable(now time.Time) *keySnapshot {
	s := rk.cur.Load()
	if s == nil || now.Sub(s.fetchedAt) > rk.cfg.MaxStale {
		return nil
	}
	return s
}

func (rk *remoteKeys) lookup(ctx context.Context, kid, alg string) (*publicKey, uint64, error) {
	now := rk.f.clk.Now()
	s := rk.usable(now)
	if s == nil {
		if err := rk.fetch(ctx, rk.cfg.ColdFetchTimeout); err != nil {
			return nil, 0, err
		}
		if s = rk.usable(rk.f.clk.Now()); s == nil {
			return nil, 0, rk.unavailable()
		}
	} else if !now.Before(s.refreshAt) {
		// Stale-while-revalidate: keep serving the current keys and let
		// a background fetch replace them.
		_ = rk.fetch(context.WithoutCancel(ctx), noWait)
	}
	if k := s.set.find(kid, alg); k != nil {
		return k, s.gen, nil
	}
	// Unknown kid: the issuer may have rotated. Refetch, but never more
	// often than the floor allows, and wait for it only briefly: a
	// hanging key server must not hold requests for FetchTimeout.
	if err := rk.fetchAfter(ctx, rk.cfg.UnknownKeyWait, true); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Reason == ErrKeysUnavailable {
			// The set we hold is still valid; the kid is simply unknown.
			return nil, 0, newError(ErrUnknownKey, "")
		}
		return nil, 0, err
	}
	if s = rk.usable(rk.f.clk.Now()); s != nil {
		if k := s.set.find(kid, alg); k != nil {
			return k, s.gen, nil
		}
	}
	return nil, 0, newError(ErrUnknownKey, "")
}

func (rk *remoteKeys) unavailable() error {
	rk.mu.Lock()
	cause := rk.lastErr
	rk.mu.Unlock()
	return wrapError(ErrKeysUnavailable, "", cause)
}

// Waits for fetch: noWait starts a fetch and returns at once; waitDone
// waits until it ends or ctx does; any positive duration waits at most
// that long.
const (
	noWait   time.Duration = 0
	waitDone time.Duration = -1
)

// fetch starts a fetch unless one is running or the floor forbids it, and
// waits for the running or started fetch as wait says. A refused fetch is
// not an error: the caller works with what it has. A wait that runs out
// leaves the fetch running; its result serves later requests.
func (rk *remoteKeys) fetch(ctx context.Context, wait time.Duration) error {
	return rk.fetchAfter(ctx, wait, false)
}

// fetchAfter is fetch; unknownKid shortens the floor to a tenth after a
// failed attempt (see KeyCache.RefetchFloor).
func (rk *remoteKeys) fetchAfter(ctx context.Context, wait time.Duration, unknownKid bool) error {
	rk.mu.Lock()
	ch := rk.inflight
	if ch == nil {
		now := rk.f.clk.Now()
		floor := rk.cfg.RefetchFloor
		if unknownKid && rk.lastErr != nil {
			floor /= 10
		}
		// A clock that went backwards (now before the last attempt) does
		// not hold fetches off until it catches up.
		if !rk.lastAttempt.IsZero() && now.Sub(rk.lastAttempt) < floor && !now.Before(rk.lastAttempt) {
			err := rk.lastErr
			rk.mu.Unlock()
			if err != nil && rk.usable(now) == nil {
				return wrapError(ErrKeysUnavailable, "", err)
			}
			return nil
		}
		rk.lastAttempt = now
		ch = make(chan struct{})
		rk.inflight = ch
		go rk.run(ch)
	}
	rk.mu.Unlock()
	if wait == noWait {
		return nil
	}
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return wrapError(ErrKeysUnavailable, "", ctx.Err())
	case <-timeout:
		if rk.usable(rk.f.clk.Now()) != nil {
			return nil
		}
		return wrapError(ErrKeysUnavailable, "", fmt.Errorf("the key set fetch for %s is still running after %v", rk.name, wait))
	}
	rk.mu.Lock()
	err := rk.lastErr
	rk.mu.Unlock()
	if err != nil && rk.usable(rk.f.clk.Now()) == nil {
		return wrapError(ErrKeysUnavailable, "", err)
	}
	return nil
}

// run performs one fetch. It runs detached from any request so that a
// cancelled request does not abort a fetch others are waiting for.
func (rk *remoteKeys) run(done chan struct{}) {
	ctx := context.Background()
	set, age, err := rk.download(ctx)
	now := rk.f.clk.Now()
	rk.mu.Lock()
	rk.lastErr = err
	if err == nil {
		life := rk.cfg.DefaultRefresh
		if age >= 0 {
			life = min(max(age, rk.cfg.MinRefresh), rk.cfg.MaxRefresh)
		}
		old := rk.cur.Load()
		gen := rk.gen
		if old == nil || !old.set.equal(set) {
			rk.gen++
			gen = rk.gen
		}
		rk.cur.Store(&keySnapshot{set: set, gen: gen, fetchedAt: now, refreshAt: now.Add(life)})
		for _, s := range set.skipped {
			rk.f.log.Warn("verify: key skipped", "provider", rk.name, "reason", s)
		}
	} else {
		rk.f.log.Warn("verify: key set fetch failed", "provider", rk.name, "err", err)
	}
	rk.inflight = nil
	rk.mu.Unlock()
	close(done)
}

func (rk *remoteKeys) download(ctx context.Context) (*keySet, time.Duration, error) {
	rk.fetches.Add(1)
	url, err := rk.resolve(ctx)
	if err != nil {
		return nil, 0, err
	}
	body, age, err := rk.f.get(ctx, url, nil)
	if err != nil {
		return nil, 0, err
	}
	set, err := parseJWKSet(body, rk.lim, rk.maxKeys)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", url, err)
	}
	return set, age, nil
}

// nextAttemptIn is how long until the floor allows the next fetch: at most
// RefetchFloor, counted from the last attempt whoever made it.
func (rk *remoteKeys) nextAttemptIn() time.Duration {
	rk.mu.Lock()
	last := rk.lastAttempt
	rk.mu.Unlock()
	d := last.Add(rk.cfg.RefetchFloor).Sub(rk.f.clk.Now())
	if d <= 0 || d > rk.cfg.RefetchFloor {
		d = rk.cfg.RefetchFloor
	}
	return d
}

// ready reports whether rk holds usable keys, and if not, why.
func (rk *remoteKeys) ready() error {
	if rk.usable(rk.f.clk.Now()) != nil {
		return nil
	}
	rk.mu.Lock()
	err := rk.lastErr
	rk.mu.Unlock()
	if err == nil {
		err = errors.New("no key set fetched yet")
	}
	return err
}

// refreshLoop keeps rk's keys fresh until ctx ends: it fetches when the
// current set's lifetime (Cache-Control max-age bounded by MinRefresh and
// MaxRefresh) runs out, so an idle service does not meet stale or expired
// keys on its next request. Failed fetches are retried after the refetch
// floor; the request path still falls back to its own fetch if the loop
// falls behind.
func (rk *remoteKeys) refreshLoop(ctx context.Context) {
	for {
		var wait time.Duration
		if s := rk.cur.Load(); s != nil {
			wait = s.refreshAt.Sub(rk.f.clk.Now())
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		prev := rk.cur.Load()
		_ = rk.fetch(ctx, waitDone)
		if cur := rk.cur.Load(); cur != prev && cur != nil && cur.refreshAt.After(rk.f.clk.Now()) {
			continue
		}
		// Nothing new: the fetch failed or the floor refused it. Try
		// again after the floor, no later: the floor already keeps the
		// issuer from a storm, and backing off further would keep keys
		// (and readiness) away for minutes after the issuer is back.
		t := time.NewTimer(rk.nextAttemptIn())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
