package gateway

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/oktafed/oktafed/verify"
)

// Protocol upgrades are allowed by list, not refused by list. The one
// upgrade the gateway forwards is "Upgrade: websocket" on an HTTP/1.1 GET
// to a route with websocket: true, after the route's rule passed; the
// upstream's 101 must name websocket too, or the client gets 502 and the
// connection is not switched. A WebSocket upgrade anywhere else is refused
// (400). Every other Upgrade token, h2c above all, is dropped along with
// HTTP2-Settings: the request reaches the upstream as the plain HTTP/1.1
// request the gateway checked, so no upstream (hypercorn, for one, speaks
// h2c) can switch the connection to a protocol whose later requests the
// gateway would never see.

// upgradeKind is what a client asked to upgrade to.
type upgradeKind int

const (
	upgradeNone upgradeKind = iota
	upgradeWebSocket
	upgradeOther
)

// clientUpgrade classifies the request's Upgrade header. Only a single
// "websocket" token on HTTP/1.1 with Connection naming upgrade counts as a
// WebSocket handshake; any other Upgrade value is upgradeOther.
func clientUpgrade(r *http.Request) upgradeKind {
	ups, ok := r.Header["Upgrade"]
	if !ok {
		return upgradeNone
	}
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 && len(ups) == 1 && strings.EqualFold(strings.TrimSpace(ups[0]), "websocket") &&
		headerHasToken(r.Header["Connection"], "upgrade") {
		return upgradeWebSocket
	}
	return upgradeOther
}

// headerHasToken reports whether a comma-separated header names token
// (ASCII case-insensitive).
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// dropUpgrade removes what would ask the upstream to switch protocols:
// Upgrade, HTTP2-Settings (in any spelling) and the Connection header
// that names them. Connection's other tokens are hop-by-hop and removed
// by the proxy anyway.
func dropUpgrade(h http.Header) {
	for k := range h {
		if foldedEqual(k, "upgrade") || foldedEqual(k, "http2-settings") || foldedEqual(k, "connection") {
			delete(h, k)
		}
	}
}

// Why a tunnel ended, for the access log.
var (
	errTunnelExpired = errors.New("token expired")
	errTunnelRevoked = errors.New("token revoked")
	errTunnelMax     = errors.New("tunnel reached timeouts.tunnel")
	errTunnelClient  = errors.New("client closed")
)

// tunnelPoll is how often an open tunnel looks its token up in the
// revocation list (a local lookup; Redis pushes revocations to it), so a
// revoked token's tunnel ends within this period.
const tunnelPoll = 200 * time.Millisecond

// tunnel is one WebSocket upgrade in progress.
type tunnel struct {
	cancel context.CancelCauseFunc
	ctx    context.Context
}

// openTunnel returns the context the upgrade request is proxied under:
// it ends (and the proxy closes both connections) when the token expires,
// is revoked, when Timeouts.Tunnel has passed, or when the client leaves.
func (g *Gateway) openTunnel(parent context.Context, p *verify.Principal) *tunnel {
	ctx, cancel := context.WithCancelCause(parent)
	t := &tunnel{cancel: cancel, ctx: ctx}
	end, why := time.Now().Add(g.timeouts.Tunnel), errTunnelMax
	if p != nil && !p.Expiry.IsZero() && p.Expiry.Before(end) {
		end, why = p.Expiry, errTunnelExpired
	}
	go func() {
		timer := time.NewTimer(time.Until(end))
		defer timer.Stop()
		var tick <-chan time.Time
		if p != nil && p.TokenID != "" {
			tk := time.NewTicker(tunnelPoll)
			defer tk.Stop()
			tick = tk.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
				cancel(why)
				return
			case <-tick:
				if g.revs.Revoked(ctx, p.TokenID) {
					cancel(errTunnelRevoked)
					return
				}
			}
		}
	}()
	return t
}

// tunnelConn is the client side of a switched connection: when the client
// stops sending (EOF or error) the tunnel ends, instead of waiting for the
// upstream to notice.
type tunnelConn struct {
	net.Conn
	t *tunnel
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.t.cancel(errTunnelClient)
	}
	return n, err
}

// Hijack hands the client connection to the proxy when the upstream
// switched protocols: the access log records the upgrade then, and the
// connection is wrapped so the tunnel ends with the client.
func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	w.status, w.wroteHeader = http.StatusSwitchingProtocols, true
	w.hijacked = true
	_ = c.SetDeadline(time.Time{}) // the tunnel has its own bounds
	if w.onHijack != nil {
		c = w.onHijack(c)
	}
	return c, brw, nil
}

// errUpgradeMismatch is the answer to an upstream that switched protocols
// to something the gateway did not forward a request for.
var errUpgradeMismatch = errors.New("the upstream switched protocols without a WebSocket upgrade the gateway forwarded")

// checkResponse is the proxy's ModifyResponse. It removes the headers an
// upstream named in a Connection header Go's transport dropped
// (hopheaders.go), and a 101 passes only for a
// forwarded WebSocket upgrade and only when it names websocket; anything
// else becomes 502 and the connection is never switched.
func checkResponse(res *http.Response) error {
	f, _ := res.Request.Context().Value(forwardKey{}).(*forward)
	if !removeNamedHop(res, f) {
		return errHopUnknown
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	if f == nil || f.tunnel == nil || len(res.Header["Upgrade"]) != 1 || !strings.EqualFold(strings.TrimSpace(res.Header.Get("Upgrade")), "websocket") {
		return errUpgradeMismatch
	}
	return nil
}

// logTunnel writes the access log line of an upgrade as it happens; the
// request's usual line follows when the tunnel ends.
func (g *Gateway) logTunnel(r *http.Request, route string, p *verify.Principal) {
	if !g.accessLog || !g.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "route", route, "status", http.StatusSwitchingProtocols, "remote", r.RemoteAddr}
	if p != nil {
		attrs = append(attrs, "sub", p.Subject, "role", p.Role)
	}
	g.log.Info("upgrade", attrs...)
}
