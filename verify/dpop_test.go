package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oktafed/oktafed/internal/clock"
)

// proofKey is a client's DPoP key.
type proofKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]any
	jkt  string
}

func newProofKey(t testing.TB) *proofKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk := &proofKey{priv: priv, jwk: jwk(&priv.PublicKey, "", "")}
	k := &publicKey{ec: &priv.PublicKey}
	pk.jkt = thumbprint(k)
	return pk
}

var proofSeq atomic.Int64

// proof makes a DPoP proof for method and url over token, at now; edit
// changes header or claims before signing.
func (pk *proofKey) proof(t testing.TB, method, url, token string, now time.Time, edit func(h, c map[string]any)) string {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	h := map[string]any{"typ": "dpop+jwt", "alg": ES256, "jwk": pk.jwk}
	c := map[string]any{"jti": fmt.Sprint("proof-", proofSeq.Add(1)), "htm": method, "htu": url, "iat": now.Unix(), "ath": enc.EncodeToString(sum[:])}
	if edit != nil {
		edit(h, c)
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	return mintRaw(t, ES256, pk.priv, string(hb), string(cb))
}

type fixedNonces struct{ n string }

func (f fixedNonces) Nonce() string           { return f.n }
func (f fixedNonces) Valid(nonce string) bool { return nonce == f.n }

// TestDPoP: a token bound to a client key (cnf.jkt) passes only with a
// fresh proof made with that key for this request; as a bearer token it
// is refused with a DPoP challenge.
func TestDPoP(t *testing.T) {
	v, fc := staticVerifier(t, nil)
	k := keys(t)
	client := newProofKey(t)
	thief := newProofKey(t)
	bound := baseClaims()
	bound["cnf"] = map[string]any{"jkt": client.jkt}
	tok := mint(t, RS256, k.rsa, "rsa1", bound)
	plain := mint(t, RS256, k.rsa, "rsa1", baseClaims())
	const u = "https://api.example/orders"
	ctx := context.Background()
	req := func(proofs ...string) DPoPRequest {
		return DPoPRequest{Proofs: proofs, Method: "GET", URL: u + "?page=2"}
	}

	// As a bearer token: refused, with a DPoP challenge.
	_, err := v.Verify(ctx, tok)
	if !errors.Is(err, ErrDPoPRequired) {
		t.Fatalf("bound token as bearer: %v", err)
	}
	if st, ch := Challenge(err, "api"); st != http.StatusUnauthorized || !strings.HasPrefix(ch, "DPoP ") {
		t.Fatalf("challenge %d %q", st, ch)
	}
	// Again from the token cache: still refused.
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrDPoPRequired) {
		t.Fatalf("bound token as bearer, cached: %v", err)
	}

	// With a good proof: kept.
	p, err := v.VerifyDPoP(ctx, tok, req(client.proof(t, "GET", u, tok, fc.Now(), nil)))
	if err != nil || p.KeyThumbprint != client.jkt || p.Subject != "alice@example.com" {
		t.Fatalf("good proof: %+v %v", p, err)
	}
	// Query and default port do not matter; scheme and host case neither.
	if _, err := v.VerifyDPoP(ctx, tok, req(client.proof(t, "GET", "HTTPS://API.example:443/orders", tok, fc.Now(), nil))); err != nil {
		t.Fatalf("normalised htu: %v", err)
	}

	replayed := client.proof(t, "GET", u, tok, fc.Now(), nil)
	if _, err := v.VerifyDPoP(ctx, tok, req(replayed)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		token string
		r     DPoPRequest
		want  error
	}{
		{"replayed proof", tok, req(replayed), ErrDPoPProof},
		{"no proof", tok, req(), ErrDPoPProof},
		{"two proofs", tok, req(client.proof(t, "GET", u, tok, fc.Now(), nil), client.proof(t, "GET", u, tok, fc.Now(), nil)), ErrDPoPProof},
		{"wrong htm", tok, req(client.proof(t, "POST", u, tok, fc.Now(), nil)), ErrDPoPProof},
		{"wrong htu path", tok, req(client.proof(t, "GET", "https://api.example/admin", tok, fc.Now(), nil)), ErrDPoPProof},
		{"wrong htu host", tok, req(client.proof(t, "GET", "https://evil.example/orders", tok, fc.Now(), nil)), ErrDPoPProof},
		{"wrong htu scheme", tok, req(client.proof(t, "GET", "http://api.example/orders", tok, fc.Now(), nil)), ErrDPoPProof},
		{"old iat", tok, req(client.proof(t, "GET", u, tok, fc.Now().Add(-2*time.Minute), nil)), ErrDPoPProof},
		{"future iat", tok, req(client.proof(t, "GET", u, tok, fc.Now().Add(2*time.Minute), nil)), ErrDPoPProof},
		{"no iat", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(_, c map[string]any) { delete(c, "iat") })), ErrDPoPProof},
		{"no jti", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(_, c map[string]any) { delete(c, "jti") })), ErrDPoPProof},
		{"ath of another token", tok, req(client.proof(t, "GET", u, plain, fc.Now(), nil)), ErrDPoPProof},
		{"no ath", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(_, c map[string]any) { delete(c, "ath") })), ErrDPoPProof},
		{"thief's key", tok, req(thief.proof(t, "GET", u, tok, fc.Now(), nil)), ErrDPoPProof},
		{"thief's key, client's jwk", tok, req(thief.proof(t, "GET", u, tok, fc.Now(), func(h, _ map[string]any) { h["jwk"] = client.jwk })), ErrDPoPProof},
		{"typ JWT", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(h, _ map[string]any) { h["typ"] = "JWT" })), ErrDPoPProof},
		{"no typ", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(h, _ map[string]any) { delete(h, "typ") })), ErrDPoPProof},
		{"no jwk", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(h, _ map[string]any) { delete(h, "jwk") })), ErrDPoPProof},
		{"kid instead", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(h, _ map[string]any) { h["kid"] = "rsa1" })), ErrDPoPProof},
		{"private jwk", tok, req(client.proof(t, "GET", u, tok, fc.Now(), func(h, _ map[string]any) {
			d, _ := client.priv.Bytes()
			j := map[string]any{"d": enc.EncodeToString(d)}
			for k, v := range client.jwk {
				j[k] = v
			}
			h["jwk"] = j
		})), ErrDPoPProof},
		{"alg none", tok, req(strings.Join(strings.Split(client.proof(t, "GET", u, tok, fc.Now(), func(h, _ map[string]any) { h["alg"] = "none" }), ".")[:2], ".") + "."), ErrDPoPProof},
		{"unbound token with a proof", plain, req(client.proof(t, "GET", u, plain, fc.Now(), nil)), ErrDPoPProof},
		{"expired bound token", mint(t, RS256, k.rsa, "rsa1", func() map[string]any {
			c := baseClaims()
			c["cnf"], c["exp"] = map[string]any{"jkt": client.jkt}, fc.Now().Unix()-3600
			return c
		}()), req(client.proof(t, "GET", u, tok, fc.Now(), nil)), ErrExpired},
	}
	for _, tc := range cases {
		p, err := v.VerifyDPoP(ctx, tc.token, tc.r)
		if !errors.Is(err, tc.want) || p != nil {
			t.Errorf("%s: %v, want %v (refused)", tc.name, err, tc.want)
			continue
		}
		if _, ch := Challenge(err, ""); !strings.HasPrefix(ch, "DPoP") {
			t.Errorf("%s: challenge %q, want the DPoP scheme", tc.name, ch)
		}
	}
	// A bearer token still passes as one.
	if _, err := v.Verify(ctx, plain); err != nil {
		t.Fatal(err)
	}
	// cnf that binds some other way (mTLS) is never a bearer token.
	mtls := baseClaims()
	mtls["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
	if _, err := v.Verify(ctx, mint(t, RS256, k.rsa, "rsa1", mtls)); !errors.Is(err, ErrDPoPRequired) {
		t.Fatalf("mTLS-bound token as bearer: %v", err)
	}
}

