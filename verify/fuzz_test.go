package verify

import (
	"context"
	"testing"
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
