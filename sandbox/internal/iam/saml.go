package iam

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// XML namespaces of SAML 2.0 and XML-DSig.
const (
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsXMLEnc    = "http://www.w3.org/2001/04/xmlenc#"
)

// Names AWS gives the SAML values it reads.
const (
	// SAMLRecipient is the ACS URL of AWS sign-in, which the assertion's
	// SubjectConfirmationData Recipient (and the Response's Destination)
	// must name.
	SAMLRecipient = "https://signin.aws.amazon.com/saml"
	// SAMLAudience is the audience AWS's SAML metadata declares.
	SAMLAudience = "urn:amazon:webservices"
	// Attribute names AWS reads from the AttributeStatement.
	SAMLAttrRole            = "https://aws.amazon.com/SAML/Attributes/Role"
	SAMLAttrRoleSessionName = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
	SAMLAttrSessionDuration = "https://aws.amazon.com/SAML/Attributes/SessionDuration"

	statusSuccess     = "urn:oasis:names:tc:SAML:2.0:status:Success"
	bearerMethod      = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	nameIDFormatSAML2 = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
	nameIDUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	// samlClockSkew is the tolerance on the assertion's validity window.
	samlClockSkew = 5 * time.Minute
	// maxMetadataBytes is IAM's limit on SAMLMetadataDocument.
	maxMetadataBytes = 10_000_000
)

// samlProvider is an IAM SAML provider and the IdP metadata it trusts.
type samlProvider struct {
	arn, account, name string
	entityID           string
	certs              []*x509.Certificate
}

// SAMLMetadata is what IAM keeps of an IdP metadata document.
type SAMLMetadata struct {
	EntityID string
	// Certificates are the IdP's signing certificates.
	Certificates []*x509.Certificate
}

// ParseSAMLMetadata reads SAML 2.0 IdP metadata: an EntityDescriptor (or an
// EntitiesDescriptor holding exactly one) with an IDPSSODescriptor whose
// signing KeyDescriptors carry X.509 certificates. Errors carry InvalidInput,
// IAM's answer to metadata it cannot use.
func ParseSAMLMetadata(data []byte) (*SAMLMetadata, error) {
	bad := func(format string, args ...any) error {
		return newError(CodeInvalidInput, "Could not parse metadata: "+format, args...)
	}
	if len(data) > maxMetadataBytes {
		return nil, bad("the document is larger than %d bytes", maxMetadataBytes)
	}
	doc, err := readXML(data)
	if err != nil {
		return nil, bad("%v", err)
	}
	ed := doc.Root()
	if ed == nil {
		return nil, bad("the document is empty")
	}
	if isEl(ed, nsMetadata, "EntitiesDescriptor") {
		var found []*etree.Element
		for _, c := range ed.ChildElements() {
			if isEl(c, nsMetadata, "EntityDescriptor") {
				found = append(found, c)
			}
		}
		if len(found) != 1 {
			return nil, bad("an EntitiesDescriptor must hold exactly one EntityDescriptor, found %d", len(found))
		}
		ed = found[0]
	}
	if !isEl(ed, nsMetadata, "EntityDescriptor") {
		return nil, bad("the root element must be md:EntityDescriptor in namespace %s", nsMetadata)
	}
	md := &SAMLMetadata{EntityID: strings.TrimSpace(ed.SelectAttrValue("entityID", ""))}
	if md.EntityID == "" {
		return nil, bad("EntityDescriptor has no entityID")
	}
	idp, err := onlyChild(ed, nsMetadata, "IDPSSODescriptor")
	if err != nil || idp == nil {
		return nil, bad("EntityDescriptor must hold exactly one IDPSSODescriptor")
	}
	for _, kd := range idp.ChildElements() {
		if !isEl(kd, nsMetadata, "KeyDescriptor") {
			continue
		}
		if use := kd.SelectAttrValue("use", ""); use != "" && use != "signing" {
			continue
		}
		for _, ki := range kd.ChildElements() {
			if !isEl(ki, nsDSig, "KeyInfo") {
				continue
			}
			for _, xd := range ki.ChildElements() {
				if !isEl(xd, nsDSig, "X509Data") {
					continue
				}
				for _, xc := range xd.ChildElements() {
					if !isEl(xc, nsDSig, "X509Certificate") {
						continue
					}
					text, err := strictText(xc)
					if err != nil {
						return nil, bad("X509Certificate: %v", err)
					}
					der, err := base64.StdEncoding.DecodeString(stripSpace(text))
					if err != nil {
						return nil, bad("X509Certificate is not base64")
					}
					cert, err := x509.ParseCertificate(der)
					if err != nil {
						return nil, bad("X509Certificate: %v", err)
					}
					md.Certificates = append(md.Certificates, cert)
				}
			}
		}
	}
	if len(md.Certificates) == 0 {
		return nil, bad("IDPSSODescriptor has no signing certificate")
	}
	return md, nil
}

