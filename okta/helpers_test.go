package okta

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// Secrets used across tests; no error or log may contain them.
const (
	testPassword     = "pw-Secret-123"
	testSessionToken = "sessTok-SECRET"
	testStateToken   = "stateTok-SECRET"
	testSID          = "sid-SECRET-cookie"
	testSeed         = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

var secrets = []string{testPassword, testSessionToken, testStateToken, testSID, testSeed}

// call is one request the fake org received.
type call struct {
	method, path, query string
	body                map[string]any
	sid                 string
}

// fakeOrg is an httptest server whose routes each test scripts.
type fakeOrg struct {
	t     *testing.T
	srv   *httptest.Server
	mux   *http.ServeMux
	mu    sync.Mutex
	calls []call
}

func newFakeOrg(t *testing.T) *fakeOrg {
	t.Helper()
	f := &fakeOrg{t: t, mux: http.NewServeMux()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		c := call{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery}
		if len(data) > 0 {
			_ = json.Unmarshal(data, &c.body)
		}
		if ck, err := r.Cookie("sid"); err == nil {
			c.sid = ck.Value
		}
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(data)))
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOrg) handle(pattern string, h func(w http.ResponseWriter, r *http.Request, body map[string]any)) {
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		h(w, r, body)
	})
}

// reply answers a fixed JSON document to every request on pattern.
func (f *fakeOrg) reply(pattern string, status int, v any) {
	f.handle(pattern, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { writeJSON(w, status, v) })
}

func (f *fakeOrg) callsTo(path string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sleeper is a fake Client.Sleep: it advances the fake clock and records
// each wait, and can cancel a context after a number of waits.
type sleeper struct {
	mu     sync.Mutex
	clk    *clock.Fake
	waits  []time.Duration
	cancel context.CancelFunc
	after  int
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	n := len(s.waits)
	s.mu.Unlock()
	if s.cancel != nil && n >= s.after {
		s.cancel()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.clk.Advance(d)
	return nil
}

func (s *sleeper) total() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Duration
	for _, w := range s.waits {
		t += w
	}
	return t
}

// testStart is 10 s into a 30 s TOTP window.
var testStart = time.Date(2026, 3, 4, 5, 6, 10, 0, time.UTC)

func newClient(t *testing.T, f *fakeOrg) (*Client, *sleeper) {
	t.Helper()
	clk := clock.NewFake(testStart)
	s := &sleeper{clk: clk}
	return &Client{BaseURL: f.srv.URL, Clock: clk, Sleep: s.Sleep, UserAgent: "oktafed-test"}, s
}

func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

// Transaction documents.

func factorJSON(id, factorType, provider string) map[string]any {
	return map[string]any{"id": id, "factorType": factorType, "provider": provider, "vendorName": provider,
		"profile":   map[string]any{"credentialId": "demo@example.com"},
		"_links":    map[string]any{"verify": map[string]any{"href": "/api/v1/authn/factors/" + id + "/verify"}},
		"_embedded": map[string]any{}}
}

func mfaRequired(factors ...map[string]any) map[string]any {
	list := make([]any, len(factors))
	for i, f := range factors {
		list[i] = f
	}
	return map[string]any{
		"stateToken": testStateToken, "expiresAt": "2026-03-04T05:11:10.000Z", "status": "MFA_REQUIRED",
		"_embedded": map[string]any{
			"user":    map[string]any{"id": "00u1", "profile": map[string]any{"login": "demo@example.com", "firstName": "Demo", "lastName": "User"}},
			"factors": list,
		},
		"_links": map[string]any{"cancel": map[string]any{"href": "/api/v1/authn/cancel"}},
	}
}

func success() map[string]any {
	return map[string]any{"status": "SUCCESS", "sessionToken": testSessionToken, "expiresAt": "2026-03-04T05:11:10.000Z",
		"_embedded": map[string]any{"user": map[string]any{"id": "00u1", "profile": map[string]any{"login": "demo@example.com"}}}}
}

func challenge(factor map[string]any, result, next string) map[string]any {
	return map[string]any{"stateToken": testStateToken, "status": "MFA_CHALLENGE", "factorResult": result,
		"_embedded": map[string]any{"factor": factor},
		"_links": map[string]any{
			"next":   map[string]any{"name": "poll", "href": next},
			"cancel": map[string]any{"href": "/api/v1/authn/cancel"},
			"resend": []any{map[string]any{"name": "sms", "href": next + "/resend"}},
		}}
}

func oktaError(code, summary string) map[string]any {
	return map[string]any{"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": "oae123", "errorCauses": []any{}}
}

var jsonMarshal = json.Marshal
