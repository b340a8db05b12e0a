package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

// ecJWK returns a fresh P-256 public key as JWK members (without kid)
// and its PKIX DER.
func ecJWK(t *testing.T) (map[string]any, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.PublicKey.Bytes()
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	enc := base64.RawURLEncoding
	return map[string]any{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(b[1:33]), "y": enc.EncodeToString(b[33:])}, der
}

// TestJWK2PEMControlCharactersInHeaders: a kid (or alg) that holds a line
// break would write PEM headers, or a whole extra block holding a key of
// the set author's choosing, into --headers output that 'token verify
// --pem' then trusts. Such sets are refused, with or without --headers,
// and nothing is printed.
func TestJWK2PEMControlCharactersInHeaders(t *testing.T) {
	good, _ := ecJWK(t)
	_, evilDER := ecJWK(t)
	evilBlock := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: evilDER}))
	for name, kid := range map[string]string{
		"extra block":     "a\n\n-----END PUBLIC KEY-----\n" + evilBlock + "-----BEGIN PUBLIC KEY-----\nkid: b",
		"extra header":    "a\nalg: none",
		"carriage return": "a\rb",
		"nul":             "a\x00b",
		"del":             "a\x7fb",
		"c1 control":      "a\u0085b",
		"line separator":  "a\u2028b",
	} {
		key := map[string]any{"kid": kid}
		for k, v := range good {
			key[k] = v
		}
		set, _ := json.Marshal(map[string]any{"keys": []any{key}})
		for _, args := range [][]string{{"jwk2pem", "--headers", "-"}, {"jwk2pem", "-"}, {"jwk2pem", "--output", "json", "-"}} {
			code, out, errOut := runWith(t, nil, string(set), args...)
			if code == 0 || out != "" || !strings.Contains(errOut, "control characters") {
				t.Errorf("%s %v: exit %d, out %q, stderr %q; want refused with nothing printed", name, args, code, out, errOut)
			}
		}
	}
	// A kid with other punctuation is kept, and read back as given.
	key := map[string]any{"kid": "abc: def/+=_-~"}
	for k, v := range good {
		key[k] = v
	}
	set, _ := json.Marshal(map[string]any{"keys": []any{key}})
	code, out, errOut := runWith(t, nil, string(set), "jwk2pem", "--headers", "-")
	blk, rest := pem.Decode([]byte(out))
	if code != 0 || blk == nil || blk.Headers["kid"] != "abc: def/+=_-~" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("punctuation kid: exit %d %q %s", code, out, errOut)
	}
}

// TestJWK2PEMKidExact: --kid matches the member named exactly "kid" with
// exactly the value given; "KID", "Kid" or a value differing in case do
// not match, so a key cannot be chosen through a look-alike member.
func TestJWK2PEMKidExact(t *testing.T) {
	a, aDER := ecJWK(t)
	b, bDER := ecJWK(t)
	c, _ := ecJWK(t)
	with := func(m map[string]any, k, v string) map[string]any {
		out := map[string]any{k: v}
		for key, val := range m {
			out[key] = val
		}
		return out
	}
	// b is the real "k1"; a carries "KID": "k1" and comes last, as the
	// case-folding decoder let the last match win.
	set, _ := json.Marshal(map[string]any{"keys": []any{with(b, "kid", "k1"), with(c, "kid", "K1"), with(a, "KID", "k1")}})
	code, out, errOut := runWith(t, nil, string(set), "jwk2pem", "--kid", "k1", "-")
	blk, rest := pem.Decode([]byte(out))
	if code != 0 || blk == nil || string(blk.Bytes) != string(bDER) || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("--kid k1: exit %d, stderr %s; want exactly the key whose kid is k1", code, errOut)
	}
	if string(blk.Bytes) == string(aDER) {
		t.Fatal("the KID member was taken for kid")
	}
	// Only a look-alike member: no match.
	set, _ = json.Marshal(map[string]any{"keys": []any{with(a, "Kid", "k2")}})
	if code, out, errOut := runWith(t, nil, string(set), "jwk2pem", "--kid", "k2", "-"); code == 0 || out != "" || !strings.Contains(errOut, "no key with kid") {
		t.Fatalf("Kid member matched --kid: exit %d %q %s", code, out, errOut)
	}
}
