package iam

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// STSNamespace is the XML namespace of STS query-protocol responses.
const STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// STSVersion is the only API version STS has.
const STSVersion = "2011-06-15"

// ParseQueryParams reads the parameters of a query-protocol request: the
// form-encoded body of a POST, or the query string of a GET. Each parameter
// may appear once. Errors carry MalformedQueryString or InvalidParameterValue.
func ParseQueryParams(method, rawQuery string, body []byte) (url.Values, error) {
	src := rawQuery
	if method == http.MethodPost {
		src = string(body)
	}
	params, err := url.ParseQuery(src)
	if err != nil {
		return nil, newError(CodeMalformedQueryString, "The request parameters are not valid form encoding.")
	}
	if method == http.MethodPost && rawQuery != "" {
		// A POST may still carry parameters in its URL; the body wins.
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, newError(CodeMalformedQueryString, "The query string is not valid form encoding.")
		}
		for k, v := range q {
			if _, ok := params[k]; !ok && !strings.HasPrefix(k, "X-Amz-") {
				params[k] = v
			}
		}
	}
	for k, v := range params {
		if len(v) > 1 {
			return nil, newError(CodeInvalidParameterValue, "Parameter %q is given more than once.", truncate(k, 100))
		}
	}
	return params, nil
}

// ServeHTTP answers query-protocol requests (STS) sent to the base URL.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	action, err := s.serve(w, r, reqID)
	if err != nil {
		e := asError(err)
		if e.Code == CodeInternalFailure {
			s.log.Error("sandbox sts: internal error", "action", action, "request_id", reqID, "err", err)
		}
		s.log.Info("sandbox sts: refused", "action", action, "code", e.Code, "message", e.Message, "request_id", reqID)
		writeError(w, e, reqID)
		return
	}
	s.log.Debug("sandbox sts: answered", "action", action, "request_id", reqID)
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, reqID string) (string, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return "", &Error{Code: "MethodNotAllowed", Message: "Query-protocol requests use GET or POST.", Status: http.StatusMethodNotAllowed}
	}
	body, err := readBody(r)
	if err != nil {
		return "", err
	}
	params, err := ParseQueryParams(r.Method, r.URL.RawQuery, body)
	if err != nil {
		return "", err
	}
	action := params.Get("Action")
	if action == "" {
		return "", newError(CodeMissingAction, "Missing Action")
	}
	version := params.Get("Version")
	if version == IAMVersion && action == "ListAccountAliases" {
		// IAM's query API shares the endpoint in the sandbox; this is the
		// one IAM call clients make (for profile names).
		result, err := s.listAccountAliases(r, reqID)
		if err != nil {
			return action, err
		}
		writeXML(w, http.StatusOK, result, reqID)
		return action, nil
	}
	if version != STSVersion {
		if version == "" {
			version = "NO_VERSION_SPECIFIED"
		}
		return action, newError(CodeInvalidAction, "Could not find operation %s for version %s", truncate(action, 100), truncate(version, 40))
	}
	var result any
	switch action {
	case "AssumeRoleWithSAML":
		result, err = s.assumeRoleWithSAML(params, reqID)
	case "AssumeRoleWithWebIdentity":
		result, err = s.assumeRoleWithWebIdentity(r, params, reqID)
	case "GetCallerIdentity":
		result, err = s.getCallerIdentity(r, reqID)
	default:
		err = newError(CodeInvalidAction, "Could not find operation %s for version %s", truncate(action, 100), version)
	}
	if err != nil {
		return action, err
	}
	writeXML(w, http.StatusOK, result, reqID)
	return action, nil
}

// XML shapes of STS responses.
type (
	xmlCredentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	xmlAssumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	}
	xmlResponseMetadata struct {
		RequestID string `xml:"RequestId"`
	}
	assumeRoleWithSAMLResponse struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithSAMLResponse"`
		Result  struct {
			Credentials      xmlCredentials     `xml:"Credentials"`
			AssumedRoleUser  xmlAssumedRoleUser `xml:"AssumedRoleUser"`
			Audience         string             `xml:"Audience"`
			Issuer           string             `xml:"Issuer"`
			Subject          string             `xml:"Subject"`
			SubjectType      string             `xml:"SubjectType"`
			NameQualifier    string             `xml:"NameQualifier"`
			PackedPolicySize int                `xml:"PackedPolicySize"`
			SessionTokenSize int                `xml:"SessionTokenSize"`
		} `xml:"AssumeRoleWithSAMLResult"`
		ResponseMetadata xmlResponseMetadata `xml:"ResponseMetadata"`
	}
	assumeRoleWithWebIdentityResponse struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
		Result  struct {
			Credentials                 xmlCredentials     `xml:"Credentials"`
			SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken"`
			AssumedRoleUser             xmlAssumedRoleUser `xml:"AssumedRoleUser"`
			Provider                    string             `xml:"Provider"`
			Audience                    string             `xml:"Audience"`
			PackedPolicySize            int                `xml:"PackedPolicySize"`
			SessionTokenSize            int                `xml:"SessionTokenSize"`
		} `xml:"AssumeRoleWithWebIdentityResult"`
		ResponseMetadata xmlResponseMetadata `xml:"ResponseMetadata"`
	}
	getCallerIdentityResponse struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
		Result  struct {
			Arn     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
		} `xml:"GetCallerIdentityResult"`
		ResponseMetadata xmlResponseMetadata `xml:"ResponseMetadata"`
	}
	errorResponse struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
		Error   struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}
)

