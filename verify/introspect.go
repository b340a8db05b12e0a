package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Introspection cache defaults. Positive answers are cached for at most
// DefaultIntrospectTTL (and never past the token's exp), so a revoked token
// stops working within that time; negative answers for
// DefaultIntrospectNegativeTTL so a flood of bad tokens does not become a
// flood of introspection calls.
const (
	DefaultIntrospectTTL         = 2 * time.Minute
	DefaultIntrospectNegativeTTL = 30 * time.Second
	defaultIntrospectCacheSize   = 10000
)

// introspector checks tokens with an RFC 7662 endpoint.
type introspector struct {
	name     string
	endpoint func(ctx context.Context) (string, error)
	clientID string
	secret   string
	signer   crypto.Signer // private_key_jwt when set
	keyID    string
	f        *fetcher
	names    claimNames
	posTTL   time.Duration
	negTTL   time.Duration
	pos      *ttlCache[*claims]
	neg      *ttlCache[struct{}]

	// inflight holds the calls under way, so that a burst of requests
	// carrying one new token costs the endpoint one call, not one each.
	mu       sync.Mutex
	inflight map[tokenKey]*introCall
}

// introCall is one introspection call that several requests may wait on.
type introCall struct {
	done chan struct{}
	c    *claims
	err  error
}

// check returns the claims for token. Cached answers skip only the network
// call; the caller applies the policy to them every time.
func (in *introspector) check(ctx context.Context, token string) (*claims, error) {
	k := keyOf(token)
	now := in.f.clk.Now().Unix()
	if c, ok := in.pos.get(k, now); ok {
		return c, nil
	}
	if _, ok := in.neg.get(k, now); ok {
		return nil, newError(ErrInactive, "")
	}
	in.mu.Lock()
	call := in.inflight[k]
	if call == nil {
		call = &introCall{done: make(chan struct{})}
		if in.inflight == nil {
			in.inflight = map[tokenKey]*introCall{}
		}
		in.inflight[k] = call
		// The call runs detached from the request that started it: if
		// that request is cancelled, the others waiting for the same
		// answer still get it. The fetcher's timeout bounds it.
		go in.run(context.WithoutCancel(ctx), k, token, call)
	}
	in.mu.Unlock()
	select {
	case <-call.done:
		return call.c, call.err
	case <-ctx.Done():
		return nil, wrapError(ErrKeysUnavailable, "", ctx.Err())
	}
}

// run performs call and caches its answer before releasing the waiters,
// so a request arriving just after finds the cache filled.
func (in *introspector) run(ctx context.Context, k tokenKey, token string, call *introCall) {
	c, err := in.call(ctx, token)
	now := in.f.clk.Now().Unix()
	switch {
	case err != nil:
		call.err = err
	case !c.active || strings.EqualFold(c.tokenType, "refresh_token"):
		// An active refresh token is not an access token: presented as
		// a bearer token it is refused like an inactive one.
		in.neg.put(k, struct{}{}, now+int64(in.negTTL/time.Second), now)
		call.err = newError(ErrInactive, "")
	default:
		if c.user == "" {
			// No sub and no username: a client-credentials token.
			// The client is the principal, as RFC 9068 section 2.2
			// has it for such tokens' sub.
			c.user = c.cid
		}
		exp := now + int64(in.posTTL/time.Second)
		if c.hasExp && c.exp < exp {
			exp = c.exp
		}
		in.pos.put(k, c, exp, now)
		call.c = c
	}
	in.mu.Lock()
	delete(in.inflight, k)
	in.mu.Unlock()
	close(call.done)
}

func (in *introspector) call(ctx context.Context, token string) (*claims, error) {
	ep, err := in.endpoint(ctx)
	if err != nil {
		return nil, wrapError(ErrKeysUnavailable, "", err)
	}
	if err := checkURL(ep); err != nil {
		return nil, wrapError(ErrKeysUnavailable, "", err)
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if in.signer != nil {
		assertion, err := in.assertion(ep)
		if err != nil {
			return nil, wrapError(ErrKeysUnavailable, "", err)
		}
		form.Set("client_id", in.clientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	ctx, cancel := context.WithTimeout(ctx, in.f.timeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, wrapError(ErrKeysUnavailable, "", err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json")
	if in.signer == nil {
		// RFC 6749 section 2.3.1: both parts are form-encoded before
		// being joined for Basic authentication.
		r.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.secret))
	}
	body, _, err := in.f.do(r)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden) {
			// RFC 7662 section 2.3: the endpoint answers 401 when the
			// caller's own authentication fails. Saying "keys
			// unavailable" would send an operator to the wrong place.
			return nil, wrapError(ErrIntrospectionRefused, "", fmt.Errorf("provider %s: %w; check its client_id and client_secret or private key", in.name, err))
		}
		return nil, wrapError(ErrKeysUnavailable, "", err)
	}
	c, err := parseIntrospection(body, in.names)
	if err != nil {
		return nil, wrapError(ErrKeysUnavailable, "", err)
	}
	return c, nil
}

// parseIntrospection reads an RFC 7662 answer strictly; "active" is
// required.
func parseIntrospection(body string, names claimNames) (*claims, error) {
	c, err := parseClaims(body, names)
	if err != nil {
		return nil, fmt.Errorf("introspection response: %w", err)
	}
	if !c.hasActive {
		return nil, errors.New("introspection response has no active member")
	}
	return c, nil
}

// assertion builds a private_key_jwt client assertion (RFC 7523) whose
// audience is the endpoint it authenticates to, as Okta requires.
func (in *introspector) assertion(aud string) (string, error) {
	alg := RS256
	if _, ok := in.signer.Public().(*ecdsa.PublicKey); ok {
		alg = ES256
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := in.f.clk.Now().Unix()
	hdr := map[string]string{"alg": alg, "typ": "JWT"}
	if in.keyID != "" {
		hdr["kid"] = in.keyID
	}
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(map[string]any{
		"iss": in.clientID, "sub": in.clientID, "aud": aud,
		"iat": now, "exp": now + 300, "jti": base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	h := sha256.Sum256([]byte(input))
	sig, err := in.signer.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return "", err
	}
	if alg == ES256 {
		sig, err = derToP1363(sig)
		if err != nil {
			return "", err
		}
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// derToP1363 converts an ASN.1 ECDSA P-256 signature to R||S.
func derToP1363(der []byte) ([]byte, error) {
	var sig struct{ R, S []byte }
	// crypto/ecdsa exports no DER to R||S conversion; a P-256 signature is
	// short enough that every length is in short form, so the two
	// INTEGERs are read directly.
	rest := der
	if len(rest) < 2 || rest[0] != 0x30 {
		return nil, errors.New("bad ECDSA signature")
	}
	rest = rest[2:]
	for _, dst := range []*[]byte{&sig.R, &sig.S} {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return nil, errors.New("bad ECDSA signature")
		}
		*dst, rest = rest[2:2+rest[1]], rest[2+rest[1]:]
	}
	out := make([]byte, 64)
	r := trimZero(sig.R)
	s := trimZero(sig.S)
	if len(r) > 32 || len(s) > 32 {
		return nil, errors.New("bad ECDSA signature")
	}
	copy(out[32-len(r):32], r)
	copy(out[64-len(s):], s)
	return out, nil
}

func trimZero(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// parsePrivateKey reads a PEM private key for private_key_jwt.
func parsePrivateKey(pemData []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(pemData)
	if blk == nil {
		return nil, errors.New("no PEM block in private key")
	}
	var key any
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("private key type %T is not supported for private_key_jwt", key)
}
