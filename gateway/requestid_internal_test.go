package gateway

import (
	"log/slog"
	"strings"
	"testing"
)

// FuzzRequestID: an id kept from a request is short and made only of
// letters, digits and - _ . :, whatever the client sent.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "abc-123", "a b", "x\r\nSet-Cookie: y", strings.Repeat("a", 129), "4bf92f35:77b3.4da6_a3ce", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !validRequestID(id) {
			return
		}
		if len(id) == 0 || len(id) > maxRequestIDLen {
			t.Fatalf("kept %q of length %d", id, len(id))
		}
		if strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") != "" {
			t.Fatalf("kept %q with other characters", id)
		}
	})
}

// TestRedisLogLevel: go-redis' messages are logged at their real level,
// not all at WARN.
func TestRedisLogLevel(t *testing.T) {
	for msg, want := range map[string]slog.Level{
		`sentinel: new master="oktafed-test" addr="127.0.0.1:6379"`:                   slog.LevelInfo,
		`sentinel: selected addr=127.0.0.1:26379 masterAddr=127.0.0.1:6379`:           slog.LevelInfo,
		`redis: connection pool: failed to get a usable connection after 3 attempts`:  slog.LevelWarn,
		`redis: discarding bad PubSub connection: read tcp: i/o timeout`:              slog.LevelWarn,
		`redis: all nodes are marked as failed, picking the temporarily failing node`: slog.LevelWarn,
		"autopipeline: recovered dispatch panic: boom":                                slog.LevelError,
	} {
		if got := redisLogLevel(msg); got != want {
			t.Errorf("%q: %v, want %v", msg, got, want)
		}
	}
}
