package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server of Debian's package listening on
// 127.0.0.1 only, with persistence off.
type RedisServer struct {
	Host    string // always 127.0.0.1
	Port    int
	Dir     string
	LogPath string
	// TLS is set for servers started by RedisTLS: Port then speaks TLS
	// only, with a certificate from the test CA (TestCAPool) for
	// 127.0.0.1.
	TLS *RedisTLSFiles

	proc *proc
}

// RedisTLSFiles are the PEM files a TLS server uses; CAFile is what a
// client trusts.
type RedisTLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Redis starts a Redis server for t and stops it when t ends. It starts in
// a few milliseconds, so there is no shared variant.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	s, err := startRedis(redisSpec{})
	check(t, "Redis", err)
	cleanupServer(t, s.proc, s.Stop)
	return s
}

// RedisACLUser is an ACL user a test server creates, limited to keys and
// channels starting with KeyPrefix.
type RedisACLUser struct {
	Name, Password, KeyPrefix string
}

// RedisTLS starts a Redis server that accepts only TLS connections (the
// test CA's certificate for 127.0.0.1; clients need no certificate),
// with the default user disabled and user as its only account.
func RedisTLS(t testing.TB, user RedisACLUser) *RedisServer {
	t.Helper()
	s, err := startRedis(redisSpec{tls: true, user: &user})
	check(t, "Redis with TLS", err)
	cleanupServer(t, s.proc, s.Stop)
	return s
}

