package org

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"golang.org/x/net/html"
)

// postForm is what the SSO page asks the browser to post.
type postForm struct {
	id, action, method       string
	samlResponse, relayState string
}

// parseForm reads the auto-submitting form as a browser would.
func parseForm(t *testing.T, page []byte) postForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(string(page)))
	if err != nil {
		t.Fatalf("parse SSO page: %v", err)
	}
	var f postForm
	var walk func(n *html.Node, inForm bool)
	walk = func(n *html.Node, inForm bool) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				f.id, f.action, f.method = attr["id"], attr["action"], attr["method"]
				inForm = true
			case "input":
				if inForm && attr["type"] == "hidden" {
					switch attr["name"] {
					case "SAMLResponse":
						f.samlResponse = attr["value"]
					case "RelayState":
						f.relayState = attr["value"]
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inForm)
		}
	}
	walk(doc, false)
	if f.action == "" || f.samlResponse == "" {
		t.Fatalf("no SAML form in page: %s", page)
	}
	return f
}

// metadataCert fetches the app's metadata and returns its signing
// certificate and SSO location, as an AWS administrator would use them.
func metadataCert(t *testing.T, h *harness, key string) (*x509.Certificate, string, string) {
	t.Helper()
	r := h.do(http.MethodGet, "/app/"+key+"/sso/saml/metadata", nil)
	if r.code != 200 || !strings.Contains(r.header.Get("Content-Type"), "xml") {
		t.Fatalf("metadata: %d %s", r.code, r.raw)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(r.raw); err != nil {
		t.Fatalf("metadata XML: %v", err)
	}
	ed := doc.SelectElement("EntityDescriptor")
	certEl := ed.FindElement("./IDPSSODescriptor/KeyDescriptor[@use='signing']/KeyInfo/X509Data/X509Certificate")
	sso := ed.FindElement("./IDPSSODescriptor/SingleSignOnService[@Binding='urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST']")
	if certEl == nil || sso == nil {
		t.Fatalf("metadata lacks signing certificate or SSO service: %s", r.raw)
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(certEl.Text()))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, ed.SelectAttrValue("entityID", ""), sso.SelectAttrValue("Location", "")
}

func validator(cert *x509.Certificate, now time.Time) *dsig.ValidationContext {
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	ctx.Clock = dsig.NewFakeClockAt(now)
	return ctx
}

// ssoPage signs in to the app with a fresh sessionToken and returns the
// parsed form.
func ssoPage(t *testing.T, h *harness, sessionToken string) postForm {
	t.Helper()
	r := h.do(http.MethodGet, "/app/amazon_aws/exktestapp/sso/saml?onetimetoken="+url.QueryEscape(sessionToken), nil)
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("SSO: %d %v %s", r.code, r.header, r.raw)
	}
	return parseForm(t, r.raw)
}

func parseResponse(t *testing.T, b64 string) *etree.Document {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("SAMLResponse is not base64: %v", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatalf("SAMLResponse XML: %v", err)
	}
	return doc
}

func attrValues(as *etree.Element, name string) []string {
	var out []string
	for _, a := range as.FindElements("./AttributeStatement/Attribute") {
		if a.SelectAttrValue("Name", "") == name {
			for _, v := range a.SelectElements("AttributeValue") {
				out = append(out, v.Text())
			}
		}
	}
	return out
}

