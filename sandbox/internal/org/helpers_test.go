package org

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/oktafed/oktafed/internal/clock"
)

// t0 starts every test on a minute boundary so rate-limit windows and TOTP
// steps are predictable.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const (
	testSecret   = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	testPassword = "Correct-Horse-1"
)

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
)

func TestMain(m *testing.M) {
	// One RSA key for every org the tests build keeps the suite fast.
	newSigningKey = func() (*rsa.PrivateKey, error) {
		var err error
		testKeyOnce.Do(func() { testKey, err = rsa.GenerateKey(rand.Reader, 2048) })
		return testKey, err
	}
	os.Exit(m.Run())
}

func ptr[T any](v T) *T { return &v }

// testConfig is an org with one user per behaviour under test.
func testConfig() Config {
	push := func(login string, pc PushConfig) UserConfig {
		return UserConfig{Login: login, Password: testPassword, Groups: []string{"admins"}, Factors: []FactorConfig{{ID: "opf" + strings.Split(login, "@")[0], Type: "push", Push: pc}}}
	}
	return Config{
		Name:      "test",
		ID:        "00otestorg000000001",
		APITokens: []string{"test-api-token"},
		Groups:    []GroupConfig{{Name: "admins"}, {Name: "devs"}},
		Users: []UserConfig{
			{ID: "00utotp", Login: "totp@example.com", FirstName: "Tia", LastName: "Totp", Password: testPassword, Groups: []string{"admins", "devs"},
				Factors: []FactorConfig{{ID: "osttotp", Type: "totp", Secret: testSecret}}},
			push("push@example.com", PushConfig{Result: pushApprove, NumberChallenge: true, Delay: 2 * time.Second}),
			push("reject@example.com", PushConfig{Result: pushReject}),
			push("timeout@example.com", PushConfig{Result: pushTimeout, Delay: 10 * time.Second}),
			push("wait@example.com", PushConfig{Result: pushWait, NumberChallenge: true}),
			push("plainwait@example.com", PushConfig{Result: pushWait}),
			{Login: "sms@example.com", Password: testPassword, Groups: []string{"devs"},
				Factors: []FactorConfig{{ID: "smssms", Type: "sms", Phone: "+1 415 555 0100"}, {ID: "emfemail", Type: "email"}}},
			{Login: "nofactor@example.com", Password: testPassword, Groups: []string{"devs"}},
			{Login: "expired@example.com", Password: testPassword, Status: statusPasswordExpired, Groups: []string{"devs"}},
			{Login: "warn@example.com", Password: testPassword, PasswordWarn: true, PasswordExpireDays: 3, Groups: []string{"devs"}},
			{Login: "locked@example.com", Password: testPassword, Status: statusLockedOut},
			{Login: "norole@example.com", Password: testPassword},
		},
		Apps: []AppConfig{{
			ID: "0oatestapp", ExternalKey: "exktestapp", Label: "AWS", RelayState: "https://console.aws.amazon.com/",
			Roles: []RoleConfig{
				{RoleARN: "arn:aws:iam::123456789012:role/Admin", ProviderARN: "arn:aws:iam::123456789012:saml-provider/okta", Groups: []string{"admins"}},
				{RoleARN: "arn:aws:iam::123456789012:role/ReadOnly", ProviderARN: "arn:aws:iam::123456789012:saml-provider/okta", Groups: []string{"devs"}},
				{RoleARN: "arn:aws:iam::210987654321:role/Developer", ProviderARN: "arn:aws:iam::210987654321:saml-provider/okta", Users: []string{"totp@example.com"}},
			},
		}},
	}
}

// harness is an org served on 127.0.0.1 with a fake clock and a browser-like
// client that keeps cookies and does not follow redirects.
type harness struct {
	t      *testing.T
	org    *Org
	clk    *clock.Fake
	srv    *httptest.Server
	client *http.Client
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	o, err := New(cfg, Options{Clock: clk, BaseURL: base})
	if err != nil {
		srv.Close()
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	o.Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &harness{t: t, org: o, clk: clk, srv: srv, client: client}
}

// reply is a decoded JSON answer.
type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r reply) str(path ...string) string {
	v := dig(r.body, path...)
	s, _ := v.(string)
	return s
}

// dig walks nested JSON objects by key (and arrays by "0", "1", …).
func dig(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := 0
			for _, c := range p {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (h *harness) do(method, path string, body any) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = h.srv.URL + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			h.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return r
}

func (h *harness) post(path string, body any) reply {
	h.t.Helper()
	return h.do(http.MethodPost, path, body)
}

func (h *harness) primary(login, password string) reply {
	h.t.Helper()
	return h.post("/api/v1/authn", map[string]any{"username": login, "password": password})
}

// expectStatus fails unless r is a 200 transaction in state want.
func expectStatus(t *testing.T, r reply, want string) {
	t.Helper()
	if r.code != http.StatusOK || r.str("status") != want {
		t.Fatalf("want 200 %s, got %d %s", want, r.code, r.raw)
	}
}

// expectError fails unless r is an Okta error with the given status and code.
func expectError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.code != status || r.str("errorCode") != code {
		t.Fatalf("want %d %s, got %d %s", status, code, r.code, r.raw)
	}
	for _, k := range []string{"errorSummary", "errorLink", "errorId"} {
		if r.str(k) == "" {
			t.Fatalf("error body lacks %s: %s", k, r.raw)
		}
	}
	if _, ok := r.body["errorCauses"].([]any); !ok {
		t.Fatalf("error body lacks errorCauses array: %s", r.raw)
	}
}

func (h *harness) totp(at time.Time) string {
	h.t.Helper()
	code, err := totp.GenerateCodeCustom(testSecret, at, totpOpts)
	if err != nil {
		h.t.Fatal(err)
	}
	return code
}

// verifyHref returns the verify link of the factor with the given id in an
// MFA_REQUIRED answer.
func verifyHref(t *testing.T, r reply, factorID string) string {
	t.Helper()
	factors, _ := dig(r.body, "_embedded", "factors").([]any)
	for _, f := range factors {
		if dig(f, "id") == factorID {
			href, _ := dig(f, "_links", "verify", "href").(string)
			return href
		}
	}
	t.Fatalf("factor %s not offered: %s", factorID, r.raw)
	return ""
}

// loginTOTP runs the whole TOTP flow for totp@example.com and returns the
// sessionToken.
func (h *harness) loginTOTP() string {
	h.t.Helper()
	r := h.primary("totp@example.com", testPassword)
	expectStatus(h.t, r, stateMFARequired)
	v := h.post(verifyHref(h.t, r, "osttotp"), map[string]any{"stateToken": r.str("stateToken"), "passCode": h.totp(h.clk.Now())})
	expectStatus(h.t, v, stateSuccess)
	return v.str("sessionToken")
}

// loginNoMFA returns a sessionToken for a user without factors.
func (h *harness) loginNoMFA(login string) string {
	h.t.Helper()
	r := h.primary(login, testPassword)
	expectStatus(h.t, r, stateSuccess)
	return r.str("sessionToken")
}
