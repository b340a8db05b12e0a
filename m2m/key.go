package m2m

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// maxKeyBytes bounds a key file; real PEM or JWK keys are a few KiB.
const maxKeyBytes = 64 << 10

// minRSABits is the smallest RSA key accepted; Okta requires 2048.
const minRSABits = 2048

// Key is a client's private signing key and the id Okta knows it by.
type Key struct {
	Signer crypto.Signer
	// ID is the JWK "kid"; "" lets Okta try each of the app's keys.
	ID string
}

// Algorithm is the JWS algorithm for the key: RS256 or ES256.
func (k Key) Algorithm() jose.SignatureAlgorithm {
	if _, ok := k.Signer.(*ecdsa.PrivateKey); ok {
		return jose.ES256
	}
	return jose.RS256
}

// LoadKey reads a private key given as PEM text, as a private JWK (what
// Okta's admin console generates), or as the path of a file holding either.
// It is how OKTAFED_CLIENT_KEY is read.
func LoadKey(v string) (Key, error) {
	t := strings.TrimSpace(v)
	if t == "" {
		return Key{}, errors.New("no client key: set OKTAFED_CLIENT_KEY to a PEM private key, a private JWK, or the path of a file holding one")
	}
	if strings.Contains(t, "-----BEGIN") || strings.HasPrefix(t, "{") {
		return ParseKey([]byte(t))
	}
	if strings.ContainsAny(t, "\r\n") || len(t) > 4096 {
		// Not a path, and possibly key material: never echo it.
		return Key{}, errors.New("client key is neither PEM, a JWK, nor the path of a file")
	}
	f, err := os.Open(t)
	if err != nil {
		return Key{}, fmt.Errorf("read the client key: %w (give PEM, a JWK, or the path of a readable file)", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyBytes+1))
	if err != nil {
		return Key{}, fmt.Errorf("read the client key %s: %w", t, err)
	}
	if len(data) > maxKeyBytes {
		return Key{}, fmt.Errorf("client key file %s is larger than %d bytes: is it the right file?", t, maxKeyBytes)
	}
	k, err := ParseKey(data)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", t, err)
	}
	return k, nil
}

// ParseKey reads one private key: PEM (PKCS #8 "PRIVATE KEY", PKCS #1 "RSA
// PRIVATE KEY", SEC 1 "EC PRIVATE KEY") or a private JWK. It accepts RSA of
// at least 2048 bits and ECDSA on P-256, the keys Okta takes for RS256 and
// ES256. Errors never quote the input.
func ParseKey(data []byte) (Key, error) {
	if len(data) > maxKeyBytes {
		return Key{}, fmt.Errorf("client key is larger than %d bytes", maxKeyBytes)
	}
	t := bytes.TrimSpace(data)
	if bytes.HasPrefix(t, []byte("{")) {
		return parseJWK(t)
	}
	block, rest := pem.Decode(t)
	if block == nil {
		return Key{}, errors.New("client key is neither PEM nor a JWK")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return Key{}, errors.New("client key PEM holds more than one block: give the private key alone")
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return Key{}, errors.New("client key PEM is encrypted: decrypt it (openssl pkey) and keep it in a secret store instead")
	}
	var (
		raw any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		raw, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		raw, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return Key{}, errors.New("client key PEM is encrypted: decrypt it (openssl pkey) and keep it in a secret store instead")
	default:
		return Key{}, fmt.Errorf("client key PEM block is %q, not a private key", truncate(block.Type, 40))
	}
	if err != nil {
		return Key{}, fmt.Errorf("client key PEM %s cannot be parsed", block.Type)
	}
	return checkKey(raw, "")
}

func parseJWK(data []byte) (Key, error) {
	var k jose.JSONWebKey
	if err := json.Unmarshal(data, &k); err != nil {
		return Key{}, errors.New("client key JWK cannot be parsed")
	}
	if k.IsPublic() {
		return Key{}, errors.New("client key JWK is a public key: use the private key that Okta generated (with \"d\")")
	}
	if k.Algorithm != "" && k.Algorithm != string(jose.RS256) && k.Algorithm != string(jose.ES256) {
		return Key{}, fmt.Errorf("client key JWK alg %q: use RS256 or ES256", truncate(k.Algorithm, 20))
	}
	return checkKey(k.Key, k.KeyID)
}

func checkKey(raw any, kid string) (Key, error) {
	switch k := raw.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return Key{}, fmt.Errorf("client RSA key has %d bits; Okta needs at least %d", k.N.BitLen(), minRSABits)
		}
		if err := k.Validate(); err != nil {
			return Key{}, errors.New("client RSA key is inconsistent")
		}
		return Key{Signer: k, ID: kid}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("client EC key is on %s; ES256 needs P-256", k.Curve.Params().Name)
		}
		return Key{Signer: k, ID: kid}, nil
	default:
		return Key{}, fmt.Errorf("client key type %T is not supported: use RSA (RS256) or EC P-256 (ES256)", raw)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
