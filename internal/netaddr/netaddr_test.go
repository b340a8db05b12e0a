package netaddr

import "testing"

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost":          true,
		"LocalHost":          true,
		"127.0.0.1":          true,
		"127.8.9.10":         true,
		"::1":                true,
		"::ffff:127.0.0.1":   true,
		"app.localhost":      false, // may go to DNS
		"localhost.":         false,
		"localhost.evil.com": false,
		"evil.com":           false,
		"10.0.0.1":           false,
		"0.0.0.0":            false,
		"[::1]":              false, // a Hostname never has brackets
		"":                   false,
		"127.0.0.1:80":       false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
