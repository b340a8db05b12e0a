package org

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// app is a configured AWS Account Federation app with its signing key.
type app struct {
	id, label, key  string
	audience, acs   string
	relayState      string
	sessionDuration int
	roles           []role
	signer          *rsa.PrivateKey
	cert            *x509.Certificate
}

type role struct {
	role, provider string
	groups         []string
	userIDs        map[string]bool
}

// SAML and AWS names used in responses.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsXS        = "http://www.w3.org/2001/XMLSchema"
	nsXSI       = "http://www.w3.org/2001/XMLSchema-instance"

	attrRole            = "https://aws.amazon.com/SAML/Attributes/Role"
	attrRoleSessionName = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
	attrSessionDuration = "https://aws.amazon.com/SAML/Attributes/SessionDuration"

	// assertionValidity is the Conditions and SubjectConfirmationData
	// window Okta uses around the issue instant.
	assertionValidity = 5 * time.Minute
)

func (a *app) issuer() string { return "http://www.okta.com/" + a.key }

func (o *Org) ssoURL(a *app) string { return o.base + "/app/amazon_aws/" + a.key + "/sso/saml" }

func (o *Org) loadApps(apps []AppConfig) error {
	for i, ac := range apps {
		where := fmt.Sprintf("apps[%d]", i)
		if err := checkID(where+".id", ac.ID); err != nil {
			return err
		}
		if err := checkID(where+".external_key", ac.ExternalKey); err != nil {
			return err
		}
		a := &app{
			id: orStr(ac.ID, newID("0oa")), label: orStr(ac.Label, "AWS Account Federation"),
			key:      orStr(ac.ExternalKey, newID("exk")),
			audience: orStr(ac.Audience, defaultAudience), acs: orStr(ac.ACSURL, defaultACS),
			relayState: ac.RelayState, sessionDuration: orInt(ac.SessionDuration, 3600),
		}
		if a.sessionDuration < 900 || a.sessionDuration > 43200 {
			return fmt.Errorf("%s: session_duration %d is outside AWS's 900–43200 seconds", where, ac.SessionDuration)
		}
		if u, err := url.Parse(a.acs); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("%s: acs_url %q is not an absolute URL", where, a.acs)
		}
		for _, k := range []string{a.id, a.key} {
			if o.appsByKey[k] != nil {
				return fmt.Errorf("%s: id or external key %q is used twice", where, k)
			}
		}
		for j, rc := range ac.Roles {
			r, err := o.buildRole(fmt.Sprintf("%s.roles[%d]", where, j), rc)
			if err != nil {
				return err
			}
			a.roles = append(a.roles, r)
		}
		if err := o.generateKey(a); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		o.apps = append(o.apps, a)
		o.appsByKey[a.id] = a
		o.appsByKey[a.key] = a
	}
	return nil
}

func (o *Org) buildRole(where string, rc RoleConfig) (role, error) {
	if !roleARNPattern.MatchString(rc.RoleARN) {
		return role{}, fmt.Errorf("%s: role_arn %q is not an IAM role ARN (arn:aws:iam::123456789012:role/Name)", where, rc.RoleARN)
	}
	if !providerARNPattern.MatchString(rc.ProviderARN) {
		return role{}, fmt.Errorf("%s: provider_arn %q is not an IAM SAML provider ARN (arn:aws:iam::123456789012:saml-provider/Name)", where, rc.ProviderARN)
	}
	r := role{role: rc.RoleARN, provider: rc.ProviderARN, userIDs: map[string]bool{}}
	for _, g := range rc.Groups {
		if _, ok := o.groups[g]; !ok {
			return role{}, fmt.Errorf("%s: group %q is not in the org's groups list", where, g)
		}
		r.groups = append(r.groups, g)
	}
	for _, ref := range rc.Users {
		u := o.lookupUser(ref)
		if u == nil {
			return role{}, fmt.Errorf("%s: user %q is not in the org's users list", where, ref)
		}
		r.userIDs[u.id] = true
	}
	return r, nil
}