// AddSAMLProviderMetadata makes arn a SAML provider trusting the IdP metadata
// document, as IAM's CreateSAMLProvider (or UpdateSAMLProvider, when the
// provider exists) does: assertions for it must then be issued by the
// metadata's entityID and signed with one of its signing certificates.
func (s *Service) AddSAMLProviderMetadata(arn string, metadata []byte) error {
	m := samlARNRE.FindStringSubmatch(arn)
	if m == nil {
		return newError(CodeValidationError, "%q is not a SAML provider ARN (arn:aws:iam::ACCOUNT:saml-provider/NAME).", arn)
	}
	if _, ok := s.accounts[m[1]]; !ok {
		return newError(CodeValidationError, "Account %s of %s is not a sandbox account.", m[1], arn)
	}
	md, err := ParseSAMLMetadata(metadata)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saml[arn] = &samlProvider{arn: arn, account: m[1], name: m[2], entityID: md.EntityID, certs: md.Certificates}
	return nil
}

// SAMLAssertion is what AWS reads from a verified SAML response.
type SAMLAssertion struct {
	Issuer       string
	NameID       string
	NameIDFormat string
	Audiences    []string
	Recipient    string
	IssueInstant time.Time
	NotBefore    time.Time // zero when absent
	NotOnOrAfter time.Time // the earliest of Conditions and SubjectConfirmationData; zero when absent
	// SessionNotOnOrAfter is the AuthnStatement's limit on the session.
	SessionNotOnOrAfter time.Time
	// Attributes maps each attribute Name to its values.
	Attributes map[string][]string
}

// samlRecipientOK accepts AWS's global sign-in ACS URL and its regional
// variants (https://REGION.signin.aws.amazon.com/saml).
func samlRecipientOK(v string) bool {
	if v == SAMLRecipient {
		return true
	}
	region, ok := strings.CutPrefix(v, "https://")
	if !ok {
		return false
	}
	region, ok = strings.CutSuffix(region, ".signin.aws.amazon.com/saml")
	return ok && regionRE.MatchString(region)
}

func samlAudienceOK(v string) bool { return v == SAMLAudience || v == SAMLRecipient }

func invalidToken(format string, args ...any) *Error {
	return newError(CodeInvalidIdentityToken, format, args...)
}

// verifySAMLResponse decodes a base64 SAMLResponse, checks its XML signature
// against the provider's certificates and returns the assertion read from the
// signed bytes only. Everything outside the verified element is used for
// refusals only, never for what the assertion says: this is what defeats
// signature wrapping (a second Assertion, an Assertion moved under a forged
// one, comments splitting NameID text).
func verifySAMLResponse(b64 string, p *samlProvider, now time.Time) (*SAMLAssertion, error) {
	_, a, err := verifySAMLElement(b64, p, now)
	return a, err
}

