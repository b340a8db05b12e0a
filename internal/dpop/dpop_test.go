package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestProof: a proof carries the header and claims RFC 9449 section 4.2
// asks for, and its signature verifies with the key in its own header.
func TestProof(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	p, err := k.Proof("GET", "https://api.example/x", "tok", "n1", now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(p, ".")
	if len(parts) != 3 {
		t.Fatalf("proof %q", p)
	}
	var h struct {
		Typ, Alg string
		JWK      map[string]string
	}
	var c map[string]any
	hb, _ := b64.DecodeString(parts[0])
	cb, _ := b64.DecodeString(parts[1])
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		t.Fatal("undecodable proof")
	}
	sum := sha256.Sum256([]byte("tok"))
	if h.Typ != "dpop+jwt" || h.Alg != "ES256" || h.JWK["x"] == "" || h.JWK["d"] != "" || c["htm"] != "GET" || c["htu"] != "https://api.example/x" ||
		c["iat"] != float64(now.Unix()) || c["nonce"] != "n1" || c["ath"] != b64.EncodeToString(sum[:]) || c["jti"] == "" {
		t.Fatalf("header %+v claims %v", h, c)
	}
	x, _ := b64.DecodeString(h.JWK["x"])
	y, _ := b64.DecodeString(h.JWK["y"])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := b64.DecodeString(parts[2])
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("signature does not verify with the header's jwk")
	}
	// Two proofs never share a jti.
	q, _ := k.Proof("GET", "https://api.example/x", "tok", "", now)
	if q == p || strings.Contains(q, "nonce") {
		t.Fatal("proofs repeat")
	}
	if len(k.Thumbprint()) != 43 {
		t.Fatalf("thumbprint %q", k.Thumbprint())
	}
}
