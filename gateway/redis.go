package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktafed/oktafed/verify"
)

// redisShared is what replicas share through one Redis: the revocation
// list and the introspection cache.
type redisShared struct {
	revocations *redisRevocations
	cache       *sharedCache
}

// Enabled reports whether the configuration names a Redis at all.
func (c RedisConfig) Enabled() bool { return c.URL != "" || len(c.Addrs) > 0 }

// NewRedisClient builds the go-redis client a configuration describes:
// a Sentinel-managed primary (MasterName, Addrs are the sentinels), a
// Redis Cluster (Cluster, Addrs are seed nodes) or one node (URL). TLS is
// on with rediss:// or TLS; ACL users come from the URL or
// Username/Password. It does not connect: the first command does.
func NewRedisClient(cfg RedisConfig) (redis.UniversalClient, error) {
	var single *redis.Options
	addrs := cfg.Addrs
	var username, password string
	var db int
	tlsOn := cfg.TLS
	if cfg.URL != "" {
		o, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w (use redis://[user:password@]host:port/0, or rediss:// for TLS)", err)
		}
		single = o
		username, password, db = o.Username, o.Password, o.DB
		if o.TLSConfig != nil {
			tlsOn = true
		}
		if len(addrs) == 0 {
			addrs = []string{o.Addr}
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("redis: no address: set REDIS_URL (redis://host:6379/0) or REDIS_ADDRS")
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("redis addrs: %q is not host:port", a)
		}
	}
	if cfg.Username != "" {
		username = cfg.Username
	}
	if cfg.Password != "" {
		password = cfg.Password
	}
	switch {
	case cfg.Cluster && cfg.MasterName != "":
		return nil, errors.New("redis: cluster and master_name are exclusive: a Redis Cluster has no Sentinel")
	case cfg.Cluster && db != 0:
		return nil, fmt.Errorf("redis: database %d: a Redis Cluster has only database 0", db)
	case !cfg.Cluster && cfg.MasterName == "" && len(addrs) > 1:
		return nil, errors.New("redis: several addrs: set cluster (REDIS_CLUSTER=true) for a Redis Cluster or master_name (REDIS_MASTER_NAME) for Sentinel")
	}
	var tc *tls.Config
	if tlsOn || cfg.CAFile != "" || cfg.CertFile != "" {
		var err error
		if tc, err = redisTLS(cfg, single); err != nil {
			return nil, err
		}
	}
	if cfg.MasterName == "" && !cfg.Cluster {
		o := single
		if o == nil {
			o = &redis.Options{Addr: addrs[0]}
		}
		o.Addr = addrs[0]
		o.Username, o.Password, o.DB, o.TLSConfig = username, password, db, tc
		return redis.NewClient(o), nil
	}
	uo := &redis.UniversalOptions{
		Addrs: addrs, Username: username, Password: password, DB: db,
		MasterName: cfg.MasterName, SentinelUsername: cfg.SentinelUsername, SentinelPassword: cfg.SentinelPassword,
		TLSConfig: tc,
	}
	if cfg.MasterName != "" {
		return sentinelClient{redis.NewFailoverClient(uo.Failover())}, nil
	}
	return redis.NewClusterClient(uo.Cluster()), nil
}

// sentinelClient is a client of a Sentinel-managed primary. Replication
// is asynchronous and a failover can promote a replica while the old
// primary still accepts writes, which are lost when it rejoins as a
// replica; so a revocation counts only once a replica has it too.
type sentinelClient struct{ *redis.Client }

// sentinelAckTimeout bounds the wait for a replica to acknowledge a
// revocation.
const sentinelAckTimeout = time.Second