// TestDPoPNonce: with a nonce source, a proof without its nonce is
// answered use_dpop_nonce with the nonce to use; with it, kept.
func TestDPoPNonce(t *testing.T) {
	v, fc := staticVerifier(t, func(c *Config) { c.DPoP.Nonces = fixedNonces{"n-1"} })
	k := keys(t)
	client := newProofKey(t)
	c := baseClaims()
	c["cnf"] = map[string]any{"jkt": client.jkt}
	tok := mint(t, RS256, k.rsa, "rsa1", c)
	const u = "https://api.example/x"
	ctx := context.Background()
	_, err := v.VerifyDPoP(ctx, tok, DPoPRequest{Proofs: []string{client.proof(t, "GET", u, tok, fc.Now(), nil)}, Method: "GET", URL: u})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrDPoPNonce) || e.Nonce != "n-1" || e.Code != CodeUseDPoPNonce {
		t.Fatalf("no nonce: %v", err)
	}
	if _, err := v.VerifyDPoP(ctx, tok, DPoPRequest{Proofs: []string{client.proof(t, "GET", u, tok, fc.Now(), func(_, c map[string]any) { c["nonce"] = "stale" })}, Method: "GET", URL: u}); !errors.Is(err, ErrDPoPNonce) {
		t.Fatalf("wrong nonce: %v", err)
	}
	if _, err := v.VerifyDPoP(ctx, tok, DPoPRequest{Proofs: []string{client.proof(t, "GET", u, tok, fc.Now(), func(_, c map[string]any) { c["nonce"] = "n-1" })}, Method: "GET", URL: u}); err != nil {
		t.Fatalf("with the nonce: %v", err)
	}
}

