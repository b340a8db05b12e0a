package saml

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/oktafed/oktafed/internal/lazyregexp"
)

// SAML 2.0 namespaces and the AWS attribute names Okta's AWS app sends.
const (
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	statusOK    = "urn:oasis:names:tc:SAML:2.0:status:Success"

	AttrRole            = "https://aws.amazon.com/SAML/Attributes/Role"
	AttrRoleSessionName = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
	AttrSessionDuration = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
)

// Role is one IAM role the assertion lets the user assume, with the SAML
// provider AWS must name in AssumeRoleWithSAML.
type Role struct {
	RoleARN      string // arn:aws:iam::123456789012:role/path/Name
	PrincipalARN string // arn:aws:iam::123456789012:saml-provider/Okta
	AccountID    string // 123456789012
	RoleName     string // the last part of the role's path: Name
	Partition    string // aws, aws-cn or aws-us-gov
}

// Assertion is what a client needs from a SAML response.
type Assertion struct {
	// Raw is the base64 SAMLResponse exactly as AWS STS wants it.
	Raw string
	// RelayState came with the form, when there was one.
	RelayState string

	Issuer       string
	NameID       string
	Audiences    []string
	Destination  string
	NotBefore    time.Time // zero when absent
	NotOnOrAfter time.Time // the earliest limit in the assertion; zero when absent

	Roles           []Role
	RoleSessionName string
	// SessionDuration is the AWS session length the app asks for; zero when
	// the attribute is absent.
	SessionDuration time.Duration
	// Attributes holds every attribute's values by name.
	Attributes map[string][]string
	// Problems lists role entries and attributes that were present but
	// unusable. They did not stop parsing; show them when a role the user
	// expected is missing.
	Problems []string
}

// ErrNoRoles means the assertion names no AWS role.
var ErrNoRoles = errors.New("the Okta app assigned you no AWS roles: ask your Okta admin to assign you (or a group of yours) a role in the AWS app")

// ErrEncrypted means the app encrypts its assertions, so a client cannot see
// the roles. The response may still work with STS if the role is known.
var ErrEncrypted = errors.New("the Okta app sends an encrypted SAML assertion, so oktafed cannot list its roles: set the role ARN explicitly, or ask your Okta admin to turn off assertion encryption for the AWS app")

// StatusError is a SAML response whose status is not Success.
type StatusError struct {
	Code    string // e.g. urn:oasis:names:tc:SAML:2.0:status:Responder
	SubCode string
	Message string
}

func (e *StatusError) Error() string {
	msg := "the SAML response reports failure (" + short(e.Code)
	if e.SubCode != "" {
		msg += "/" + short(e.SubCode)
	}
	msg += ")"
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

func short(urn string) string {
	if i := strings.LastIndexByte(urn, ':'); i >= 0 {
		return urn[i+1:]
	}
	return urn
}

// FromPage parses an Okta app page and the assertion in its form.
func FromPage(page []byte) (*Assertion, error) {
	form, err := ParseForm(page)
	if err != nil {
		return nil, err
	}
	a, err := Decode(form.SAMLResponse)
	if a != nil {
		a.RelayState = form.RelayState
	}
	return a, err
}

// Decode reads a base64 SAMLResponse. On ErrNoRoles and ErrEncrypted it
// still returns the Assertion, with what could be read.
func Decode(samlResponse string) (*Assertion, error) {
	raw := stripSpace(samlResponse)
	if raw == "" {
		return nil, errors.New("the SAMLResponse is empty")
	}
	if base64.StdEncoding.DecodedLen(len(raw)) > MaxResponseSize {
		return nil, fmt.Errorf("the SAMLResponse is larger than %d bytes: refusing to read it", MaxResponseSize)
	}
	xml, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		// Some proxies drop the padding; accept that, nothing else.
		var err2 error
		xml, err2 = base64.RawStdEncoding.DecodeString(strings.TrimRight(raw, "="))
		if err2 != nil {
			return nil, fmt.Errorf("the SAMLResponse is not valid base64: %w", err)
		}
	}
	a, err := Parse(xml)
	if a != nil {
		a.Raw = raw
	}
	return a, err
}