// redisTLS is the client TLS configuration: the system pool or CAFile,
// an optional client certificate, and the host dialled as the name to
// check unless ServerName says otherwise (each cluster node and sentinel
// is checked against its own name).
func redisTLS(cfg RedisConfig, fromURL *redis.Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if fromURL != nil && fromURL.TLSConfig != nil {
		tc = fromURL.TLSConfig.Clone()
		if len(cfg.Addrs) > 0 {
			tc.ServerName = "" // the URL's host is not every node's
		}
	}
	if cfg.ServerName != "" {
		tc.ServerName = cfg.ServerName
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis client certificate: %w (cert_file and key_file must name a matching PEM certificate and key)", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func newRedisShared(cfg RedisConfig, log *slog.Logger) (*redisShared, error) {
	client, err := NewRedisClient(cfg)
	if err != nil {
		return nil, err
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "oktafed:gateway:"
	}
	setRedisLogger(log)
	rr := &redisRevocations{
		local: newMemoryRevocations(), rdb: client, prefix: prefix, log: log,
		done: make(chan struct{}), stopped: make(chan struct{}),
	}
	rr.keeper.init()
	go rr.follow()
	return &redisShared{revocations: rr, cache: &sharedCache{rdb: client, prefix: prefix + "introspect:", local: map[[32]byte]localEntry{}}}, nil
}

// redisRevocations keeps a replica's revocation list in step with Redis.
// Each revoked jti is a key (expiring with the token) and a message on a
// channel. Every replica mirrors the list in memory, so the hot path is a
// map lookup; the subscription brings new ids within milliseconds, and a
// full rescan on every (re)subscription and every resyncEvery catches
// messages lost while disconnected.
type redisRevocations struct {
	local   *memoryRevocations
	rdb     redis.UniversalClient
	prefix  string
	log     *slog.Logger
	once    sync.Once
	done    chan struct{}
	stopped chan struct{}

	// loaded is set once a full scan of the list has succeeded; downSince
	// (Unix nanoseconds, 0 while connected) is when the feed was lost.
	loaded    atomic.Bool
	downSince atomic.Int64

	keeper keeper // re-publishes what Redis lost (republish.go)
}

const (
	resyncEvery = 30 * time.Second
	// pingEvery is how often the feed checks that Redis still answers,
	// so /readyz reports an outage within seconds: go-redis reconnects a
	// subscription silently and would hide it.
	pingEvery            = 2 * time.Second
	defaultRedisMaxStale = time.Minute
	// revokeTimeout bounds an admin revocation's Redis write.
	revokeTimeout = 5 * time.Second
)

// redisStatus is what readiness needs to know about the shared list.
type redisStatus struct {
	loaded    bool
	down      bool
	downSince time.Time
}

func (r *redisRevocations) status() redisStatus {
	st := redisStatus{loaded: r.loaded.Load()}
	if d := r.downSince.Load(); d != 0 {
		st.down, st.downSince = true, time.Unix(0, d)
	}
	return st
}

// usable reports whether token checks may rely on the list: always when
// failing open; when failing closed, once it has loaded and while Redis
// has not been gone longer than maxStale.
func (st redisStatus) usable(failOpen bool, maxStale time.Duration) bool {
	if failOpen {
		return true
	}
	if !st.loaded {
		return false
	}
	return !st.down || time.Since(st.downSince) <= maxStale
}

func (r *redisRevocations) markDown() {
	r.downSince.CompareAndSwap(0, time.Now().UnixNano())
}

// redisLogger sends go-redis's own messages (reconnects, pool errors) to
// the gateway's structured log instead of the standard logger.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Log(ctx, redisLogLevel(msg), "redis: "+msg)
}

// setRedisLogger installs the gateway's logger for go-redis. go-redis has
// one logger per process, so the last gateway built wins; several
// gateways in one process (tests) share a sink anyway.
func setRedisLogger(log *slog.Logger) { redis.SetLogger(redisLogger{log: log}) }

func (r *redisRevocations) channel() string { return r.prefix + "revocations" }

func (r *redisRevocations) Revoked(ctx context.Context, jti string) bool {
	return r.local.Revoked(ctx, jti)
}

func (r *redisRevocations) Len() int { return r.local.Len() }

// Revoke stores the id in Redis and announces it, and only then lists it
// locally: a revocation Redis did not take is applied nowhere (the caller
// gets an error to retry), never on this replica alone.
func (r *redisRevocations) Revoke(ctx context.Context, jti string, until time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	if err := PublishRevocation(ctx, r.rdb, r.prefix, jti, until); err != nil {
		return err
	}
	return r.local.Revoke(ctx, jti, until)
}