// newSigningKey is a variable so the package's tests can reuse one key
// instead of paying for an RSA key generation per org.
var newSigningKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// generateKey makes the app's signing key and self-signed certificate, as
// Okta does per app; the key lives only in memory.
func (o *Org) generateKey(a *app) error {
	key, err := newSigningKey()
	if err != nil {
		return fmt.Errorf("generate SAML signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	now := o.clk.Now()
	name := pkix.Name{CommonName: o.name, Organization: []string{"Okta"}, OrganizationalUnit: []string{"SSOProvider"}, Locality: []string{"San Francisco"}, Province: []string{"California"}, Country: []string{"US"}}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: name, Issuer: name,
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create SAML signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	a.signer, a.cert = key, cert
	return nil
}

// rolesFor lists "providerArn,roleArn" for every role u gets directly or
// through a group, in configuration order. Okta's AWS app puts the SAML
// provider first (its role value pattern is
// arn:aws:iam::${accountid}:saml-provider/${provider},arn:aws:iam::${accountid}:role/${role});
// AWS accepts either order.
func (a *app) rolesFor(u *user) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range a.roles {
		ok := r.userIDs[u.id]
		for _, g := range r.groups {
			for _, ug := range u.groups {
				ok = ok || g == ug
			}
		}
		v := r.provider + "," + r.role
		if ok && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func (o *Org) metadata(a *app) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMetadata)
	ed.CreateAttr("entityID", a.issuer())
	idp := ed.CreateElement("md:IDPSSODescriptor")
	idp.CreateAttr("WantAuthnRequestsSigned", "false")
	idp.CreateAttr("protocolSupportEnumeration", nsProtocol)
	kd := idp.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", "signing")
	ki := kd.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", nsDSig)
	ki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(a.cert.Raw))
	idp.CreateElement("md:NameIDFormat").SetText("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
	idp.CreateElement("md:NameIDFormat").SetText("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
	for _, binding := range []string{"HTTP-POST", "HTTP-Redirect"} {
		sso := idp.CreateElement("md:SingleSignOnService")
		sso.CreateAttr("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:"+binding)
		sso.CreateAttr("Location", o.ssoURL(a))
	}
	doc.Indent(2)
	return doc.WriteToBytes()
}

func samlID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("org: crypto/rand failed: " + err.Error())
	}
	// XML IDs must not start with a digit.
	return "id" + hex.EncodeToString(b)
}

func samlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// samlResponse builds and signs the Response for s's user: the Assertion is
// signed first, then the Response around it, both enveloped RSA-SHA256 with
// exclusive canonicalisation, each Signature placed right after its Issuer
// as the SAML schema orders them.
func (o *Org) samlResponse(a *app, s *session, roles []string, now time.Time) ([]byte, error) {
	u := s.user
	issue := samlTime(now)
	notAfter := samlTime(now.Add(assertionValidity))

	resp := etree.NewElement("saml2p:Response")
	resp.CreateAttr("xmlns:saml2p", nsProtocol)
	resp.CreateAttr("Destination", a.acs)
	resp.CreateAttr("ID", samlID())
	resp.CreateAttr("IssueInstant", issue)
	resp.CreateAttr("Version", "2.0")
	issuer := resp.CreateElement("saml2:Issuer")
	issuer.CreateAttr("xmlns:saml2", nsAssertion)
	issuer.CreateAttr("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:entity")
	issuer.SetText(a.issuer())
	resp.CreateElement("saml2p:Status").CreateElement("saml2p:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")

	as := etree.NewElement("saml2:Assertion")
	as.CreateAttr("xmlns:saml2", nsAssertion)
	as.CreateAttr("ID", samlID())
	as.CreateAttr("IssueInstant", issue)
	as.CreateAttr("Version", "2.0")
	ai := as.CreateElement("saml2:Issuer")
	ai.CreateAttr("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:entity")
	ai.SetText(a.issuer())

	subj := as.CreateElement("saml2:Subject")
	nameID := subj.CreateElement("saml2:NameID")
	nameID.CreateAttr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
	nameID.SetText(u.login)
	sc := subj.CreateElement("saml2:SubjectConfirmation")
	sc.CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	scd := sc.CreateElement("saml2:SubjectConfirmationData")
	scd.CreateAttr("NotOnOrAfter", notAfter)
	scd.CreateAttr("Recipient", a.acs)

	cond := as.CreateElement("saml2:Conditions")
	cond.CreateAttr("NotBefore", samlTime(now.Add(-assertionValidity)))
	cond.CreateAttr("NotOnOrAfter", notAfter)
	cond.CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText(a.audience)

	authn := as.CreateElement("saml2:AuthnStatement")
	authn.CreateAttr("AuthnInstant", samlTime(s.created))
	authn.CreateAttr("SessionIndex", "id"+strconv.FormatInt(now.UnixNano(), 10))
	authn.CreateElement("saml2:AuthnContext").CreateElement("saml2:AuthnContextClassRef").SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")

	attrs := as.CreateElement("saml2:AttributeStatement")
	// Okta names the Role attribute in URI format and the other two in
	// basic format.
	addAttr(attrs, attrRole, nameFormatURI, roles...)
	addAttr(attrs, attrRoleSessionName, nameFormatBasic, u.login)
	addAttr(attrs, attrSessionDuration, nameFormatBasic, strconv.Itoa(a.sessionDuration))

	if err := o.signInPlace(a, as, ai); err != nil {
		return nil, err
	}
	resp.AddChild(as)
	if err := o.signInPlace(a, resp, issuer); err != nil {
		return nil, err
	}
	declareXS(resp)
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(resp)
	return doc.WriteToBytes()
}

