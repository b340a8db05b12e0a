package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// RedisServer is a redis-server of Debian's package listening on
// 127.0.0.1 only, with persistence off.
type RedisServer struct {
	Host    string // always 127.0.0.1
	Port    int
	Dir     string
	LogPath string

	proc *proc
}

// Redis starts a Redis server for t and stops it when t ends. It starts in
// a few milliseconds, so there is no shared variant.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	s, err := startRedis()
	check(t, "Redis", err)
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

func startRedis() (*RedisServer, error) {
	const bin = "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		return nil, missing("%s not found (Debian package redis-server)", bin)
	}
	dir, err := newServerDir("redis-", nil)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "redis.log")
	p, port, err := startOnFreePort(func(port int) (*proc, error) {
		cmd := exec.Command(bin,
			"--bind", "127.0.0.1",
			"--port", strconv.Itoa(port),
			"--dir", dir,
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--logfile", "",
			"--protected-mode", "yes",
		)
		cmd.Dir = dir
		cmd.Env = serverEnv()
		p, err := startProc("redis-server", cmd, logPath, syscall.SIGTERM)
		if err != nil {
			return nil, err
		}
		if err := p.waitLog("Ready to accept connections"); err != nil {
			p.stop()
			return p, err
		}
		return p, nil
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &RedisServer{Host: "127.0.0.1", Port: port, Dir: dir, LogPath: logPath, proc: p}, nil
}
