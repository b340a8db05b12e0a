package authserver

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ClientAssertionType is the only client_assertion_type Okta accepts.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLifetime is how far ahead a client assertion's exp may be.
const maxAssertionLifetime = time.Hour

// assertionAlgs are the signing algorithms Okta accepts for private_key_jwt.
var assertionAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512,
}

// basicCredentials are the two halves of an HTTP Basic header. RFC 6749
// 2.3.1 has clients form-urlencode both before base64, but many do not, so
// both the raw and the decoded forms are kept and either may match.
type basicCredentials struct {
	id, secret               string
	decodedID, decodedSecret string
}

// parseBasicAuth parses an Authorization header value. ok is false when the
// header is not Basic at all; err is set when it is Basic but malformed.
func parseBasicAuth(header string) (creds basicCredentials, ok bool, err error) {
	scheme, rest, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return creds, false, nil
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if derr != nil {
		return creds, true, errors.New("malformed Basic credentials")
	}
	id, secret, found := strings.Cut(string(raw), ":")
	if !found || id == "" {
		return creds, true, errors.New("malformed Basic credentials")
	}
	creds = basicCredentials{id: id, secret: secret, decodedID: id, decodedSecret: secret}
	if v, e := url.QueryUnescape(id); e == nil {
		creds.decodedID = v
	}
	if v, e := url.QueryUnescape(secret); e == nil {
		creds.decodedSecret = v
	}
	return creds, true, nil
}

// parsedAssertion is a client assertion before its signature is checked.
type parsedAssertion struct {
	jws    *jose.JSONWebSignature
	claims jwt.Claims
}

// parseClientAssertion parses a private_key_jwt assertion without verifying
// it, to learn which client it claims to be.
func parseClientAssertion(raw string) (*parsedAssertion, error) {
	if len(raw) > maxTokenLen {
		return nil, errors.New("client_assertion is too long")
	}
	jws, err := jose.ParseSignedCompact(raw, assertionAlgs)
	if err != nil {
		return nil, errors.New("client_assertion is not a JWT signed with RS256, RS384, RS512, ES256, ES384 or ES512")
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("client_assertion must have one signature")
	}
	var claims jwt.Claims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return nil, errors.New("client_assertion claims are not valid JSON")
	}
	return &parsedAssertion{jws: jws, claims: claims}, nil
}

// authenticateClient establishes which client sent a request to the
// endpoint at endpointURL, by whichever single method it used.
func (srv *server) authenticateClient(r *http.Request, form map[string]string, endpointURL string) (*client, *oauthError) {
	var used []string
	basic, isBasic, berr := parseBasicAuth(r.Header.Get("Authorization"))
	if isBasic {
		used = append(used, AuthClientSecretBasic)
	}
	if _, ok := form["client_secret"]; ok {
		used = append(used, AuthClientSecretPost)
	}
	_, hasAssertion := form["client_assertion"]
	_, hasAssertionType := form["client_assertion_type"]
	if hasAssertion || hasAssertionType {
		used = append(used, AuthPrivateKeyJWT)
	}
	if len(used) > 1 {
		return nil, errInvalidRequest("Send client credentials one way only: in the Authorization header, in the body, or as a client_assertion.")
	}
	method := AuthNone
	if len(used) == 1 {
		method = used[0]
	}
	authFailed := errInvalidClient("Client authentication failed: the client or its credentials are invalid.")

	switch method {
	case AuthClientSecretBasic:
		authFailed.basicChallenge = true
		if berr != nil {
			return nil, authFailed
		}
		cl := srv.clients[basic.id]
		if cl == nil && basic.decodedID != basic.id {
			cl = srv.clients[basic.decodedID]
		}
		if cl == nil || (form["client_id"] != "" && form["client_id"] != cl.id) {
			return nil, authFailed
		}
		if cl.method != AuthClientSecretBasic || !(secretEqual(cl.secret, basic.secret) || secretEqual(cl.secret, basic.decodedSecret)) {
			return nil, authFailed
		}
		return cl, nil

	case AuthClientSecretPost:
		cl := srv.clients[form["client_id"]]
		if form["client_id"] == "" {
			return nil, errInvalidClient("The client_id parameter is required with client_secret.")
		}
		if cl == nil || cl.method != AuthClientSecretPost || !secretEqual(cl.secret, form["client_secret"]) {
			return nil, authFailed
		}
		return cl, nil

	case AuthPrivateKeyJWT:
		return srv.authenticateAssertion(form, endpointURL)

	default:
		id := form["client_id"]
		if id == "" {
			return nil, errInvalidClient("No client credentials were given: send client_id, and the client's credentials unless it is a public client.")
		}
		cl := srv.clients[id]
		if cl == nil || cl.method != AuthNone {
			return nil, authFailed
		}
		return cl, nil
	}
}

