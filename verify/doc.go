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
// refuses the verifier's own credentials yields ErrIntrospectionRefused;
// an active refresh token is refused as a bearer token.
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
