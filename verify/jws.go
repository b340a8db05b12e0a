package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"strings"
	"unsafe"

	"filippo.io/edwards25519"
)

// algSet is the set of accepted "alg" values.
type algSet uint8

const (
	algRS256 algSet = 1 << iota
	algPS256
	algES256
	algEdDSA
)

// defaultAlgs are accepted unless the configuration says otherwise. PS256
// is opt-in: few issuers use it and every accepted algorithm is attack
// surface.
const defaultAlgs = algRS256 | algES256 | algEdDSA

func algBit(alg string) algSet {
	switch alg {
	case RS256:
		return algRS256
	case PS256:
		return algPS256
	case ES256:
		return algES256
	case EdDSA, Ed25519:
		return algEdDSA
	}
	return 0
}

func parseAlgs(names []string) (algSet, error) {
	if len(names) == 0 {
		return defaultAlgs, nil
	}
	var s algSet
	for _, n := range names {
		b := algBit(n)
		if b == 0 {
			return 0, errors.New("verify: algorithm " + n + " is not supported (RS256, ES256, EdDSA, PS256)")
		}
		s |= b
	}
	return s, nil
}

// maxHeaderBytes bounds the decoded JOSE header. Real headers are well
// under 200 bytes; the cap keeps a hostile header from costing much.
const maxHeaderBytes = 2048

// maxSigBytes is the longest signature any accepted key can produce
// (RSA-8192), so longer ones are refused before decoding.
const maxSigBytes = 1024

// jws is a compact JWS whose signature has not been checked yet.
type jws struct {
	alg, kid, typ string
	signingInput  string
	payload       string
	sig           []byte
	sigBuf        [maxSigBytes]byte
	scratch       sigScratch
}

// splitCompact returns the three segments of a compact JWS, or ok=false
// if s does not look like one. It reports JWE (five segments) separately
// so the error can say so.
func splitCompact(s string) (h, p, sig string, isJWE, ok bool) {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return "", "", "", false, false
	}
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return "", "", "", false, false
	}
	j += i + 1
	if k := strings.IndexByte(s[j+1:], '.'); k >= 0 {
		return "", "", "", strings.Count(s, ".") == 4, false
	}
	return s[:i], s[i+1 : j], s[j+1:], false, true
}

// decodeSegment base64url-decodes seg into a string with a single
// allocation, after checking the alphabet.
func decodeSegment(seg string) (string, bool) {
	if !isB64URL(seg) || len(seg)%4 == 1 {
		return "", false
	}
	var b strings.Builder
	b.Grow(b64.DecodedLen(len(seg)))
	var buf [768]byte
	for len(seg) > 0 {
		n := min(len(seg), 1024) // a multiple of 4: whole groups per chunk
		m, err := b64.Decode(buf[:], []byte(seg[:n]))
		if err != nil {
			return "", false
		}
		b.Write(buf[:m])
		seg = seg[n:]
	}
	return b.String(), true
}

// parseJWS splits and decodes a compact JWS and checks its header. It does
// not touch keys: the result is untrusted until verifySignature passes.
func parseJWS(token string, allowed algSet, t *jws) error {
	hs, ps, ss, isJWE, ok := splitCompact(token)
	if !ok {
		if isJWE {
			return newError(ErrUnsupportedToken, "encrypted tokens (JWE) are not accepted")
		}
		return newError(ErrMalformed, "token is not a compact JWS")
	}
	if hs == "" || ss == "" {
		return newError(ErrMalformed, "token has an empty header or signature")
	}
	if len(hs) > maxHeaderBytes*4/3+4 {
		return newError(ErrMalformed, "token header is too large")
	}
	header, ok := decodeSegment(hs)
	if !ok {
		return newError(ErrMalformed, "token header is not base64url")
	}
	if err := parseHeader(header, t); err != nil {
		return err
	}
	if t.alg == "" {
		return newError(ErrMalformed, "token header has no alg")
	}
	if b := algBit(t.alg); b == 0 || allowed&b == 0 {
		return newError(ErrAlgorithm, "alg "+safeText(t.alg)+" is not accepted")
	}
	if len(ss) > maxSigBytes*4/3+4 || !isB64URL(ss) {
		return newError(ErrMalformed, "token signature is malformed")
	}
	n, err := b64.Decode(t.sigBuf[:], []byte(ss))
	if err != nil {
		return newError(ErrMalformed, "token signature is not base64url")
	}
	t.sig = t.sigBuf[:n]
	payload, ok := decodeSegment(ps)
	if !ok {
		return newError(ErrMalformed, "token payload is not base64url")
	}
	t.payload = payload
	t.signingInput = token[:len(hs)+1+len(ps)]
	return nil
}

