package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"filippo.io/edwards25519"
)

// Algorithm names accepted in the JWS "alg" header.
const (
	RS256 = "RS256"
	PS256 = "PS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
	// Ed25519 is the fully specified name for EdDSA over Ed25519.
	Ed25519 = "Ed25519"
)

// Key-size limits. RSA keys below MinRSABits are refused outright; the
// upper bound is configurable (Limits.MaxRSABits) because verification cost
// grows with the modulus and a hostile key set could otherwise make every
// request expensive.
const (
	MinRSABits        = 2048
	DefaultMaxRSABits = 4096
)

// publicKey is one verification key with the metadata that constrains it.
type publicKey struct {
	kid      string
	explicit bool   // the source named the key; false for derived ids
	alg      string // declared "alg", or "" when the source left it open
	kty      string // "RSA", "EC" or "OKP"
	rsa      *rsa.PublicKey
	ec       *ecdsa.PublicKey
	ed       ed25519.PublicKey
	// rsaSize is the modulus length in bytes, and edNegA the negated
	// Ed25519 point: per-key work done once when the key is loaded rather
	// than on every signature check.
	rsaSize int
	edNegA  *edwards25519.Point
	// unusable is nil when the key may verify signatures; otherwise it says
	// why it may not (wrong "use", "key_ops" without "verify", ...).
	unusable error
	// fp identifies the key material, to tell whether a refreshed set
	// changed.
	fp [32]byte
}

// allows reports whether the key may verify a signature made with alg.
func (k *publicKey) allows(alg string) bool {
	if k.unusable != nil {
		return false
	}
	if k.alg != "" && k.alg != alg && !(isEdDSA(k.alg) && isEdDSA(alg)) {
		return false
	}
	switch alg {
	case RS256, PS256:
		return k.rsa != nil
	case ES256:
		return k.ec != nil
	case EdDSA, Ed25519:
		return k.ed != nil
	}
	return false
}

// setRSA stores an RSA key with its precomputed size.
func (k *publicKey) setRSA(pub *rsa.PublicKey) {
	k.rsa, k.rsaSize = pub, pub.Size()
}

// setEd stores an Ed25519 key with its negated point. A key whose bytes
// are not a valid point keeps edNegA nil and verifies nothing.
func (k *publicKey) setEd(pub ed25519.PublicKey) {
	k.ed = pub
	if A, err := new(edwards25519.Point).SetBytes(pub); err == nil {
		k.edNegA = new(edwards25519.Point).Negate(A)
	}
}

func isEdDSA(alg string) bool { return alg == EdDSA || alg == Ed25519 }

// public returns the key as a crypto.PublicKey for export.
func (k *publicKey) public() any {
	switch {
	case k.rsa != nil:
		return k.rsa
	case k.ec != nil:
		return k.ec
	}
	return k.ed
}

var b64 = base64.RawURLEncoding.Strict()

// isB64URL reports whether s uses only the unpadded base64url alphabet.
// base64.Encoding silently skips CR and LF, so the alphabet is checked
// separately. It runs over every byte of every token, hence the table.
func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if !b64URLAlphabet[s[i]] {
			return false
		}
	}
	return true
}

var b64URLAlphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

func decodeB64(s string) ([]byte, error) {
	if !isB64URL(s) {
		return nil, errors.New("invalid base64url")
	}
	return b64.DecodeString(s)
}

// jwkFields is the raw form of a JWK as the strict reader sees it.
type jwkFields struct {
	kty, kid, use, alg, crv string
	n, e, x, y              string
	keyOps                  []string
	hasKeyOps               bool
	private                 bool
}

func readJWK(v jsonValue) (*jwkFields, error) {
	if v.kind != jsonObject {
		return nil, errors.New("JWK must be an object")
	}
	f := &jwkFields{}
	err := eachMember(v, func(key string, e jsonValue) error {
		var err error
		switch key {
		case "kty":
			f.kty, err = stringValue(key, e)
		case "kid":
			f.kid, err = stringValue(key, e)
		case "use":
			f.use, err = stringValue(key, e)
		case "alg":
			f.alg, err = stringValue(key, e)
		case "crv":
			f.crv, err = stringValue(key, e)
		case "n":
			f.n, err = stringValue(key, e)
		case "e":
			f.e, err = stringValue(key, e)
		case "x":
			f.x, err = stringValue(key, e)
		case "y":
			f.y, err = stringValue(key, e)
		case "key_ops":
			if e.kind != jsonArray {
				return errors.New("key_ops must be an array")
			}
			f.hasKeyOps = true
			f.keyOps, err = stringList(key, e, false)
		case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
			// Private or symmetric material has no place in a
			// verification key set; its presence means the publisher
			// leaked a secret, so the key is refused.
			f.private = true
		}
		return err
	})
	return f, err
}

