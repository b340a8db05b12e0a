package verify

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/c2sp/wycheproof"
)

// The Wycheproof vectors are read from the Go module at test time; none
// are copied into this repository.

type wpFile struct {
	Algorithm  string            `json:"algorithm"`
	TestGroups []json.RawMessage `json:"testGroups"`
}

type wpJOSEGroup struct {
	Comment string          `json:"comment"`
	Public  json.RawMessage `json:"public"`
	Private json.RawMessage `json:"private"`
	Tests   []struct {
		TcID    int      `json:"tcId"`
		Comment string   `json:"comment"`
		JWS     any      `json:"jws"`
		JWE     any      `json:"jwe"`
		Result  string   `json:"result"`
		Flags   []string `json:"flags"`
	} `json:"tests"`
}

func readWycheproof(t *testing.T, name string) wpFile {
	t.Helper()
	b, err := fs.ReadFile(wycheproof.TestVectors, name)
	if err != nil {
		t.Fatal(err)
	}
	var f wpFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// verifyCompact runs the JWS layer alone (no claims): header checks, key
// selection from ks, signature check.
func verifyCompact(ks *keySet, token string, algs algSet) error {
	var t jws
	if err := parseJWS(token, algs, &t); err != nil {
		return err
	}
	k := ks.find(t.kid, t.alg)
	if k == nil {
		return newError(ErrUnknownKey, "")
	}
	if !verifySignature(t.alg, k, t.signingInput, t.sig) {
		return newError(ErrSignature, "")
	}
	return nil
}

type vectorTally struct {
	validAccepted, invalidRejected, validOutsideAllowList, acceptable int
}

func (v vectorTally) log(t *testing.T, what string) {
	t.Logf("%s: %d valid accepted, %d invalid rejected, %d valid refused by design (algorithm or key outside the allow-list), %d 'acceptable' vectors",
		what, v.validAccepted, v.invalidRejected, v.validOutsideAllowList, v.acceptable)
	if os.Getenv("WYCHEPROOF_SUMMARY") != "" {
		b, _ := json.Marshal(map[string]any{"file": what, "valid_accepted": v.validAccepted, "invalid_rejected": v.invalidRejected, "valid_refused_by_design": v.validOutsideAllowList})
		t.Log(string(b))
	}
}

func TestWycheproofJOSE(t *testing.T) {
	all := algRS256 | algPS256 | algES256 | algEdDSA
	for _, name := range []string{"json_web_signature_test.json", "json_web_key_test.json", "json_web_crypto_test.json"} {
		t.Run(name, func(t *testing.T) {
			f := readWycheproof(t, name)
			var tally vectorTally
			for _, raw := range f.TestGroups {
				var g wpJOSEGroup
				if err := json.Unmarshal(raw, &g); err != nil {
					t.Fatal(err)
				}
				keyDoc := g.Public
				if len(keyDoc) == 0 {
					keyDoc = g.Private
				}
				ks, err := parseJWKSet(string(keyDoc), keyLimits{}, 0)
				if err != nil {
					ks = newKeySet(nil, nil)
				}
				for _, tc := range g.Tests {
					token, isString := tc.JWS.(string)
					if tc.JWE != nil {
						token, isString = tc.JWE.(string)
					}
					var verr error
					if !isString {
						verr = errors.New("JSON serialization is not accepted")
					} else {
						verr = verifyCompact(ks, token, all)
					}
					switch tc.Result {
					case "valid":
						if verr == nil {
							tally.validAccepted++
							continue
						}
						// A valid vector may be refused only because its
						// algorithm or key type is outside the allow-list.
						hdr, _ := Decode(token)
						if tc.JWE != nil || hdr == nil || algBit(hdr.Alg) == 0 || len(ks.all) == 0 {
							tally.validOutsideAllowList++
							continue
						}
						t.Errorf("tcId %d (%s, %s): valid vector rejected: %v", tc.TcID, g.Comment, tc.Comment, verr)
					case "invalid":
						if verr != nil {
							tally.invalidRejected++
							continue
						}
						t.Errorf("tcId %d (%s, %s): invalid vector accepted", tc.TcID, g.Comment, tc.Comment)
					default:
						tally.acceptable++
					}
				}
			}
			tally.log(t, name)
		})
	}
}

type wpSigGroup struct {
	PublicKeyJwk json.RawMessage `json:"publicKeyJwk"`
	KeyJwk       json.RawMessage `json:"keyJwk"`
	PublicKeyDer string          `json:"publicKeyDer"`
	Tests        []struct {
		TcID    int    `json:"tcId"`
		Comment string `json:"comment"`
		Msg     string `json:"msg"`
		Sig     string `json:"sig"`
		Result  string `json:"result"`
	} `json:"tests"`
}

func TestWycheproofSignatures(t *testing.T) {
	files := []struct {
		name, alg string
	}{
		{"rsa_signature_2048_sha256_test.json", RS256},
		{"rsa_signature_3072_sha256_test.json", RS256},
		{"rsa_signature_4096_sha256_test.json", RS256},
		{"ecdsa_secp256r1_sha256_p1363_test.json", ES256},
		{"ed25519_test.json", EdDSA},
		{"rsa_pss_2048_sha256_mgf1_32_test.json", PS256},
		{"rsa_pss_3072_sha256_mgf1_32_test.json", PS256},
		{"rsa_pss_4096_sha256_mgf1_32_test.json", PS256},
	}
	for _, file := range files {
		t.Run(file.name, func(t *testing.T) {
			f := readWycheproof(t, file.name)
			var tally vectorTally
			for gi, raw := range f.TestGroups {
				var g wpSigGroup
				if err := json.Unmarshal(raw, &g); err != nil {
					t.Fatal(err)
				}
				key, kerr := wpKey(g)
				for _, tc := range g.Tests {
					msg, _ := hex.DecodeString(tc.Msg)
					sig, _ := hex.DecodeString(tc.Sig)
					ok := kerr == nil && len(sig) <= maxSigBytes && verifySignature(file.alg, key, string(msg), sig)
					switch tc.Result {
					case "valid":
						if ok {
							tally.validAccepted++
						} else {
							t.Errorf("group %d tcId %d (%s): valid signature rejected (key error: %v)", gi, tc.TcID, tc.Comment, kerr)
						}
					case "invalid":
						if ok {
							t.Errorf("group %d tcId %d (%s): invalid signature accepted", gi, tc.TcID, tc.Comment)
						} else {
							tally.invalidRejected++
						}
					default:
						tally.acceptable++
					}
				}
			}
			tally.log(t, file.name)
		})
	}
}

// wpKey builds the group's key through the same JWK parser the verifier
// uses, falling back to DER when the group has no JWK.
func wpKey(g wpSigGroup) (*publicKey, error) {
	lim := keyLimits{maxRSABits: 4096}
	doc := g.PublicKeyJwk
	if len(doc) == 0 {
		doc = g.KeyJwk
	}
	if len(doc) > 0 {
		var s jsonScanner
		s.s = string(doc)
		v, err := s.value(nil)
		if err != nil {
			return nil, err
		}
		k, err := parseJWK(v, lim)
		if err != nil {
			return nil, err
		}
		// The vector files tag keys with their own alg names; the
		// signature layer is what is under test here.
		k.alg = ""
		return k, nil
	}
	der, err := hex.DecodeString(g.PublicKeyDer)
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	return keyFromPublic(pub, lim)
}

// TestRFC7520 checks the RFC 7520 section 4 examples (test data written
// from the RFC's published keys and results, in testdata/rfc7520.json).
func TestRFC7520(t *testing.T) {
	b, err := os.ReadFile("testdata/rfc7520.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Payload string `json:"payload"`
		Cases   []struct {
			Figure string          `json:"figure"`
			Alg    string          `json:"alg"`
			JWK    json.RawMessage `json:"jwk"`
			JWS    string          `json:"jws"`
			Expect string          `json:"expect"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range doc.Cases {
		t.Run(tc.Figure, func(t *testing.T) {
			ks, err := parseJWKSet(string(tc.JWK), keyLimits{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = verifyCompact(ks, tc.JWS, defaultAlgs)
			switch tc.Expect {
			case "accept":
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				var j jws
				_ = parseJWS(tc.JWS, defaultAlgs, &j)
				if j.payload != doc.Payload {
					t.Fatalf("payload = %q", j.payload)
				}
			default:
				if err == nil {
					t.Fatal("accepted")
				}
			}
		})
	}
}
