package saml

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// responseOpts shapes a test SAML response. Fixtures are built here rather
// than stored so each test shows exactly what it varies.
type responseOpts struct {
	roles        []string
	extraAttrs   string
	status       string
	statusMsg    string
	assertion    string // replaces the whole assertion when set
	notOnOrAfter string
	confirmUntil string
	duration     string
	noNamespace  bool
}

func buildResponse(o responseOpts) string {
	if o.status == "" {
		o.status = "urn:oasis:names:tc:SAML:2.0:status:Success"
	}
	if o.notOnOrAfter == "" {
		o.notOnOrAfter = "2026-01-02T03:10:00.000Z"
	}
	if o.confirmUntil == "" {
		o.confirmUntil = "2026-01-02T03:09:00.000Z"
	}
	if o.duration == "" {
		o.duration = "3600"
	}
	var vals strings.Builder
	for _, r := range o.roles {
		fmt.Fprintf(&vals, `<saml2:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">%s</saml2:AttributeValue>`, r)
	}
	as := o.assertion
	if as == "" {
		as = `<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="id2" IssueInstant="2026-01-02T03:04:05.000Z" Version="2.0">
  <saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">http://www.okta.com/exk1demo</saml2:Issuer>
  <saml2:Subject>
    <saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">demo@example.com</saml2:NameID>
    <saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml2:SubjectConfirmationData NotOnOrAfter="` + o.confirmUntil + `" Recipient="https://signin.aws.amazon.com/saml"/>
    </saml2:SubjectConfirmation>
  </saml2:Subject>
  <saml2:Conditions NotBefore="2026-01-02T02:59:05.000Z" NotOnOrAfter="` + o.notOnOrAfter + `">
    <saml2:AudienceRestriction><saml2:Audience>urn:amazon:webservices</saml2:Audience></saml2:AudienceRestriction>
  </saml2:Conditions>
  <saml2:AttributeStatement>
    <saml2:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">` + vals.String() + `</saml2:Attribute>
    <saml2:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml2:AttributeValue>demo@example.com</saml2:AttributeValue></saml2:Attribute>
    <saml2:Attribute Name="https://aws.amazon.com/SAML/Attributes/SessionDuration"><saml2:AttributeValue>` + o.duration + `</saml2:AttributeValue></saml2:Attribute>
    ` + o.extraAttrs + `
  </saml2:AttributeStatement>
</saml2:Assertion>`
	}
	doc := `<?xml version="1.0" encoding="UTF-8"?><saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" Destination="https://signin.aws.amazon.com/saml" ID="id1" IssueInstant="2026-01-02T03:04:05.000Z" Version="2.0">
  <saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">http://www.okta.com/exk1demo</saml2:Issuer>
  <saml2p:Status><saml2p:StatusCode Value="` + o.status + `"/>` + o.statusMsg + `</saml2p:Status>
  ` + as + `
</saml2p:Response>`
	if o.noNamespace {
		for _, p := range []string{"saml2p:", "saml2:"} {
			doc = strings.ReplaceAll(doc, p, "")
		}
		doc = strings.NewReplacer(` xmlns="urn:oasis:names:tc:SAML:2.0:protocol"`, "", ` xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol"`, "", ` xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"`, "").Replace(doc)
	}
	return doc
}

const (
	devRole   = "arn:aws:iam::111111111111:role/Developer"
	devIdP    = "arn:aws:iam::111111111111:saml-provider/Okta"
	adminRole = "arn:aws:iam::222222222222:role/team/Admin"
	adminIdP  = "arn:aws:iam::222222222222:saml-provider/Okta"
)

func encode(xml string) string { return base64.StdEncoding.EncodeToString([]byte(xml)) }

// page wraps a response in the kind of auto-post page Okta serves.
func page(samlResponse, relay string) string {
	return `<!DOCTYPE html>
<html><head><title>Example Org - Signing in...</title></head>
<body onload="document.forms[0].submit()">
<form id="appForm" action="https&#x3a;&#x2f;&#x2f;signin.aws.amazon.com&#x2f;saml" method="POST">
  <input name="SAMLResponse" type="hidden" value="` + html.EscapeString(samlResponse) + `"/>
  <input name="RelayState" type="hidden" value="` + html.EscapeString(relay) + `"/>
</form></body></html>`
}

