package authserver

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// dpopAlgs are the proof algorithms Okta lists in
// dpop_signing_alg_values_supported.
var dpopAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512}

var dpopAlgNames = func() []string {
	out := make([]string, len(dpopAlgs))
	for i, a := range dpopAlgs {
		out[i] = string(a)
	}
	return out
}()

// dpopWindow is how far a proof's iat may lie from the server's clock.
const dpopWindow = time.Minute

// dpopState is a server's DPoP nonce and the proof ids it has seen.
type dpopState struct {
	mu    sync.Mutex
	nonce string
	seen  map[string]time.Time
}

func (d *dpopState) currentNonce() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nonce == "" {
		d.nonce, _ = randomID("")
	}
	return d.nonce
}

// use records jti; false means it was used before.
func (d *dpopState) use(jti string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[string]time.Time{}
	}
	for k, exp := range d.seen {
		if !now.Before(exp) {
			delete(d.seen, k)
		}
	}
	if exp, ok := d.seen[jti]; ok && now.Before(exp) {
		return false
	}
	d.seen[jti] = now.Add(2*dpopWindow + time.Second)
	return true
}

func dpopError(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_dpop_proof", description: desc}
}

// checkDPoP checks a token request's DPoP proof as Okta's guide
// describes: a client that requires DPoP must send one; the first proof
// without the server's nonce is answered 400 use_dpop_nonce with a
// DPoP-Nonce header, the client signs a new proof with it. It returns the
// thumbprint of the proof's key ("" when no proof was sent by a client
// that does not require one).
func (srv *server) checkDPoP(r *http.Request, cl *client) (string, *oauthError) {
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		if cl.dpop {
			return "", dpopError("The DPoP proof JWT header is missing.")
		}
		return "", nil
	}
	if len(proofs) > 1 || len(proofs[0]) > 8<<10 {
		return "", dpopError("Send exactly one DPoP proof JWT header.")
	}
	jws, err := jose.ParseSignedCompact(proofs[0], dpopAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return "", dpopError("The DPoP proof JWT is malformed.")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return "", dpopError("The DPoP proof JWT header typ must be dpop+jwt.")
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.Valid() || !h.JSONWebKey.IsPublic() || h.KeyID != "" {
		return "", dpopError("The DPoP proof JWT header must carry the client's public key as jwk.")
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return "", dpopError("The DPoP proof JWT signature is invalid.")
	}
	var c struct {
		JTI   string  `json:"jti"`
		HTM   string  `json:"htm"`
		HTU   string  `json:"htu"`
		IAT   float64 `json:"iat"`
		Nonce string  `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" {
		return "", dpopError("The DPoP proof JWT claims are invalid.")
	}
	if c.HTM != http.MethodPost {
		return "", dpopError("The DPoP proof JWT htm must be POST.")
	}
	if htu, _, _ := strings.Cut(c.HTU, "?"); htu != srv.url("token") {
		return "", dpopError("The DPoP proof JWT htu must be the token endpoint.")
	}
	now := srv.parent.clk.Now()
	if iat := time.Unix(int64(c.IAT), 0); iat.Before(now.Add(-dpopWindow)) || iat.After(now.Add(dpopWindow)) {
		return "", dpopError("The DPoP proof JWT iat is outside the accepted window.")
	}
	if nonce := srv.dpop.currentNonce(); c.Nonce != nonce {
		return "", &oauthError{status: http.StatusBadRequest, code: "use_dpop_nonce",
			description: "Authorization server requires nonce in DPoP proof.", dpopNonce: nonce}
	}
	if !srv.dpop.use(c.JTI, now) {
		return "", dpopError("The DPoP proof JWT has already been used.")
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", dpopError("The DPoP proof JWT key has no thumbprint.")
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