// Parse reads a decoded SAML response document. Documents with a DOCTYPE
// are refused outright: a SAML response never needs one, and refusing it
// rules out entity tricks.
func Parse(xml []byte) (*Assertion, error) {
	if len(xml) > MaxResponseSize {
		return nil, fmt.Errorf("the SAML response is larger than %d bytes: refusing to read it", MaxResponseSize)
	}
	if bytes.Contains(xml, []byte("<!")) && hasDirective(xml) {
		return nil, errors.New("the SAML response contains a DOCTYPE or other XML declaration, which SAML never uses: refusing to read it")
	}
	if err := wellFormed(xml); err != nil {
		return nil, fmt.Errorf("the SAML response is not well-formed XML: %w", err)
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		MaxDepth: maxDepth,
		// SAML responses are UTF-8; a declared legacy charset is a sign of
		// something else.
		CharsetReader: refuseCharset,
	}
	if err := doc.ReadFromBytes(xml); err != nil {
		return nil, fmt.Errorf("the SAML response is not well-formed XML: %w", err)
	}
	if directiveIn(&doc.Element) {
		return nil, errors.New("the SAML response contains a DOCTYPE or other XML declaration, which SAML never uses: refusing to read it")
	}
	root := doc.Root()
	if root == nil || !is(root, nsProtocol, "Response") {
		return nil, errors.New("the decoded SAMLResponse is not a SAML 2.0 Response")
	}

	a := &Assertion{Attributes: map[string][]string{}, Destination: root.SelectAttrValue("Destination", "")}
	if st := child(root, nsProtocol, "Status"); st != nil {
		if code := child(st, nsProtocol, "StatusCode"); code != nil {
			if v := code.SelectAttrValue("Value", ""); v != statusOK {
				se := &StatusError{Code: v}
				if sub := child(code, nsProtocol, "StatusCode"); sub != nil {
					se.SubCode = sub.SelectAttrValue("Value", "")
				}
				if m := child(st, nsProtocol, "StatusMessage"); m != nil {
					se.Message = shorten(collapse(m.Text()))
				}
				return nil, se
			}
		}
	}
	if iss := child(root, nsAssertion, "Issuer"); iss != nil {
		a.Issuer = strings.TrimSpace(iss.Text())
	}

	assertions := children(root, nsAssertion, "Assertion")
	if len(assertions) == 0 {
		if child(root, nsAssertion, "EncryptedAssertion") != nil {
			return a, ErrEncrypted
		}
		return nil, errors.New("the SAML response holds no assertion")
	}
	if len(assertions) > 1 {
		return nil, fmt.Errorf("the SAML response holds %d assertions where one is expected: refusing to guess", len(assertions))
	}
	as := assertions[0]
	if iss := child(as, nsAssertion, "Issuer"); iss != nil {
		a.Issuer = strings.TrimSpace(iss.Text())
	}

	var limits []time.Time
	if subj := child(as, nsAssertion, "Subject"); subj != nil {
		if id := child(subj, nsAssertion, "NameID"); id != nil {
			a.NameID = strings.TrimSpace(id.Text())
		}
		for _, sc := range children(subj, nsAssertion, "SubjectConfirmation") {
			if d := child(sc, nsAssertion, "SubjectConfirmationData"); d != nil {
				if t, ok := a.timeAttr(d, "NotOnOrAfter"); ok {
					limits = append(limits, t)
				}
			}
		}
	}
	if c := child(as, nsAssertion, "Conditions"); c != nil {
		if t, ok := a.timeAttr(c, "NotBefore"); ok {
			a.NotBefore = t
		}
		if t, ok := a.timeAttr(c, "NotOnOrAfter"); ok {
			limits = append(limits, t)
		}
		for _, ar := range children(c, nsAssertion, "AudienceRestriction") {
			for _, au := range children(ar, nsAssertion, "Audience") {
				a.Audiences = append(a.Audiences, strings.TrimSpace(au.Text()))
			}
		}
	}
	for _, t := range limits {
		if a.NotOnOrAfter.IsZero() || t.Before(a.NotOnOrAfter) {
			a.NotOnOrAfter = t
		}
	}

	for _, st := range children(as, nsAssertion, "AttributeStatement") {
		for _, at := range children(st, nsAssertion, "Attribute") {
			name := at.SelectAttrValue("Name", "")
			for _, v := range children(at, nsAssertion, "AttributeValue") {
				a.Attributes[name] = append(a.Attributes[name], strings.TrimSpace(v.Text()))
			}
		}
	}
	if v := a.Attributes[AttrRoleSessionName]; len(v) > 0 {
		a.RoleSessionName = v[0]
	}
	if v := a.Attributes[AttrSessionDuration]; len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n <= 0 {
			a.Problems = append(a.Problems, fmt.Sprintf("SessionDuration %q is not a positive number of seconds; ignored", v[0]))
		} else {
			a.SessionDuration = time.Duration(n) * time.Second
		}
	}

	seen := map[string]bool{}
	for _, v := range a.Attributes[AttrRole] {
		r, err := ParseRole(v)
		if err != nil {
			a.Problems = append(a.Problems, err.Error())
			continue
		}
		if !seen[r.RoleARN] {
			seen[r.RoleARN] = true
			a.Roles = append(a.Roles, r)
		}
	}
	sort.SliceStable(a.Roles, func(i, j int) bool {
		if a.Roles[i].AccountID != a.Roles[j].AccountID {
			return a.Roles[i].AccountID < a.Roles[j].AccountID
		}
		return a.Roles[i].RoleName < a.Roles[j].RoleName
	})
	if len(a.Roles) == 0 {
		if len(a.Problems) > 0 {
			return a, fmt.Errorf("%w (the app sent role entries oktafed could not read: %s)", ErrNoRoles, strings.Join(a.Problems, "; "))
		}
		return a, ErrNoRoles
	}
	return a, nil
}

// maxDepth bounds element nesting; a SAML response needs about ten levels.
const maxDepth = 64

func refuseCharset(charset string, _ io.Reader) (io.Reader, error) {
	return nil, fmt.Errorf("unsupported encoding %q", charset)
}

