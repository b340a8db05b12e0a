package gateway

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// A revocation must outlive a Redis accident: a primary without
// persistence that restarts comes back empty (and its replicas resync to
// empty from it), a FLUSHALL, an evicting maxmemory policy, or a failover
// that promoted a replica which had not received the last writes. Every
// replica keeps each revocation it has seen (from its own admin endpoint,
// the channel or a rescan) in memory until the token's expiry, so it
// keeps refusing it whatever Redis says; and after every rescan (on each
// reconnect or failover, and every resyncEvery) it writes back the ids
// Redis no longer has, so a replica started afterwards loads them too. A
// revocation is therefore lost only when Redis loses it and every replica
// that saw it stops before the next rescan.
//
// The consequence an operator should know: a revocation cannot be undone
// by deleting its key while replicas that saw it run; it ends at the
// token's expiry.

// keeper holds the metrics of what the replica re-published and of
// Redis's health.
type keeper struct {
	republished prometheus.Counter
	resyncs     *prometheus.CounterVec
	// persistence is 1 when Redis persists (AOF or RDB snapshots), 0 when
	// it does not, -1 before the check or when Redis refused it.
	persistence atomic.Int64
	checked     atomic.Bool
}

func (k *keeper) init() {
	k.persistence.Store(-1)
	k.republished = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "oktafed_gateway_revocations_republished_total",
		Help: "Revocations this replica wrote back to Redis because Redis had lost them (restart without persistence, flush, failover).",
	})
	k.resyncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oktafed_gateway_revocation_resyncs_total",
		Help: "Full rescans of the revocation list in Redis, by result (ok or error).",
	}, []string{"result"})
	k.resyncs.WithLabelValues("ok")
	k.resyncs.WithLabelValues("error")
}

func (k *keeper) resynced(err error) {
	if err != nil {
		k.resyncs.WithLabelValues("error").Inc()
		return
	}
	k.resyncs.WithLabelValues("ok").Inc()
}

// registerMetrics adds the Redis health and revocation-list series.
func (r *redisRevocations) registerMetrics(reg *prometheus.Registry) {
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "oktafed_gateway_redis_up",
		Help: "1 while the revocation feed from Redis is connected and the list loaded, else 0.",
	}, func() float64 {
		st := r.status()
		if st.loaded && !st.down {
			return 1
		}
		return 0
	})
	down := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "oktafed_gateway_redis_unreachable_seconds",
		Help: "Seconds since the revocation feed from Redis was lost; 0 while connected.",
	}, func() float64 {
		if st := r.status(); st.down {
			return time.Since(st.downSince).Seconds()
		}
		return 0
	})
	persist := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "oktafed_gateway_redis_persistence",
		Help: "1 when the Redis written to persists its data (appendonly or save), 0 when it does not, -1 when unknown (CONFIG and INFO refused).",
	}, func() float64 { return float64(r.keeper.persistence.Load()) })
	reg.MustRegister(up, down, persist, r.keeper.republished, r.keeper.resyncs)
}

// seenSet is the ids one rescan found in Redis. A Cluster's primaries
// are scanned at the same time (ForEachMaster), so it takes a lock.
type seenSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func newSeenSet() *seenSet { return &seenSet{ids: map[string]struct{}{}} }

func (s *seenSet) add(jti string) {
	s.mu.Lock()
	s.ids[jti] = struct{}{}
	s.mu.Unlock()
}

func (s *seenSet) has(jti string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[jti]
	return ok
}

// unexpired lists the ids still revoked and until when.
func (m *memoryRevocations) unexpired(now time.Time) map[string]time.Time {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]time.Time, len(m.ids))
	for k, u := range m.ids {
		if now.Before(u) {
			out[k] = u
		}
	}
	return out
}

// The canary is a key without expiry that every rescan writes. The feed
// checks it every pingEvery instead of a PING: go-redis reconnects and
// follows a failover silently, so a primary that restarted empty, a
// failover to a replica that had resynced to empty, or a FLUSHALL would
// otherwise go unseen until the next periodic rescan. In a Cluster it
// watches the node holding its slot; the periodic rescan covers the
// others.
func (r *redisRevocations) canaryKey() string { return r.prefix + "canary" }

// canaryLost reports whether the canary has gone since the last rescan.
func (r *redisRevocations) canaryLost(ctx context.Context) (bool, error) {
	n, err := r.rdb.Exists(ctx, r.canaryKey()).Result()
	if err != nil {
		return false, err
	}
	if n == 0 {
		r.log.Warn("Redis lost its data (restart without persistence, flush or failover to an empty replica); rescanning the revocation list")
	}
	return n == 0, nil
}

// republishBatch bounds the writes sent in one pipeline.
const republishBatch = 500