// Attribute name formats (SAML 2.0 core, 8.2).
const (
	nameFormatURI   = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	nameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
)

// addAttr adds an attribute whose values are typed xs:string, with the xs
// and xsi namespaces declared on each value as Okta writes them.
func addAttr(parent *etree.Element, name, format string, values ...string) {
	at := parent.CreateElement("saml2:Attribute")
	at.CreateAttr("Name", name)
	at.CreateAttr("NameFormat", format)
	for _, v := range values {
		av := at.CreateElement("saml2:AttributeValue")
		av.CreateAttr("xmlns:xs", nsXS)
		av.CreateAttr("xmlns:xsi", nsXSI)
		av.CreateAttr("xsi:type", "xs:string")
		av.SetText(v)
	}
}

// declareXS puts xmlns:xs back on every AttributeValue, first, as Okta
// writes it. Signing canonicalises the elements exclusively, which drops
// the declaration because xs is used only inside an attribute value
// (xsi:type="xs:string"); without it a namespace-aware reader cannot
// resolve the type. The declaration is not visibly used, so exclusive
// canonicalisation leaves it out again when verifying: the signatures
// still hold.
func declareXS(root *etree.Element) {
	for _, av := range root.FindElements(".//AttributeValue") {
		if av.SelectAttr("xmlns:xs") != nil {
			continue
		}
		av.CreateAttr("xmlns:xs", nsXS)
		last := av.Attr[len(av.Attr)-1]
		copy(av.Attr[1:], av.Attr[:len(av.Attr)-1])
		av.Attr[0] = last
	}
}

// signInPlace signs el and inserts the Signature right after after.
func (o *Org) signInPlace(a *app, el, after *etree.Element) error {
	ctx, err := dsig.NewSigningContext(a.signer, [][]byte{a.cert.Raw})
	if err != nil {
		return err
	}
	// No InclusiveNamespaces prefix list: goxmldsig does not write one into
	// the Transform, so a verifier would canonicalise without it.
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return err
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return fmt.Errorf("sign SAML %s: %w", el.Tag, err)
	}
	el.InsertChildAt(after.Index()+1, sig)
	return nil
}

// appPage is the AWS app's sign-on page as Okta serves it: an interstitial
// ("signing in…", a script that submits the form, a no-script button)
// around a form whose action and values are written with Okta's attribute
// encoding, in which every character but letters, digits and ",.-_" is a
// hexadecimal character reference (https&#x3a;&#x2f;&#x2f;…, &#x2b;,
// &#x3d;). A client must decode the page as HTML to read it; a regular
// expression over the raw text gets a broken SAMLResponse.
func appPage(label, acs, samlResponse, relayState string) []byte {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex,nofollow">
<title>Signing in to `)
	b.WriteString(html.EscapeString(label))
	b.WriteString(`</title>
<style>.app-interstitial{font-family:sans-serif;text-align:center;margin-top:15%}</style>
</head>
<body class="enduser-app">
<div class="app-interstitial" id="app-interstitial">
<div class="app-interstitial-spinner" aria-hidden="true"></div>
<p class="app-interstitial-message">Signing in to `)
	b.WriteString(html.EscapeString(label))
	b.WriteString(`&hellip;</p>
</div>
<form id="appForm" action="`)
	b.WriteString(oktaAttrEncode(acs))
	b.WriteString(`" method="POST">
    <input name="SAMLResponse" type="hidden" value="`)
	b.WriteString(oktaAttrEncode(samlResponse))
	b.WriteString(`"/>
    <input name="RelayState" type="hidden" value="`)
	b.WriteString(oktaAttrEncode(relayState))
	b.WriteString(`"/>
    <noscript><p>Script is disabled. Press Continue to sign in.</p><button type="submit">Continue</button></noscript>
</form>
<script type="text/javascript">
(function () { document.getElementById('appForm').submit(); })();
</script>
</body>
</html>
`)
	return []byte(b.String())
}

