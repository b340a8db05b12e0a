package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/oktafed/oktafed/guard"
)

// Revocations is the gateway's jti revocation list. Revoked is on the hot
// path and must not do I/O; Revoke may.
type Revocations interface {
	guard.Revocations
	// Revoke lists jti until the given time (the token's expiry, after
	// which it is refused anyway).
	Revoke(ctx context.Context, jti string, until time.Time) error
	// Len counts the ids currently listed.
	Len() int
}

// memoryRevocations is a revocation list for one replica.
type memoryRevocations struct {
	mu    sync.RWMutex
	ids   map[string]time.Time
	swept time.Time
}

func newMemoryRevocations() *memoryRevocations {
	return &memoryRevocations{ids: map[string]time.Time{}}
}

func (m *memoryRevocations) Revoked(_ context.Context, jti string) bool {
	m.mu.RLock()
	until, ok := m.ids[jti]
	m.mu.RUnlock()
	return ok && time.Now().Before(until)
}

func (m *memoryRevocations) Revoke(_ context.Context, jti string, until time.Time) error {
	if jti == "" {
		return errors.New("revoke: jti is empty")
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.ids[jti]; !ok || old.Before(until) {
		m.ids[jti] = until
	}
	// Sweep expired ids at most once a minute, under the write lock we
	// already hold, so the list does not grow without bound.
	if now.Sub(m.swept) > time.Minute {
		for k, u := range m.ids {
			if !now.Before(u) {
				delete(m.ids, k)
			}
		}
		m.swept = now
	}
	return nil
}

func (m *memoryRevocations) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.ids)
}

// revokeRequest is the admin endpoint's input, as JSON or a form.
type revokeRequest struct {
	// JTI names the token id to revoke.
	JTI string `json:"jti"`
	// Token, instead of JTI, is a token to revoke; it must verify, which
	// gives its jti and expiry.
	Token string `json:"token"`
	// ExpiresIn bounds how long the id is listed, in seconds; default the
	// gateway's revocation TTL.
	ExpiresIn int64 `json:"expires_in"`
}

// serveRevoke handles POST {AdminPath}; the guard has already required the
// admin role.
func (g *Gateway) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST with jti or token", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var req revokeRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "request body is not valid JSON: send {\"jti\": \"...\"}", http.StatusBadRequest)
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "request body is not a valid form: send jti=...", http.StatusBadRequest)
			return
		}
		req.JTI, req.Token = r.PostForm.Get("jti"), r.PostForm.Get("token")
		if s := r.PostForm.Get("expires_in"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				http.Error(w, "expires_in must be a number of seconds", http.StatusBadRequest)
				return
			}
			req.ExpiresIn = n
		}
	}
	until := time.Now().Add(g.cfg.RevocationTTL)
	if req.ExpiresIn > 0 {
		until = time.Now().Add(time.Duration(req.ExpiresIn) * time.Second)
	}
	jti := req.JTI
	if req.Token != "" {
		// Inspect, not Verify: a DPoP-bound token is revoked by value
		// too, without the proof its holder's key would make.
		p, err := g.v.Inspect(r.Context(), req.Token)
		if err != nil {
			http.Error(w, "the token to revoke does not verify ("+guard.Reason(err)+"); revoke it by jti instead", http.StatusBadRequest)
			return
		}
		if p.TokenID == "" {
			http.Error(w, "the token has no jti claim, so it cannot be revoked by id", http.StatusBadRequest)
			return
		}
		jti, until = p.TokenID, p.Expiry.Add(time.Minute) // leeway
	}
	if jti == "" {
		http.Error(w, "name the token: jti=... or token=...", http.StatusBadRequest)
		return
	}
	if err := g.revs.Revoke(r.Context(), jti, until); err != nil {
		g.log.Error("revocation failed; check Redis", "err", err)
		http.Error(w, "revocation could not be stored: retry; the gateway log has the cause", http.StatusServiceUnavailable)
		return
	}
	by := ""
	if p, ok := guard.PrincipalFrom(r.Context()); ok {
		by = p.Subject
	}
	g.log.Info("token revoked", "jti", jti, "until", until.UTC().Format(time.RFC3339), "by", by)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Revoked string `json:"revoked"`
		Until   string `json:"until"`
	}{jti, until.UTC().Format(time.RFC3339)})
}
