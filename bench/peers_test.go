// Package bench compares oktafed's verify package with other Go JWT
// verifiers on the same tokens, in one process, side by side.
package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/oktafed/oktafed/verify"
)

const audience = "api://bench"

// fixture is the shared setup: keys, a JWKS server, and one token per
// algorithm with realistic Okta-like claims.
type fixture struct {
	srv    *httptest.Server
	issuer string
	jwks   []byte
	tokens map[string]string // alg -> token
}

var (
	fixOnce sync.Once
	fix     fixture
)

var algs = []string{"RS256", "ES256", "EdDSA"}

func setup(tb testing.TB) *fixture {
	tb.Helper()
	fixOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, dk, _ := ed25519.GenerateKey(rand.Reader)
		b64 := base64.RawURLEncoding
		eb, _ := ek.PublicKey.Bytes()
		keys := []map[string]string{
			{"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": b64.EncodeToString(rk.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(rk.E)).Bytes())},
			{"kty": "EC", "kid": "e1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64.EncodeToString(eb[1:33]), "y": b64.EncodeToString(eb[33:])},
			{"kty": "OKP", "kid": "d1", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64.EncodeToString(dk.Public().(ed25519.PublicKey))},
		}
		fix.jwks, _ = json.Marshal(map[string]any{"keys": keys})
		fix.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "max-age=3600")
			_, _ = w.Write(fix.jwks)
		}))
		fix.issuer = fix.srv.URL + "/oauth2/default"
		now := time.Now().Unix()
		claims, _ := json.Marshal(map[string]any{
			"ver": 1, "jti": "AT.bench", "iss": fix.issuer, "aud": audience, "iat": now, "exp": now + 86400,
			"cid": "0oabench", "uid": "00ubench", "sub": "alice@example.com",
			"scp": []string{"openid", "profile", "api.read"}, "groups": []string{"Everyone", "Writers"},
		})
		fix.tokens = map[string]string{}
		for _, a := range []struct {
			alg, kid string
			key      crypto.Signer
		}{{"RS256", "r1", rk}, {"ES256", "e1", ek}, {"EdDSA", "d1", dk}} {
			h, _ := json.Marshal(map[string]string{"alg": a.alg, "kid": a.kid, "typ": "JWT"})
			input := b64.EncodeToString(h) + "." + b64.EncodeToString(claims)
			fix.tokens[a.alg] = input + "." + b64.EncodeToString(signWith(a.alg, a.key, input))
		}
	})
	return &fix
}

func signWith(alg string, key crypto.Signer, input string) []byte {
	sum := sha256.Sum256([]byte(input))
	switch alg {
	case "RS256":
		s, _ := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, sum[:])
		return s
	case "ES256":
		r, s, _ := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), sum[:])
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	default:
		return ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	}
}

// verifierFunc verifies one token and returns the subject.
type verifierFunc func(ctx context.Context, token string) (string, error)

