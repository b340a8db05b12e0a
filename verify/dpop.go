package verify

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DPoP (RFC 9449) reasons. A token bound to a key (a cnf claim) presented
// as a bearer token fails with ErrDPoPRequired; a request whose proof
// fails any check with ErrDPoPProof; one whose proof lacks the nonce the
// verifier asks for with ErrDPoPNonce (the Error's Nonce is the one to
// use).
var (
	ErrDPoPRequired = errors.New("the token is bound to a key: send it with the DPoP scheme and a DPoP proof")
	ErrDPoPProof    = errors.New("the DPoP proof is invalid")
	ErrDPoPNonce    = errors.New("the DPoP proof must carry the server's nonce")
)

// RFC 9449 section 7.1 error codes.
const (
	CodeInvalidDPoPProof ErrorCode = "invalid_dpop_proof"
	CodeUseDPoPNonce     ErrorCode = "use_dpop_nonce"
)

// DefaultDPoPWindow is how far a proof's iat may lie from now, either side,
// when DPoPConfig.Window is zero.
const DefaultDPoPWindow = time.Minute

// maxProofBytes bounds a DPoP header: a proof carries one public key and a
// handful of claims.
const maxProofBytes = 8 << 10

// DPoPConfig configures the checking of DPoP proofs.
type DPoPConfig struct {
	// Window bounds how far a proof's iat may lie from now, either side
	// (default DefaultDPoPWindow). Proof ids (jti) are remembered for
	// twice as long, so no proof is accepted twice.
	Window time.Duration `json:"window,omitempty" yaml:"window,omitempty"`
	// Replay remembers the proofs already used; nil means an in-memory
	// cache, right for one replica. Replicas behind one load balancer
	// share one (the gateway's is Redis).
	Replay ReplayCache `json:"-" yaml:"-"`
	// Nonces, when set, requires every proof to carry a nonce it issued
	// (RFC 9449 section 9); a proof without one is answered with
	// use_dpop_nonce and the nonce to use.
	Nonces NonceSource `json:"-" yaml:"-"`
}

// ReplayCache remembers DPoP proof ids.
type ReplayCache interface {
	// Use records id until expires and reports whether it was unused.
	// false means the proof was presented before: a replay. An error
	// refuses the request (fail closed).
	Use(ctx context.Context, id string, expires time.Time) (fresh bool, err error)
}

// NonceSource issues and checks DPoP nonces.
type NonceSource interface {
	// Nonce returns the nonce a client should put in its next proof.
	Nonce() string
	// Valid reports whether nonce is one this source issued and still
	// accepts.
	Valid(nonce string) bool
}

// DPoPRequest is the HTTP request a DPoP proof must match.
type DPoPRequest struct {
	// Proofs are the request's DPoP header values; exactly one is
	// required.
	Proofs []string
	// Method is the request method; URL the absolute URL the client
	// addressed (scheme, host, path; query and fragment are ignored).
	Method, URL string
}

// DPoPToken extracts the token from an Authorization header value in the
// DPoP scheme (RFC 9449 section 7.1).
func DPoPToken(authorization string) (string, error) {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "DPoP") {
		return "", dpopError(ErrInvalidRequest, CodeInvalidRequest, "the Authorization header must use the DPoP scheme")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t,") {
		return "", dpopError(ErrInvalidRequest, CodeInvalidRequest, "the Authorization header must hold exactly one token")
	}
	return tok, nil
}

func dpopError(reason error, code ErrorCode, desc string) *Error {
	return &Error{Code: code, Reason: reason, Description: desc, Scheme: "DPoP"}
}

