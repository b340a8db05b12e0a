package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// testKeys are generated once per test binary: RSA generation is slow.
type testKeySet struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	tk       testKeySet
)

func keys(tb testing.TB) *testKeySet {
	tb.Helper()
	keysOnce.Do(func() {
		var err error
		if tk.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if tk.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if tk.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, tk.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return &tk
}

var enc = base64.RawURLEncoding

// sign signs input with key for alg and returns the JWS signature bytes.
func sign(tb testing.TB, alg string, key crypto.Signer, input string) []byte {
	tb.Helper()
	h := sha256.Sum256([]byte(input))
	switch alg {
	case RS256:
		s, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:])
		if err != nil {
			tb.Fatal(err)
		}
		return s
	case PS256:
		s, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			tb.Fatal(err)
		}
		return s
	case ES256:
		der, err := ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			tb.Fatal(err)
		}
		s, err := derToP1363(der)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	case EdDSA, Ed25519:
		return ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	}
	tb.Fatalf("sign: unsupported alg %s", alg)
	return nil
}

// mintRaw signs the given header and claims JSON texts verbatim.
func mintRaw(tb testing.TB, alg string, key crypto.Signer, header, claims string) string {
	tb.Helper()
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return input + "." + enc.EncodeToString(sign(tb, alg, key, input))
}

// mint builds a signed token from maps.
func mint(tb testing.TB, alg string, key crypto.Signer, kid string, claims map[string]any) string {
	tb.Helper()
	h := map[string]any{"alg": alg}
	if kid != "" {
		h["kid"] = kid
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	return mintRaw(tb, alg, key, string(hb), string(cb))
}

// jwk renders the public part of key as a JWK map.
func jwk(key crypto.PublicKey, kid, alg string) map[string]any {
	m := map[string]any{}
	switch k := key.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", enc.EncodeToString(k.N.Bytes()), enc.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		b, _ := k.Bytes()
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", enc.EncodeToString(b[1:33]), enc.EncodeToString(b[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", enc.EncodeToString(k)
	}
	if kid != "" {
		m["kid"] = kid
	}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func jwksOf(keys ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return string(b)
}

func pemOf(tb testing.TB, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

const (
	testIssuer = "https://issuer.example/oauth2/default"
	testAud    = "api://default"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// baseClaims are valid claims at testNow.
func baseClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": "alice@example.com", "aud": testAud,
		"iat": testNow.Unix() - 60, "exp": testNow.Unix() + 3600,
		"cid": "client-1", "scp": []string{"openid", "api.read"}, "uid": "00u1",
		"groups": []string{"Everyone", "Writers"},
	}
}

// staticVerifier builds a verifier over the standard test keys with a fake
// clock at testNow.
func staticVerifier(tb testing.TB, mutate func(*Config)) (*Verifier, *clock.Fake) {
	tb.Helper()
	k := keys(tb)
	fc := clock.NewFake(testNow)
	cfg := Config{
		Providers: []ProviderConfig{{
			Type: ProviderStatic, Name: "test", Issuer: testIssuer,
			Keys: jwksOf(
				jwk(&k.rsa.PublicKey, "rsa1", RS256),
				jwk(&k.ec.PublicKey, "ec1", ES256),
				jwk(k.ed.Public(), "ed1", EdDSA),
				jwk(&k.rsa2.PublicKey, "ps1", ""),
			),
		}},
		Policy: Policy{
			Audiences:      []string{testAud},
			AdminGroups:    []string{"Admins"},
			WriteGroups:    []string{"Writers"},
			ReadOnlyGroups: []string{"Everyone"},
		},
		Algorithms: []string{RS256, ES256, EdDSA, PS256},
		Clock:      fc,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v, fc
}

func x509MarshalPKCS8(key any) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
