package iam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/oktafed/oktafed/internal/lazyregexp"
)

// Caller is the identity behind a request whose SigV4 signature verified.
type Caller struct {
	AccessKeyID string
	Account     string
	// ARN is arn:aws:iam::ACCT:user/NAME for users and
	// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION for role sessions.
	ARN string
	// UserID is AIDA… for users and AROA…:SESSION for role sessions, as
	// GetCallerIdentity reports it.
	UserID string
	// RoleARN and SessionName are set for role sessions.
	RoleARN     string
	SessionName string
	// Expiration is when session credentials stop working; zero for
	// long-term keys.
	Expiration time.Time

	// Region and Service are the signature's credential scope.
	Region  string
	Service string
	// SignedAt is the request's X-Amz-Date.
	SignedAt time.Time
	// Host is the host (and port) that was signed.
	Host string
	// Params holds the query parameters of a presigned URL other than the
	// X-Amz-* authentication parameters, e.g. Action=connect and DBUser for
	// an RDS IAM authentication token.
	Params url.Values
}

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
	// maxRequestSkew is how far a signed request's time may be from the
	// server's, as SigV4 documents.
	maxRequestSkew = 15 * time.Minute
	// maxPresignExpiry is SigV4's limit on X-Amz-Expires (seven days).
	maxPresignExpiry = 7 * 24 * time.Hour
	// maxRDSTokenExpiry is the lifetime of an RDS IAM authentication token.
	maxRDSTokenExpiry = 15 * time.Minute
	// maxBodyBytes bounds request bodies that must be hashed for SigV4.
	maxBodyBytes = 1 << 20
	// emptySHA256 is the payload hash of an empty body.
	emptySHA256     = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

var (
	hexSigRE       = lazyregexp.New(`^[0-9a-f]{64}$`)
	signedHeaderRE = lazyregexp.New(`^[a-z0-9!#$%&'*+.^_|~-]+$`)
	scopeDateRE    = lazyregexp.New(`^[0-9]{8}$`)
)

// authParams is the parsed authentication material of a signed request,
// from either the Authorization header or a presigned URL's query.
type authParams struct {
	accessKeyID   string
	scopeDate     string
	region        string
	service       string
	terminator    string
	signedHeaders []string
	signature     string
}

// ParseAuthorization parses a SigV4 Authorization header value. Errors carry
// IncompleteSignature, as AWS answers a malformed header.
func ParseAuthorization(header string) (Authorization, error) {
	p, err := parseAuthorization(header)
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{
		AccessKeyID: p.accessKeyID, Date: p.scopeDate, Region: p.region, Service: p.service,
		SignedHeaders: p.signedHeaders, Signature: p.signature,
	}, nil
}

// Authorization is a parsed SigV4 Authorization header.
type Authorization struct {
	AccessKeyID   string
	Date          string // YYYYMMDD of the credential scope
	Region        string
	Service       string
	SignedHeaders []string // lower-case, in the order given
	Signature     string   // 64 lower-case hex digits
}

func parseAuthorization(header string) (*authParams, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg != sigAlgorithm {
		return nil, newError(CodeIncompleteSignature, "Unsupported AWS 'algorithm': %q; the Authorization header must start with %s.", truncate(alg, 40), sigAlgorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, newError(CodeIncompleteSignature, "Authorization header element %q is not a key=value pair.", truncate(part, 40))
		}
		if _, dup := fields[k]; dup {
			return nil, newError(CodeIncompleteSignature, "Authorization header names %q twice.", truncate(k, 40))
		}
		fields[k] = v
	}
	var missing []string
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if _, ok := fields[k]; !ok {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return nil, newError(CodeIncompleteSignature, "%s", strings.Join(missing, " "))
	}
	return parseAuthParts(fields["Credential"], fields["SignedHeaders"], fields["Signature"])
}

// parseAuthParts checks the three parts shared by header and query auth.
func parseAuthParts(credential, signedHeaders, signature string) (*authParams, error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" {
		return nil, newError(CodeIncompleteSignature, "Credential must have exactly 5 slash-delimited elements (keyid/date/region/service/aws4_request), got %q.", truncate(credential, 200))
	}
	p := &authParams{
		accessKeyID: parts[0], scopeDate: parts[1], region: parts[2], service: parts[3], terminator: parts[4],
		signature: signature,
	}
	if signedHeaders == "" {
		return nil, newError(CodeIncompleteSignature, "SignedHeaders must not be empty.")
	}
	p.signedHeaders = strings.Split(signedHeaders, ";")
	for _, h := range p.signedHeaders {
		if !signedHeaderRE.MatchString(h) {
			return nil, newError(CodeIncompleteSignature, "SignedHeaders entry %q is not a lower-case header name.", truncate(h, 40))
		}
	}
	if !hexSigRE.MatchString(signature) {
		return nil, newError(CodeIncompleteSignature, "Signature must be 64 lower-case hexadecimal digits.")
	}
	return p, nil
}