// verifySAMLElement is verifySAMLResponse that also returns the verified
// Assertion element, for the cache.
func verifySAMLElement(b64 string, p *samlProvider, now time.Time) (*etree.Element, *SAMLAssertion, error) {
	raw, err := base64.StdEncoding.DecodeString(stripSpace(b64))
	if err != nil {
		return nil, nil, invalidToken("Invalid base64 SAMLResponse.")
	}
	doc, err := readXML(raw)
	if err != nil {
		return nil, nil, invalidToken("The SAMLResponse is not well-formed XML.")
	}
	resp := doc.Root()
	if resp == nil || !isEl(resp, nsProtocol, "Response") {
		return nil, nil, invalidToken("The SAMLResponse root must be samlp:Response.")
	}
	if resp.SelectAttrValue("Version", "") != "2.0" {
		return nil, nil, invalidToken("The SAMLResponse must be SAML version 2.0.")
	}
	if dest := resp.SelectAttrValue("Destination", ""); dest != "" && !samlRecipientOK(dest) {
		return nil, nil, invalidToken("The SAMLResponse Destination %q is not %s.", truncate(dest, 100), SAMLRecipient)
	}
	if err := checkStatus(resp); err != nil {
		return nil, nil, err
	}

	// Exactly one Assertion, directly under Response, and nothing encrypted.
	var assertions []*etree.Element
	var encrypted bool
	walk(resp, func(el *etree.Element) {
		switch {
		case isEl(el, nsAssertion, "Assertion"):
			assertions = append(assertions, el)
		case isEl(el, nsAssertion, "EncryptedAssertion"), isEl(el, nsXMLEnc, "EncryptedData"):
			encrypted = true
		}
	})
	if encrypted {
		return nil, nil, invalidToken("Encrypted SAML assertions are not supported by the sandbox; configure the IdP to send the assertion unencrypted.")
	}
	if len(assertions) != 1 || assertions[0].Parent() != resp {
		return nil, nil, invalidToken("The SAMLResponse must contain exactly one Assertion, directly inside the Response.")
	}
	if len(p.certs) == 0 {
		return nil, nil, invalidToken("The SAML provider %s has no metadata; upload the IdP metadata first.", p.arn)
	}
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: p.certs})
	vctx.Clock = dsig.NewFakeClockAt(now)

	var assertion *etree.Element
	switch {
	case hasSignature(resp):
		verified, err := vctx.Validate(resp)
		if err != nil {
			return nil, nil, invalidToken("Response signature invalid")
		}
		var inner []*etree.Element
		walk(verified, func(el *etree.Element) {
			if isEl(el, nsAssertion, "Assertion") {
				inner = append(inner, el)
			}
		})
		if len(inner) != 1 || inner[0].Parent() != verified {
			return nil, nil, invalidToken("The signed Response must contain exactly one Assertion.")
		}
		assertion = inner[0]
		if hasSignature(assertion) {
			if assertion, err = validateDetached(vctx, assertion); err != nil {
				return nil, nil, err
			}
		}
		// The Response's own Issuer is covered by the signature here, so
		// it must agree with the provider too.
		iss, err := onlyChild(verified, nsAssertion, "Issuer")
		if err != nil {
			return nil, nil, invalidToken("The Response must have at most one Issuer.")
		}
		if iss != nil {
			if v, err := strictText(iss); err != nil || v != p.entityID {
				return nil, nil, invalidToken("Issuer not present in specified provider")
			}
		}
	case hasSignature(assertions[0]):
		if assertion, err = validateDetached(vctx, assertions[0]); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, invalidToken("Response signature invalid: neither the Response nor the Assertion is signed.")
	}
	a, err := readAssertion(assertion, p.entityID, now)
	if err != nil {
		return nil, nil, err
	}
	return assertion, a, nil
}

// validateDetached verifies an Assertion's enveloped signature. The element
// is first detached with the namespace declarations in scope at its
// position, as exclusive canonicalization at signing time saw them.
func validateDetached(vctx *dsig.ValidationContext, el *etree.Element) (*etree.Element, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, invalidToken("Response signature invalid")
	}
	detached, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, invalidToken("Response signature invalid")
	}
	verified, err := vctx.Validate(detached)
	if err != nil {
		return nil, invalidToken("Response signature invalid")
	}
	return verified, nil
}