func TestParseFormVariants(t *testing.T) {
	resp := encode(buildResponse(responseOpts{roles: []string{devRole + "," + devIdP}}))
	wrapped := resp[:40] + "\n   " + resp[40:]
	tests := []struct {
		name, page, wantAction, wantRelay string
	}{
		{"okta style", page(resp, ""), "https://signin.aws.amazon.com/saml", ""},
		{"relay state", page(resp, "https://console.aws.amazon.com/?a=1&b=2"), "https://signin.aws.amazon.com/saml", "https://console.aws.amazon.com/?a=1&b=2"},
		{"attribute order and case", `<FORM METHOD=post ACTION='https://signin.aws.amazon.com/saml'><INPUT VALUE="` + resp + `" TYPE=hidden NAME=SAMLResponse></FORM>`, "https://signin.aws.amazon.com/saml", ""},
		{"lower-case name", `<form action="/acs"><input type="hidden" name="samlresponse" value="` + resp + `"></form>`, "/acs", ""},
		{"value wrapped over lines", `<form action="/acs"><input name="SAMLResponse" value="` + wrapped + `"></form>`, "/acs", ""},
		{"input outside form after parser repair", `<table><form action="/acs"><tr><td><input name="SAMLResponse" value="` + resp + `"></td></tr></form></table>`, "/acs", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseForm([]byte(tt.page))
			if err != nil {
				t.Fatal(err)
			}
			if f.SAMLResponse != resp {
				t.Errorf("SAMLResponse differs from what was embedded")
			}
			if f.Action != tt.wantAction || f.RelayState != tt.wantRelay {
				t.Errorf("Action, RelayState = %q, %q; want %q, %q", f.Action, f.RelayState, tt.wantAction, tt.wantRelay)
			}
		})
	}
}

