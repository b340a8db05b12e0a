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
	"slices"
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

// Introspection call bounds, per provider: the calls in flight at once
// and the calls per second (with a burst of one second's worth). A token
// that finds either spent is refused at once as ErrKeysUnavailable (the
// client retries) instead of queueing a goroutine per token.
const (
	DefaultIntrospectConcurrency = 16
	DefaultIntrospectPerSecond   = 50
	// maxRetryAfter caps how long one Retry-After can stop calls.
	maxRetryAfter = 5 * time.Minute
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
	// issuer is the configured iss ("" when any); an answer naming
	// another is refused.
	issuer string
	// okta is set for an Okta endpoint, whose answers for refresh
	// tokens look like an access token's but for the claims they lack.
	okta bool

	// slots bounds the calls in flight; the bucket, their rate.
	slots  chan struct{}
	bucket tokenBucket

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
		if err := in.admit(); err != nil {
			in.mu.Unlock()
			return nil, err
		}
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
	<-in.slots
	now := in.f.clk.Now().Unix()
	var kind string
	if err == nil && c.active {
		kind = in.accessShape(c)
	}
	switch {
	case err != nil:
		call.err = err
	case !c.active:
		in.neg.put(k, struct{}{}, now+int64(in.negTTL/time.Second), now)
		call.err = newError(ErrInactive, "")
	case kind != "":
		// An active refresh or ID token is not an access token:
		// presented as a bearer token it is refused, and remembered.
		in.neg.put(k, struct{}{}, now+int64(in.negTTL/time.Second), now)
		call.err = newError(ErrUnsupportedToken, kind)
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
		if !c.hasExp {
			// RFC 7662 requires only active: an answer without exp
			// holds for as long as it is cached, no longer.
			c.exp, c.hasExp = exp, true
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
		if errors.As(err, &se) && (se.code == http.StatusTooManyRequests || se.code == http.StatusServiceUnavailable) {
			in.pause(se.retryAfter)
			return nil, wrapError(ErrKeysUnavailable, "", fmt.Errorf("provider %s: %w; introspection paused as the endpoint asked", in.name, err))
		}
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

// accessShape returns "" when an active answer describes an access
// token, else why it does not. Okta's /introspect reference answers every
// kind of token with token_type Bearer; only an access token's answer
// carries iss, aud, jti and iat (a refresh token's has none of them), so
// from an Okta endpoint all four are required; an ID token's has the
// client as aud and a jti starting with "ID.". From any endpoint a
// token_type naming another kind (refresh_token, id_token, as some
// servers answer) or an ID token's claims refuse it.
func (in *introspector) accessShape(c *claims) string {
	switch strings.ToLower(c.tokenType) {
	case "", "bearer", "dpop", "access_token", "urn:ietf:params:oauth:token-type:access_token":
	default:
		return "the token is not an access token (token_type " + safeText(c.tokenType) + ")"
	}
	switch {
	case c.shape&shapeIDToken != 0, strings.HasPrefix(c.jti, "ID."), c.cid != "" && slices.Contains(c.aud, c.cid):
		return "an ID token is not an access token"
	case in.okta && (c.iss == "" || len(c.aud) == 0 || c.jti == "" || !c.hasIat):
		return "the introspection answer lacks iss, aud, jti or iat, which an access token's carries (a refresh token?)"
	case in.issuer != "" && c.iss != in.issuer:
		return "the introspection answer names another issuer"
	}
	return ""
}

// admit takes a call slot and a rate token, or says why not. in.mu is
// held.
func (in *introspector) admit() error {
	now := in.f.clk.Now()
	if until := in.bucket.pausedUntil; now.Before(until) {
		return newError(ErrKeysUnavailable, fmt.Sprintf("the introspection endpoint asked to wait; retry in %ds", int(until.Sub(now).Seconds())+1))
	}
	select {
	case in.slots <- struct{}{}:
	default:
		return newError(ErrKeysUnavailable, "too many introspection calls in flight; retry shortly")
	}
	if !in.bucket.take(now) {
		<-in.slots
		return newError(ErrKeysUnavailable, "introspection call rate reached; retry shortly")
	}
	return nil
}

// pause stops calls for d (a Retry-After), at least a second, at most
// maxRetryAfter.
func (in *introspector) pause(d time.Duration) {
	d = min(max(d, time.Second), maxRetryAfter)
	until := in.f.clk.Now().Add(d)
	in.mu.Lock()
	if until.After(in.bucket.pausedUntil) {
		in.bucket.pausedUntil = until
	}
	in.mu.Unlock()
}

// tokenBucket is a rate limit on the injected clock: rate tokens a
// second, holding at most burst.
type tokenBucket struct {
	rate, burst, level float64
	last               time.Time
	pausedUntil        time.Time
}

func (b *tokenBucket) take(now time.Time) bool {
	if !b.last.IsZero() && now.After(b.last) {
		b.level = min(b.burst, b.level+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.level < 1 {
		return false
	}
	b.level--
	return true
}

// plausibleSignature reports whether a signature of n bytes can be one of
// alg: an RSA signature is as long as a 2048- to 8192-bit modulus, ECDSA
// and EdDSA ones have fixed sizes. Junk costs no introspection call.
func plausibleSignature(alg string, n int) bool {
	switch alg {
	case RS256, PS256:
		return n >= 256 && n <= 1024 && n%8 == 0
	case ES256, EdDSA, Ed25519:
		return n == 64
	}
	return n > 0
}

// oktaEndpoint reports whether an introspection provider asks Okta (an
// okta.com, oktapreview.com or okta-emea.com host, or Okta's
// /oauth2[/id]/v1/introspect path, as the sandbox serves it).
func oktaEndpoint(pc ProviderConfig) bool {
	for _, raw := range []string{pc.IntrospectURL, pc.DiscoveryURL, pc.Issuer} {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		h := strings.ToLower(u.Hostname())
		for _, d := range []string{".okta.com", ".oktapreview.com", ".okta-emea.com"} {
			if strings.HasSuffix(h, d) {
				return true
			}
		}
		if strings.HasPrefix(u.Path, "/oauth2/") && strings.HasSuffix(u.Path, "/v1/introspect") {
			return true
		}
	}
	return false
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