// PublishRevocation writes a revocation to Redis for every gateway sharing
// prefix ("" means the default); the CLI uses it without a gateway. rdb
// may be any client NewRedisClient builds (one node, Cluster, Sentinel).
func PublishRevocation(ctx context.Context, rdb redis.UniversalClient, prefix, jti string, until time.Time) error {
	if prefix == "" {
		prefix = "oktafed:gateway:"
	}
	if jti == "" || strings.ContainsAny(jti, " \n") {
		return errors.New("revoke: jti must be non-empty and have no spaces")
	}
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil // already expired: nothing to refuse
	}
	// The key first: it is what every replica rescans, so a revocation
	// whose announcement is lost still arrives. In a Cluster the key and
	// the channel live on different nodes, so this is no transaction.
	key, val := prefix+"revoked:"+jti, strconv.FormatInt(until.Unix(), 10)
	acked := true
	if _, ok := rdb.(sentinelClient); ok {
		// WAIT counts the replicas that have this connection's writes,
		// so both go down one connection in one pipeline.
		pipe := rdb.Pipeline()
		pipe.Set(ctx, key, val, ttl)
		acks := redis.NewIntCmd(ctx, "wait", 1, sentinelAckTimeout.Milliseconds())
		_ = pipe.Process(ctx, acks)
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("revoke: redis: %w (check the Redis settings and that Redis is reachable)", err)
		}
		acked = acks.Val() >= 1
	} else if err := rdb.Set(ctx, key, val, ttl).Err(); err != nil {
		return fmt.Errorf("revoke: redis: %w (check the Redis settings and that Redis is reachable)", err)
	}
	receivers, err := rdb.Publish(ctx, prefix+"revocations", jti+" "+val).Result()
	if err != nil {
		return fmt.Errorf("revoke: stored, but announcing it failed: %w (replicas pick it up within %v)", err, resyncEvery)
	}
	// Without a replica's acknowledgement the write may be lost with the
	// primary; it still stands when a gateway received it: gateways keep
	// every revocation they have seen and write back what Redis loses
	// (republish.go). With neither, the caller must retry.
	if !acked && receivers == 0 {
		return fmt.Errorf("revoke: no replica acknowledged the revocation within %v and no gateway is listening; a Sentinel failover may be under way, or the primary has no replica left: retry", sentinelAckTimeout)
	}
	return nil
}

func (r *redisRevocations) follow() {
	defer close(r.stopped)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-r.done; cancel() }()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		began := time.Now()
		err := r.subscribeOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = 100 * time.Millisecond // a new outage, not the same one
		}
		r.markDown()
		r.log.Warn("revocation feed from Redis interrupted; retrying", "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		// Capped low: readiness comes back this soon after Redis does.
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (r *redisRevocations) subscribeOnce(ctx context.Context) error {
	sub := r.rdb.Subscribe(ctx, r.channel())
	defer sub.Close()
	// Receive waits for the subscription's confirmation: only then is a
	// rescan sure to miss nothing published afterwards.
	if _, err := sub.Receive(ctx); err != nil {
		return err
	}
	if err := r.resync(ctx); err != nil {
		return err
	}
	if r.downSince.Swap(0) != 0 {
		r.log.Info("revocation feed from Redis restored; list resynced")
	}
	if !r.loaded.Swap(true) {
		r.log.Info("revocation list loaded from Redis", "ids", r.local.Len())
	}
	ch := sub.Channel(redis.WithChannelHealthCheckInterval(15 * time.Second))
	tick := time.NewTicker(resyncEvery)
	defer tick.Stop()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, pingEvery)
			lost, err := r.canaryLost(pctx)
			cancel()
			if err != nil {
				return err
			}
			if lost { // Redis lost its data: rescan and write back now
				if err := r.resync(ctx); err != nil {
					return err
				}
			}
		case <-tick.C:
			if err := r.resync(ctx); err != nil {
				return err
			}
		case msg, ok := <-ch:
			if !ok {
				return errors.New("subscription closed")
			}
			jti, unix, found := strings.Cut(msg.Payload, " ")
			n, err := strconv.ParseInt(unix, 10, 64)
			if !found || err != nil {
				continue
			}
			_ = r.local.Revoke(ctx, jti, time.Unix(n, 0))
		}
	}
}

// resync copies every listed id from Redis into the local list. A Cluster
// spreads the keys over its primaries, so each is scanned.
// Then it writes back the ids this replica holds that Redis has lost
// (republish.go).
func (r *redisRevocations) resync(ctx context.Context) error {
	seen := newSeenSet()
	var err error
	if cc, ok := r.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return r.resyncNode(ctx, node, seen)
		})
	} else {
		err = r.resyncNode(ctx, r.rdb, seen)
	}
	r.keeper.resynced(err)
	if err != nil {
		return err
	}
	return r.republish(ctx, seen)
}