func TestParseFormFailures(t *testing.T) {
	tests := []struct {
		name string
		page []byte
		is   error
		want string
	}{
		{"sign-in page", readFile(t, "signin.html"), ErrSignInPage, "sign in again"},
		{"not assigned", readFile(t, "notassigned.html"), nil, "not assigned this app"},
		{"unrelated page", readFile(t, "plain.html"), ErrNoForm, "embed link"},
		{"titled error page", []byte(`<html><head><title>403 - Forbidden - Org</title></head><body><h1>403 - Forbidden</h1><p>You do not have permission to access this application.</p></body></html>`), nil, "403 - Forbidden You do not have permission to access this application."},
		{"empty value", []byte(`<form><input name="SAMLResponse" value=""></form>`), nil, "empty"},
		{"two values", []byte(`<form><input name="SAMLResponse" value="QUFB"><input name="SAMLResponse" value="QkJC"></form>`), nil, "two different"},
		{"too big", make([]byte, MaxPageSize+1), nil, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseForm(tt.page)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
	var pe *PageError
	if _, err := ParseForm(readFile(t, "notassigned.html")); !errors.As(err, &pe) || !strings.HasPrefix(pe.Message, "Sorry, you can't access Amazon Web Services") {
		t.Errorf("PageError = %#v", pe)
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFromPageReadsEverything(t *testing.T) {
	xml := buildResponse(responseOpts{roles: []string{
		devIdP + "," + devRole,                  // provider first
		" " + adminRole + ", " + adminIdP + " ", // spaces around
		devRole + "," + devIdP,                  // duplicate
		"arn:aws-cn:iam::333333333333:role/CN,arn:aws-cn:iam::333333333333:saml-provider/Okta",
		"arn:aws-us-gov:iam::444444444444:role/Gov,arn:aws-us-gov:iam::444444444444:saml-provider/Okta",
	}})
	a, err := FromPage([]byte(page(encode(xml), "relay")))
	if err != nil {
		t.Fatal(err)
	}
	want := []Role{
		{RoleARN: devRole, PrincipalARN: devIdP, AccountID: "111111111111", RoleName: "Developer", Partition: "aws"},
		{RoleARN: adminRole, PrincipalARN: adminIdP, AccountID: "222222222222", RoleName: "Admin", Partition: "aws"},
		{RoleARN: "arn:aws-cn:iam::333333333333:role/CN", PrincipalARN: "arn:aws-cn:iam::333333333333:saml-provider/Okta", AccountID: "333333333333", RoleName: "CN", Partition: "aws-cn"},
		{RoleARN: "arn:aws-us-gov:iam::444444444444:role/Gov", PrincipalARN: "arn:aws-us-gov:iam::444444444444:saml-provider/Okta", AccountID: "444444444444", RoleName: "Gov", Partition: "aws-us-gov"},
	}
	if fmt.Sprint(a.Roles) != fmt.Sprint(want) {
		t.Errorf("Roles =\n%v\nwant\n%v", a.Roles, want)
	}
	checks := []struct{ name, got, want string }{
		{"Issuer", a.Issuer, "http://www.okta.com/exk1demo"},
		{"NameID", a.NameID, "demo@example.com"},
		{"Audiences", strings.Join(a.Audiences, ","), "urn:amazon:webservices"},
		{"Destination", a.Destination, "https://signin.aws.amazon.com/saml"},
		{"RoleSessionName", a.RoleSessionName, "demo@example.com"},
		{"SessionDuration", a.SessionDuration.String(), "1h0m0s"},
		{"NotBefore", a.NotBefore.Format(time.RFC3339), "2026-01-02T02:59:05Z"},
		// The subject confirmation ends before the conditions do.
		{"NotOnOrAfter", a.NotOnOrAfter.Format(time.RFC3339), "2026-01-02T03:09:00Z"},
		{"RelayState", a.RelayState, "relay"},
		{"Raw", fmt.Sprint(a.Raw == encode(xml)), "true"},
		{"Problems", strings.Join(a.Problems, ";"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if a.Expired(time.Date(2026, 1, 2, 3, 8, 59, 0, time.UTC)) || !a.Expired(time.Date(2026, 1, 2, 3, 9, 0, 0, time.UTC)) {
		t.Errorf("Expired is wrong around NotOnOrAfter")
	}
	if r, ok := a.Role("Admin"); !ok || r.RoleARN != adminRole {
		t.Errorf("Role(Admin) = %v, %v", r, ok)
	}
	if r, ok := a.Role(devRole); !ok || r.RoleName != "Developer" {
		t.Errorf("Role(arn) = %v, %v", r, ok)
	}
	if _, ok := a.Role("Nope"); ok {
		t.Errorf("Role(Nope) found something")
	}
}

func TestDecodeWithoutNamespacePrefixesAndPadding(t *testing.T) {
	xml := buildResponse(responseOpts{roles: []string{devRole + "," + devIdP}, noNamespace: true})
	raw := strings.TrimRight(encode(xml), "=")
	a, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Roles) != 1 || a.NameID != "demo@example.com" {
		t.Fatalf("got %+v", a)
	}
}

func TestDecodeFailures(t *testing.T) {
	tests := []struct {
		name string
		in   string
		is   error
		want string
	}{
		{"no roles", encode(buildResponse(responseOpts{})), ErrNoRoles, "ask your Okta admin"},
		{"only bad roles", encode(buildResponse(responseOpts{roles: []string{"arn:aws:iam::1:role/X,nope", devRole + "," + adminIdP, "arn:aws:iam::111111111111:role/A"}})), ErrNoRoles, "different accounts"},
		{"bad partition", encode(buildResponse(responseOpts{roles: []string{"arn:aws-iso:iam::111111111111:role/A,arn:aws-iso:iam::111111111111:saml-provider/B"}})), ErrNoRoles, "partition"},
		{"not base64", "%%%not-base64%%%", nil, "not valid base64"},
		{"empty", "  ", nil, "empty"},
		{"not xml", encode("<html>"), nil, "not well-formed"},
		{"not a response", encode(`<foo xmlns="urn:oasis:names:tc:SAML:2.0:protocol"/>`), nil, "not a SAML 2.0 Response"},
		{"doctype", encode(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><Response>&x;</Response>`), nil, "DOCTYPE"},
		{"failure status", encode(buildResponse(responseOpts{status: "urn:oasis:names:tc:SAML:2.0:status:Responder", statusMsg: `<saml2p:StatusMessage>User not assigned</saml2p:StatusMessage>`})), nil, "Responder): User not assigned"},
		{"encrypted", encode(buildResponse(responseOpts{assertion: `<saml2:EncryptedAssertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"><x/></saml2:EncryptedAssertion>`})), ErrEncrypted, "encrypted"},
		{"two assertions", encode(buildResponse(responseOpts{assertion: `<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"/><saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"/>`})), nil, "2 assertions"},
		{"no assertion", encode(buildResponse(responseOpts{assertion: " "})), nil, "no assertion"},
		{"deep nesting", encode(`<Response>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</Response>`), nil, "well-formed"},
		{"legacy charset", encode(`<?xml version="1.0" encoding="ISO-8859-1"?><Response/>`), nil, "encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestProblemsDoNotHideGoodRoles(t *testing.T) {
	a, err := Decode(encode(buildResponse(responseOpts{duration: "soon", roles: []string{devRole + "," + devIdP, "garbage"}})))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Roles) != 1 || len(a.Problems) != 2 || a.SessionDuration != 0 {
		t.Fatalf("Roles = %v, Problems = %q, SessionDuration = %v", a.Roles, a.Problems, a.SessionDuration)
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		account string
		err     string
	}{
		{devRole + "," + devIdP, "Developer", "111111111111", ""},
		{devIdP + "," + devRole, "Developer", "111111111111", ""},
		{"arn:aws:iam::111111111111:role/a/b/c/Deep,arn:aws:iam::111111111111:saml-provider/X", "Deep", "111111111111", ""},
		{devRole, "", "", "not \"role ARN,provider ARN\""},
		{devRole + "," + devRole, "", "", "no SAML provider"},
		{devIdP + "," + devIdP, "", "", "no IAM role"},
		{"arn:aws:iam::111111111111:role/,arn:aws:iam::111111111111:saml-provider/X", "", "", "no IAM role"},
		{"arn:aws:iam::111111111111:role/x/,arn:aws:iam::111111111111:saml-provider/X", "", "", "no role name"},
	}
	for _, tt := range tests {
		r, err := ParseRole(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRole(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || r.RoleName != tt.name || r.AccountID != tt.account {
			t.Errorf("ParseRole(%q) = %+v, %v", tt.in, r, err)
		}
	}
}

// Pretty-printing IdPs and proxies leave whitespace, comments or a
// processing instruction after the root element; XML allows those there.
// Anything else after the root is refused, as are the size caps.
func TestParseAfterRootElement(t *testing.T) {
	doc := buildResponse(responseOpts{roles: []string{devRole + "," + devIdP}})
	for _, tail := range []string{"\n", "\r\n", "\n  \n\t", "\n<!-- pretty printed -->\n", "<?x y?>\n"} {
		a, err := Parse([]byte(doc + tail))
		if err != nil {
			t.Errorf("tail %q: %v", tail, err)
			continue
		}
		if len(a.Roles) != 1 {
			t.Errorf("tail %q: roles %+v", tail, a.Roles)
		}
	}
	for _, tail := range []string{"x", "<Response/>", "\n<a>", "&amp;", "\u00a0", "<!DOCTYPE r>"} {
		if _, err := Parse([]byte(doc + tail)); err == nil {
			t.Errorf("tail %q accepted", tail)
		}
	}
	big := doc + strings.Repeat(" ", MaxResponseSize)
	if _, err := Parse([]byte(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized document with trailing whitespace: %v", err)
	}
	if _, err := Decode(encode(doc + "\n")); err != nil {
		t.Errorf("Decode with a trailing newline: %v", err)
	}
}
