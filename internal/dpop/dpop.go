// Package dpop makes DPoP proofs (RFC 9449) for clients: a P-256 key, its
// RFC 7638 thumbprint, and a signed proof per request. The verifier's
// side lives in package verify.
package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"time"
)

var b64 = base64.RawURLEncoding

// Key is a client's DPoP key: ES256 over P-256.
type Key struct {
	priv *ecdsa.PrivateKey
	x, y string
}

// NewKey makes a fresh key.
func NewKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return FromECDSA(priv)
}

// FromECDSA wraps an existing P-256 private key.
func FromECDSA(priv *ecdsa.PrivateKey) (*Key, error) {
	if priv == nil || priv.Curve != elliptic.P256() {
		return nil, errors.New("dpop: the key must be an ECDSA P-256 key")
	}
	b, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	return &Key{priv: priv, x: b64.EncodeToString(b[1:33]), y: b64.EncodeToString(b[33:])}, nil
}

// Thumbprint is the key's RFC 7638 SHA-256 thumbprint: the jkt a bound
// token's cnf claim names.
func (k *Key) Thumbprint() string {
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + k.x + `","y":"` + k.y + `"}`))
	return b64.EncodeToString(sum[:])
}

// Proof signs a proof for one request: method and url (query and fragment
// are dropped by the caller's choice of url), the access token it goes
// with ("" at a token endpoint) and the server's nonce ("" when none was
// asked for).
func (k *Key) Proof(method, url, accessToken, nonce string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	hdr := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": map[string]string{"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y}}
	claims := map[string]any{"jti": b64.EncodeToString(jti[:]), "htm": method, "htu": url, "iat": now.Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = b64.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, h[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	fill(sig[:32], r)
	fill(sig[32:], s)
	return input + "." + b64.EncodeToString(sig), nil
}

func fill(dst []byte, n *big.Int) { n.FillBytes(dst) }
