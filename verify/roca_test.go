package verify

import (
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"
)

// TestROCAFingerprint builds a modulus with the ROCA structure (65537^c mod
// M plus a multiple of M, M the product of the tested primes) and checks it
// is refused while an ordinary RSA modulus is kept; the tables behind the
// check are built on first use.
func TestROCAFingerprint(t *testing.T) {
	m := big.NewInt(1)
	for _, p := range rocaTables().primes {
		m.Mul(m, big.NewInt(p))
	}
	weak := new(big.Int).Exp(big.NewInt(65537), big.NewInt(977), m)
	weak.Add(weak, new(big.Int).Mul(m, big.NewInt(1234567)))
	if !rocaWeak(weak) {
		t.Fatal("a modulus with the ROCA structure was not recognized")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if rocaWeak(key.N) {
		t.Fatal("an ordinary RSA modulus was taken for a ROCA one")
	}
	if rocaWeak(new(big.Int).Add(weak, big.NewInt(2))) {
		t.Fatal("a modulus off the ROCA structure was taken for one")
	}
}