func TestSAMLAssertion(t *testing.T) {
	h := newHarness(t, testConfig())
	cert, entityID, ssoLocation := metadataCert(t, h, "exktestapp")
	if entityID != "http://www.okta.com/exktestapp" || ssoLocation != h.srv.URL+"/app/amazon_aws/exktestapp/sso/saml" {
		t.Fatalf("metadata entityID %q, SSO %q", entityID, ssoLocation)
	}
	if want, _ := h.org.SAMLSigningCertificate("0oatestapp"); !want.Equal(cert) {
		t.Fatal("metadata certificate differs from SAMLSigningCertificate")
	}

	form := ssoPage(t, h, h.loginTOTP())
	if form.id != "appForm" || form.action != "https://signin.aws.amazon.com/saml" || !strings.EqualFold(form.method, "POST") || form.relayState != "https://console.aws.amazon.com/" {
		t.Fatalf("form: %+v", form)
	}
	doc := parseResponse(t, form.samlResponse)
	now := h.clk.Now()

	resp, err := validator(cert, now).Validate(doc.Root())
	if err != nil {
		t.Fatalf("Response signature: %v", err)
	}
	as, err := validator(cert, now).Validate(doc.Root().SelectElement("Assertion"))
	if err != nil {
		t.Fatalf("Assertion signature: %v", err)
	}
	if sig := doc.Root().SelectElement("Assertion").ChildElements()[1]; sig.Tag != "Signature" {
		t.Fatalf("Assertion Signature must follow Issuer, found %s", sig.Tag)
	}

	checks := []struct{ name, got, want string }{
		{"Destination", resp.SelectAttrValue("Destination", ""), "https://signin.aws.amazon.com/saml"},
		{"Response Issuer", resp.SelectElement("Issuer").Text(), "http://www.okta.com/exktestapp"},
		{"Status", resp.FindElement("./Status/StatusCode").SelectAttrValue("Value", ""), "urn:oasis:names:tc:SAML:2.0:status:Success"},
		{"Assertion Issuer", as.SelectElement("Issuer").Text(), "http://www.okta.com/exktestapp"},
		{"NameID", as.FindElement("./Subject/NameID").Text(), "totp@example.com"},
		{"Recipient", as.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData").SelectAttrValue("Recipient", ""), "https://signin.aws.amazon.com/saml"},
		{"SubjectConfirmationData NotOnOrAfter", as.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData").SelectAttrValue("NotOnOrAfter", ""), samlTime(now.Add(5 * time.Minute))},
		{"NotBefore", as.SelectElement("Conditions").SelectAttrValue("NotBefore", ""), samlTime(now.Add(-5 * time.Minute))},
		{"NotOnOrAfter", as.SelectElement("Conditions").SelectAttrValue("NotOnOrAfter", ""), samlTime(now.Add(5 * time.Minute))},
		{"Audience", as.FindElement("./Conditions/AudienceRestriction/Audience").Text(), "urn:amazon:webservices"},
		{"AuthnContext", as.FindElement("./AuthnStatement/AuthnContext/AuthnContextClassRef").Text(), "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
		{"Role", strings.Join(attrValues(as, attrRole), "|"), "arn:aws:iam::123456789012:saml-provider/okta,arn:aws:iam::123456789012:role/Admin|arn:aws:iam::123456789012:saml-provider/okta,arn:aws:iam::123456789012:role/ReadOnly|arn:aws:iam::210987654321:saml-provider/okta,arn:aws:iam::210987654321:role/Developer"},
		{"RoleSessionName", strings.Join(attrValues(as, attrRoleSessionName), "|"), "totp@example.com"},
		{"SessionDuration", strings.Join(attrValues(as, attrSessionDuration), "|"), "3600"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// Okta's name formats, and xs declared wherever xsi:type uses it (in
	// the document as sent: the validated copy is canonical, without it).
	sent := doc.Root().SelectElement("Assertion")
	for name, format := range map[string]string{attrRole: nameFormatURI, attrRoleSessionName: nameFormatBasic, attrSessionDuration: nameFormatBasic} {
		at := sent.FindElement("./AttributeStatement/Attribute[@Name='" + name + "']")
		if at == nil || at.SelectAttrValue("NameFormat", "") != format {
			t.Errorf("attribute %s: NameFormat is not %s", name, format)
			continue
		}
		for _, v := range at.SelectElements("AttributeValue") {
			if v.SelectAttrValue("xmlns:xs", "") != nsXS || v.SelectAttrValue("xsi:type", "") != "xs:string" {
				t.Errorf("attribute %s: value without a declared xs namespace: %v", name, v.Attr)
			}
		}
	}

	t.Run("group roles only", func(t *testing.T) {
		h.clk.Advance(time.Second)
		form := ssoPage(t, h, h.loginNoMFA("nofactor@example.com"))
		as := parseResponse(t, form.samlResponse).Root().SelectElement("Assertion")
		if got := attrValues(as, attrRole); len(got) != 1 || got[0] != "arn:aws:iam::123456789012:saml-provider/okta,arn:aws:iam::123456789012:role/ReadOnly" {
			t.Fatalf("roles %v", got)
		}
	})

	t.Run("tampering breaks the signatures", func(t *testing.T) {
		tamper := []struct {
			name   string
			edit   func(root *etree.Element)
			target func(root *etree.Element) *etree.Element
		}{
			{"extra role in assertion", func(root *etree.Element) {
				v := root.SelectElement("Assertion").FindElement("./AttributeStatement/Attribute/AttributeValue")
				v.SetText("arn:aws:iam::999999999999:role/Root,arn:aws:iam::999999999999:saml-provider/okta")
			}, func(root *etree.Element) *etree.Element { return root.SelectElement("Assertion") }},
			{"other subject", func(root *etree.Element) {
				root.SelectElement("Assertion").FindElement("./Subject/NameID").SetText("admin@example.com")
			}, func(root *etree.Element) *etree.Element { return root.SelectElement("Assertion") }},
			{"later expiry", func(root *etree.Element) {
				root.SelectElement("Assertion").SelectElement("Conditions").CreateAttr("NotOnOrAfter", "2099-01-01T00:00:00.000Z")
			}, func(root *etree.Element) *etree.Element { return root.SelectElement("Assertion") }},
			{"response destination", func(root *etree.Element) {
				root.CreateAttr("Destination", "https://evil.example/saml")
			}, func(root *etree.Element) *etree.Element { return root }},
			{"assertion inside signed response", func(root *etree.Element) {
				root.SelectElement("Assertion").FindElement("./Subject/NameID").SetText("admin@example.com")
			}, func(root *etree.Element) *etree.Element { return root }},
		}
		for _, tc := range tamper {
			t.Run(tc.name, func(t *testing.T) {
				doc := parseResponse(t, form.samlResponse)
				tc.edit(doc.Root())
				out, err := doc.WriteToBytes()
				if err != nil {
					t.Fatal(err)
				}
				again := parseResponse(t, base64.StdEncoding.EncodeToString(out))
				if _, err := validator(cert, now).Validate(tc.target(again.Root())); err == nil {
					t.Fatal("tampered document still validates")
				}
			})
		}
	})

	t.Run("another certificate does not validate", func(t *testing.T) {
		key, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := x509.ParseCertificate(der)
		doc := parseResponse(t, form.samlResponse)
		if _, err := validator(other, now).Validate(doc.Root().SelectElement("Assertion")); err == nil {
			t.Fatal("assertion validated against an unrelated certificate")
		}
	})
}

func TestSSORequiresACompleteSignIn(t *testing.T) {
	h := newHarness(t, testConfig())
	loginURL := h.srv.URL + "/login/login.htm?fromURI=" + url.QueryEscape("/app/amazon_aws/exktestapp/sso/saml")
	expectLogin := func(t *testing.T, r reply) {
		t.Helper()
		if r.code != http.StatusFound || r.header.Get("Location") != loginURL {
			t.Fatalf("want 302 to %s, got %d %q %s", loginURL, r.code, r.header.Get("Location"), r.raw)
		}
	}
	sso := "/app/amazon_aws/exktestapp/sso/saml"

	t.Run("no session", func(t *testing.T) {
		expectLogin(t, h.do(http.MethodGet, sso, nil))
	})
	t.Run("stateToken instead of sessionToken", func(t *testing.T) {
		r := h.primary("totp@example.com", testPassword)
		expectStatus(t, r, stateMFARequired)
		expectLogin(t, h.do(http.MethodGet, sso+"?onetimetoken="+r.str("stateToken"), nil))
		expectError(t, h.post("/api/v1/sessions", map[string]any{"sessionToken": r.str("stateToken")}), 401, "E0000004")
		if p := h.do(http.MethodGet, "/login/sessionCookieRedirect?token="+r.str("stateToken")+"&redirectUrl="+url.QueryEscape(h.srv.URL+sso), nil); p.code != http.StatusForbidden {
			t.Fatalf("sessionCookieRedirect with a stateToken: %d", p.code)
		}
	})
	t.Run("forged session cookie", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+sso, nil)
		req.AddCookie(&http.Cookie{Name: "sid", Value: "102forgedsessionid000"})
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("forged sid: %d", resp.StatusCode)
		}
	})
	t.Run("sessionToken is single use", func(t *testing.T) {
		tok := h.loginTOTP()
		ssoPage(t, h, tok)
		fresh := newHarnessClient(h)
		expectLogin(t, fresh.do(http.MethodGet, sso+"?onetimetoken="+tok, nil))
	})
	t.Run("sessionToken expires", func(t *testing.T) {
		tok := h.loginNoMFA("nofactor@example.com")
		h.clk.Advance(5 * time.Minute)
		fresh := newHarnessClient(h)
		expectLogin(t, fresh.do(http.MethodGet, sso+"?onetimetoken="+tok, nil))
	})
	t.Run("session cookie is enough afterwards", func(t *testing.T) {
		h.clk.Advance(30 * time.Second)
		c := newHarnessClient(h)
		tok := c.loginTOTP()
		ssoPage(t, c, tok)
		r := c.do(http.MethodGet, sso, nil)
		if r.code != 200 {
			t.Fatalf("cookie SSO: %d", r.code)
		}
		parseForm(t, r.raw)
	})
	t.Run("user without a role", func(t *testing.T) {
		r := h.do(http.MethodGet, sso+"?onetimetoken="+h.loginNoMFA("norole@example.com"), nil)
		if r.code != http.StatusForbidden || !strings.Contains(string(r.raw), "403") {
			t.Fatalf("no role: %d %s", r.code, r.raw)
		}
	})
	t.Run("unknown app", func(t *testing.T) {
		if r := h.do(http.MethodGet, "/app/amazon_aws/exknope/sso/saml", nil); r.code != 404 {
			t.Fatalf("unknown app: %d", r.code)
		}
	})
}

// newHarnessClient shares h's org and clock with an empty cookie jar, as a
// second browser would.
func newHarnessClient(h *harness) *harness {
	c := *h
	c.client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	jar, _ := newJar()
	c.client.Jar = jar
	return &c
}

func TestAppLinksAndMetadata(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(http.MethodGet, "/home/amazon_aws/0oatestapp/272?fromHome=true", nil)
	if r.code != http.StatusFound || r.header.Get("Location") != h.srv.URL+"/app/amazon_aws/exktestapp/sso/saml?fromHome=true" {
		t.Fatalf("home link: %d %q", r.code, r.header.Get("Location"))
	}
	md, err := h.org.SAMLMetadata("0oatestapp")
	if err != nil || !strings.Contains(string(md), `entityID="http://www.okta.com/exktestapp"`) {
		t.Fatalf("SAMLMetadata: %v %s", err, md)
	}
	if _, err := h.org.SAMLMetadata("0oanope"); err == nil {
		t.Fatal("SAMLMetadata of an unknown app")
	}
	if _, err := h.org.SAMLSigningCertificate("0oanope"); err == nil {
		t.Fatal("SAMLSigningCertificate of an unknown app")
	}
	if r := h.do(http.MethodGet, "/app/exknope/sso/saml/metadata", nil); r.code != 404 {
		t.Fatalf("unknown metadata: %d", r.code)
	}
	apps := h.org.Apps()
	if len(apps) != 1 || apps[0].Issuer != "http://www.okta.com/exktestapp" || len(apps[0].ProviderARNs) != 2 || apps[0].MetadataURL != h.srv.URL+"/app/exktestapp/sso/saml/metadata" {
		t.Fatalf("Apps() = %+v", apps)
	}
}

func TestSSOPageMarkup(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(http.MethodGet, "/app/amazon_aws/exktestapp/sso/saml?onetimetoken="+h.loginNoMFA("nofactor@example.com"), nil)
	page := string(r.raw)
	// As Okta serves it: an interstitial around the form, and the form's
	// action and values written with character references.
	for _, want := range []string{`<form id="appForm" action="https&#x3a;&#x2f;&#x2f;signin.aws.amazon.com&#x2f;saml" method="POST">`,
		`id="app-interstitial"`, `document.getElementById('appForm').submit()`,
		`name="RelayState" type="hidden" value="https&#x3a;&#x2f;&#x2f;console.aws.amazon.com&#x2f;"`, `&#x3d;"/>`} {
		if !strings.Contains(page, want) {
			t.Fatalf("page lacks %s:\n%.3000s", want, page)
		}
	}
	if v := regexp.MustCompile(`name="SAMLResponse" type="hidden" value="([^"]*)"`).FindStringSubmatch(page); v == nil || strings.ContainsAny(v[1], "+=/") || !strings.Contains(v[1], "&#x2b;") {
		t.Fatalf("the SAMLResponse value is not attribute-encoded as Okta does (+ as &#x2b;, = as &#x3d;, / as &#x2f;)")
	}
	if r.header.Get("Cache-Control") == "" || h.sidCookie() == "" {
		t.Fatalf("headers %v, sid %q", r.header, h.sidCookie())
	}
	raw, _ := base64.StdEncoding.DecodeString(parseForm(t, r.raw).samlResponse)
	if !strings.HasPrefix(string(raw), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Fatalf("response lacks the XML declaration: %.80s", raw)
	}
}
