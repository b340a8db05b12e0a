package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// withDPoP gives requests in the DPoP scheme (RFC 9449) what the guard
// checks their proof against: the DPoP headers, the method and the URL the
// client addressed (the gateway's own scheme, Host and path). Other
// requests pass untouched.
func withDPoP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); len(a) > 5 && strings.EqualFold(a[:5], "dpop ") {
			r = r.WithContext(guard.WithDPoPRequest(r.Context(), r))
		}
		next.ServeHTTP(w, r)
	})
}

// VerifyDPoP checks DPoP-bound tokens with the verifier itself: their
// principals are not shared through Redis, since each request's proof
// must be checked anyway.
func (s *sharedVerifier) VerifyDPoP(ctx context.Context, token string, r verify.DPoPRequest) (*verify.Principal, error) {
	return s.v.VerifyDPoP(ctx, token, r)
}

// dpopReplay is the DPoP proof replay cache shared by the replicas through
// the gateway's Redis: a proof used at one replica is refused at every
// other. SET NX with the proof's remaining window as expiry makes the
// check and the record one atomic step.
type dpopReplay struct {
	rdb    redis.UniversalClient
	prefix string
}

// newDPoPReplay sets vc's DPoP replay cache to the one every generation
// of the gateway shares, so a proof used before a reload is refused after
// it even when the reload builds a new verifier. With Redis it is Redis
// (attach then hands it the client); without, the in-memory cache of
// prev, the generation being replaced, or a new one (one replica).
func newDPoPReplay(rc RedisConfig, vc *verify.Config, prev *Gateway) (*dpopReplay, verify.ReplayCache) {
	if !rc.Enabled() {
		var m verify.ReplayCache
		if prev != nil {
			m = prev.dpopMem
		}
		if m == nil {
			m = verify.NewMemoryReplay(nil)
		}
		vc.DPoP.Replay = m
		return nil, m
	}
	prefix := rc.Prefix
	if prefix == "" {
		prefix = "oktafed:gateway:"
	}
	d := &dpopReplay{prefix: prefix + "dpop:"}
	vc.DPoP.Replay = d
	return d, nil
}

func (d *dpopReplay) attach(rs *redisShared) {
	if d != nil && rs != nil && rs.revocations != nil {
		d.rdb = rs.revocations.rdb
	}
}

// Use implements verify.ReplayCache. Without Redis (not yet attached, or
// unreachable) it refuses: a replay check that cannot be made must not
// pass.
func (d *dpopReplay) Use(ctx context.Context, id string, expires time.Time) (bool, error) {
	if d.rdb == nil {
		return false, errors.New("the DPoP replay cache has no Redis client")
	}
	ttl := time.Until(expires)
	if ttl <= 0 {
		ttl = time.Second
	}
	return d.rdb.SetNX(ctx, d.prefix+id, 1, ttl).Result()
}