// parseHeader reads the JOSE header strictly.
func parseHeader(header string, t *jws) error {
	err := parseObject(header, func(key string, v jsonValue) error {
		var err error
		switch key {
		case "alg":
			t.alg, err = stringValue(key, v)
		case "kid":
			t.kid, err = stringValue(key, v)
			if err == nil && len(t.kid) > 256 {
				err = errors.New("kid is too long")
			}
		case "typ":
			t.typ, err = stringValue(key, v)
		case "cty":
			// A content type of JWT marks a nested token; verifying the
			// outer layer says nothing about the inner one.
			var cty string
			cty, err = stringValue(key, v)
			if err == nil && strings.Contains(strings.ToUpper(cty), "JWT") {
				return &Error{Code: CodeInvalidToken, Reason: ErrUnsupportedToken, Description: "nested tokens are not accepted"}
			}
		case "crit":
			// RFC 7515 section 4.1.11: a recipient must reject a token
			// whose crit lists an extension it does not implement, and
			// this verifier implements none.
			return &Error{Code: CodeInvalidToken, Reason: ErrUnsupportedToken, Description: "the crit header names extensions this verifier does not implement (RFC 7515 section 4.1.11)"}
		case "enc", "zip":
			return &Error{Code: CodeInvalidToken, Reason: ErrUnsupportedToken, Description: "encrypted or compressed tokens are not accepted"}
		case "b64":
			return &Error{Code: CodeInvalidToken, Reason: ErrUnsupportedToken, Description: "unencoded payloads are not accepted"}
		}
		// jku, x5u, jwk, x5c and x5t name or carry keys chosen by whoever
		// made the token; they are ignored on purpose and keys come only
		// from the issuer's configured source.
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return wrapError(ErrMalformed, "token header is not valid JSON", err)
	}
	return nil
}

// safeText shortens attacker-supplied text before it goes into an error.
func safeText(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return `"` + quoteParam(s) + `"`
}

// verifySignature checks sig over input with k for alg. The caller has
// already established that k.allows(alg).
func verifySignature(alg string, k *publicKey, input string, sig []byte) bool {
	var s sigScratch
	return s.verify(alg, k, input, sig)
}

// sigScratch is the working memory of one signature check. It lives inside
// the (already heap-allocated) jws on the request path, so checking a
// signature allocates nothing of its own besides what crypto/* does.
type sigScratch struct {
	h   [32]byte
	der [72]byte
}

// bytesOf views s as a byte slice without copying. The slice is only ever
// read (hashed or verified), never written, so the string stays immutable;
// copying it would cost an allocation the size of the token per check.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (s *sigScratch) verify(alg string, k *publicKey, input string, sig []byte) bool {
	switch alg {
	case RS256, PS256:
		if k.rsa == nil || len(sig) != k.rsaSize {
			return false
		}
		s.h = sha256.Sum256(bytesOf(input))
		if alg == RS256 {
			return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, s.h[:], sig) == nil
		}
		// JWA fixes the PSS salt length to the hash length; accepting
		// any other length would accept signatures no JWS signer makes.
		return rsa.VerifyPSS(k.rsa, crypto.SHA256, s.h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}) == nil
	case ES256:
		// JWA section 3.4: the signature is R||S, each 32 bytes. DER
		// signatures, or any other length, are refused.
		if k.ec == nil || len(sig) != 64 {
			return false
		}
		// High-S signatures are accepted: ECDSA signers (including Go's)
		// produce them half the time and JWS does not require low S.
		// Malleability does not matter here because tokens are never
		// identified by their signature alone: the token cache keys on
		// the whole token, and replay checks must use jti.
		s.h = sha256.Sum256(bytesOf(input))
		return ecdsa.VerifyASN1(k.ec, s.h[:], p1363ToDER(s.der[:0], sig))
	case EdDSA, Ed25519:
		if k.ed == nil || len(sig) != ed25519.SignatureSize {
			return false
		}
		if k.edNegA == nil {
			// The key's point did not decode; the standard library
			// refuses every signature for it, and says so here too.
			return ed25519.Verify(k.ed, bytesOf(input), sig)
		}
		return verifyEd25519(k.edNegA, k.ed, input, sig)
	}
	return false
}

// verifyEd25519 is RFC 8032 section 5.1.7 verification (cofactorless, as
// crypto/ed25519 does it) with the public key's point decoded and negated
// once per key instead of once per signature: decoding costs a field
// square root, a tenth of a verification. It checks that S is canonical
// (S < L), computes k = SHA-512(R || A || M) mod L and accepts only if
// [S]B + [k](-A) encodes to exactly R.
func verifyEd25519(negA *edwards25519.Point, pub ed25519.PublicKey, input string, sig []byte) bool {
	if sig[63]&0xe0 != 0 {
		return false
	}
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(bytesOf(input))
	var digest [sha512.Size]byte
	kh, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	var R edwards25519.Point
	R.VarTimeDoubleScalarBaseMult(kh, negA, S)
	return subtle.ConstantTimeCompare(R.Bytes(), sig[:32]) == 1
}

// p1363ToDER converts a 64-byte R||S signature to ASN.1 DER.
func p1363ToDER(dst, sig []byte) []byte {
	r := derInt(sig[:32])
	s := derInt(sig[32:])
	dst = append(dst, 0x30, byte(4+len(r.b)+r.pad+len(s.b)+s.pad))
	dst = r.append(dst)
	return s.append(dst)
}

type derInteger struct {
	b   []byte
	pad int
}

func derInt(b []byte) derInteger {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	d := derInteger{b: b}
	if b[0]&0x80 != 0 {
		d.pad = 1
	}
	return d
}

func (d derInteger) append(dst []byte) []byte {
	dst = append(dst, 0x02, byte(len(d.b)+d.pad))
	if d.pad == 1 {
		dst = append(dst, 0)
	}
	return append(dst, d.b...)
}
