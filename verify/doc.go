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
// requests that find them due, or ahead of time by RefreshInBackground.
// Concurrent introspections of one token share one call, and an active
// refresh token is refused as a bearer token.
//
// Parsing is strict: tokens over a size limit, with bad base64url, JSON
// with duplicate keys, unknown crit extensions, nested or encrypted tokens,
// or algorithms outside the allow-list (RS256, ES256, EdDSA; PS256 on
// request) are refused before any key is touched, and header parameters
// that name keys (jku, x5u, jwk, x5c) are ignored.
//
// Failures are *Error values carrying an RFC 6750 code; Challenge turns one
// into an HTTP status and WWW-Authenticate value.
package verify
