package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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