// Authenticate verifies the SigV4 signature of r, either in its
// Authorization header or, for a presigned request, in its query string, and
// returns the identity that signed it. service is the signing name the
// credential scope must carry ("sts", "secretsmanager", …); the region must
// be the sandbox's. The request body is read to hash it and then restored,
// so the caller's handler can still read it.
func (s *Service) Authenticate(r *http.Request, service string) (*Caller, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	authz := r.Header.Get("Authorization")
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential")
	switch {
	case authz != "" && presigned:
		return nil, newError(CodeIncompleteSignature, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case authz != "":
		return s.verifyHeaderAuth(r, body, service)
	case presigned:
		payload, err := payloadHash(r.Header.Get("X-Amz-Content-Sha256"), body, service)
		if err != nil {
			return nil, err
		}
		return s.verifyQueryAuth(r.Method, r.URL, r.Host, r.Header, payload, service, s.region, s.clock.Now())
	default:
		return nil, newError(CodeMissingAuthenticationToken, "Request is missing Authentication Token")
	}
}

// VerifyPresignedURL verifies a presigned GET URL such as an RDS IAM
// authentication token ("host:port/?Action=connect&DBUser=…&X-Amz-…", with
// or without a scheme), signed for service and region (the sandbox's region
// when empty), as of now (the service clock when zero). For service "rds-db"
// X-Amz-Expires is required and at most 900 seconds.
func (s *Service) VerifyPresignedURL(rawURL, service, region string, now time.Time) (*Caller, error) {
	if !strings.Contains(rawURL, "://") {
		// RDS tokens omit the scheme; BuildAuthToken signs them as https.
		rawURL = "https://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, newError(CodeIncompleteSignature, "The presigned URL cannot be parsed.")
	}
	if region == "" {
		region = s.region
	}
	if now.IsZero() {
		now = s.clock.Now()
	}
	payload := emptySHA256
	if service == "s3" {
		payload = unsignedPayload
	}
	return s.verifyQueryAuth(http.MethodGet, u, u.Host, http.Header{}, payload, service, region, now)
}

func (s *Service) verifyHeaderAuth(r *http.Request, body []byte, service string) (*Caller, error) {
	p, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, newError(CodeIncompleteSignature, "Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	signedAt, err := time.Parse(amzDateFmt, amzDate)
	if err != nil {
		return nil, newError(CodeIncompleteSignature, "X-Amz-Date %q is not in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.", truncate(amzDate, 40))
	}
	now := s.clock.Now()
	if d := now.Sub(signedAt); d > maxRequestSkew || d < -maxRequestSkew {
		return nil, newError(CodeRequestExpired, "Request has expired: the request was signed at %s and the server time is %s, more than 15 minutes apart.", amzDate, now.UTC().Format(amzDateFmt))
	}
	if err := checkScope(p, service, s.signingRegion(service), signedAt); err != nil {
		return nil, err
	}
	token := r.Header.Get("X-Amz-Security-Token")
	c, err := s.credentialFor(p.accessKeyID, token)
	if err != nil {
		return nil, err
	}
	payload, err := payloadHash(r.Header.Get("X-Amz-Content-Sha256"), body, service)
	if err != nil {
		return nil, err
	}

	signed := map[string]bool{}
	for _, h := range p.signedHeaders {
		signed[h] = true
	}
	if !signed["host"] {
		return nil, newError(CodeSignatureDoesNotMatch, "'Host' must be a signed header.")
	}
	// Rebuild the request with exactly the headers the client says it
	// signed, so the SDK signer canonicalizes the same set; anything it adds
	// or drops shows up as a SignedHeaders difference below.
	rebuilt := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Host:   r.Host,
		Header: http.Header{},
	}
	for h := range signed {
		switch h {
		case "host", "x-amz-date", "x-amz-security-token":
			// The signer writes these itself from the arguments below.
		case "content-length":
			rebuilt.ContentLength = r.ContentLength
		default:
			if v := r.Header.Values(h); len(v) > 0 {
				rebuilt.Header[textproto.CanonicalMIMEHeaderKey(h)] = v
			}
		}
	}
	err = s.signer.SignHTTP(context.Background(), c.awsCredentials(), rebuilt, payload, p.service, p.region, signedAt,
		func(o *v4.SignerOptions) { o.DisableSessionToken = !signed["x-amz-security-token"] })
	if err != nil {
		return nil, asError(err)
	}
	want, err := parseAuthorization(rebuilt.Header.Get("Authorization"))
	if err != nil {
		return nil, asError(err)
	}
	if strings.Join(want.signedHeaders, ";") != strings.Join(p.signedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(want.signature), []byte(p.signature)) != 1 {
		return nil, newError(CodeSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return s.callerFor(c, p, signedAt, r.Host, nil, now)
}

// verifyQueryAuth verifies SigV4 query-string ("presigned") authentication.
func (s *Service) verifyQueryAuth(method string, u *url.URL, host string, header http.Header, payload, service, region string, now time.Time) (*Caller, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, newError(CodeMalformedQueryString, "The query string is malformed.")
	}
	get := func(k string) (string, error) {
		v := q[k]
		if len(v) > 1 {
			return "", newError(CodeIncompleteSignature, "Query parameter %s is given more than once.", k)
		}
		if len(v) == 0 || v[0] == "" {
			return "", nil
		}
		return v[0], nil
	}
	vals := map[string]string{}
	var missing []string
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Expires", "X-Amz-Security-Token"} {
		v, err := get(k)
		if err != nil {
			return nil, err
		}
		vals[k] = v
		if v == "" && k != "X-Amz-Expires" && k != "X-Amz-Security-Token" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, newError(CodeIncompleteSignature, "AWS query-string authentication requires the %s parameters.", strings.Join(missing, ", "))
	}
	if vals["X-Amz-Algorithm"] != sigAlgorithm {
		return nil, newError(CodeIncompleteSignature, "X-Amz-Algorithm only supports %q.", sigAlgorithm)
	}
	p, err := parseAuthParts(vals["X-Amz-Credential"], vals["X-Amz-SignedHeaders"], vals["X-Amz-Signature"])
	if err != nil {
		return nil, err
	}
	signedAt, err := time.Parse(amzDateFmt, vals["X-Amz-Date"])
	if err != nil {
		return nil, newError(CodeIncompleteSignature, "X-Amz-Date %q is not in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.", truncate(vals["X-Amz-Date"], 40))
	}
	limit := maxPresignExpiry
	if service == "rds-db" {
		limit = maxRDSTokenExpiry
		if vals["X-Amz-Expires"] == "" {
			return nil, newError(CodeIncompleteSignature, "An RDS IAM authentication token requires X-Amz-Expires.")
		}
	}
	if e := vals["X-Amz-Expires"]; e != "" {
		secs, err := strconv.Atoi(e)
		if err != nil || secs < 1 || time.Duration(secs)*time.Second > limit {
			return nil, newError(CodeIncompleteSignature, "X-Amz-Expires must be a whole number of seconds from 1 to %d.", int(limit/time.Second))
		}
		if now.Before(signedAt.Add(-maxRequestSkew)) {
			return nil, newError(CodeSignatureDoesNotMatch, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
				signedAt.Format(amzDateFmt), now.UTC().Add(maxRequestSkew).Format(amzDateFmt), now.UTC().Format(amzDateFmt))
		}
		if expires := signedAt.Add(time.Duration(secs) * time.Second); now.After(expires) {
			return nil, newError(CodeSignatureDoesNotMatch, "Signature expired: %s is now earlier than %s (%s - %d sec.)",
				signedAt.Format(amzDateFmt), now.UTC().Add(-time.Duration(secs)*time.Second).Format(amzDateFmt), now.UTC().Format(amzDateFmt), secs)
		}
	} else if d := now.Sub(signedAt); d > maxRequestSkew || d < -maxRequestSkew {
		return nil, newError(CodeRequestExpired, "Request has expired: the request was signed at %s and the server time is %s, more than 15 minutes apart.", vals["X-Amz-Date"], now.UTC().Format(amzDateFmt))
	}
	if err := checkScope(p, service, region, signedAt); err != nil {
		return nil, err
	}
	c, err := s.credentialFor(p.accessKeyID, vals["X-Amz-Security-Token"])
	if err != nil {
		return nil, err
	}
	signed := map[string]bool{}
	for _, h := range p.signedHeaders {
		signed[h] = true
	}
	if !signed["host"] {
		return nil, newError(CodeSignatureDoesNotMatch, "'Host' must be a signed header.")
	}

	// Rebuild the unsigned URL: the signer adds back every X-Amz-* auth
	// parameter except X-Amz-Expires, which is part of what was signed.
	unsigned := url.Values{}
	params := url.Values{}
	for k, v := range q {
		switch k {
		case "X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Security-Token":
			continue
		}
		unsigned[k] = v
		if k != "X-Amz-Expires" {
			params[k] = v
		}
	}
	rebuilt := &http.Request{
		Method: method,
		URL:    &url.URL{Scheme: u.Scheme, Host: host, Path: u.Path, RawPath: u.RawPath, RawQuery: unsigned.Encode()},
		Host:   host,
		Header: http.Header{},
	}
	if rebuilt.URL.Scheme == "" {
		rebuilt.URL.Scheme = "http"
	}
	for h := range signed {
		if h == "host" {
			continue
		}
		if v := header.Values(h); len(v) > 0 {
			rebuilt.Header[textproto.CanonicalMIMEHeaderKey(h)] = v
		}
	}
	signedURI, _, err := s.signer.PresignHTTP(context.Background(), c.awsCredentials(), rebuilt, payload, p.service, p.region, signedAt,
		func(o *v4.SignerOptions) {
			// Keep signed headers as headers, as they were at signing.
			o.DisableHeaderHoisting = true
			o.DisableSessionToken = vals["X-Amz-Security-Token"] == ""
		})
	if err != nil {
		return nil, asError(err)
	}
	su, err := url.Parse(signedURI)
	if err != nil {
		return nil, asError(err)
	}
	sq := su.Query()
	if sq.Get("X-Amz-SignedHeaders") != strings.Join(p.signedHeaders, ";") ||
		subtle.ConstantTimeCompare([]byte(sq.Get("X-Amz-Signature")), []byte(p.signature)) != 1 {
		return nil, newError(CodeSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return s.callerFor(c, p, signedAt, host, params, now)
}

// signingRegion is the region requests to service are signed for: IAM is
// global and signed for us-east-1, every other service for the sandbox's
// region.
func (s *Service) signingRegion(service string) string {
	if service == "iam" {
		return "us-east-1"
	}
	return s.region
}

// checkScope compares the credential scope with what the server expects.
func checkScope(p *authParams, service, region string, signedAt time.Time) error {
	if p.terminator != "aws4_request" {
		return newError(CodeSignatureDoesNotMatch, "Credential should be scoped with a valid terminator: 'aws4_request', not %q.", truncate(p.terminator, 40))
	}
	if !scopeDateRE.MatchString(p.scopeDate) || p.scopeDate != signedAt.UTC().Format("20060102") {
		return newError(CodeSignatureDoesNotMatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: %q != %q.", truncate(p.scopeDate, 20), signedAt.UTC().Format("20060102"))
	}
	if p.region != region {
		return newError(CodeSignatureDoesNotMatch, "Credential should be scoped to a valid region, not %q; the sandbox answers for %q.", truncate(p.region, 40), region)
	}
	if p.service != service {
		return newError(CodeSignatureDoesNotMatch, "Credential should be scoped to correct service: %q.", service)
	}
	return nil
}

// credentialFor looks up the key and checks the session token that came
// with it: session credentials need their own token and long-term keys none.
func (s *Service) credentialFor(accessKeyID, token string) (*credential, error) {
	c := s.lookupKey(accessKeyID)
	if c == nil {
		return nil, newError(CodeInvalidClientTokenID, "The security token included in the request is invalid.")
	}
	if c.sessionToken == "" {
		if token != "" {
			return nil, newError(CodeInvalidClientTokenID, "The security token included in the request is invalid.")
		}
		return c, nil
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(c.sessionToken)) != 1 {
		return nil, newError(CodeInvalidClientTokenID, "The security token included in the request is invalid.")
	}
	return c, nil
}

// callerFor finishes verification with the credential's expiry, which AWS
// checks once the signature is known to be genuine.
func (s *Service) callerFor(c *credential, p *authParams, signedAt time.Time, host string, params url.Values, now time.Time) (*Caller, error) {
	if !c.expiration.IsZero() && !now.Before(c.expiration) {
		return nil, newError(CodeExpiredToken, "The security token included in the request is expired")
	}
	return &Caller{
		AccessKeyID: c.accessKeyID, Account: c.account, ARN: c.arn, UserID: c.userID,
		RoleARN: c.roleARN, SessionName: c.sessionName, Expiration: c.expiration,
		Region: p.region, Service: p.service, SignedAt: signedAt, Host: host, Params: params,
	}, nil
}

// payloadHash decides the payload hash a client signed: the one it declared
// in X-Amz-Content-Sha256 (which must then match the body), or the body's.
func payloadHash(declared string, body []byte, service string) (string, error) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	switch {
	case declared == "":
		return actual, nil
	case declared == unsignedPayload && service == "s3":
		return declared, nil
	case declared == actual:
		return declared, nil
	default:
		return "", newError(CodeSignatureDoesNotMatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
}

// readBody reads r's body, bounded, and puts it back so it can be read again.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	r.Body.Close()
	if err != nil {
		return nil, newError(CodeIncompleteSignature, "The request body could not be read.")
	}
	if len(body) > maxBodyBytes {
		return nil, &Error{Code: "RequestEntityTooLarge", Message: "Request body is larger than 1 MiB.", Status: http.StatusRequestEntityTooLarge}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// truncate shortens attacker-supplied text before it is echoed in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