// TestDPoPReplayWindow: proof ids are remembered past the iat window, so
// a proof cannot be replayed at any time it would still be accepted.
func TestDPoPReplayWindow(t *testing.T) {
	v, fc := staticVerifier(t, nil)
	k := keys(t)
	client := newProofKey(t)
	c := baseClaims()
	c["cnf"] = map[string]any{"jkt": client.jkt}
	tok := mint(t, RS256, k.rsa, "rsa1", c)
	const u = "https://api.example/x"
	ctx := context.Background()
	pr := client.proof(t, "GET", u, tok, fc.Now().Add(DefaultDPoPWindow), nil) // made for the far edge
	r := DPoPRequest{Proofs: []string{pr}, Method: "GET", URL: u}
	if _, err := v.VerifyDPoP(ctx, tok, r); err != nil {
		t.Fatal(err)
	}
	for _, step := range []time.Duration{time.Second, DefaultDPoPWindow, DefaultDPoPWindow / 2} {
		fc.Advance(step)
		if _, err := v.VerifyDPoP(ctx, tok, r); !errors.Is(err, ErrDPoPProof) {
			t.Fatalf("replay %v later: %v", step, err)
		}
	}
}

// TestDPoPIntrospectedBinding: an introspection answer's cnf binds the
// token just as a JWT's does.
func TestDPoPIntrospectedBinding(t *testing.T) {
	client := newProofKey(t)
	exp := testNow.Unix() + 3600
	srv := newCountingIntrospection(t, map[string]string{
		"boundopaque": fmt.Sprintf(`{"active":true,"token_type":"DPoP","sub":"bob","aud":%q,"exp":%d,"cnf":{"jkt":%q}}`, testAud, exp, client.jkt),
	})
	fc := clock.NewFake(testNow)
	v := introVerifier(t, srv, fc, Policy{})
	ctx := context.Background()
	if _, err := v.Verify(ctx, "boundopaque"); !errors.Is(err, ErrDPoPRequired) {
		t.Fatalf("bound opaque token as bearer: %v", err)
	}
	const u = "https://api.example/x"
	p, err := v.VerifyDPoP(ctx, "boundopaque", DPoPRequest{Proofs: []string{client.proof(t, "GET", u, "boundopaque", fc.Now(), nil)}, Method: "GET", URL: u})
	if err != nil || !p.Introspected || p.KeyThumbprint != client.jkt {
		t.Fatalf("bound opaque token with proof: %+v %v", p, err)
	}
}

// FuzzDPoPProof: no proof the client's key did not sign is accepted, and
// the proof parser never panics.
func FuzzDPoPProof(f *testing.F) {
	v, fc := staticVerifier(f, func(c *Config) { c.TokenCache.Disabled = true })
	k := keys(f)
	client := newProofKey(f)
	c := baseClaims()
	c["cnf"] = map[string]any{"jkt": client.jkt}
	tok := mint(f, RS256, k.rsa, "rsa1", c)
	const u = "https://api.example/x"
	good := client.proof(f, "GET", u, tok, fc.Now(), nil)
	f.Add(good)
	f.Add(strings.Split(good, ".")[0] + ".e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, proof string) {
		_, _ = parseProof(proof, defaultAlgs)
		_, _ = normalHTU(proof)
		_, _ = cnfThumbprint(proof)
		if proof == good {
			return // accepted once at most; not the property checked
		}
		if _, err := v.VerifyDPoP(context.Background(), tok, DPoPRequest{Proofs: []string{proof}, Method: "GET", URL: u}); err == nil {
			t.Fatalf("accepted a proof the client did not sign: %q", proof)
		}
	})
}
