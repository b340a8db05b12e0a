package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// tokenExpiry reads a JWT's exp claim.
func tokenExpiry(t *testing.T, tok string) time.Time {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Exp == 0 {
		t.Fatalf("no exp in the token: %v", err)
	}
	return time.Unix(c.Exp, 0)
}

// waitClosed reads from the socket until the gateway closes it, failing
// the test if it is still open at bound.
func waitClosed(t *testing.T, c *wsConn, bound time.Time, what string) time.Time {
	t.Helper()
	c.SetReadDeadline(bound)
	for {
		_, err := c.recv()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the socket is still open at %s", what, bound.Format(time.RFC3339Nano))
		}
		return time.Now()
	}
}

// TestWebSocketEndsWithToken: a WebSocket tunnel is closed within a second
// of its token's expiry, and within a second of a revocation made on
// another replica (through Redis); the access log says why it ended.
func TestWebSocketEndsWithToken(t *testing.T) {
	py := testenv.Hypercorn(t)
	rs := testenv.Redis(t)
	up := startPython(t, py, "testdata/asgi_upstream.py")
	sb := sandbox.Start(t, sandbox.DefaultConfig())
	cfg := oktaConfig(t, sb, up.URL)
	cfg.Redis.URL = "redis://" + rs.Addr() + "/0"
	cfg.Redis.Prefix = "test:" + t.Name() + ":"
	cfg.Routes = []gateway.Route{
		{Prefix: "/ws/", WebSocket: true, Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
		{Prefix: "/public/ws", WebSocket: true, Rule: guard.Rule{Public: true}},
		{Prefix: "/", Rule: guard.Rule{Roles: []string{verify.RoleRead}}},
	}
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	addrA := strings.TrimPrefix(a.url, "http://")
	claims := map[string]any{"sub": "alice@example.com", "cid": "0oa1demoservice00001", "scp": []string{"orders.read"}, "groups": []string{"readers"}}
	echo := func(t *testing.T, c *wsConn) {
		t.Helper()
		if err := c.send(t, "ping"); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if got, err := c.recv(); err != nil || got != "ping" {
			t.Fatalf("echo %q, %v", got, err)
		}
	}

	t.Run("expiry", func(t *testing.T) {
		tok, err := sb.MintAccessToken("default", claims, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		exp := tokenExpiry(t, tok)
		c, resp := wsDial(t, addrA, "GET", "/ws/feed", tok)
		if c == nil {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		echo(t, c)
		closed := waitClosed(t, c, exp.Add(time.Second), "a second after the token expired")
		if closed.Before(exp.Add(-100 * time.Millisecond)) {
			t.Errorf("closed at %s, before the token expired at %s", closed, exp)
		}
		testenv.WaitFor(t, 5*time.Second, "the tunnel's end in the access log", func() bool {
			return strings.Contains(a.logs.String(), `"cause":"token expired"`)
		})
	})

	t.Run("revocation on another replica", func(t *testing.T) {
		tok := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
		admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
		c, resp := wsDial(t, addrA, "GET", "/ws/feed", tok)
		if c == nil {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		echo(t, c)
		if st := revoke(t, b.url, admin, url.Values{"token": {tok}}); st != 200 {
			t.Fatalf("revoke through B: %d", st)
		}
		waitClosed(t, c, time.Now().Add(time.Second), "a second after the revocation")
		testenv.WaitFor(t, 5*time.Second, "the tunnel's end in the access log", func() bool {
			return strings.Contains(a.logs.String(), `"cause":"token revoked"`)
		})
	})

	t.Run("timeouts.tunnel bounds tunnels without a token", func(t *testing.T) {
		short := cfg
		short.Redis = gateway.RedisConfig{}
		short.Timeouts.Tunnel = 500 * time.Millisecond
		g := startGateway(t, short)
		start := time.Now()
		c, resp := wsDial(t, strings.TrimPrefix(g.url, "http://"), "GET", "/public/ws", "")
		if c == nil {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		waitClosed(t, c, start.Add(500*time.Millisecond+time.Second), "a second past timeouts.tunnel")
	})

	t.Run("a client that leaves ends the tunnel", func(t *testing.T) {
		tok := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
		c, resp := wsDial(t, addrA, "GET", "/ws/leave", tok)
		if c == nil {
			t.Fatalf("status %d, want 101", resp.StatusCode)
		}
		echo(t, c)
		c.Conn.(*net.TCPConn).CloseWrite()
		testenv.WaitFor(t, 5*time.Second, "the tunnel closed because the client left", func() bool {
			return strings.Contains(a.logs.String(), `"cause":"client closed"`)
		})
	})
}