// checkStatus refuses a Response whose status is not Success: the IdP
// itself said authentication failed.
func checkStatus(resp *etree.Element) error {
	st, err := onlyChild(resp, nsProtocol, "Status")
	if err != nil || st == nil {
		return invalidToken("The SAMLResponse must have exactly one Status.")
	}
	code, err := onlyChild(st, nsProtocol, "StatusCode")
	if err != nil || code == nil {
		return invalidToken("The SAMLResponse Status must have exactly one StatusCode.")
	}
	if v := code.SelectAttrValue("Value", ""); v != statusSuccess {
		return newError(CodeIDPRejectedClaim, "The identity provider reported that authentication failed (status %q).", truncate(v, 100))
	}
	return nil
}

// readAssertion reads and checks a verified Assertion element.
func readAssertion(a *etree.Element, entityID string, now time.Time) (*SAMLAssertion, error) {
	out := &SAMLAssertion{Attributes: map[string][]string{}}
	if a.SelectAttrValue("Version", "") != "2.0" {
		return nil, invalidToken("The Assertion must be SAML version 2.0.")
	}
	var err error
	if out.IssueInstant, err = parseSAMLTime(a.SelectAttrValue("IssueInstant", "")); err != nil {
		return nil, invalidToken("The Assertion IssueInstant is missing or invalid.")
	}
	if out.IssueInstant.After(now.Add(samlClockSkew)) {
		return nil, invalidToken("The Assertion was issued in the future (%s).", out.IssueInstant.Format(time.RFC3339))
	}

	iss, err := onlyChild(a, nsAssertion, "Issuer")
	if err != nil || iss == nil {
		return nil, invalidToken("The Assertion must have exactly one Issuer.")
	}
	if out.Issuer, err = strictText(iss); err != nil || out.Issuer != entityID {
		return nil, invalidToken("Issuer not present in specified provider")
	}

	// Conditions: validity window and audiences.
	cond, err := onlyChild(a, nsAssertion, "Conditions")
	if err != nil || cond == nil {
		return nil, invalidToken("The Assertion must have exactly one Conditions element.")
	}
	if v := cond.SelectAttrValue("NotBefore", ""); v != "" {
		if out.NotBefore, err = parseSAMLTime(v); err != nil {
			return nil, invalidToken("Conditions NotBefore is invalid.")
		}
		if now.Add(samlClockSkew).Before(out.NotBefore) {
			return nil, invalidToken("The SAML assertion is not yet valid (NotBefore %s).", out.NotBefore.Format(time.RFC3339))
		}
	}
	if v := cond.SelectAttrValue("NotOnOrAfter", ""); v != "" {
		if out.NotOnOrAfter, err = parseSAMLTime(v); err != nil {
			return nil, invalidToken("Conditions NotOnOrAfter is invalid.")
		}
	}
	restrictions := 0
	for _, ar := range cond.ChildElements() {
		if !isEl(ar, nsAssertion, "AudienceRestriction") {
			continue
		}
		restrictions++
		ok := false
		for _, au := range ar.ChildElements() {
			if !isEl(au, nsAssertion, "Audience") {
				continue
			}
			v, err := strictText(au)
			if err != nil {
				return nil, invalidToken("Audience: %v", err)
			}
			out.Audiences = append(out.Audiences, v)
			ok = ok || samlAudienceOK(v)
		}
		// Every AudienceRestriction must be satisfied (SAML core 2.5.1.4).
		if !ok {
			return nil, invalidToken("Response does not contain the required audience (%s).", SAMLAudience)
		}
	}
	if restrictions == 0 {
		return nil, invalidToken("Response does not contain the required audience (%s).", SAMLAudience)
	}

	// Subject: NameID and a bearer confirmation for AWS sign-in.
	subj, err := onlyChild(a, nsAssertion, "Subject")
	if err != nil || subj == nil {
		return nil, invalidToken("The Assertion must have exactly one Subject.")
	}
	nameID, err := onlyChild(subj, nsAssertion, "NameID")
	if err != nil || nameID == nil {
		return nil, invalidToken("The Subject must have exactly one NameID.")
	}
	if out.NameID, err = strictText(nameID); err != nil || out.NameID == "" {
		return nil, invalidToken("The NameID is empty or not plain text.")
	}
	out.NameIDFormat = nameID.SelectAttrValue("Format", nameIDUnspecified)
	confirmed := false
	var lastProblem *Error
	for _, sc := range subj.ChildElements() {
		if !isEl(sc, nsAssertion, "SubjectConfirmation") || sc.SelectAttrValue("Method", "") != bearerMethod {
			continue
		}
		scd, err := onlyChild(sc, nsAssertion, "SubjectConfirmationData")
		if err != nil || scd == nil {
			lastProblem = invalidToken("A bearer SubjectConfirmation must have exactly one SubjectConfirmationData.")
			continue
		}
		recipient := scd.SelectAttrValue("Recipient", "")
		if !samlRecipientOK(recipient) {
			lastProblem = invalidToken("The SubjectConfirmationData Recipient %q is not %s.", truncate(recipient, 100), SAMLRecipient)
			continue
		}
		notOnOrAfter, err := parseSAMLTime(scd.SelectAttrValue("NotOnOrAfter", ""))
		if err != nil {
			lastProblem = invalidToken("The SubjectConfirmationData NotOnOrAfter is missing or invalid.")
			continue
		}
		if out.NotOnOrAfter.IsZero() || notOnOrAfter.Before(out.NotOnOrAfter) {
			out.NotOnOrAfter = notOnOrAfter
		}
		out.Recipient = recipient
		confirmed = true
		break
	}
	if !confirmed {
		if lastProblem == nil {
			lastProblem = invalidToken("The Subject has no bearer SubjectConfirmation.")
		}
		return nil, lastProblem
	}
	if !out.NotOnOrAfter.IsZero() && !now.Add(-samlClockSkew).Before(out.NotOnOrAfter) {
		return nil, newError(CodeExpiredTokenException, "Response has expired (NotOnOrAfter %s).", out.NotOnOrAfter.Format(time.RFC3339))
	}

	// AuthnStatement's SessionNotOnOrAfter limits the session.
	for _, as := range a.ChildElements() {
		if !isEl(as, nsAssertion, "AuthnStatement") {
			continue
		}
		if v := as.SelectAttrValue("SessionNotOnOrAfter", ""); v != "" {
			t, err := parseSAMLTime(v)
			if err != nil {
				return nil, invalidToken("AuthnStatement SessionNotOnOrAfter is invalid.")
			}
			if out.SessionNotOnOrAfter.IsZero() || t.Before(out.SessionNotOnOrAfter) {
				out.SessionNotOnOrAfter = t
			}
		}
	}

	for _, st := range a.ChildElements() {
		if !isEl(st, nsAssertion, "AttributeStatement") {
			continue
		}
		for _, at := range st.ChildElements() {
			if !isEl(at, nsAssertion, "Attribute") {
				continue
			}
			name := at.SelectAttrValue("Name", "")
			for _, av := range at.ChildElements() {
				if !isEl(av, nsAssertion, "AttributeValue") {
					continue
				}
				v, err := strictText(av)
				if err != nil {
					return nil, invalidToken("Attribute %q: %v", truncate(name, 100), err)
				}
				out.Attributes[name] = append(out.Attributes[name], v)
			}
		}
	}
	return out, nil
}