func secretEqual(want, got string) bool {
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// authenticateAssertion checks a private_key_jwt client assertion (RFC 7523
// section 3) the way Okta does: iss and sub are the client_id, aud is the
// endpoint invoked, exp is present and at most an hour ahead, and the jti
// is not reused.
func (srv *server) authenticateAssertion(form map[string]string, endpointURL string) (*client, *oauthError) {
	if form["client_assertion_type"] != ClientAssertionType {
		return nil, errInvalidClient("The client_assertion_type must be %s.", ClientAssertionType)
	}
	raw := form["client_assertion"]
	if raw == "" {
		return nil, errInvalidClient("The client_assertion parameter is required with client_assertion_type.")
	}
	pa, err := parseClientAssertion(raw)
	if err != nil {
		return nil, errInvalidClient("The client_assertion is invalid: %s.", err.Error())
	}
	c := pa.claims
	if c.Issuer == "" || c.Issuer != c.Subject {
		return nil, errInvalidClient("The client_assertion 'iss' and 'sub' claims must both be the client_id.")
	}
	if id := form["client_id"]; id != "" && id != c.Issuer {
		return nil, errInvalidClient("The client_id parameter does not match the client_assertion 'sub' claim.")
	}
	cl := srv.clients[c.Issuer]
	if cl == nil || cl.method != AuthPrivateKeyJWT {
		return nil, errInvalidClient("Client authentication failed: the client or its credentials are invalid.")
	}
	if !verifyAssertionSignature(pa.jws, cl.keys) {
		return nil, errInvalidClient("The client_assertion signature is invalid: no key of the client verifies it.")
	}
	if !c.Audience.Contains(endpointURL) {
		return nil, errInvalidClient("The client_assertion 'aud' claim must be the URL of the endpoint invoked: %s.", endpointURL)
	}
	now := srv.parent.clk.Now()
	if c.Expiry == nil {
		return nil, errInvalidClient("The client_assertion must have an 'exp' claim.")
	}
	exp := c.Expiry.Time()
	if !now.Before(exp) {
		return nil, errInvalidClient("The client_assertion token is expired.")
	}
	if exp.Sub(now) > maxAssertionLifetime {
		return nil, errInvalidClient("The client_assertion 'exp' claim is more than one hour in the future.")
	}
	if c.NotBefore != nil && now.Before(c.NotBefore.Time()) {
		return nil, errInvalidClient("The client_assertion is not valid yet ('nbf' is in the future).")
	}
	if c.ID == "" {
		return nil, errInvalidClient("The client_assertion must have a 'jti' claim.")
	}
	key := cl.id + "\x00" + c.ID
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if until, seen := srv.assertions[key]; seen && now.Before(until) {
		return nil, errInvalidClient("The client_assertion 'jti' has already been used.")
	}
	srv.assertions[key] = exp
	return cl, nil
}

// verifyAssertionSignature tries the client's keys: the one named by kid if
// the header has one, otherwise each key.
func verifyAssertionSignature(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) bool {
	kid := jws.Signatures[0].Header.KeyID
	for _, k := range keys {
		if kid != "" && k.KeyID != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != jws.Signatures[0].Header.Algorithm {
			continue
		}
		if _, err := jws.Verify(k); err == nil {
			return true
		}
	}
	return false
}