// VerifyDPoP checks a DPoP-bound access token and the proof that came with
// it: the token as Verify does, then the proof (RFC 9449 section 4.3): one
// DPoP header, typ dpop+jwt, an accepted asymmetric alg, a public jwk that
// verifies the signature, htm and htu matching the request, iat within
// the window, a jti never seen before, the nonce when required, ath the
// hash of the token, and the key's thumbprint equal to the token's
// cnf.jkt. Every failure is an *Error whose Scheme is "DPoP".
func (v *Verifier) VerifyDPoP(ctx context.Context, token string, r DPoPRequest) (*Principal, error) {
	p, err := v.verify(ctx, token)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			c := *e
			c.Scheme = "DPoP"
			return nil, &c
		}
		return nil, err
	}
	if p.KeyThumbprint == "" {
		return nil, dpopError(ErrDPoPProof, CodeInvalidToken, "the token is not bound to a key: send it with the Bearer scheme")
	}
	if err := v.checkProof(ctx, token, p.KeyThumbprint, r); err != nil {
		return nil, err
	}
	return p, nil
}

// dpopProof is a parsed proof.
type dpopProof struct {
	typ, alg      string
	key           *publicKey
	jti, htm, htu string
	nonce, ath    string
	iat           int64
	hasIat        bool
	hasNonce      bool
	signingInput  string
	sig           []byte
}