func (r *redisRevocations) resyncNode(ctx context.Context, node redis.UniversalClient, seen *seenSet) error {
	pattern := r.prefix + "revoked:*"
	iter := node.Scan(ctx, 0, pattern, 500).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		// GETs in one pipeline rather than MGET: in a Cluster the keys
		// of one node still span many slots.
		pipe := node.Pipeline()
		cmds := make([]*redis.StringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.Get(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, c := range cmds {
			n, err := strconv.ParseInt(c.Val(), 10, 64)
			if c.Err() != nil || err != nil {
				continue // expired since the scan, or not ours
			}
			jti := strings.TrimPrefix(keys[i], r.prefix+"revoked:")
			seen.add(jti)
			_ = r.local.Revoke(ctx, jti, time.Unix(n, 0))
		}
		keys = keys[:0]
		return nil
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

// Close stops following Redis and closes the connection pool.
func (r *redisRevocations) Close() error {
	r.once.Do(func() { close(r.done) })
	<-r.stopped
	return r.rdb.Close()
}

// sharedCache holds introspection answers in Redis, keyed by the token's
// SHA-256 (never the token), so that one replica's call to the identity
// provider serves them all. A small local map in front saves the Redis
// round trip on repeated tokens.
type sharedCache struct {
	rdb    redis.UniversalClient
	prefix string

	mu    sync.Mutex
	local map[[32]byte]localEntry
}

type localEntry struct {
	p   *verify.Principal
	exp time.Time
}

const (
	sharedTTL      = 2 * time.Minute // verify.DefaultIntrospectTTL: revocation at the IdP shows within it
	localTTL       = 10 * time.Second
	localCacheSize = 10000
)

func (c *sharedCache) get(ctx context.Context, k [32]byte) *verify.Principal {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.local[k]
	c.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.p
	}
	b, err := c.rdb.Get(ctx, c.prefix+hex.EncodeToString(k[:])).Bytes()
	if err != nil {
		return nil
	}
	var p verify.Principal
	if json.Unmarshal(b, &p) != nil || !now.Before(p.Expiry) {
		return nil
	}
	c.remember(k, &p, now)
	return &p
}

func (c *sharedCache) remember(k [32]byte, p *verify.Principal, now time.Time) {
	exp := now.Add(localTTL)
	if p.Expiry.Before(exp) {
		exp = p.Expiry
	}
	c.mu.Lock()
	if len(c.local) >= localCacheSize {
		clear(c.local) // crude but bounded; a miss costs one Redis GET
	}
	c.local[k] = localEntry{p: p, exp: exp}
	c.mu.Unlock()
}

func (c *sharedCache) put(ctx context.Context, k [32]byte, p *verify.Principal) {
	now := time.Now()
	ttl := min(sharedTTL, p.Expiry.Sub(now))
	if ttl <= 0 {
		return
	}
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	_ = c.rdb.Set(ctx, c.prefix+hex.EncodeToString(k[:]), b, ttl).Err()
	c.remember(k, p, now)
}

// sharedVerifier consults the shared introspection cache before the
// verifier for tokens that go to introspection, and fills it after.
type sharedVerifier struct {
	v *verify.Verifier
	c *sharedCache
	// issuers are the introspection providers' issuers: their JWTs are
	// checked by introspection too, so they share answers.
	issuers map[string]bool
	// salt is the fingerprint of the issuers' settings and the role
	// policy, in every cache key: replicas configured alike share
	// answers, and a reload that changes them (audiences, groups) does
	// not serve principals made under the previous ones.
	salt [32]byte
}

// newSharedVerifier wraps v with the cache c for the configuration vc.
func newSharedVerifier(v *verify.Verifier, c *sharedCache, vc verify.Config) (*sharedVerifier, error) {
	sv := &sharedVerifier{v: v, c: c, issuers: map[string]bool{}}
	for _, p := range vc.Providers {
		if p.Type == verify.ProviderIntrospection && p.Issuer != "" {
			sv.issuers[p.Issuer] = true
		}
	}
	b, err := json.Marshal(struct {
		Providers []verify.ProviderConfig
		Policy    verify.Policy
	}{vc.Providers, vc.Policy})
	if err != nil {
		return nil, fmt.Errorf("the shared introspection cache: %w", err)
	}
	sv.salt = sha256.Sum256(b)
	return sv, nil
}

// key is the cache key of token under the verifier's configuration.
func (s *sharedVerifier) key(token string) [32]byte {
	h := sha256.New()
	h.Write(s.salt[:])
	h.Write([]byte(token))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (s *sharedVerifier) Verify(ctx context.Context, token string) (*verify.Principal, error) {
	// JWTs signed by a key we hold never need the shared cache; only
	// opaque tokens and JWTs of introspection issuers do.
	shared := strings.Count(token, ".") != 2 || s.issuers[peekIssuer(token)]
	var k [32]byte
	if shared {
		k = s.key(token)
		if p := s.c.get(ctx, k); p != nil {
			return p.Clone(), nil
		}
	}
	p, err := s.v.Verify(ctx, token)
	if err != nil || !p.Introspected {
		return p, err
	}
	if !shared {
		k = s.key(token)
	}
	s.c.put(ctx, k, p.Clone())
	return p, nil
}

// peekIssuer reads iss from a JWT's payload without verifying anything; it
// only picks a cache to look in, never grants access.
func peekIssuer(token string) string {
	_, rest, _ := strings.Cut(token, ".")
	payload, _, ok := strings.Cut(rest, ".")
	if !ok || len(payload) > 8<<10 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Iss
}
