package gateway_test

// The decision table (trust.go) through every door: the proxy, nginx
// forward-auth and Envoy ext_authz (gRPC). Each door is sent the same
// spoofed headers, duplicate Authorization headers and access_token
// variants, and each assertion is on what the upstream received (or, for
// ext_authz, what Envoy is told to remove).

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oktafed/oktafed/gateway"
	"github.com/oktafed/oktafed/sandbox"
)

// spoofHeaders are the trust-bearing headers a client sends: every name of
// the table, and spellings an upstream would merge with them.
func spoofHeaders() []string {
	var out []string
	for _, n := range gateway.TrustNames {
		out = append(out, http.CanonicalHeaderKey(n)+": SPOOFED")
	}
	return append(out,
		"X-Original-URL: /admin/SPOOFED", "X-Original-Host: SPOOFED", "X_Original_URL: /SPOOFED",
		"X-Forwarded-Host: SPOOFED", "X-Forwarded-Prefix: /SPOOFED", "X_Forwarded_Proto: SPOOFED",
		"X_Real_IP: SPOOFED", "X-Http-Method-Override: DELETE", "X_HTTP_METHOD_OVERRIDE: DELETE",
		"X-Auth-Request-User: SPOOFED", "X-Amzn-Oidc-Identity: SPOOFED", "X-Envoy-Original-Path: /SPOOFED",
		"X-Auth-Whatever: SPOOFED",
	)
}

// accessTokenQueries are queries a framework would read access_token from.
var accessTokenQueries = []string{
	"access_token[]=LEAKED", "access_token[0]=LEAKED", "access.token=LEAKED", "access+token=LEAKED",
	"access%20token=LEAKED", "+access_token=LEAKED", "%2Baccess_token=LEAKED", "access_token%00x=LEAKED",
	"ACCESS_TOKEN=LEAKED", "Access-Token=LEAKED", "access%255Ftoken=LEAKED", "access_token%5B%5D=LEAKED",
	"%20access_token=LEAKED", "access_tok%en=LEAKED&access_token=LEAKED",
}

// checkUpstreamClean fails when a spoofed value reached the upstream, and
// requires the request's own forwarding headers to be the proxy's.
func checkUpstreamClean(t *testing.T, env environ, body string) {
	t.Helper()
	for _, bad := range []string{"SPOOFED", "LEAKED", "DELETE"} {
		if strings.Contains(body, bad) {
			t.Errorf("%s reached the upstream: %s", bad, body)
		}
	}
	if m := env.str("REQUEST_METHOD"); m != "GET" {
		t.Errorf("upstream method %q", m)
	}
}

