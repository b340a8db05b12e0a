package guard_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// BenchmarkRequire measures the middleware hot path: a token already in the
// verifier's cache, a rule with a scope and a role, and the principal put
// in the context.
func BenchmarkRequire(b *testing.B) {
	e := newEnv(b)
	g := guard.New(e.v, guard.Options{Revocations: &revocations{ids: map[string]bool{}}})
	h := g.Require(guard.Rule{Scopes: []string{"orders.read"}, Roles: []string{verify.RoleRead}})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	auth := "Bearer " + e.token(b, []string{"orders.read"}, []string{"developers"}, 0, nil)
	b.Run("serial", func(b *testing.B) {
		r := httptest.NewRequest("GET", "/orders", nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest("GET", "/orders", nil)
			r.Header.Set("Authorization", auth)
			w := httptest.NewRecorder()
			for pb.Next() {
				h.ServeHTTP(w, r)
			}
		})
	})
	b.Run("refused", func(b *testing.B) {
		r := httptest.NewRequest("GET", "/orders", nil)
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			w.Body.Reset()
			h.ServeHTTP(w, r)
		}
	})
}
