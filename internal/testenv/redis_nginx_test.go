package testenv_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/oktafed/oktafed/internal/testenv"
)

func TestRedisTLSWithACL(t *testing.T) {
	t.Parallel()
	user := testenv.RedisACLUser{Name: "u1", Password: "pw-" + strings.Repeat("z", 16), KeyPrefix: "app:"}
	s := testenv.RedisTLS(t, user)
	pool, err := testenv.TestCAPool()
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: user.Name, Password: user.Password, TLSConfig: tc})
	defer c.Close()
	if err := c.Set(ctx, "app:k", "v", 0).Err(); err != nil {
		t.Fatalf("SET as the ACL user over TLS: %v", err)
	}
	if err := c.Set(ctx, "other:k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("SET outside the user's keys: %v", err)
	}
	def := redis.NewClient(&redis.Options{Addr: s.Addr(), TLSConfig: tc})
	defer def.Close()
	if err := def.Ping(ctx).Err(); err == nil {
		t.Fatal("the default user is enabled")
	}
	plain := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: user.Name, Password: user.Password, MaxRetries: -1})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("plain text accepted on the TLS port")
	}
}

func TestRedisClusterAndSentinel(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	cl := testenv.RedisCluster(t, 3)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer cc.Close()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("cluster SET %s: %v", k, err)
		}
	}
	var masters atomic.Int32 // the callback runs once per primary, concurrently
	_ = cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { masters.Add(1); return nil })
	if masters := masters.Load(); masters != 3 {
		t.Fatalf("%d primaries, want 3", masters)
	}

	set := testenv.RedisSentinel(t)
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: set.MasterName, SentinelAddrs: []string{set.Sentinel.Addr()}})
	defer fc.Close()
	if err := fc.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Failover waits for the replica to have the write before promoting
	// it, so the value is there at once, with no waiting.
	set.Failover(t)
	if v, err := set.Replica.Client(t).Get(ctx, "k").Result(); err != nil || v != "before" {
		t.Fatalf("GET k on the promoted replica: %q, %v; want \"before\"", v, err)
	}
}

func TestNginx(t *testing.T) {
	t.Parallel()
	s := testenv.Nginx(t, testenv.NginxOptions{Server: func(port int) string {
		return "server { listen 127.0.0.1:" + strconv.Itoa(port) + "; location / { return 200 \"hello from nginx\\n\"; } }"
	}})
	resp, err := http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from nginx\n" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if strings.Contains(s.ErrorLog(), "[emerg]") {
		t.Errorf("nginx error log: %s", s.ErrorLog())
	}
	s.Stop()
	if _, err := http.Get(s.URL() + "/"); err == nil {
		t.Error("nginx still answers after Stop")
	}
}
