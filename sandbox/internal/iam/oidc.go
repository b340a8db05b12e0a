package iam

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// jwksTTL is how long a provider's keys are reused before refetching.
	jwksTTL = 10 * time.Minute
	// jwksRefetchAfter limits refetches caused by unknown key ids, so a
	// stream of forged tokens cannot make the sandbox hammer the issuer.
	jwksRefetchAfter = 30 * time.Second
	// maxIDPResponse bounds discovery and JWKS documents.
	maxIDPResponse = 1 << 20
	// jwtClockSkew tolerates small clock differences on nbf and iat.
	jwtClockSkew = 5 * time.Minute
)

// jwtAlgorithms are the signature algorithms AWS accepts for OIDC tokens
// that the sandbox supports.
var jwtAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

type jwksEntry struct {
	keys    jose.JSONWebKeySet
	fetched time.Time
}

// WebIdentityClaims are the claims AssumeRoleWithWebIdentity reads.
type WebIdentityClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	KeyID    string
}

// ParseJWT parses a compact JWS without verifying it, refusing algorithms
// other than RS256 and ES256, and returns its header key id and claims.
// Errors carry InvalidIdentityToken.
func ParseJWT(token string) (*WebIdentityClaims, error) {
	tok, err := jwt.ParseSigned(token, jwtAlgorithms)
	if err != nil {
		return nil, invalidToken("The web identity token is not a JWT signed with RS256 or ES256.")
	}
	if len(tok.Headers) != 1 {
		return nil, invalidToken("The web identity token must have exactly one signature.")
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return nil, invalidToken("The web identity token's claims cannot be read.")
	}
	out := &WebIdentityClaims{Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, KeyID: tok.Headers[0].KeyID}
	if c.Expiry != nil {
		out.Expiry = c.Expiry.Time()
	}
	return out, nil
}

// webIdentity is the outcome of a verified web identity token.
type webIdentity struct {
	provider *oidcProvider
	subject  string
	audience string
	issuer   string
}

// verifyWebIdentity checks a JWT the way AssumeRoleWithWebIdentity does:
// the issuer must be an OIDC provider of the sandbox, the signature must
// verify with a key from that issuer's JWKS (found through its discovery
// document), the audience must be one of the provider's client ids, and the
// token must be within its validity window.
func (s *Service) verifyWebIdentity(ctx context.Context, token string, ro *role, now time.Time) (*webIdentity, error) {
	tok, err := jwt.ParseSigned(token, jwtAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, invalidToken("The web identity token is not a JWT signed with RS256 or ES256.")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalidToken("The web identity token's claims cannot be read.")
	}
	p := s.oidcProviderFor(unverified.Issuer, ro)
	if p == nil {
		return nil, invalidToken("No OpenIDConnect provider found in your account for %s", truncate(unverified.Issuer, 200))
	}
	kid := tok.Headers[0].KeyID
	keys, err := s.providerKeys(ctx, p.issuer, kid, now)
	if err != nil {
		return nil, err
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != tok.Headers[0].Algorithm {
			continue
		}
		if err := tok.Claims(k.Key, &claims); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, invalidToken("The web identity token's signature does not verify with the issuer's keys.")
	}
	if claims.Issuer != p.issuer {
		return nil, invalidToken("No OpenIDConnect provider found in your account for %s", truncate(claims.Issuer, 200))
	}
	audience := ""
	for _, a := range claims.Audience {
		if p.clientIDs[a] {
			audience = a
			break
		}
	}
	if audience == "" {
		return nil, invalidToken("Incorrect token audience")
	}
	if claims.Expiry == nil {
		return nil, invalidToken("The web identity token has no exp claim.")
	}
	if exp := claims.Expiry.Time(); !now.Before(exp) {
		return nil, newError(CodeExpiredTokenException, "Token expired: current date/time %s must be before the expiration date/time %s",
			now.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))
	}
	if claims.NotBefore != nil && now.Add(jwtClockSkew).Before(claims.NotBefore.Time()) {
		return nil, invalidToken("The web identity token is not valid yet (nbf).")
	}
	if claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(jwtClockSkew)) {
		return nil, invalidToken("The web identity token was issued in the future (iat).")
	}
	if claims.Subject == "" {
		return nil, invalidToken("The web identity token has no sub claim.")
	}
	return &webIdentity{provider: p, subject: claims.Subject, audience: audience, issuer: claims.Issuer}, nil
}

// oidcProviderFor finds the provider for an issuer, preferring one in the
// role's account, where IAM looks for it.
func (s *Service) oidcProviderFor(issuer string, ro *role) *oidcProvider {
	var fallback *oidcProvider
	for _, p := range s.oidc {
		if p.issuer != issuer {
			continue
		}
		if ro != nil && p.account == ro.account {
			return p
		}
		if fallback == nil || p.arn < fallback.arn {
			fallback = p
		}
	}
	return fallback
}

// providerKeys returns the issuer's keys that may have signed a token with
// key id kid, fetching the JWKS when the cache is stale or lacks the kid.
func (s *Service) providerKeys(ctx context.Context, issuer, kid string, now time.Time) ([]jose.JSONWebKey, error) {
	s.jwksMu.Lock()
	defer s.jwksMu.Unlock()
	e := s.jwks[issuer]
	stale := e == nil || now.Sub(e.fetched) > jwksTTL || now.Before(e.fetched)
	if !stale && kid != "" && len(e.keys.Key(kid)) == 0 && now.Sub(e.fetched) > jwksRefetchAfter {
		stale = true // the issuer may have rotated its keys
	}
	if stale {
		keys, err := s.fetchJWKS(ctx, issuer)
		if err != nil {
			return nil, err
		}
		e = &jwksEntry{keys: *keys, fetched: now}
		s.jwks[issuer] = e
	}
	if kid != "" {
		return e.keys.Key(kid), nil
	}
	return e.keys.Keys, nil
}

// fetchJWKS follows the issuer's discovery document to its key set.
func (s *Service) fetchJWKS(ctx context.Context, issuer string) (*jose.JSONWebKeySet, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := s.getJSON(ctx, strings.TrimRight(issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return nil, err
	}
	if disc.Issuer != issuer {
		return nil, newError(CodeIDPCommunicationError, "The OpenID Connect discovery document of %s names issuer %q.", issuer, truncate(disc.Issuer, 200))
	}
	if !strings.HasPrefix(disc.JWKSURI, "https://") && !strings.HasPrefix(disc.JWKSURI, "http://") {
		return nil, newError(CodeIDPCommunicationError, "The OpenID Connect discovery document of %s has no usable jwks_uri.", issuer)
	}
	var keys jose.JSONWebKeySet
	if err := s.getJSON(ctx, disc.JWKSURI, &keys); err != nil {
		return nil, err
	}
	return &keys, nil
}

func (s *Service) getJSON(ctx context.Context, u string, out any) error {
	fail := func(format string, args ...any) error {
		return newError(CodeIDPCommunicationError, "Couldn't retrieve verification key from your identity provider: "+format, args...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail("bad URL %q", truncate(u, 200))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		s.log.Warn("sandbox iam: fetching OIDC document failed", "url", u, "err", err)
		return fail("GET %s failed", u)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail("GET %s answered %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIDPResponse+1))
	if err != nil || len(body) > maxIDPResponse {
		return fail("GET %s: body unreadable or larger than %d bytes", u, maxIDPResponse)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fail("GET %s: %s", u, fmt.Sprint(err))
	}
	return nil
}