// wellFormed checks doc is one XML document: a prolog, exactly one root
// element, and after it only what XML allows there (whitespace, comments,
// processing instructions). etree's own ValidateInput refuses even the
// newline a pretty-printing IdP or proxy leaves after the root element,
// so the check is done here with encoding/xml in strict mode.
func wellFormed(doc []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	dec.CharsetReader = refuseCharset
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return errors.New("more than one root element")
				}
			}
			depth++
			if depth > maxDepth {
				return fmt.Errorf("elements nested deeper than %d", maxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.Trim(t, " \t\r\n")) > 0 {
				return errors.New("text outside the root element")
			}
		case xml.Directive:
			return errors.New("a DOCTYPE or other declaration")
		}
	}
	if roots == 0 || depth != 0 {
		return errors.New("no complete root element")
	}
	return nil
}

// timeAttr reads an xs:dateTime attribute, noting unreadable ones.
func (a *Assertion) timeAttr(e *etree.Element, name string) (time.Time, bool) {
	v := e.SelectAttrValue(name, "")
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		a.Problems = append(a.Problems, fmt.Sprintf("%s %s=%q is not a timestamp; ignored", e.Tag, name, v))
		return time.Time{}, false
	}
	return t.UTC(), true
}

// Expired reports whether the assertion can no longer be presented at now.
func (a *Assertion) Expired(now time.Time) bool {
	return !a.NotOnOrAfter.IsZero() && !now.Before(a.NotOnOrAfter)
}

// Role returns the role whose ARN is arn, or whose name is arn when exactly
// one role has that name.
func (a *Assertion) Role(arnOrName string) (Role, bool) {
	var byName []Role
	for _, r := range a.Roles {
		if r.RoleARN == arnOrName {
			return r, true
		}
		if r.RoleName == arnOrName {
			byName = append(byName, r)
		}
	}
	if len(byName) == 1 {
		return byName[0], true
	}
	return Role{}, false
}

var (
	roleARN     = lazyregexp.New(`^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role/([\x21-\x7e]+)$`)
	providerARN = lazyregexp.New(`^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):saml-provider/([\x21-\x7e]+)$`)
)

// ParseRole reads one value of the AWS Role attribute: a role ARN and a
// SAML provider ARN separated by a comma, in either order.
func ParseRole(value string) (Role, error) {
	parts := strings.Split(value, ",")
	if len(parts) != 2 {
		return Role{}, fmt.Errorf("role entry %q is not \"role ARN,provider ARN\"", value)
	}
	first, second := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
	if providerARN.MatchString(first) {
		first, second = second, first
	}
	rm := roleARN.FindStringSubmatch(first)
	pm := providerARN.FindStringSubmatch(second)
	switch {
	case rm == nil && pm == nil:
		return Role{}, fmt.Errorf("role entry %q has neither an IAM role ARN nor a SAML provider ARN in the aws, aws-cn or aws-us-gov partition", value)
	case rm == nil:
		return Role{}, fmt.Errorf("role entry %q has no IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)", value)
	case pm == nil:
		return Role{}, fmt.Errorf("role entry %q has no SAML provider ARN (arn:PARTITION:iam::ACCOUNT:saml-provider/NAME)", value)
	case rm[1] != pm[1] || rm[2] != pm[2]:
		return Role{}, fmt.Errorf("role entry %q pairs a role and a provider from different accounts or partitions; AWS will refuse it", value)
	}
	path := rm[3]
	name := path[strings.LastIndexByte(path, '/')+1:]
	if name == "" {
		return Role{}, fmt.Errorf("role entry %q has a role ARN with no role name", value)
	}
	return Role{RoleARN: first, PrincipalARN: second, AccountID: rm[2], RoleName: name, Partition: rm[1]}, nil
}

// is reports whether e is the element space:local. An element with no
// namespace at all is accepted too: some hand-written fixtures and older
// tools omit it, and nothing here depends on the distinction.
func is(e *etree.Element, space, local string) bool {
	if e.Tag != local {
		return false
	}
	ns := e.NamespaceURI()
	return ns == space || ns == ""
}

func child(e *etree.Element, space, local string) *etree.Element {
	for _, c := range e.ChildElements() {
		if is(c, space, local) {
			return c
		}
	}
	return nil
}

func children(e *etree.Element, space, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if is(c, space, local) {
			out = append(out, c)
		}
	}
	return out
}

// hasDirective is a cheap pre-check for "<!" outside comments and CDATA.
func hasDirective(xml []byte) bool {
	for i := 0; ; {
		j := bytes.Index(xml[i:], []byte("<!"))
		if j < 0 {
			return false
		}
		rest := xml[i+j:]
		if !bytes.HasPrefix(rest, []byte("<!--")) && !bytes.HasPrefix(rest, []byte("<![CDATA[")) {
			return true
		}
		i += j + 2
	}
}

func directiveIn(e *etree.Element) bool {
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Directive:
			return true
		case *etree.Element:
			if directiveIn(t) {
				return true
			}
		}
	}
	return false
}
