package gateway_test

// Redis at scale, against real servers the tests start: a 3-primary
// Redis Cluster, a Sentinel with a primary and a replica failed over
// during the test, and TLS with a test CA and an ACL user.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// revokeRetry revokes through a gateway, retrying while Redis is
// changing hands (the gateway answers 503 and the admin retries).
func revokeRetry(t *testing.T, via *running, admin string, form url.Values) {
	t.Helper()
	base := via.url
	// A Sentinel reconfigures the old primary as a replica on its next
	// check (every 10s); until a replica acknowledges, revocations fail.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := revoke(t, base, admin, form)
		if st == 200 {
			return
		}
		if time.Now().After(deadline) {
			var lines []string
			for l := range strings.SplitSeq(via.logs.String(), "\n") {
				if strings.Contains(l, "revocation failed") {
					lines = append(lines, l)
				}
			}
			if len(lines) > 3 {
				lines = lines[len(lines)-3:]
			}
			t.Fatalf("revoke: %d for 30s; last failures:\n%s", st, strings.Join(lines, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRedisClusterSharesRevocations(t *testing.T) {
	t.Parallel()
	cl := testenv.RedisCluster(t, 3)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, echoUpstream(t).URL)
	env := map[string]string{"REDIS_ADDRS": strings.Join(cl.Addrs(), ","), "REDIS_CLUSTER": "true"}
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	cfg.Redis.Prefix = "test:cluster:"
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)

	// Enough ids that their keys land on every primary.
	var toks []string
	for i := range 12 {
		tok := mint(t, sb, nil, []string{"readers"}, map[string]any{"jti": fmt.Sprintf("AT.cluster-%d", i)})
		toks = append(toks, tok)
		via := a
		if i%2 == 1 {
			via = b
		}
		revokeRetry(t, via, admin, url.Values{"token": {tok}})
	}
	// What `oktafed-gateway revoke` does, through a cluster client.
	rdb, err := gateway.NewRedisClient(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cliTok := mint(t, sb, nil, []string{"readers"}, map[string]any{"jti": "AT.cluster-cli"})
	if err := gateway.PublishRevocation(context.Background(), rdb, cfg.Redis.Prefix, "AT.cluster-cli", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	toks = append(toks, cliTok)
	for _, g := range []*running{a, b} {
		for _, tok := range toks {
			waitStatus(t, g.url+"/x", tok, 401)
		}
	}
	if st, _, _ := do(t, "GET", a.url+"/x", admin, nil); st != 200 {
		t.Fatalf("an unrevoked token: %d", st)
	}
	// The keys really are spread over the primaries, and a replica
	// started later finds them all by scanning each.
	spread := 0
	for _, n := range cl.Nodes {
		keys, err := n.Client(t).Keys(context.Background(), cfg.Redis.Prefix+"revoked:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			spread++
		}
	}
	if spread < 2 {
		t.Fatalf("revocation keys on %d primaries; the test needs them spread", spread)
	}
	c := startGateway(t, cfg)
	if n := c.gw.Revocations().Len(); n != len(toks) {
		t.Fatalf("a replica started later lists %d ids, want %d", n, len(toks))
	}
	for _, tok := range toks {
		if st, _, _ := do(t, "GET", c.url+"/x", tok, nil); st != 401 {
			t.Fatalf("late replica: %d", st)
		}
	}
}

func TestRedisSentinelFailoverKeepsRevocations(t *testing.T) {
	t.Parallel()
	set := testenv.RedisSentinel(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, echoUpstream(t).URL)
	env := map[string]string{"REDIS_ADDRS": set.Sentinel.Addr(), "REDIS_MASTER_NAME": set.MasterName}
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	cfg.Redis.Prefix = "test:sentinel:"
	cfg.Redis.MaxStale = time.Minute // a failover takes seconds
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	before := mint(t, sb, nil, []string{"readers"}, map[string]any{"jti": "AT.before-failover"})
	after := mint(t, sb, nil, []string{"readers"}, map[string]any{"jti": "AT.after-failover"})
	kept := mint(t, sb, nil, []string{"readers"}, nil)

	revokeRetry(t, a, admin, url.Values{"token": {before}})
	waitStatus(t, b.url+"/x", before, 401)
	// The replica has it before the primary goes (replication is
	// asynchronous; this is what "made before the failover" means).
	testenv.WaitFor(t, 10*time.Second, "the revocation on the replica", func() bool {
		n, err := set.Replica.Client(t).Exists(context.Background(), cfg.Redis.Prefix+"revoked:AT.before-failover").Result()
		return err == nil && n == 1
	})

	set.Failover(t)
	revokeRetry(t, b, admin, url.Values{"token": {after}})

	for _, g := range []*running{a, b} {
		waitStatus(t, g.url+"/x", before, 401)
		waitStatus(t, g.url+"/x", after, 401)
		waitStatus(t, g.url+"/x", kept, 200)
	}
	// Both are on the new primary, where a replica started now reads them.
	n, err := set.Replica.Client(t).Exists(context.Background(), cfg.Redis.Prefix+"revoked:AT.before-failover", cfg.Redis.Prefix+"revoked:AT.after-failover").Result()
	if err != nil || n != 2 {
		t.Fatalf("new primary holds %d of the 2 revocations (%v)", n, err)
	}
	c := startGateway(t, cfg)
	for _, tok := range []string{before, after} {
		if st, _, _ := do(t, "GET", c.url+"/x", tok, nil); st != 401 {
			t.Fatalf("replica started after the failover: %d", st)
		}
	}
}

func TestRedisTLSWithACLUser(t *testing.T) {
	t.Parallel()
	user := testenv.RedisACLUser{Name: "oktafed-gw", Password: "s3cret-" + strings.Repeat("x", 20), KeyPrefix: "oktafed:"}
	rs := testenv.RedisTLS(t, user)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := echoUpstream(t).URL
	base := oktaConfig(t, sb, up)
	tlsURL := fmt.Sprintf("rediss://%s:%s@%s/0", user.Name, user.Password, rs.Addr())

	cfg := base
	env := map[string]string{"REDIS_URL": tlsURL, "REDIS_CA_FILE": rs.TLS.CAFile}
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	cfg.Redis.Prefix = "oktafed:tls:"
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	tok := mint(t, sb, nil, []string{"readers"}, nil)
	revokeRetry(t, a, admin, url.Values{"token": {tok}})
	waitStatus(t, b.url+"/x", tok, 401)

	// Password from REDIS_PASSWORD instead of the URL.
	viaEnv := base
	env = map[string]string{"REDIS_URL": "rediss://" + rs.Addr() + "/0", "REDIS_USERNAME": user.Name, "REDIS_PASSWORD": user.Password, "REDIS_CA_FILE": rs.TLS.CAFile}
	if err := viaEnv.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	viaEnv.Redis.Prefix = "oktafed:tls:"
	c := startGateway(t, viaEnv)
	waitStatus(t, c.url+"/x", tok, 401)

	refused := []struct {
		name string
		mod  func(*gateway.RedisConfig)
		log  string
	}{
		{"wrong password", func(r *gateway.RedisConfig) {
			r.URL = fmt.Sprintf("rediss://%s:wrong-password@%s/0", user.Name, rs.Addr())
		}, "WRONGPASS"},
		{"the system CAs do not know the test CA", func(r *gateway.RedisConfig) { r.CAFile = "" }, "certificate"},
		{"plain text to the TLS port", func(r *gateway.RedisConfig) {
			r.URL = fmt.Sprintf("redis://%s:%s@%s/0", user.Name, user.Password, rs.Addr())
			r.CAFile = ""
		}, "revocation feed"},
		{"keys outside the user's ACL", func(r *gateway.RedisConfig) { r.Prefix = "elsewhere:" }, "NOPERM"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			bad := cfg
			tc.mod(&bad.Redis)
			g := startGatewayWith(t, bad, gateway.Options{})
			testenv.WaitFor(t, 10*time.Second, "the failure in the log", func() bool {
				return strings.Contains(g.logs.String(), tc.log)
			})
			if g.gw.Ready() {
				t.Fatal("ready without a usable revocation list (fail-closed)")
			}
			if st, _, _ := do(t, "GET", g.url+"/x", admin, nil); st != 503 {
				t.Fatalf("a token was judged without the revocation list: %d", st)
			}
			if strings.Contains(g.logs.String(), user.Password) {
				t.Fatal("the Redis password reached the log")
			}
		})
	}
}

func TestNewRedisClientRefusesAmbiguousSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  gateway.RedisConfig
		want string
	}{
		{gateway.RedisConfig{}, "no address"},
		{gateway.RedisConfig{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}, "several addrs"},
		{gateway.RedisConfig{Addrs: []string{"127.0.0.1:1"}, Cluster: true, MasterName: "m"}, "exclusive"},
		{gateway.RedisConfig{URL: "redis://127.0.0.1:1/3", Cluster: true}, "only database 0"},
		{gateway.RedisConfig{Addrs: []string{"cache"}}, "host:port"},
		{gateway.RedisConfig{URL: "http://127.0.0.1:1"}, "redis url"},
		{gateway.RedisConfig{URL: "rediss://127.0.0.1:1", CAFile: "/nonexistent/ca.pem"}, "ca_file"},
	} {
		c, err := gateway.NewRedisClient(tc.cfg)
		if err == nil {
			c.Close()
			t.Errorf("%+v: accepted", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