// keyLimits are the structural limits applied to every key.
type keyLimits struct {
	maxRSABits int
}

// parseJWK builds a key from one JWK object. Keys that are structurally
// fine but not meant for signature verification come back with unusable
// set, so JWKSToPEM can still export them.
func parseJWK(v jsonValue, lim keyLimits) (*publicKey, error) {
	f, err := readJWK(v)
	if err != nil {
		return nil, err
	}
	if f.private {
		return nil, errors.New("JWK holds private or symmetric key material")
	}
	k := &publicKey{kid: f.kid, explicit: f.kid != "", alg: f.alg, kty: f.kty}
	switch f.kty {
	case "RSA":
		if f.alg != "" && f.alg != RS256 && f.alg != PS256 && f.alg != "RS384" && f.alg != "RS512" && f.alg != "PS384" && f.alg != "PS512" {
			k.unusable = fmt.Errorf("alg %q does not fit an RSA signing key", f.alg)
		}
		nb, err := decodeB64(f.n)
		if err != nil {
			return nil, fmt.Errorf("RSA modulus: %w", err)
		}
		eb, err := decodeB64(f.e)
		if err != nil {
			return nil, fmt.Errorf("RSA exponent: %w", err)
		}
		pub, err := rsaKey(nb, eb, lim)
		if err != nil {
			return nil, err
		}
		k.setRSA(pub)
	case "EC":
		if f.crv != "P-256" {
			return nil, fmt.Errorf("EC curve %q is not supported (only P-256)", f.crv)
		}
		if f.alg != "" && f.alg != ES256 {
			return nil, fmt.Errorf("alg %q does not fit a P-256 key", f.alg)
		}
		x, err := decodeB64(f.x)
		if err != nil {
			return nil, fmt.Errorf("EC x: %w", err)
		}
		y, err := decodeB64(f.y)
		if err != nil {
			return nil, fmt.Errorf("EC y: %w", err)
		}
		// RFC 7518 section 6.2.1.2 fixes the coordinate length to the
		// field size.
		if len(x) != 32 || len(y) != 32 {
			return nil, errors.New("EC coordinates must be 32 bytes for P-256")
		}
		pt := make([]byte, 0, 65)
		pt = append(append(append(pt, 4), x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		k.ec = pub
	case "OKP":
		if f.crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q is not supported (only Ed25519)", f.crv)
		}
		if f.alg != "" && !isEdDSA(f.alg) {
			return nil, fmt.Errorf("alg %q does not fit an Ed25519 key", f.alg)
		}
		x, err := decodeB64(f.x)
		if err != nil {
			return nil, fmt.Errorf("OKP x: %w", err)
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 key must be 32 bytes")
		}
		k.setEd(ed25519.PublicKey(x))
	case "":
		return nil, errors.New("JWK has no kty")
	default:
		return nil, fmt.Errorf("kty %q is not supported", f.kty)
	}
	if f.use != "" && f.use != "sig" {
		k.unusable = fmt.Errorf("key use %q is not sig", f.use)
	}
	if f.hasKeyOps && !slices.Contains(f.keyOps, "verify") {
		k.unusable = errors.New("key_ops does not include verify")
	}
	k.fp = keyFingerprint(k)
	if k.kid == "" {
		k.kid = thumbprint(k)
	}
	return k, nil
}

// rsaKey applies the RSA key policy: size bounds, an odd exponent in
// [3, 2^31), an odd modulus, and a check for ROCA-weak moduli (keys from
// the Infineon library whose factorisation is feasible).
func rsaKey(nb, eb []byte, lim keyLimits) (*rsa.PublicKey, error) {
	for len(nb) > 0 && nb[0] == 0 {
		nb = nb[1:]
	}
	for len(eb) > 0 && eb[0] == 0 {
		eb = eb[1:]
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("RSA exponent is out of range")
	}
	e := 0
	for _, c := range eb {
		e = e<<8 | int(c)
	}
	if e < 3 || e&1 == 0 || e >= 1<<31 {
		return nil, errors.New("RSA exponent must be odd and at least 3")
	}
	n := new(big.Int).SetBytes(nb)
	maxBits := lim.maxRSABits
	if maxBits == 0 {
		maxBits = DefaultMaxRSABits
	}
	if bits := n.BitLen(); bits < MinRSABits || bits > maxBits {
		return nil, fmt.Errorf("RSA key is %d bits; accepted sizes are %d to %d", bits, MinRSABits, maxBits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("RSA modulus is even")
	}
	if rocaWeak(n) {
		return nil, errors.New("RSA modulus has the ROCA fingerprint (CVE-2017-15361)")
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

// rocaTables are the small primes used to test for the ROCA structure and,
// for each, the residues it generates from 65537. ROCA primes have the form
// k*M + (65537^a mod M) where M is a primorial, so for every small prime p
// dividing M, N mod p lies in the subgroup of (Z/p)* generated by 65537. A
// random modulus passes that test for all of these primes with negligible
// probability. Built on first use, not when the program starts: a binary
// that links verify but checks no key does not pay for them.
var rocaTables = sync.OnceValue(func() (t struct {
	primes    []int64
	subgroups [][]bool // subgroups[i][r]: r is generated by 65537 mod primes[i]
}) {
	for c := int64(3); len(t.primes) < 125; c += 2 {
		prime := true
		for _, p := range t.primes {
			if p*p > c {
				break
			}
			if c%p == 0 {
				prime = false
				break
			}
		}
		if prime {
			t.primes = append(t.primes, c)
		}
	}
	t.subgroups = make([][]bool, len(t.primes))
	for i, p := range t.primes {
		in := make([]bool, p)
		g := int64(65537) % p
		for x := int64(1); !in[x]; x = x * g % p {
			in[x] = true
		}
		t.subgroups[i] = in
	}
	return t
})

func rocaWeak(n *big.Int) bool {
	var m, pb big.Int
	t := rocaTables()
	informative := 0
	for i, p := range t.primes {
		r := m.Mod(n, pb.SetInt64(p)).Int64()
		if !t.subgroups[i][r] {
			return false
		}
		// Count primes where the subgroup is proper, i.e. the test said
		// something; a generator of the whole group says nothing.
		if slices.Contains(t.subgroups[i][1:], false) {
			informative++
		}
	}
	return informative > 0
}

// keyFingerprint hashes the key material, independent of metadata.
func keyFingerprint(k *publicKey) [32]byte {
	h := sha256.New()
	switch {
	case k.rsa != nil:
		h.Write([]byte("RSA"))
		h.Write(k.rsa.N.Bytes())
		fmt.Fprintf(h, "%d", k.rsa.E)
	case k.ec != nil:
		b, _ := k.ec.Bytes()
		h.Write([]byte("EC"))
		h.Write(b)
	default:
		h.Write([]byte("OKP"))
		h.Write(k.ed)
	}
	h.Write([]byte(k.kid))
	h.Write([]byte(k.alg))
	if k.unusable != nil {
		h.Write([]byte{0})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// thumbprint computes the RFC 7638 JWK thumbprint, used as the key id of
// keys whose source gave none.
func thumbprint(k *publicKey) string {
	var s string
	enc := base64.RawURLEncoding
	switch {
	case k.rsa != nil:
		e := big.NewInt(int64(k.rsa.E)).Bytes()
		s = `{"e":"` + enc.EncodeToString(e) + `","kty":"RSA","n":"` + enc.EncodeToString(k.rsa.N.Bytes()) + `"}`
	case k.ec != nil:
		b, _ := k.ec.Bytes()
		s = `{"crv":"P-256","kty":"EC","x":"` + enc.EncodeToString(b[1:33]) + `","y":"` + enc.EncodeToString(b[33:]) + `"}`
	default:
		s = `{"crv":"Ed25519","kty":"OKP","x":"` + enc.EncodeToString(k.ed) + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return enc.EncodeToString(sum[:])
}

// keySet is an immutable set of keys for one issuer.
type keySet struct {
	byKID map[string]*publicKey
	all   []*publicKey
	// skipped records keys that were refused, for diagnostics.
	skipped []string
}

func newKeySet(keys []*publicKey, skipped []string) *keySet {
	ks := &keySet{byKID: make(map[string]*publicKey, len(keys)), skipped: skipped}
	dup := map[string]bool{}
	for _, k := range keys {
		if _, ok := ks.byKID[k.kid]; ok {
			dup[k.kid] = true
			continue
		}
		ks.byKID[k.kid] = k
	}
	// Two keys under one kid make the choice of key ambiguous; an
	// attacker able to add a key to the set could then pick which one a
	// verifier uses. Both are dropped.
	for kid := range dup {
		delete(ks.byKID, kid)
		ks.skipped = append(ks.skipped, fmt.Sprintf("kid %q appears more than once", kid))
	}
	for _, k := range keys {
		if !dup[k.kid] {
			ks.all = append(ks.all, k)
		}
	}
	return ks
}

// find returns the key for kid and alg. A token without a kid may use the
// set's only key that fits alg; a token whose kid is not in the set may use
// the only unnamed key (PEM files, JWKs without kid) that fits. Trying
// several keys is never done: it would let one token cost many signature
// checks.
func (ks *keySet) find(kid, alg string) *publicKey {
	if kid != "" {
		if k := ks.byKID[kid]; k != nil {
			if k.allows(alg) {
				return k
			}
			return nil
		}
	}
	var found *publicKey
	for _, k := range ks.all {
		if (kid != "" && k.explicit) || !k.allows(alg) {
			continue
		}
		if found != nil {
			return nil
		}
		found = k
	}
	return found
}

// equal reports whether two sets hold the same keys.
func (ks *keySet) equal(o *keySet) bool {
	if ks == nil || o == nil {
		return ks == o
	}
	if len(ks.all) != len(o.all) {
		return false
	}
	for i := range ks.all {
		if ks.all[i].fp != o.all[i].fp {
			return false
		}
	}
	return true
}

// parseJWKSet parses a JWK Set, or a single JWK, into a key set. Keys that
// fail the key policy are skipped and recorded; the set fails only when the
// document itself is malformed or too large.
func parseJWKSet(data string, lim keyLimits, maxKeys int) (*keySet, error) {
	var keysVal jsonValue
	single := false
	err := parseObject(data, func(key string, v jsonValue) error {
		switch key {
		case "keys":
			if v.kind != jsonArray {
				return errors.New("keys must be an array")
			}
			keysVal = v
		case "kty":
			single = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var keys []*publicKey
	var skipped []string
	add := func(v jsonValue) error {
		if maxKeys > 0 && len(keys)+len(skipped) >= maxKeys {
			return fmt.Errorf("key set has more than %d keys", maxKeys)
		}
		k, err := parseJWK(v, lim)
		if err != nil {
			skipped = append(skipped, err.Error())
			return nil
		}
		keys = append(keys, k)
		return nil
	}
	switch {
	case keysVal.kind == jsonArray:
		if err := eachElement(keysVal, add); err != nil {
			return nil, err
		}
	case single:
		if err := add(jsonValue{kind: jsonObject, raw: data}); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("document is neither a JWK Set nor a JWK")
	}
	return newKeySet(keys, skipped), nil
}

// parsePEMKeys reads every public key in a PEM document: PKIX "PUBLIC
// KEY", PKCS #1 "RSA PUBLIC KEY" and "CERTIFICATE" blocks. Private-key
// blocks are refused so a misplaced secret is noticed.
func parsePEMKeys(data []byte, lim keyLimits) ([]*publicKey, error) {
	var keys []*publicKey
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		var pub any
		var err error
		switch blk.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			c, err = x509.ParseCertificate(blk.Bytes)
			if err == nil {
				pub = c.PublicKey
			}
		default:
			if strings.Contains(blk.Type, "PRIVATE") {
				return nil, errors.New("PEM holds a private key; give the public key only")
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", blk.Type, err)
		}
		k, err := keyFromPublic(pub, lim)
		if err != nil {
			return nil, err
		}
		if kid := blk.Headers["kid"]; kid != "" {
			k.kid, k.explicit = kid, true
		}
		if alg := blk.Headers["alg"]; alg != "" {
			k.alg = alg
		}
		k.fp = keyFingerprint(k)
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key found in PEM data")
	}
	return keys, nil
}

// keyFromPublic wraps a parsed crypto public key, applying the key policy.
func keyFromPublic(pub any, lim keyLimits) (*publicKey, error) {
	k := &publicKey{}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		e := big.NewInt(int64(p.E)).Bytes()
		r, err := rsaKey(p.N.Bytes(), e, lim)
		if err != nil {
			return nil, err
		}
		k.setRSA(r)
		k.kty = "RSA"
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, errors.New("only P-256 EC keys are supported")
		}
		k.ec, k.kty = p, "EC"
	case ed25519.PublicKey:
		k.setEd(p)
		k.kty = "OKP"
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
	k.kid = thumbprint(k)
	k.fp = keyFingerprint(k)
	return k, nil
}

// JWKSToPEM converts a JWK Set (or a single JWK) into PEM "PUBLIC KEY"
// blocks, one per key, carrying the kid and alg as PEM headers. It fails if
// any key cannot be converted, so nothing is silently lost.
func JWKSToPEM(jwks []byte) ([]byte, error) {
	ks, err := parseJWKSet(string(jwks), keyLimits{maxRSABits: 16384}, 0)
	if err != nil {
		return nil, err
	}
	if len(ks.skipped) > 0 {
		return nil, fmt.Errorf("cannot convert key: %s", ks.skipped[0])
	}
	var out []byte
	for i, k := range ks.all {
		// A kid or alg holding a line break would write PEM headers,
		// or a whole block with a key of its author's choosing, that a
		// reader of the output then trusts: such keys are refused.
		for _, v := range [...]string{k.kid, k.alg} {
			if strings.ContainsFunc(v, func(r rune) bool {
				return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
			}) {
				return nil, fmt.Errorf("key %d: kid or alg %q holds control characters, which would forge PEM headers; refused", i, v)
			}
		}
		der, err := x509.MarshalPKIXPublicKey(k.public())
		if err != nil {
			return nil, err
		}
		h := map[string]string{"kid": k.kid}
		if k.alg != "" {
			h["alg"] = k.alg
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: h, Bytes: der})...)
	}
	return out, nil
}
