package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/internal/netaddr"
)

// Every parser that reads untrusted bytes has a fuzz target. The property
// checked is the same everywhere: no panic, and for the verifier, nothing
// is ever accepted that was not signed by a configured key.

func FuzzVerifyToken(f *testing.F) {
	k := keys(f)
	v, _ := staticVerifier(f, func(c *Config) { c.TokenCache.Disabled = true })
	good := mint(f, RS256, k.rsa, "rsa1", baseClaims())
	goodEC := mint(f, ES256, k.ec, "ec1", baseClaims())
	f.Add(good)
	f.Add(goodEC)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		// Strict base64 and exact signature lengths mean no other byte
		// string may verify (only an ECDSA (r, n-s) twin could, and that
		// needs the curve order, not a mutator).
		if _, err := v.Verify(context.Background(), tok); err == nil && tok != good && tok != goodEC {
			t.Fatalf("accepted a token that no key signed")
		}
	})
}

func FuzzParseJWS(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.AAAA")
	f.Add("eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYiJdfQ.e30.AA")
	f.Fuzz(func(t *testing.T, tok string) {
		var j jws
		_ = parseJWS(tok, algRS256|algPS256|algES256|algEdDSA, &j)
		_, _ = Decode(tok)
	})
}

func FuzzClaims(f *testing.F) {
	f.Add(`{"iss":"a","aud":["b"],"exp":1,"scp":["x"],"groups":"g"}`)
	f.Add(`{"a":{"b":[1,2,{"c":"\ud83d\ude00"}]},"n":-0.5e10}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseClaims(s, claimNames{user: "email", groups: "groups"})
	})
}

func FuzzJWKS(f *testing.F) {
	k := keys(f)
	f.Add(jwksOf(jwk(&k.rsa.PublicKey, "a", RS256), jwk(&k.ec.PublicKey, "b", ""), jwk(k.ed.Public(), "c", EdDSA)))
	f.Add(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`)
	f.Fuzz(func(t *testing.T, s string) {
		ks, err := parseJWKSet(s, keyLimits{}, 64)
		if err == nil {
			_ = ks.find("a", RS256)
			_, _ = JWKSToPEM([]byte(s))
		}
	})
}

func FuzzPEM(f *testing.F) {
	k := keys(f)
	f.Add([]byte(pemOf(f, &k.rsa.PublicKey)))
	f.Add([]byte(pemOf(f, &k.ec.PublicKey)))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseKeyDocument(b, keyLimits{}, 64)
	})
}

func FuzzDiscovery(f *testing.F) {
	f.Add(`{"issuer":"https://a","jwks_uri":"https://a/keys","introspection_endpoint":"https://a/i"}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseDiscovery(s)
	})
}

func FuzzIntrospection(f *testing.F) {
	f.Add(`{"active":true,"sub":"a","scope":"a b","aud":"x","exp":12}`)
	f.Add(`{"active":false}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseIntrospection(s, claimNames{user: "sub", groups: "groups"})
	})
}

// FuzzClientClaims checks that the client a token names does not depend
// on the JSON order of cid, client_id, azp and appid, and that claims
// naming different clients are always flagged.
func FuzzClientClaims(f *testing.F) {
	f.Add("a", "a", "", "", uint8(3))
	f.Add("a", "b", "c", "d", uint8(15))
	f.Add("", "x", "x", "", uint8(6))
	f.Fuzz(func(t *testing.T, cid, clientID, azp, appid string, present uint8) {
		vals := []string{cid, clientID, azp, appid}
		var members []string
		for i, name := range clientClaimNames {
			if present&(1<<i) != 0 {
				b, _ := json.Marshal(vals[i])
				members = append(members, `"`+name+`":`+string(b))
				// Invalid UTF-8 is marshalled as U+FFFD: compare what
				// the JSON says, not the Go strings.
				_ = json.Unmarshal(b, &vals[i])
			}
		}
		fwd, err1 := parseClaims("{"+strings.Join(members, ",")+"}", claimNames{user: "sub", groups: "groups"})
		rev, err2 := parseClaims("{"+strings.Join(reversed(members), ",")+"}", claimNames{user: "sub", groups: "groups"})
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("order changes validity: %v / %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if fwd.cid != rev.cid || fwd.cidConflict != rev.cidConflict {
			t.Fatalf("order changes the client: %q/%v vs %q/%v", fwd.cid, fwd.cidConflict, rev.cid, rev.cidConflict)
		}
		distinct := map[string]bool{}
		for i := range clientClaimNames {
			if present&(1<<i) != 0 {
				distinct[vals[i]] = true
			}
		}
		if fwd.cidConflict != (len(distinct) > 1) {
			t.Fatalf("conflict = %v with values %v", fwd.cidConflict, distinct)
		}
	})
}

// FuzzB64Token checks the opaque-token pre-filter against RFC 6750's
// b64token grammar.
func FuzzB64Token(f *testing.F) {
	f.Add("abc.DEF-_~+/==")
	f.Add("a b")
	f.Add("==")
	f.Fuzz(func(t *testing.T, s string) {
		if !isB64Token(s) {
			return
		}
		body := strings.TrimRight(s, "=")
		if body == "" {
			t.Fatal("padding alone accepted")
		}
		for _, c := range body {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/", c) {
				t.Fatalf("accepted %q", c)
			}
		}
	})
}

// FuzzCheckRedirect feeds arbitrary redirect targets (a Location header
// is attacker-controlled) and checks that whatever is followed keeps TLS
// and stays on the starting host.
func FuzzCheckRedirect(f *testing.F) {
	f.Add("https://idp.example.com/keys", "http://127.0.0.1/keys")
	f.Add("https://idp.example.com/keys", "https://IDP.example.com:444/k")
	f.Add("http://127.0.0.1:1/keys", "http://localhost/keys")
	f.Fuzz(func(t *testing.T, from, to string) {
		fu, err := url.Parse(from)
		if err != nil || checkURL(from) != nil {
			return
		}
		tu, err := fu.Parse(to)
		if err != nil {
			return
		}
		req := &http.Request{URL: tu}
		via := []*http.Request{{URL: fu}}
		if checkRedirect(req.WithContext(context.Background()), via, nil) != nil {
			return
		}
		if fu.Scheme == "https" && tu.Scheme != "https" {
			t.Fatalf("followed %s -> %s, dropping TLS", from, tu)
		}
		if !strings.EqualFold(fu.Hostname(), tu.Hostname()) {
			t.Fatalf("followed %s -> %s, another host", from, tu)
		}
		if tu.Scheme == "http" && !netaddr.IsLoopbackHost(tu.Hostname()) {
			t.Fatalf("followed %s -> %s, plain http off loopback", from, tu)
		}
	})
}