// ParseSAMLResponse verifies a base64 SAMLResponse against IdP metadata the
// way AssumeRoleWithSAML does, and returns what the signed assertion says.
// It is exported for the sandbox's other parts and for tests.
func ParseSAMLResponse(b64 string, md *SAMLMetadata, now time.Time) (*SAMLAssertion, error) {
	return verifySAMLResponse(b64, &samlProvider{arn: "(metadata)", entityID: md.EntityID, certs: md.Certificates}, now)
}

// samlClaims is what AssumeRoleWithSAML derives from a verified assertion.
type samlClaims struct {
	assertion   *SAMLAssertion
	sessionName string
	// sessionDuration is the SessionDuration attribute; zero when absent.
	sessionDuration time.Duration
}

// checkSAMLClaims applies AWS's rules to the attributes: the Role attribute
// must pair roleARN with providerARN, and RoleSessionName must be present
// and well-formed.
func checkSAMLClaims(a *SAMLAssertion, roleARN, providerARN string) (*samlClaims, error) {
	c := &samlClaims{assertion: a}
	names := a.Attributes[SAMLAttrRoleSessionName]
	if len(names) == 0 {
		return nil, invalidToken("RoleSessionName is required in AuthnResponse")
	}
	if len(names) != 1 || !sessionNameRE.MatchString(names[0]) {
		return nil, invalidToken("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")
	}
	c.sessionName = names[0]
	if vals := a.Attributes[SAMLAttrSessionDuration]; len(vals) > 0 {
		secs, err := strconv.Atoi(vals[0])
		if len(vals) != 1 || err != nil || secs < 900 || secs > 43200 {
			return nil, invalidToken("SessionDuration in AuthnResponse must be a number of seconds from 900 to 43200.")
		}
		c.sessionDuration = time.Duration(secs) * time.Second
	}
	paired := false
	for _, v := range a.Attributes[SAMLAttrRole] {
		parts := strings.Split(v, ",")
		if len(parts) != 2 {
			continue
		}
		x, y := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		if (x == roleARN && y == providerARN) || (x == providerARN && y == roleARN) {
			paired = true
			break
		}
	}
	if !paired {
		return nil, newError(CodeAccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML")
	}
	return c, nil
}

// nameQualifier is AWS's documented hash identifying the federated user:
// base64(SHA1(Issuer + account id + "/" + provider name)).
func nameQualifier(issuer, account, providerName string) string {
	sum := sha1.Sum([]byte(issuer + account + "/" + providerName))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// subjectType is the NameID Format with the SAML 2.0 prefix removed.
func subjectType(format string) string {
	if rest, ok := strings.CutPrefix(format, nameIDFormatSAML2); ok {
		return rest
	}
	return format
}

// readXML parses a document, refusing DTDs: SAML forbids them and they are
// the door to entity-expansion attacks.
func readXML(data []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, err
	}
	for _, t := range doc.Child {
		if d, ok := t.(*etree.Directive); ok && strings.HasPrefix(strings.TrimSpace(d.Data), "DOCTYPE") {
			return nil, errors.New("DTDs are not allowed")
		}
	}
	if doc.Root() == nil {
		return nil, errors.New("no root element")
	}
	return doc, nil
}

func isEl(el *etree.Element, ns, tag string) bool {
	return el.Tag == tag && el.NamespaceURI() == ns
}

func hasSignature(el *etree.Element) bool {
	for _, c := range el.ChildElements() {
		if isEl(c, nsDSig, "Signature") {
			return true
		}
	}
	return false
}

// onlyChild returns el's single child ns:tag, nil when there is none, and an
// error when there are several: duplicates are how wrapping attacks hide a
// second value from one reader and show it to another.
func onlyChild(el *etree.Element, ns, tag string) (*etree.Element, error) {
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if isEl(c, ns, tag) {
			if found != nil {
				return nil, fmt.Errorf("more than one %s", tag)
			}
			found = c
		}
	}
	return found, nil
}

// walk calls fn for el and every element below it.
func walk(el *etree.Element, fn func(*etree.Element)) {
	fn(el)
	for _, c := range el.ChildElements() {
		walk(c, fn)
	}
}

// strictText returns all character data of a text-only element, trimmed.
// Concatenating every piece, rather than taking the first as etree's Text
// does, means a comment inside a value cannot cut it short.
func strictText(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, t := range el.Child {
		switch v := t.(type) {
		case *etree.CharData:
			b.WriteString(v.Data)
		case *etree.Element:
			return "", fmt.Errorf("<%s> must hold only text", el.Tag)
		}
	}
	return strings.TrimSpace(b.String()), nil
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
}

// parseSAMLTime reads an xs:dateTime in UTC as SAML requires.
func parseSAMLTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("missing time")
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
