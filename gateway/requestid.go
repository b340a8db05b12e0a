package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// HeaderRequestID carries a request's id: kept from a trusted ingress,
// generated otherwise, sent upstream, answered to the client and written
// in every access-log line as request_id.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds a kept id; longer ones are replaced.
const maxRequestIDLen = 128

// validRequestID accepts the ids ingresses generate (hex, UUIDs, base64
// with - and _, dotted or colon-separated trace ids): visible ASCII
// letters, digits and - _ . : only, so a log line or an upstream header
// cannot be forged through it.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// withRequestID gives r exactly one X-Request-Id: the one a trusted peer
// (forward_auth.trusted: the ingresses) sent when it is well formed, a new
// one otherwise. Underscore spellings (X_Request_Id), which some
// upstreams read as the same header, are removed.
func (g *Gateway) withRequestID(r *http.Request) {
	vals := r.Header.Values(HeaderRequestID)
	id := ""
	if len(vals) == 1 && validRequestID(vals[0]) && g.fwd.trustedPeer(r.RemoteAddr) {
		id = vals[0]
	}
	for k := range r.Header {
		if strings.IndexByte(k, '_') >= 0 && foldedEqual(k, "x-request-id") {
			delete(r.Header, k)
		}
	}
	if id == "" {
		id = newRequestID()
	}
	r.Header[HeaderRequestID] = []string{id}
}
