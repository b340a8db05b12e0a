package gateway_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// TestRevocationsOutliveSentinelPrimaryRestart replays the accident: a
// Sentinel-managed primary without persistence crashes and is restarted
// inside the failover window, so it comes back empty and its replica
// resyncs to empty from it. The gateway that saw the 14 acknowledged
// revocations writes them back, they reach the replica, the replica is
// promoted, and a gateway started afterwards refuses all 14 tokens.
func TestRevocationsOutliveSentinelPrimaryRestart(t *testing.T) {
	set := testenv.RedisSentinel(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	up := echoUpstream(t).URL
	cfg := oktaConfig(t, sb, up)
	cfg.Redis.Addrs = []string{set.Sentinel.Addr()}
	cfg.Redis.MasterName = set.MasterName
	cfg.Redis.Prefix = "test:sentinel-restart:"
	a := startGateway(t, cfg)
	ctx := context.Background()

	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
	const n = 14
	var victims []string
	for i := range n {
		tok := mint(t, sb, []string{"orders.read"}, []string{"readers"}, map[string]any{"jti": fmt.Sprintf("AT.lost-%02d", i)})
		if st := revoke(t, a.url, admin, url.Values{"token": {tok}}); st != 200 {
			t.Fatalf("revocation %d not acknowledged: %d", i, st)
		}
		victims = append(victims, tok)
	}
	keys := func(c *redis.Client) int {
		ks, err := c.Keys(ctx, cfg.Redis.Prefix+"revoked:*").Result()
		if err != nil {
			return -1
		}
		return len(ks)
	}
	replica := set.Replica.Client(t)
	if got := keys(replica); got != n {
		t.Fatalf("the replica holds %d acknowledged revocations, want %d", got, n)
	}
	if !strings.Contains(a.logs.String(), "Redis has no persistence") {
		t.Errorf("no warning that Redis has no persistence:\n%s", a.logs.String())
	}

	// The crash, and a supervisor restarting the primary at once: empty.
	t.Logf("%s kill", time.Now().Format("15:04:05.000"))
	set.Primary.Kill()
	set.Primary.Restart(t)
	primary := set.Primary.Client(t)

	// The gateway notices the lost connection, rescans and writes back.
	testenv.WaitFor(t, 30*time.Second, "the gateway to write the lost revocations back", func() bool {
		return strings.Contains(a.logs.String(), `"msg":"Redis had lost revocations this replica holds; wrote them back","ids":14`)
	})
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("last state: %s\ngateway log:\n%s", last, a.logs.String())
		}
	}()
	// Sentinel may or may not have promoted the replica meanwhile (its
	// down-after is 1s here): either way both nodes must hold all 14 and
	// the surviving replica be in sync.
	testenv.WaitFor(t, 30*time.Second, "both Redis nodes to hold the revocations again, in sync", func() bool {
		pinfo, _ := primary.Info(ctx, "replication").Result()
		rinfo, _ := replica.Info(ctx, "replication").Result()
		last = fmt.Sprintf("old primary keys %d, old replica keys %d\nold primary: %s\nold replica: %s", keys(primary), keys(replica), pinfo, rinfo)
		return keys(primary) == n && keys(replica) == n && strings.Contains(pinfo+rinfo, "master_link_status:up")
	})
	t.Logf("%s written back and replicated", time.Now().Format("15:04:05.000"))

	b := startGateway(t, cfg)
	for i, tok := range victims {
		if st, _, _ := do(t, "GET", b.url+"/x", tok, nil); st != 401 {
			t.Errorf("revocation %d lost: a gateway started after the accident answers %d, want 401", i, st)
		}
	}
	if st, _, _ := do(t, "GET", b.url+"/x", admin, nil); st != 200 {
		t.Errorf("an unrevoked token on the new gateway: %d, want 200", st)
	}
	for i, tok := range victims {
		if st, _, _ := do(t, "GET", a.url+"/x", tok, nil); st != 401 {
			t.Errorf("revocation %d: the gateway that saw it answers %d, want 401", i, st)
		}
	}
}

// TestRevocationWindowAfterPrimaryLoss measures, for the README, how long
// admin revocations are refused (503, retry) when a Sentinel-managed
// primary dies for good: from the crash until the promoted replica takes
// writes. It asserts only that every refusal is a 503 the client can
// retry and that revocations are taken again afterwards; the duration is
// logged (here down-after-milliseconds is 1s; production's default 30s
// adds 29s).
func TestRevocationWindowAfterPrimaryLoss(t *testing.T) {
	set := testenv.RedisSentinel(t)
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, echoUpstream(t).URL)
	cfg.Redis.Addrs = []string{set.Sentinel.Addr()}
	cfg.Redis.MasterName = set.MasterName
	cfg.Redis.Prefix = "test:sentinel-window:"
	a := startGateway(t, cfg)
	admin := mint(t, sb, nil, []string{"aws-admins"}, nil)

	set.Primary.Kill()
	crashed := time.Now()
	refused := 0
	var took time.Duration
	for i := 0; ; i++ {
		if time.Since(crashed) > 90*time.Second {
			t.Fatalf("revocations still refused %v after the primary died (%d refusals)", time.Since(crashed), refused)
		}
		st := revoke(t, a.url, admin, url.Values{"jti": {fmt.Sprintf("AT.window-%d", i)}})
		if st == 200 {
			took = time.Since(crashed)
			break
		}
		if st != 503 {
			t.Fatalf("revocation during the failover: %d, want 503 (retry) or 200", st)
		}
		refused++
	}
	t.Logf("the first revocation after the primary died was taken %v after the crash (%d refused with 503 before); down-after-milliseconds 1000", took.Round(100*time.Millisecond), refused)
}
