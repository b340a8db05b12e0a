package verify

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// BenchmarkVerify measures verification of one token per algorithm, with
// the verified-token cache off (every call does the full work) and on.
func BenchmarkVerify(b *testing.B) {
	k := keys(b)
	algs := []struct {
		alg, kid string
		key      crypto.Signer
	}{{RS256, "rsa1", k.rsa}, {ES256, "ec1", k.ec}, {EdDSA, "ed1", k.ed}}
	for _, cached := range []bool{false, true} {
		for _, a := range algs {
			name := a.alg + "/fresh"
			if cached {
				name = a.alg + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				v, _ := staticVerifier(b, func(c *Config) { c.TokenCache.Disabled = !cached })
				tok := mint(b, a.alg, a.key, a.kid, baseClaims())
				ctx := context.Background()
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkParse isolates the strict parsing layers.
func BenchmarkParse(b *testing.B) {
	k := keys(b)
	tok := mint(b, RS256, k.rsa, "rsa1", baseClaims())
	b.ReportAllocs()
	for b.Loop() {
		var j jws
		if err := parseJWS(tok, defaultAlgs, &j); err != nil {
			b.Fatal(err)
		}
		if _, err := parseClaims(j.payload, claimNames{user: "sub", groups: "groups"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignature isolates the signature check (the standard library's
// crypto plus hashing) on the same tokens as BenchmarkVerify, so the
// difference between the two is the verifier's own work: parsing, key
// lookup, policy and building the principal.
func BenchmarkSignature(b *testing.B) {
	k := keys(b)
	algs := []struct {
		alg, kid string
		key      crypto.Signer
	}{{RS256, "rsa1", k.rsa}, {ES256, "ec1", k.ec}, {EdDSA, "ed1", k.ed}}
	for _, a := range algs {
		b.Run(a.alg, func(b *testing.B) {
			v, _ := staticVerifier(b, nil)
			tok := mint(b, a.alg, a.key, a.kid, baseClaims())
			var t jws
			if err := parseJWS(tok, defaultAlgs, &t); err != nil {
				b.Fatal(err)
			}
			pk, _, err := v.providers[0].keys.lookup(context.Background(), t.kid, t.alg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !t.scratch.verify(t.alg, pk, t.signingInput, t.sig) {
					b.Fatal("signature refused")
				}
			}
		})
	}
}

// BenchmarkRS256Overhead runs, side by side on one token, the standard
// library's RS256 check alone (SHA-256 of the signing input, then
// rsa.VerifyPKCS1v15) and a whole Verify with the token cache off. The
// difference is what the verifier adds: parsing, key lookup, policy,
// token kind and the principal. The goal is at most 2 µs.
func BenchmarkRS256Overhead(b *testing.B) {
	k := keys(b)
	tok := mint(b, RS256, k.rsa, "rsa1", baseClaims())
	i := strings.LastIndexByte(tok, '.')
	input := tok[:i]
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := &k.rsa.PublicKey
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256([]byte(input))
			if rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		v, _ := staticVerifier(b, func(c *Config) { c.TokenCache.Disabled = true })
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