// Addr returns host:port, as Redis clients take it.
func (s *RedisServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Log returns the server's log so far.
func (s *RedisServer) Log() string { return s.proc.log() }

// Stop shuts the server down and removes its directory. It is safe to
// call more than once.
func (s *RedisServer) Stop() {
	s.proc.stop()
	os.RemoveAll(s.Dir)
}

// Kill stops the server at once (SIGKILL), as a crashed node would.
func (s *RedisServer) Kill() {
	_ = syscall.Kill(-s.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-s.proc.done
}

// Restart starts a killed server again on its port with its
// configuration, as a supervisor restarting a crashed node does. Without
// persistence (the default here) it comes back empty.
func (s *RedisServer) Restart(t testing.TB) {
	t.Helper()
	cmd := exec.Command(redisBin, filepath.Join(s.Dir, "redis.conf"))
	cmd.Dir = s.Dir
	cmd.Env = serverEnv()
	s.LogPath = filepath.Join(s.Dir, "redis-restarted.log")
	p, err := startProc("redis-server", cmd, s.LogPath, syscall.SIGTERM)
	if err == nil {
		if err = p.waitLog("Ready to accept connections"); err != nil {
			p.stop()
		}
	}
	if err != nil {
		t.Fatalf("restarting redis-server on port %d: %v", s.Port, err)
	}
	s.proc = p
}

// Client returns a plain go-redis client for the server (not for TLS
// servers), closed when t ends.
func (s *RedisServer) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisSpec says how to configure one server.
type redisSpec struct {
	tls       bool
	user      *RedisACLUser
	cluster   bool
	replicaOf string // host:port
	sentinel  string // the monitor line's master name and address, for a sentinel
}

const redisBin = "/usr/bin/redis-server"

func startRedis(spec redisSpec) (*RedisServer, error) {
	if _, err := os.Stat(redisBin); err != nil {
		return nil, missing("%s not found (Debian package redis-server)", redisBin)
	}
	dir, err := newServerDir("redis-", nil)
	if err != nil {
		return nil, err
	}
	var tlsFiles *RedisTLSFiles
	if spec.tls {
		f, err := writeServerTLS(dir, nil)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		tlsFiles = &RedisTLSFiles{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile}
	}
	logPath := filepath.Join(dir, "redis.log")
	confPath := filepath.Join(dir, "redis.conf")
	p, port, err := startOnFreePort(func(port int) (*proc, error) {
		// Settings go in a file: ACL passwords stay out of argv, and a
		// sentinel must be able to rewrite its configuration.
		var c strings.Builder
		fmt.Fprintf(&c, "bind 127.0.0.1\ndir %s\nsave \"\"\nappendonly no\ndaemonize no\nlogfile \"\"\nprotected-mode yes\nrepl-diskless-sync-delay 0\n", dir)
		if spec.tls {
			fmt.Fprintf(&c, "port 0\ntls-port %d\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\n",
				port, tlsFiles.CertFile, tlsFiles.KeyFile, tlsFiles.CAFile)
		} else {
			fmt.Fprintf(&c, "port %d\n", port)
		}
		if u := spec.user; u != nil {
			fmt.Fprintf(&c, "user default off\nuser %s on >%s ~%s* &%s* +@all\n", u.Name, u.Password, u.KeyPrefix, u.KeyPrefix)
		}
		if spec.cluster {
			fmt.Fprintf(&c, "cluster-enabled yes\ncluster-config-file %s\ncluster-node-timeout 2000\n", filepath.Join(dir, "nodes.conf"))
		}
		if spec.replicaOf != "" {
			h, pt, _ := net.SplitHostPort(spec.replicaOf)
			fmt.Fprintf(&c, "replicaof %s %s\n", h, pt)
		}
		if spec.sentinel != "" {
			fmt.Fprintf(&c, "%s\n", spec.sentinel)
		}
		if err := os.WriteFile(confPath, []byte(c.String()), 0o600); err != nil {
			return nil, err
		}
		args := []string{confPath}
		if spec.sentinel != "" {
			args = append(args, "--sentinel")
		}
		cmd := exec.Command(redisBin, args...)
		cmd.Dir = dir
		cmd.Env = serverEnv()
		p, err := startProc("redis-server", cmd, logPath, syscall.SIGTERM)
		if err != nil {
			return nil, err
		}
		marker := "Ready to accept connections"
		if spec.sentinel != "" {
			marker = "+monitor"
		}
		if err := p.waitLog(marker); err != nil {
			p.stop()
			return p, err
		}
		return p, nil
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &RedisServer{Host: "127.0.0.1", Port: port, Dir: dir, LogPath: logPath, TLS: tlsFiles, proc: p}, nil
}

// RedisClusterSet is a local Redis Cluster of primaries without replicas.
type RedisClusterSet struct {
	Nodes []*RedisServer
}

// Addrs returns the nodes' addresses, as seed addresses for a client.
func (c *RedisClusterSet) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// RedisCluster starts n (at least 3) cluster-enabled servers, assigns the
// 16384 slots among them with redis-cli --cluster create, and waits until
// every node reports the cluster ok. It takes about a second.
func RedisCluster(t testing.TB, n int) *RedisClusterSet {
	t.Helper()
	if n < 3 {
		t.Fatalf("a Redis Cluster needs at least 3 primaries, not %d", n)
	}
	cli, err := exec.LookPath("/usr/bin/redis-cli")
	if err != nil {
		Unavailable(t, "redis-cli not found (Debian package redis-tools)")
	}
	set := &RedisClusterSet{}
	for range n {
		s, err := startRedis(redisSpec{cluster: true})
		check(t, "Redis Cluster node", err)
		cleanupServer(t, s.proc, s.Stop)
		set.Nodes = append(set.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, set.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.Command(cli, args...)
	cmd.Env = serverEnv()
	if err := runLogged(cmd); err != nil {
		t.Fatalf("creating the Redis Cluster: %v", err)
	}
	WaitFor(t, 30*time.Second, "the Redis Cluster to report cluster_state:ok on every node", func() bool {
		for _, s := range set.Nodes {
			c := redis.NewClient(&redis.Options{Addr: s.Addr()})
			info, err := c.ClusterInfo(context.Background()).Result()
			c.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	})
	return set
}

// RedisSentinelSet is a primary, one replica and one sentinel watching
// them under MasterName.
type RedisSentinelSet struct {
	Primary, Replica, Sentinel *RedisServer
	MasterName                 string
}

// RedisSentinel starts a primary, a replica of it and a sentinel that
// monitors them (quorum 1, down after 1s), and waits until the replica is
// in sync and the sentinel knows it, so a failover can start at once.
func RedisSentinel(t testing.TB) *RedisSentinelSet {
	t.Helper()
	set := &RedisSentinelSet{MasterName: "oktafed-test"}
	var err error
	set.Primary, err = startRedis(redisSpec{})
	check(t, "Redis primary", err)
	cleanupServer(t, set.Primary.proc, set.Primary.Stop)
	set.Replica, err = startRedis(redisSpec{replicaOf: set.Primary.Addr()})
	check(t, "Redis replica", err)
	cleanupServer(t, set.Replica.proc, set.Replica.Stop)
	mon := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 10000\nsentinel resolve-hostnames no",
		set.MasterName, set.Primary.Port, set.MasterName, set.MasterName)
	set.Sentinel, err = startRedis(redisSpec{sentinel: mon})
	check(t, "Redis Sentinel", err)
	cleanupServer(t, set.Sentinel.proc, set.Sentinel.Stop)
	sc := redis.NewSentinelClient(&redis.Options{Addr: set.Sentinel.Addr()})
	defer sc.Close()
	WaitFor(t, 30*time.Second, "the replica to sync and the sentinel to see it", func() bool {
		reps, err := sc.Replicas(context.Background(), set.MasterName).Result()
		if err != nil || len(reps) == 0 {
			return false
		}
		for _, r := range reps {
			if strings.Contains(r["flags"], "down") || strings.Contains(r["flags"], "disconnected") || r["master-link-status"] != "ok" {
				return false
			}
		}
		return true
	})
	return set
}

// WaitReplicated waits until the replica has applied every write the
// primary has taken so far (its replication offset has reached the
// primary's). Replication is asynchronous: right after a full sync the
// primary streams nothing until the replica's first acknowledgement, up to
// a second later, and a write made in that window is lost if the replica
// is promoted before it arrives.
func (s *RedisSentinelSet) WaitReplicated(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	pc := redis.NewClient(&redis.Options{Addr: s.Primary.Addr()})
	defer pc.Close()
	rc := redis.NewClient(&redis.Options{Addr: s.Replica.Addr()})
	defer rc.Close()
	info, err := pc.Info(ctx, "replication").Result()
	if err != nil {
		t.Fatalf("INFO replication on the primary: %v", err)
	}
	want, ok := infoInt(info, "master_repl_offset")
	if !ok {
		t.Fatalf("the primary's INFO replication has no master_repl_offset:\n%s", info)
	}
	WaitFor(t, 30*time.Second, fmt.Sprintf("the replica to reach the primary's replication offset %d", want), func() bool {
		info, err := rc.Info(ctx, "replication").Result()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			return false
		}
		got, ok := infoInt(info, "slave_repl_offset")
		return ok && got >= want
	})
}

// infoInt returns the integer field name of an INFO reply.
func infoInt(info, name string) (int64, bool) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// Failover waits until the replica has every write made so far
// (WaitReplicated), asks the sentinel to promote it and waits until the
// sentinel names the replica's address as the primary.
func (s *RedisSentinelSet) Failover(t testing.TB) {
	t.Helper()
	s.WaitReplicated(t)
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr()})
	defer sc.Close()
	ctx := context.Background()
	if err := sc.Failover(ctx, s.MasterName).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	WaitFor(t, 30*time.Second, "the sentinel to promote the replica", func() bool {
		addr, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		return err == nil && len(addr) == 2 && addr[1] == strconv.Itoa(s.Replica.Port)
	})
	// The promoted replica must also say so itself before writes go to it.
	WaitFor(t, 30*time.Second, "the replica to take the primary role", func() bool {
		c := redis.NewClient(&redis.Options{Addr: s.Replica.Addr()})
		defer c.Close()
		info, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "role:master")
	})
}