func TestDecisionTableSharedByDoors(t *testing.T) {
	doors := map[string]func(t *testing.T) *hostileEnv{
		"proxy": newHostileEnv,
		"nginx": func(t *testing.T) *hostileEnv { return newNginxEnv(t).hostileEnv },
	}
	for name, start := range doors {
		t.Run(name, func(t *testing.T) {
			e := start(t)
			spoof := spoofHeaders()
			if name == "nginx" {
				// nginx proxies header families it cannot clear by
				// prefix; the decision table's names and the
				// identity headers oktafed answers are cleared.
				spoof = spoof[:len(spoof)-4]
			}
			for _, path := range []string{"/x", "/public/x"} {
				tok := e.reader
				if path == "/public/x" {
					tok = ""
				}
				st, env, body := e.send(t, "GET", path+"?a=1&b=2", tok, spoof, "")
				if st != 200 {
					t.Fatalf("%s: status %d: %s", path, st, body)
				}
				checkUpstreamClean(t, env, body)
				before := len(e.up.seen(t))
				st, env, body = e.send(t, "GET", path+"?a=1&"+strings.Join(accessTokenQueries, "&")+"&b=2", tok, nil, "")
				switch {
				case name == "proxy" && st == 200:
					checkUpstreamClean(t, env, body)
					if q := env.str("QUERY_STRING"); q != "a=1&b=2" {
						t.Errorf("%s: upstream query %q, want a=1&b=2", path, q)
					}
				case name == "nginx" && st == 500:
					// forward-auth refuses what an ingress cannot remove
					if after := len(e.up.seen(t)); after != before {
						t.Errorf("%s: the refused request reached the upstream", path)
					}
				default:
					t.Errorf("%s with access_token variants: status %d: %s", path, st, body)
				}
			}
			before := len(e.up.seen(t))
			for _, path := range []string{"/x", "/public/x"} {
				st, _, body := e.send(t, "GET", path, e.reader, []string{"Authorization: Bearer " + e.admin}, "")
				want := 400 // from the gateway, and from nginx itself
				if st != want {
					t.Errorf("%s with two Authorization headers: status %d, want %d: %s", path, st, want, body)
				}
			}
			if after := len(e.up.seen(t)); after != before {
				t.Errorf("requests with two Authorization headers reached the upstream (%d new)", after-before)
			}
		})
	}

	t.Run("ext_authz", func(t *testing.T) {
		sb := sandbox.Start(t, sandbox.DefaultConfig())
		cfg := oktaConfig(t, sb, "")
		cfg.ForwardAuth.Only = true
		cfg.Routes = hostileRoutes()
		gw := startGateway(t, cfg)
		client := extAuthzClient(t, gw.url)
		reader := mint(t, sb, []string{"orders.read"}, []string{"readers"}, nil)
		admin := mint(t, sb, nil, []string{"aws-admins"}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		hdrs := map[string]string{"authorization": "Bearer " + reader, "accept": "*/*"}
		for _, h := range spoofHeaders() {
			k, v, _ := strings.Cut(h, ": ")
			hdrs[strings.ToLower(k)] = v
		}
		resp, err := client.Check(ctx, checkRequest("GET", "/x?a=1&"+strings.Join(accessTokenQueries, "&"), hdrs))
		if err != nil {
			t.Fatal(err)
		}
		ok := resp.GetOkResponse()
		if ok == nil {
			t.Fatalf("not allowed: %v", resp)
		}
		rm := ok.GetHeadersToRemove()
		for k := range hdrs {
			if want := k != "authorization" && k != "accept" && k != ":authority" && k != "user-agent"; slices.Contains(rm, k) != want {
				t.Errorf("headers_to_remove has %q: %v, want %v", k, !want, want)
			}
		}
		qrm := ok.GetQueryParametersToRemove()
		for _, q := range accessTokenQueries {
			for pair := range strings.SplitSeq(q, "&") {
				k, _, _ := strings.Cut(pair, "=")
				if k != "access_tok%en" && !slices.Contains(qrm, k) {
					t.Errorf("query_parameters_to_remove %q lacks %q", qrm, k)
				}
			}
		}
		if slices.Contains(qrm, "a") {
			t.Errorf("query_parameters_to_remove removes a: %q", qrm)
		}
		two, err := client.Check(ctx, checkRequest("GET", "/public/x", map[string]string{"authorization": "Bearer " + reader + ",Bearer " + admin}))
		if err != nil {
			t.Fatal(err)
		}
		if d := two.GetDeniedResponse(); d == nil || d.GetStatus().GetCode() != 400 {
			t.Fatalf("two Authorization headers: %v", two)
		}
	})
}

// TestTrustTableNginxClearsEveryName: the nginx configuration the
// documentation shows (and the nginx tests run) clears every header name of the decision table, so the nginx door
// applies the same table as the proxy and ext_authz.
func TestTrustTableNginxClearsEveryName(t *testing.T) {
	conf, from := docNginxSnippet(t)
	for _, n := range gateway.TrustNames {
		re := regexp.MustCompile(`(?mi)^\s*proxy_set_header\s+` + regexp.QuoteMeta(n) + `\s+"";`)
		if !re.MatchString(conf) {
			t.Errorf("%s: the nginx snippet does not clear %s: add proxy_set_header %s \"\";", from, n, http.CanonicalHeaderKey(n))
		}
	}
}