// oktaAttrEncode writes s as Okta writes HTML attribute values: letters,
// digits and ",.-_" as they are, every other character as &#xHH; (lower
// case hexadecimal).
func oktaAttrEncode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == ',', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "&#x%x;", r)
		}
	}
	return b.String()
}

// handleSSO is the IdP-initiated sign-in of the AWS app. It needs a session:
// from ?onetimetoken=<sessionToken> (spent and turned into a session, as
// Okta does) or the sid cookie. Without one it sends the browser to the
// sign-in page, exactly where a client that skipped MFA ends up.
func (o *Org) handleSSO(w http.ResponseWriter, r *http.Request) {
	a := o.appsByKey[r.PathValue("appId")]
	if a == nil {
		o.errorPage(w, http.StatusNotFound, "Not found", "There is no app at this address.")
		return
	}
	now := o.clk.Now()
	o.mu.Lock()
	o.prune(now)
	var s *session
	if tok := r.URL.Query().Get("onetimetoken"); tok != "" {
		if st := o.redeem(tok, now); st != nil {
			s = o.createSession(st, now)
			o.setSessionCookie(w, s)
		}
	}
	if s == nil {
		s = o.cookieSession(r, now, true)
	}
	if s == nil {
		o.mu.Unlock()
		q := r.URL.Query()
		q.Del("onetimetoken")
		from := r.URL.Path
		if enc := q.Encode(); enc != "" {
			from += "?" + enc
		}
		http.Redirect(w, r, o.base+"/login/login.htm?fromURI="+url.QueryEscape(from), http.StatusFound)
		return
	}
	u := s.user
	roles := a.rolesFor(u)
	o.mu.Unlock()
	if len(roles) == 0 {
		o.log.Info("SAML sign-in refused", "login", u.login, "app", a.id, "reason", "no role assigned")
		o.errorPage(w, http.StatusForbidden, "403 - Forbidden", "You do not have permission to access this application: no AWS role is assigned to you. Contact your administrator.")
		return
	}
	xml, err := o.samlResponse(a, s, roles, now)
	if err != nil {
		o.log.Error("SAML response failed", "app", a.id, "err", err)
		o.errorPage(w, http.StatusInternalServerError, "Error", "The SAML response could not be signed.")
		return
	}
	o.log.Info("SAML assertion issued", "login", u.login, "app", a.id, "roles", len(roles))
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	_, _ = w.Write(appPage(a.label, a.acs, base64.StdEncoding.EncodeToString(xml), a.relayState))
}

// handleAppHome is the dashboard link of an app, which Okta redirects to
// the app's sign-in URL.
func (o *Org) handleAppHome(w http.ResponseWriter, r *http.Request) {
	a := o.appsByKey[r.PathValue("appId")]
	if a == nil {
		o.errorPage(w, http.StatusNotFound, "Not found", "There is no app at this address.")
		return
	}
	target := o.ssoURL(a)
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusFound)
}

func (o *Org) handleMetadata(w http.ResponseWriter, r *http.Request) {
	a := o.appsByKey[r.PathValue("externalKey")]
	if a == nil {
		o.errorPage(w, http.StatusNotFound, "Not found", "There is no app at this address.")
		return
	}
	md, err := o.metadata(a)
	if err != nil {
		o.errorPage(w, http.StatusInternalServerError, "Error", "The metadata could not be built.")
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(md)
}