func (v *Verifier) checkProof(ctx context.Context, token, jkt string, r DPoPRequest) error {
	bad := func(desc string) error { return dpopError(ErrDPoPProof, CodeInvalidDPoPProof, desc) }
	if len(r.Proofs) != 1 {
		return bad("send exactly one DPoP header")
	}
	proof := r.Proofs[0]
	if len(proof) > maxProofBytes {
		return bad("the DPoP proof is too large")
	}
	pr, err := parseProof(proof, v.algs)
	if err != nil {
		return bad(err.Error())
	}
	if !strings.EqualFold(pr.typ, "dpop+jwt") {
		return bad("the proof's typ must be dpop+jwt")
	}
	if !pr.key.allows(pr.alg) || !verifySignature(pr.alg, pr.key, pr.signingInput, pr.sig) {
		return bad("the proof's signature does not verify with its jwk")
	}
	if pr.jti == "" || len(pr.jti) > 256 {
		return bad("the proof has no jti")
	}
	if pr.htm != r.Method {
		return bad("the proof's htm is not this request's method")
	}
	want, ok := normalHTU(r.URL)
	got, ok2 := normalHTU(pr.htu)
	if !ok || !ok2 || got != want {
		return bad("the proof's htu is not this request's URL")
	}
	now := v.clk.Now()
	window := v.dpop.Window
	if !pr.hasIat || pr.iat < now.Add(-window).Unix() || pr.iat > now.Add(window).Unix() {
		return bad("the proof's iat is outside the accepted window: make a fresh proof for each request")
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare([]byte(pr.ath), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
		return bad("the proof's ath is not the hash of this access token")
	}
	if subtle.ConstantTimeCompare([]byte(thumbprint(pr.key)), []byte(jkt)) != 1 {
		return bad("the proof's key is not the key the token is bound to")
	}
	if ns := v.dpop.Nonces; ns != nil && (!pr.hasNonce || !ns.Valid(pr.nonce)) {
		e := dpopError(ErrDPoPNonce, CodeUseDPoPNonce, "resource server requires nonce in DPoP proof")
		e.Nonce = ns.Nonce()
		return e
	}
	// Checked last, so that a refused proof does not burn its jti. The
	// id is scoped to the key: two clients cannot collide.
	id := sha256.Sum256([]byte(jkt + "\x00" + pr.jti))
	fresh, err := v.dpop.Replay.Use(ctx, base64.RawURLEncoding.EncodeToString(id[:]), now.Add(2*window+time.Second))
	if err != nil {
		return wrapError(ErrKeysUnavailable, "the DPoP replay cache is unavailable; retry shortly", err)
	}
	if !fresh {
		return bad("the proof has been used before: make a fresh proof for each request")
	}
	return nil
}

// parseProof reads a DPoP proof strictly: a compact JWS whose header holds
// typ, alg and a public jwk, and whose claims are the proof's.
func parseProof(proof string, allowed algSet) (*dpopProof, error) {
	hs, ps, ss, _, ok := splitCompact(proof)
	if !ok || hs == "" || ss == "" {
		return nil, errors.New("the proof is not a compact JWS")
	}
	header, ok := decodeSegment(hs)
	if !ok {
		return nil, errors.New("the proof's header is not base64url")
	}
	pr := &dpopProof{}
	var jwkVal jsonValue
	err := parseObject(header, func(key string, v jsonValue) error {
		var err error
		switch key {
		case "typ":
			pr.typ, err = stringValue(key, v)
		case "alg":
			pr.alg, err = stringValue(key, v)
		case "jwk":
			jwkVal = v
		case "crit", "b64", "enc", "zip", "jku", "x5u", "x5c", "kid":
			// Nothing but the embedded key may name the key, and no
			// extension is implemented.
			err = errors.New("the proof's header has " + key + ", which is not accepted")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if b := algBit(pr.alg); b == 0 || allowed&b == 0 {
		return nil, errors.New("the proof's alg " + safeText(pr.alg) + " is not accepted")
	}
	if jwkVal.kind != jsonObject {
		return nil, errors.New("the proof's header has no jwk")
	}
	k, err := parseJWK(jwkVal, keyLimits{maxRSABits: DefaultMaxRSABits})
	if err != nil {
		return nil, errors.New("the proof's jwk: " + err.Error())
	}
	pr.key = k
	sig, err := decodeB64(ss)
	if err != nil || len(sig) > maxSigBytes {
		return nil, errors.New("the proof's signature is malformed")
	}
	pr.sig = sig
	payload, ok := decodeSegment(ps)
	if !ok {
		return nil, errors.New("the proof's payload is not base64url")
	}
	pr.signingInput = proof[:len(hs)+1+len(ps)]
	err = parseObject(payload, func(key string, v jsonValue) error {
		var err error
		switch key {
		case "jti":
			pr.jti, err = stringValue(key, v)
		case "htm":
			pr.htm, err = stringValue(key, v)
		case "htu":
			pr.htu, err = stringValue(key, v)
		case "ath":
			pr.ath, err = stringValue(key, v)
		case "nonce":
			pr.nonce, err = stringValue(key, v)
			pr.hasNonce = true
		case "iat":
			pr.iat, err = numericDate(key, v)
			pr.hasIat = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return pr, nil
}

// normalHTU normalises an htu for comparison (RFC 9449 section 4.3 step
// 9, RFC 3986 section 6): scheme and host lower case, default ports
// dropped, an empty path as "/", query and fragment ignored.
func normalHTU(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	if strings.Contains(u.Hostname(), ":") {
		host = "[" + strings.ToLower(u.Hostname()) + "]"
		if port != "" {
			host += ":" + port
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// NewMemoryReplay returns the in-memory ReplayCache a Verifier uses when
// DPoPConfig.Replay is nil, for a caller that keeps one cache across the
// verifiers it builds (the gateway across configuration reloads); now is
// its clock (nil: time.Now).
func NewMemoryReplay(now func() time.Time) ReplayCache {
	if now == nil {
		now = time.Now
	}
	return &memoryReplay{seen: map[string]time.Time{}, now: now}
}

// memoryReplay is the default ReplayCache: a map swept as it grows.
type memoryReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
	now  func() time.Time
}

// maxMemoryReplay bounds the in-memory replay cache. When it is full of
// unexpired ids, new proofs are refused (fail closed) rather than old
// ids forgotten.
const maxMemoryReplay = 1 << 20

func (m *memoryReplay) Use(_ context.Context, id string, expires time.Time) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.seen[id]; ok && now.Before(exp) {
		return false, nil
	}
	if len(m.seen) >= maxMemoryReplay {
		for k, exp := range m.seen {
			if !now.Before(exp) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= maxMemoryReplay {
			return false, errors.New("the in-memory DPoP replay cache is full")
		}
	}
	m.seen[id] = expires
	return true, nil
}

// cnfThumbprint reads cnf.jkt from a cnf claim's JSON. ok is false when
// the claim binds the token some other way (x5t#S256, ...), which this
// verifier cannot check.
func cnfThumbprint(cnf string) (string, bool) {
	var jkt string
	found := false
	err := parseObject(cnf, func(key string, v jsonValue) error {
		if key != "jkt" {
			return nil
		}
		s, err := stringValue(key, v)
		jkt, found = s, err == nil && s != ""
		return err
	})
	return jkt, err == nil && found
}
