// Package verify checks OAuth 2.0 bearer tokens (Okta and other OIDC
// issuers' JWT access tokens, or opaque tokens through RFC 7662
// introspection) and turns them into a Principal with roles.
//
// A Verifier is built from a Config listing providers. Each provider is
// bound to one exact issuer, and a token is verified only with the keys of
// the provider its iss names. Keys come from the issuer's JWK Set (cached,
// refreshed in the background, refetched at most once per floor when an
// unknown kid appears, served stale for a bounded time when the issuer is
// unreachable), from PEM/JWK/JWKS files (reloaded when they change), or are
// replaced by an introspection call. Remote key sets are refreshed by the
// requests that find them due, or ahead of time by RefreshInBackground,
// which retries a failed fetch once per RefetchFloor so keys (and
// KeysReady, for readiness probes) come back within one floor of the
// issuer. Requests whose key is held never wait for a fetch; a request
// with an unknown kid waits at most KeyCache.UnknownKeyWait (2s), and one
// that finds no keys at all at most KeyCache.ColdFetchTimeout.
//
// Every fetch (JWK Set, discovery, introspection, FetchKeySet) uses https,
// or plain http to loopback hosts only, and follows a redirect only when it
// keeps TLS and stays on the host the fetch started on (or one listed in
// ProviderConfig.RedirectHosts): a key served after a redirect is trusted
// like the configured URL, so a redirect must not widen that trust.
//
// Introspection (RFC 7662) needs only "active" in an answer: an active
// answer without sub (a client-credentials token) is valid, its principal
// named by username or the client. Inactive answers are cached briefly
// (NegativeTTL, keyed by the token's SHA-256) so repeated bad tokens cost
// one call each, strings that are not RFC 6750 tokens cost none, and
// concurrent introspections of one token share one call. An endpoint that
// refuses the verifier's own credentials yields ErrIntrospectionRefused.
// Calls are bounded per provider (IntrospectConcurrency calls in flight,
// IntrospectPerSecond per second; a token that finds them spent is
// refused at once as ErrKeysUnavailable), a 429 or 503 answer's
// Retry-After pauses them, a JWT whose own claims already fail costs none,
// and an answer without exp holds for IntrospectTTL.
//
// Only access tokens pass, whatever else the issuer signs or introspects
// as active. An Okta access token carries cid; a JWT with nonce, at_hash
// or c_hash is an ID token. From an Okta endpoint, whose reference answers
// every kind with token_type Bearer, only an answer with iss, aud, jti and
// iat describes an access token (a refresh token's has none of them); an
// answer whose aud is its own client, or whose jti starts with "ID.", is
// an ID token; a token_type naming another kind refuses it from any
// endpoint. Okta's access tokens are JWTs, so an introspection provider at
// an Okta endpoint takes opaque tokens only with AcceptOpaque.
//
// The Okta org authorization server signs its access tokens with a key it
// does not publish: only Okta can validate them, by introspection.
// AllowOrgServer accepts the org server's ID tokens issued to ClientID.
//
// A token bound to a key (a cnf claim; RFC 9449 DPoP) is never a bearer
// token: Verify refuses it with ErrDPoPRequired and a DPoP challenge, and
// VerifyDPoP accepts it with a proof that passes every check of RFC 9449
// section 4.3, including a replay cache of proof ids (DPoPConfig.Replay,
// in memory unless shared) and server nonces where DPoPConfig.Nonces is
// set. Inspect checks a token, bound or not, without admitting anyone: for
// acting on a token, such as revoking it by value.
//
// The client a token was issued to is read from cid, client_id, azp and
// appid, ranked in that order whatever their order in the JSON; a token
// whose client claims name different clients is refused. Policy.Types or
// ProviderConfig.Types (e.g. TypeAccessToken, RFC 9068's at+jwt, which
// also accepts application/at+jwt) enforce the typ header.
//
// Parsing is strict: tokens over a size limit, with bad base64url, JSON
// with duplicate keys, crit extensions (none is implemented, and the
// refusal names crit), nested or encrypted tokens, or algorithms outside
// the allow-list (RS256, ES256, EdDSA; PS256 on request) are refused
// before any key is touched, and header parameters that name keys (jku,
// x5u, jwk, x5c) are ignored.
//
// Failures are *Error values carrying an RFC 6750 code; Challenge turns one
// into an HTTP status and WWW-Authenticate value.
package verify
