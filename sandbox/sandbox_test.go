package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigStarts(t *testing.T) {
	srv := Start(t, DefaultConfig())
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %s, want loopback", srv.URL)
	}
	if b := srv.Banner(); !strings.Contains(b, "FOR DEVELOPMENT AND TESTS ONLY") || !strings.Contains(b, srv.URL) {
		t.Fatalf("banner = %q", b)
	}
	resp, err := http.Get(srv.URL + "/.well-known/okta-organization")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Pipeline string `json:"pipeline"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Pipeline != "v1" {
		t.Fatalf("okta-organization: %v %+v", err, doc)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8443"} {
		cfg := DefaultConfig()
		cfg.Addr = addr
		if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: err = %v, want a loopback refusal", addr, err)
		}
	}
}

func TestParseConfigRejectsUnknownFields(t *testing.T) {
	if _, err := ParseConfig([]byte("org:\n  nmae: x\n")); err == nil {
		t.Fatal("typo accepted")
	}
	if _, err := ParseConfig(nil); err != nil {
		t.Fatalf("empty config: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte("aws:\n  region: eu-west-1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseConfig(data)
	})
}

// The configured latency delays each service's answers, and only its own.
func TestLatencyPerService(t *testing.T) {
	cfg, err := ParseConfig([]byte("latency:\n  okta: 120ms\n  aws: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	def.Latency = cfg.Latency
	srv := Start(t, def)
	timed := func(req *http.Request) time.Duration {
		t.Helper()
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return time.Since(start)
	}
	okta, _ := http.NewRequest(http.MethodGet, srv.URL+"/.well-known/okta-organization", nil)
	if d := timed(okta); d < 120*time.Millisecond {
		t.Errorf("an Okta answer came after %s, before the 120ms latency", d)
	}
	// The fastest of five: a loaded machine may slow one answer, not
	// every one, while the latency would delay each of them.
	fastest := time.Duration(1 << 62)
	for range 5 {
		sts, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		sts.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fastest = min(fastest, timed(sts))
	}
	if fastest >= 120*time.Millisecond {
		t.Errorf("the fastest of five AWS answers took %s: the Okta latency was applied to it", fastest)
	}
	for _, bad := range []string{"latency:\n  aws: -1s\n", "latency:\n  okta: 1h\n", "latency:\n  nope: 1s\n"} {
		cfg, err := ParseConfig([]byte(bad))
		if err == nil {
			_, err = New(cfg, Options{})
		}
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