func credentialsXML(c *credential) xmlCredentials {
	return xmlCredentials{
		AccessKeyID: c.accessKeyID, SecretAccessKey: c.secret, SessionToken: c.sessionToken,
		Expiration: c.expiration.UTC().Format("2006-01-02T15:04:05Z"),
	}
}

// validation returns the ValidationError AWS's request validation produces.
func validation(field, constraint string, value any) *Error {
	if value == nil {
		return newError(CodeValidationError, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return newError(CodeValidationError, "1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}

// stringParam reads a required (or optional) string parameter with the
// length limits of the STS API model.
func stringParam(params url.Values, name, field string, required bool, minLen, maxLen int) (string, error) {
	v, ok := params[name]
	if !ok {
		if required {
			return "", validation(field, "", nil)
		}
		return "", nil
	}
	if n := len(v[0]); n < minLen || n > maxLen {
		shown := v[0]
		if len(shown) > 64 {
			shown = "…" // assertions and tokens are not echoed back
		}
		return "", validation(field, "Member must have length between "+strconv.Itoa(minLen)+" and "+strconv.Itoa(maxLen), shown)
	}
	return v[0], nil
}

// durationParam reads DurationSeconds (default one hour, 900..43200).
func durationParam(params url.Values) (time.Duration, error) {
	v, ok := params["DurationSeconds"]
	if !ok {
		return time.Hour, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return 0, newError(CodeValidationError, "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be an integer", truncate(v[0], 20))
	}
	if n < 900 {
		return 0, validation("durationSeconds", "Member must have value greater than or equal to 900", n)
	}
	if n > 43200 {
		return 0, validation("durationSeconds", "Member must have value less than or equal to 43200", n)
	}
	return time.Duration(n) * time.Second, nil
}

// packedPolicySize checks the optional session policy and reports its size
// as the percentage of the packed limit, as AWS does.
func packedPolicySize(params url.Values) (int, error) {
	policy, err := stringParam(params, "Policy", "policy", false, 1, 2048)
	if err != nil {
		return 0, err
	}
	if policy == "" {
		return 0, nil
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return 0, newError(CodeMalformedPolicy, "The policy is not valid JSON.")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(policy)); err != nil {
		return 0, newError(CodeMalformedPolicy, "The policy is not valid JSON.")
	}
	return (compact.Len()*100 + 2047) / 2048, nil
}

func (s *Service) assumeRoleWithSAML(params url.Values, reqID string) (any, error) {
	roleARN, err := stringParam(params, "RoleArn", "roleArn", true, 20, 2048)
	if err != nil {
		return nil, err
	}
	principalARN, err := stringParam(params, "PrincipalArn", "principalArn", true, 20, 2048)
	if err != nil {
		return nil, err
	}
	assertionB64, err := stringParam(params, "SAMLAssertion", "sAMLAssertion", true, 4, 100000)
	if err != nil {
		return nil, err
	}
	requested, err := durationParam(params)
	if err != nil {
		return nil, err
	}
	packed, err := packedPolicySize(params)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	provider := s.saml[principalARN]
	s.mu.RUnlock()
	if provider == nil {
		return nil, invalidToken("Specified provider doesn't exist")
	}
	now := s.clock.Now()
	assertion, err := s.verified.verify(assertionB64, provider, now)
	if err != nil {
		return nil, err
	}
	claims, err := checkSAMLClaims(assertion, roleARN, principalARN)
	if err != nil {
		return nil, err
	}
	ro := s.roles[roleARN]
	if ro == nil || !ro.samlTrust[principalARN] {
		return nil, newError(CodeAccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML")
	}
	if requested > ro.maxSession {
		return nil, newError(CodeValidationError, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	expires := now.Add(requested)
	if claims.sessionDuration > 0 && now.Add(claims.sessionDuration).Before(expires) {
		expires = now.Add(claims.sessionDuration)
	}
	if t := assertion.SessionNotOnOrAfter; !t.IsZero() && t.Before(expires) {
		expires = t
	}
	if !expires.After(now) {
		return nil, newError(CodeExpiredTokenException, "The SAML session expired (SessionNotOnOrAfter %s).", assertion.SessionNotOnOrAfter.Format(time.RFC3339))
	}
	c := s.issue(ro, claims.sessionName, expires)
	s.log.Info("sandbox sts: AssumeRoleWithSAML", "role", ro.arn, "session", claims.sessionName, "subject", assertion.NameID, "expires", c.expiration)

	var out assumeRoleWithSAMLResponse
	out.Result.Credentials = credentialsXML(c)
	out.Result.AssumedRoleUser = xmlAssumedRoleUser{AssumedRoleID: c.userID, Arn: c.arn}
	out.Result.Audience = assertion.Recipient
	out.Result.Issuer = assertion.Issuer
	out.Result.Subject = assertion.NameID
	out.Result.SubjectType = subjectType(assertion.NameIDFormat)
	out.Result.NameQualifier = nameQualifier(assertion.Issuer, provider.account, provider.name)
	out.Result.PackedPolicySize = packed
	out.Result.SessionTokenSize = len(c.sessionToken)
	out.ResponseMetadata.RequestID = reqID
	return out, nil
}

func (s *Service) assumeRoleWithWebIdentity(r *http.Request, params url.Values, reqID string) (any, error) {
	roleARN, err := stringParam(params, "RoleArn", "roleArn", true, 20, 2048)
	if err != nil {
		return nil, err
	}
	sessionName, err := stringParam(params, "RoleSessionName", "roleSessionName", true, 2, 64)
	if err != nil {
		return nil, err
	}
	if !sessionNameRE.MatchString(sessionName) {
		return nil, validation("roleSessionName", "Member must satisfy regular expression pattern: [\\w+=,.@-]*", sessionName)
	}
	token, err := stringParam(params, "WebIdentityToken", "webIdentityToken", true, 4, 20000)
	if err != nil {
		return nil, err
	}
	requested, err := durationParam(params)
	if err != nil {
		return nil, err
	}
	packed, err := packedPolicySize(params)
	if err != nil {
		return nil, err
	}
	if params.Get("ProviderId") != "" {
		return nil, invalidToken("ProviderId is only for OAuth 2.0 providers, which the sandbox does not have; omit it for OpenID Connect tokens.")
	}
	ro := s.roles[roleARN]
	now := s.clock.Now()
	wi, err := s.verifyWebIdentity(r.Context(), token, ro, now)
	if err != nil {
		return nil, err
	}
	if ro == nil || !ro.oidcTrust[wi.provider.arn] {
		return nil, newError(CodeAccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	}
	if requested > ro.maxSession {
		return nil, newError(CodeValidationError, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	c := s.issue(ro, sessionName, now.Add(requested))
	s.log.Info("sandbox sts: AssumeRoleWithWebIdentity", "role", ro.arn, "session", sessionName, "subject", wi.subject, "expires", c.expiration)

	var out assumeRoleWithWebIdentityResponse
	out.Result.Credentials = credentialsXML(c)
	out.Result.SubjectFromWebIdentityToken = wi.subject
	out.Result.AssumedRoleUser = xmlAssumedRoleUser{AssumedRoleID: c.userID, Arn: c.arn}
	out.Result.Provider = wi.provider.arn
	out.Result.Audience = wi.audience
	out.Result.PackedPolicySize = packed
	out.Result.SessionTokenSize = len(c.sessionToken)
	out.ResponseMetadata.RequestID = reqID
	return out, nil
}

func (s *Service) getCallerIdentity(r *http.Request, reqID string) (any, error) {
	caller, err := s.Authenticate(r, "sts")
	if err != nil {
		return nil, err
	}
	var out getCallerIdentityResponse
	out.Result.Arn = caller.ARN
	out.Result.UserID = caller.UserID
	out.Result.Account = caller.Account
	out.ResponseMetadata.RequestID = reqID
	return out, nil
}

// IAMVersion is the IAM query API version.
const IAMVersion = "2010-05-08"

type listAccountAliasesResponse struct {
	XMLName xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ ListAccountAliasesResponse"`
	Result  struct {
		IsTruncated    bool     `xml:"IsTruncated"`
		AccountAliases []string `xml:"AccountAliases>member"`
	} `xml:"ListAccountAliasesResult"`
	ResponseMetadata xmlResponseMetadata `xml:"ResponseMetadata"`
}

// listAccountAliases answers IAM ListAccountAliases for the caller's
// account: its alias, or none.
func (s *Service) listAccountAliases(r *http.Request, reqID string) (any, error) {
	caller, err := s.Authenticate(r, "iam")
	if err != nil {
		return nil, err
	}
	var out listAccountAliasesResponse
	if a := s.accounts[caller.Account].Alias; a != "" {
		out.Result.AccountAliases = []string{a}
	}
	out.ResponseMetadata.RequestID = reqID
	return out, nil
}

func writeXML(w http.ResponseWriter, status int, v any, reqID string) {
	body, err := xml.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`<ErrorResponse xmlns="` + STSNamespace + `"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>response encoding failed</Message></Error><RequestId>` + reqID + `</RequestId></ErrorResponse>`)
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes a query-protocol ErrorResponse.
func writeError(w http.ResponseWriter, e *Error, reqID string) {
	var out errorResponse
	out.Error.Type = e.Fault()
	out.Error.Code = e.Code
	out.Error.Message = e.Message
	out.RequestID = reqID
	writeXML(w, e.Status, out, reqID)
}
