package guard_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/verify"
)

// FuzzAuthorizationHeader feeds arbitrary Authorization values through
// the middleware: it must never panic, must answer with a status RFC 6750
// allows and a challenge, and must never echo the header back.
func FuzzAuthorizationHeader(f *testing.F) {
	e := newEnv(f)
	g := guard.New(e.v, guard.Options{Realm: "fuzz"})
	h := g.Require(guard.Rule{Roles: []string{verify.RoleRead}})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	good := e.token(f, []string{"orders.read"}, []string{"readers"}, 0, nil)
	for _, s := range []string{"", "Bearer", "Bearer ", "Bearer " + good, "bearer\t" + good, "Basic abc", "Bearer a.b.c", "Bearer " + good + " x", "Bearer  " + good, "Bearer eyJ.eyJ.", "Bearer " + strings.Repeat("A", 20000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{auth}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200:
			return
		case 400, 401, 403, 503:
		default:
			t.Fatalf("status %d", w.Code)
		}
		ch := w.Header().Get("WWW-Authenticate")
		if !strings.HasPrefix(ch, "Bearer") {
			t.Fatalf("challenge %q", ch)
		}
		if tok, _ := strings.CutPrefix(auth, "Bearer "); len(tok) >= 16 && strings.Contains(w.Body.String()+ch, tok) {
			t.Fatal("response echoes the token")
		}
	})
}