// republish writes back the ids this replica holds and the rescan did not
// find. SET NX never shortens a revocation another replica wrote since;
// each write is announced so replicas that never saw it list it at once.
// On a Sentinel-managed primary it waits for a replica to have the writes
// (WAIT), as PublishRevocation does.
func (r *redisRevocations) republish(ctx context.Context, seen *seenSet) error {
	if r.keeper.checked.CompareAndSwap(false, true) {
		r.checkPersistence(ctx)
	}
	// Written before the comparison: a loss after this point shows at the
	// next canary check.
	if err := r.rdb.Set(ctx, r.canaryKey(), "1", 0).Err(); err != nil {
		return err
	}
	now := time.Now()
	var missing []string
	local := r.local.unexpired(now)
	for jti := range local {
		if !seen.has(jti) {
			missing = append(missing, jti)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	written := 0
	for start := 0; start < len(missing); start += republishBatch {
		batch := missing[start:min(start+republishBatch, len(missing))]
		pipe := r.rdb.Pipeline()
		for _, jti := range batch {
			until := local[jti]
			ttl := until.Sub(now)
			if ttl <= 0 {
				continue
			}
			val := strconv.FormatInt(until.Unix(), 10)
			pipe.SetNX(ctx, r.prefix+"revoked:"+jti, val, ttl)
			pipe.Publish(ctx, r.channel(), jti+" "+val)
		}
		var acks *redis.IntCmd
		if _, ok := r.rdb.(sentinelClient); ok {
			acks = redis.NewIntCmd(ctx, "wait", 1, sentinelAckTimeout.Milliseconds())
			_ = pipe.Process(ctx, acks)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if acks != nil && acks.Val() < 1 {
			r.log.Warn("revocations written back to Redis, but no replica acknowledged them yet; the next rescan checks again",
				"ids", len(batch), "rescan_every", resyncEvery.String())
		}
		written += len(batch)
	}
	r.keeper.republished.Add(float64(written))
	r.log.Warn("Redis had lost revocations this replica holds; wrote them back",
		"ids", written, "hint", "give Redis persistence (appendonly yes) so a restart keeps them")
	return nil
}

// checkPersistence warns when the Redis the revocations go to keeps
// nothing across a restart. CONFIG may be disabled or renamed (managed
// Redis services do), so INFO persistence is the fallback; when both are
// refused the state stays unknown and a debug line says so.
func (r *redisRevocations) checkPersistence(ctx context.Context) {
	persists, how, err := redisPersists(ctx, r.rdb)
	if err != nil {
		r.log.Debug("cannot tell whether Redis persists its data (CONFIG and INFO refused)", "err", err.Error())
		return
	}
	if persists {
		r.keeper.persistence.Store(1)
		return
	}
	r.keeper.persistence.Store(0)
	r.log.Warn("Redis has no persistence: a restart empties it; revocations then live on only in the gateways that saw them, which write them back",
		"redis", how, "fix", "set appendonly yes (or a save schedule) on every Redis node; see the README's Redis section")
}

// redisPersists asks every primary (each node of a Cluster) whether it
// writes its data to disk. how describes what it found.
func redisPersists(ctx context.Context, rdb redis.UniversalClient) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		// ForEachMaster calls back for every primary at once.
		var mu sync.Mutex
		all, hows := true, []string{}
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			p, how, err := nodePersists(ctx, node)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			all = all && p
			hows = append(hows, node.Options().Addr+": "+how)
			return nil
		})
		return all, strings.Join(hows, "; "), err
	}
	return nodePersists(ctx, rdb)
}

func nodePersists(ctx context.Context, c redis.Cmdable) (bool, string, error) {
	cfg, err := c.ConfigGet(ctx, "appendonly").Result()
	if err == nil {
		save, err2 := c.ConfigGet(ctx, "save").Result()
		if err2 == nil {
			aof, rdb := cfg["appendonly"] == "yes", strings.TrimSpace(save["save"]) != ""
			return aof || rdb, "appendonly " + cfg["appendonly"] + ", save \"" + save["save"] + "\"", nil
		}
	}
	info, ierr := c.Info(ctx, "persistence").Result()
	if ierr != nil {
		return false, "", errors.Join(err, ierr)
	}
	// INFO shows AOF directly; RDB snapshots only by their traces: a save
	// schedule makes rdb_changes_since_last_save reset, which INFO cannot
	// tell apart from none, so only AOF counts as persistence here.
	aof := infoField(info, "aof_enabled") == "1"
	return aof, "aof_enabled:" + infoField(info, "aof_enabled") + " (from INFO; CONFIG refused)", nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// redisNoisy matches go-redis messages that report a fault; the others
// (sentinel discovering a primary, pool housekeeping) are information.
var (
	redisNoisy = regexp.MustCompile(`(?i)fail|error|\berr\b|can't|cannot|bad|discard|unable|invalid|refused|timeout|timed out`)
	redisPanic = regexp.MustCompile(`(?i)panic`)
)

// redisLogLevel is the level a go-redis message is logged at: go-redis
// has one Printf for everything.
func redisLogLevel(msg string) slog.Level {
	switch {
	case redisPanic.MatchString(msg):
		return slog.LevelError
	case redisNoisy.MatchString(msg):
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