// peers builds every verifier. Each keeps its keys in memory after the
// first fetch, as it would in a server.
func peers(tb testing.TB, f *fixture) []struct {
	name string
	fn   verifierFunc
} {
	ctx := context.Background()
	jwksURL := f.srv.URL + "/keys"
	var out []struct {
		name string
		fn   verifierFunc
	}
	add := func(name string, fn verifierFunc) {
		out = append(out, struct {
			name string
			fn   verifierFunc
		}{name, fn})
	}

	for _, cached := range []bool{false, true} {
		v, err := verify.New(verify.Config{
			Providers:  []verify.ProviderConfig{{Type: verify.ProviderOIDC, Issuer: f.issuer, JWKSURL: jwksURL}},
			Policy:     verify.Policy{Audiences: []string{audience}, WriteGroups: []string{"Writers"}},
			TokenCache: verify.TokenCache{Disabled: !cached},
		})
		if err != nil {
			tb.Fatal(err)
		}
		name := "oktafed"
		if cached {
			name = "oktafed-cached"
		}
		add(name, func(ctx context.Context, tok string) (string, error) {
			p, err := v.Verify(ctx, tok)
			if err != nil {
				return "", err
			}
			return p.Subject, nil
		})
	}

	ks := oidc.NewRemoteKeySet(ctx, jwksURL)
	ov := oidc.NewVerifier(f.issuer, ks, &oidc.Config{ClientID: audience, SupportedSigningAlgs: algs})
	add("go-oidc", func(ctx context.Context, tok string) (string, error) {
		t, err := ov.Verify(ctx, tok)
		if err != nil {
			return "", err
		}
		var c map[string]any
		if err := t.Claims(&c); err != nil {
			return "", err
		}
		return t.Subject, nil
	})

	set, err := jwk.Parse(f.jwks)
	if err != nil {
		tb.Fatal(err)
	}
	add("jwx", func(ctx context.Context, tok string) (string, error) {
		t, err := jwxjwt.ParseString(tok, jwxjwt.WithKeySet(set), jwxjwt.WithIssuer(f.issuer), jwxjwt.WithAudience(audience), jwxjwt.WithValidate(true))
		if err != nil {
			return "", err
		}
		sub, _ := t.Subject()
		return sub, nil
	})

	kf, err := keyfunc.NewJWKSetJSON(f.jwks)
	if err != nil {
		tb.Fatal(err)
	}
	parser := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithIssuer(f.issuer), jwt.WithAudience(audience), jwt.WithExpirationRequired())
	add("golang-jwt+keyfunc", func(ctx context.Context, tok string) (string, error) {
		t, err := parser.Parse(tok, kf.Keyfunc)
		if err != nil {
			return "", err
		}
		return t.Claims.GetSubject()
	})
	// okta-jwt-verifier-golang is not listed: its module does not resolve
	// through the Go module proxy available here (see README.md).
	return out
}

// TestPeersAgree checks that every verifier accepts the fixture tokens and
// rejects a tampered one, so the benchmark compares equal work.
func TestPeersAgree(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, p := range peers(t, f) {
		for _, alg := range algs {
			tok := f.tokens[alg]
			sub, err := p.fn(ctx, tok)
			if err != nil || sub != "alice@example.com" {
				t.Errorf("%s %s: %q, %v", p.name, alg, sub, err)
			}
			bad := tok[:len(tok)-4] + "AAAA"
			if _, err := p.fn(ctx, bad); err == nil {
				t.Errorf("%s %s: tampered token accepted", p.name, alg)
			}
		}
	}
}

// BenchmarkVerify runs every verifier on the same tokens. Names are
// BenchmarkVerify/<alg>/<library>; bench/run turns them into ratios.
func BenchmarkVerify(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	ps := peers(b, f)
	for _, alg := range algs {
		tok := f.tokens[alg]
		for _, p := range ps {
			b.Run(alg+"/"+p.name, func(b *testing.B) {
				if _, err := p.fn(ctx, tok); err != nil { // warm: fetch keys
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.fn(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix.srv != nil {
		fix.srv.Close()
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "bench: tests failed")
	}
	os.Exit(code)
}

// BenchmarkInterleaved times every verifier call by call, rotating through
// the libraries inside one loop, so that all of them run under the same
// machine load at the same moments; on a shared machine that is fairer
// than running each library's benchmark after the other's. It reports
// each library's median ns per verification, and the median divided by
// oktafed's fresh median (above 1: oktafed is faster).
func BenchmarkInterleaved(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	ps := peers(b, f)
	for _, alg := range algs {
		tok := f.tokens[alg]
		b.Run(alg, func(b *testing.B) {
			for _, p := range ps {
				if _, err := p.fn(ctx, tok); err != nil { // warm: fetch keys
					b.Fatal(err)
				}
			}
			samples := make([][]time.Duration, len(ps))
			i := 0
			for b.Loop() {
				// Rotate the starting library so none always runs first
				// (after the others have warmed caches) or last.
				for j := range ps {
					k := (i + j) % len(ps)
					t0 := time.Now()
					if _, err := ps[k].fn(ctx, tok); err != nil {
						b.Fatal(err)
					}
					samples[k] = append(samples[k], time.Since(t0))
				}
				i++
			}
			med := make([]float64, len(ps))
			for k := range ps {
				s := samples[k]
				slices.Sort(s)
				med[k] = float64(s[len(s)/2])
			}
			for k, p := range ps {
				b.ReportMetric(med[k], p.name+"-ns")
				if p.name != "oktafed" && p.name != "oktafed-cached" {
					b.ReportMetric(med[k]/med[0], p.name+"/oktafed")
				}
			}
		})
	}
}
