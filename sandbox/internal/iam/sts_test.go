package iam

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/beevik/etree"
	"go.yaml.in/yaml/v3"
)

func TestSAMLThenGetCallerIdentity(t *testing.T) {
	e := newEnv(t)
	now := e.clk.Now()
	out, err := e.assumeSAML(samlAssertion(t, now, samlSpec{}), devRole, oktaIdP, 0)
	if err != nil {
		t.Fatalf("AssumeRoleWithSAML: %v", err)
	}
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || len(*c.AccessKeyId) != 20 {
		t.Errorf("AccessKeyId %q, want ASIA + 16", *c.AccessKeyId)
	}
	if *c.SecretAccessKey == "" || *c.SessionToken == "" {
		t.Errorf("missing secret or session token")
	}
	if got, want := c.Expiration.UTC(), now.Add(time.Hour); !got.Equal(want) {
		t.Errorf("Expiration %v, want %v", got, want)
	}
	if got, want := *out.AssumedRoleUser.Arn, "arn:aws:sts::111111111111:assumed-role/Dev/alice@example.com"; got != want {
		t.Errorf("Arn %q, want %q", got, want)
	}
	if id := *out.AssumedRoleUser.AssumedRoleId; !strings.HasPrefix(id, "AROA") || !strings.HasSuffix(id, ":alice@example.com") || len(id) != 21+len(":alice@example.com") {
		t.Errorf("AssumedRoleId %q, want AROA…:alice@example.com", id)
	}
	if *out.Subject != "alice@example.com" || *out.SubjectType != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" {
		t.Errorf("Subject %q type %q", *out.Subject, *out.SubjectType)
	}
	if *out.Issuer != entityID || *out.Audience != SAMLRecipient {
		t.Errorf("Issuer %q Audience %q", *out.Issuer, *out.Audience)
	}
	if *out.NameQualifier != nameQualifier(entityID, acct, "Okta") {
		t.Errorf("NameQualifier %q", *out.NameQualifier)
	}
	if out.SessionTokenSize == nil || int(*out.SessionTokenSize) != len(*c.SessionToken) {
		t.Errorf("SessionTokenSize %v", out.SessionTokenSize)
	}

	creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
	id, err := e.client(static(creds)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *id.Arn != *out.AssumedRoleUser.Arn || *id.UserId != *out.AssumedRoleUser.AssumedRoleId || *id.Account != acct {
		t.Errorf("GetCallerIdentity = %s %s %s", *id.Arn, *id.UserId, *id.Account)
	}

	// Credentials past their expiry are refused. The SDK signs with the
	// wall clock, so rather than moving the server's clock past the expiry
	// (which would make the request time itself stale), mint credentials
	// that expired an hour ago.
	e.clk.Set(e.start.Add(-2 * time.Hour))
	old, err := e.svc.IssueCredentials(devRole, "old-session", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Set(e.start)
	_, err = e.client(static(old)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	wantCode(t, err, CodeExpiredToken)
}

func TestSAMLResponseSignedOnly(t *testing.T) {
	e := newEnv(t)
	a := samlAssertion(t, e.clk.Now(), samlSpec{signResponse: true, noSignAssertion: true, roles: []string{oktaIdP + "," + pathRole}})
	out, err := e.assumeSAML(a, pathRole, oktaIdP, 900)
	if err != nil {
		t.Fatalf("AssumeRoleWithSAML with a signed Response: %v", err)
	}
	// Role paths are not part of the assumed-role ARN.
	if got := *out.AssumedRoleUser.Arn; got != "arn:aws:sts::111111111111:assumed-role/Ops/alice@example.com" {
		t.Errorf("Arn %q", got)
	}
	if got := out.Credentials.Expiration.Sub(e.clk.Now()); got != 15*time.Minute {
		t.Errorf("duration %v, want 15m", got)
	}
	// Both signed is fine too.
	a = samlAssertion(t, e.clk.Now(), samlSpec{signResponse: true})
	if _, err := e.assumeSAML(a, devRole, oktaIdP, 0); err != nil {
		t.Fatalf("both signed: %v", err)
	}
}

func TestSAMLDurations(t *testing.T) {
	e := newEnv(t)
	now := e.clk.Now()
	roles := []string{longRole + "," + oktaIdP}

	out, err := e.assumeSAML(samlAssertion(t, now, samlSpec{roles: roles}), longRole, oktaIdP, 43200)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Credentials.Expiration.Sub(now); got != 12*time.Hour {
		t.Errorf("12h role, 43200 s: got %v", got)
	}
	// The SessionDuration attribute caps the requested duration.
	out, err = e.assumeSAML(samlAssertion(t, now, samlSpec{roles: roles, sessionDuration: "7200"}), longRole, oktaIdP, 43200)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Credentials.Expiration.Sub(now); got != 2*time.Hour {
		t.Errorf("SessionDuration 7200: got %v", got)
	}
	// So does the AuthnStatement's SessionNotOnOrAfter.
	out, err = e.assumeSAML(samlAssertion(t, now, samlSpec{roles: roles, sessionNotAfter: now.Add(30 * time.Minute)}), longRole, oktaIdP, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Credentials.Expiration.Sub(now); got != 30*time.Minute {
		t.Errorf("SessionNotOnOrAfter +30m: got %v", got)
	}
	// Above the role's maximum is refused, as is below 900 s.
	_, err = e.assumeSAML(samlAssertion(t, now, samlSpec{}), devRole, oktaIdP, 7200)
	wantCode(t, err, CodeValidationError)
	_, err = e.assumeSAML(samlAssertion(t, now, samlSpec{}), devRole, oktaIdP, 899)
	wantCode(t, err, CodeValidationError)
	_, err = e.assumeSAML(samlAssertion(t, now, samlSpec{sessionDuration: "60"}), devRole, oktaIdP, 0)
	wantCode(t, err, CodeInvalidIdentityToken)
}

func TestSAMLRefusals(t *testing.T) {
	e := newEnv(t)
	_, evil := idps(t)
	now := e.clk.Now()

	tamper := func(spec samlSpec, edit func(a *etree.Element)) string {
		doc := buildResponse(t, now, spec)
		var a *etree.Element
		for _, c := range doc.Root().ChildElements() {
			if c.Tag == "Assertion" {
				a = c
			}
		}
		edit(a)
		return encodeDoc(t, doc)
	}
	setAttr := func(name, value string) func(a *etree.Element) {
		return func(a *etree.Element) {
			for _, at := range a.FindElements(".//Attribute") {
				if at.SelectAttrValue("Name", "") == name {
					at.ChildElements()[0].SetText(value)
				}
			}
		}
	}

	cases := []struct {
		name      string
		assertion string
		role, idp string
		code      string
	}{
		{"attribute changed after signing", tamper(samlSpec{}, setAttr(SAMLAttrRoleSessionName, "mallory")), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"role changed after signing", tamper(samlSpec{roles: []string{noTrustRole + "," + oktaIdP}}, setAttr(SAMLAttrRole, devRole+","+oktaIdP)), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"NameID changed after signing", tamper(samlSpec{}, func(a *etree.Element) { a.FindElement(".//NameID").SetText("root@example.com") }), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"unsigned", samlAssertion(t, now, samlSpec{noSignAssertion: true}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"signed by another key", samlAssertion(t, now, samlSpec{signer: evil}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"signature removed", tamper(samlSpec{}, func(a *etree.Element) { a.RemoveChild(a.SelectElement("Signature")) }), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"expired", samlAssertion(t, now.Add(-time.Hour), samlSpec{}), devRole, oktaIdP, CodeExpiredTokenException},
		{"not yet valid", samlAssertion(t, now, samlSpec{notBefore: now.Add(time.Hour), notOnOrAfter: now.Add(2 * time.Hour)}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"wrong audience", samlAssertion(t, now, samlSpec{audience: "https://evil.example/sp"}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"wrong recipient", samlAssertion(t, now, samlSpec{recipient: "https://evil.example/acs"}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"wrong issuer", samlAssertion(t, now, samlSpec{issuer: "http://www.okta.com/other"}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"role not in assertion", samlAssertion(t, now, samlSpec{}), longRole, oktaIdP, CodeAccessDenied},
		{"role paired with another provider", samlAssertion(t, now, samlSpec{roles: []string{devRole + "," + otherIdP}}), devRole, oktaIdP, CodeAccessDenied},
		{"role does not trust provider", samlAssertion(t, now, samlSpec{roles: []string{noTrustRole + "," + oktaIdP}}), noTrustRole, oktaIdP, CodeAccessDenied},
		{"role does not exist", samlAssertion(t, now, samlSpec{roles: []string{"arn:aws:iam::111111111111:role/Ghost," + oktaIdP}}), "arn:aws:iam::111111111111:role/Ghost", oktaIdP, CodeAccessDenied},
		{"assertion for another provider", samlAssertion(t, now, samlSpec{}), devRole, otherIdP, CodeInvalidIdentityToken},
		{"unknown provider", samlAssertion(t, now, samlSpec{}), devRole, "arn:aws:iam::111111111111:saml-provider/Nope", CodeInvalidIdentityToken},
		{"no RoleSessionName", samlAssertion(t, now, samlSpec{noSessionName: true}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"bad RoleSessionName", samlAssertion(t, now, samlSpec{sessionName: "alice smith"}), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"IdP reports failure", samlAssertion(t, now, samlSpec{status: "urn:oasis:names:tc:SAML:2.0:status:Responder"}), devRole, oktaIdP, CodeIDPRejectedClaim},
		{"not base64", "%%%not-base64%%%", devRole, oktaIdP, CodeInvalidIdentityToken},
		{"not XML", base64.StdEncoding.EncodeToString([]byte("<samlp:Response")), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"DTD", base64.StdEncoding.EncodeToString([]byte(`<!DOCTYPE r [<!ENTITY a "b">]><r/>`)), devRole, oktaIdP, CodeInvalidIdentityToken},
		{"bad role ARN", samlAssertion(t, now, samlSpec{}), "short", oktaIdP, CodeValidationError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.assumeSAML(tc.assertion, tc.role, tc.idp, 0)
			wantCode(t, err, tc.code)
		})
	}

	// A response that passes gets refused once its window has passed.
	good := samlAssertion(t, now, samlSpec{})
	e.clk.Advance(11 * time.Minute)
	_, err := e.assumeSAML(good, devRole, oktaIdP, 0)
	wantCode(t, err, CodeExpiredTokenException)
}

// TestSAMLSignatureWrapping tries the classic ways of making a verifier
// check one element and read another.
func TestSAMLSignatureWrapping(t *testing.T) {
	e := newEnv(t)
	now := e.clk.Now()
	forged := func() *etree.Element {
		doc := buildResponse(t, now, samlSpec{noSignAssertion: true, roles: []string{longRole + "," + oktaIdP}, sessionName: "mallory"})
		return doc.Root().SelectElement("Assertion")
	}
	signedDoc := func(spec samlSpec) (*etree.Document, *etree.Element) {
		doc := buildResponse(t, now, spec)
		return doc, doc.Root().SelectElement("Assertion")
	}

	t.Run("second assertion after the signed one", func(t *testing.T) {
		doc, _ := signedDoc(samlSpec{})
		doc.Root().AddChild(forged())
		_, err := e.assumeSAML(encodeDoc(t, doc), longRole, oktaIdP, 0)
		wantCode(t, err, CodeInvalidIdentityToken)
	})
	t.Run("forged assertion first", func(t *testing.T) {
		doc, signed := signedDoc(samlSpec{})
		f := forged()
		doc.Root().InsertChildAt(signed.Index(), f)
		_, err := e.assumeSAML(encodeDoc(t, doc), longRole, oktaIdP, 0)
		wantCode(t, err, CodeInvalidIdentityToken)
	})
	t.Run("signed assertion moved inside forged one with the same ID", func(t *testing.T) {
		doc, signed := signedDoc(samlSpec{})
		f := forged()
		f.CreateAttr("ID", signed.SelectAttrValue("ID", ""))
		doc.Root().RemoveChild(signed)
		f.CreateElement("saml2:Advice").AddChild(signed)
		doc.Root().AddChild(f)
		_, err := e.assumeSAML(encodeDoc(t, doc), longRole, oktaIdP, 0)
		wantCode(t, err, CodeInvalidIdentityToken)
	})
	t.Run("signed assertion moved into Extensions", func(t *testing.T) {
		doc, signed := signedDoc(samlSpec{})
		doc.Root().RemoveChild(signed)
		ext := doc.Root().CreateElement("saml2p:Extensions")
		ext.AddChild(signed)
		doc.Root().AddChild(forged())
		_, err := e.assumeSAML(encodeDoc(t, doc), longRole, oktaIdP, 0)
		wantCode(t, err, CodeInvalidIdentityToken)
	})
	t.Run("signed response wrapping a forged assertion", func(t *testing.T) {
		doc, signed := signedDoc(samlSpec{signResponse: true, noSignAssertion: true})
		doc.Root().RemoveChild(signed)
		doc.Root().AddChild(forged())
		_, err := e.assumeSAML(encodeDoc(t, doc), longRole, oktaIdP, 0)
		wantCode(t, err, CodeInvalidIdentityToken)
	})
	t.Run("comment inside NameID and RoleSessionName", func(t *testing.T) {
		// The IdP signed "alice@example.com.evil.test"; a comment makes a
		// first-text-node reader see "alice@example.com". The signature
		// still verifies (exclusive c14n drops comments), so the sandbox
		// must report the whole signed value.
		doc, signed := signedDoc(samlSpec{nameID: "alice@example.com.evil.test", sessionName: "alice@example.com.evil.test"})
		for _, el := range []*etree.Element{signed.FindElement(".//NameID"), signed.FindElement(".//Attribute[@Name='" + SAMLAttrRoleSessionName + "']/AttributeValue")} {
			el.SetText("alice@example.com")
			el.AddChild(etree.NewComment(""))
			el.AddChild(etree.NewText(".evil.test"))
		}
		out, err := e.assumeSAML(encodeDoc(t, doc), devRole, oktaIdP, 0)
		if err != nil {
			t.Fatalf("comment-split values with a valid signature: %v", err)
		}
		if *out.Subject != "alice@example.com.evil.test" || !strings.HasSuffix(*out.AssumedRoleUser.Arn, "/alice@example.com.evil.test") {
			t.Fatalf("read %q / %q, want the whole signed value", *out.Subject, *out.AssumedRoleUser.Arn)
		}
	})
}

func TestGetCallerIdentityRefusals(t *testing.T) {
	e := newEnv(t)
	creds, err := e.svc.IssueCredentials(devRole, "tester", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(c aws.Credentials) error {
		_, err := e.client(static(c)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}
	if err := call(creds); err != nil {
		t.Fatalf("issued credentials: %v", err)
	}
	user := aws.Credentials{AccessKeyID: userKeyID, SecretAccessKey: userSecret}
	id, err := e.client(static(user)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("static user: %v", err)
	}
	if *id.Arn != userARN || !strings.HasPrefix(*id.UserId, "AIDA") || *id.Account != acct {
		t.Errorf("static user identity %s %s %s", *id.Arn, *id.UserId, *id.Account)
	}

	bad := creds
	bad.SecretAccessKey = "wrong" + creds.SecretAccessKey[5:]
	wantCode(t, call(bad), CodeSignatureDoesNotMatch)

	unknown := creds
	unknown.AccessKeyID = "ASIAUNKNOWNKEY000000"
	wantCode(t, call(unknown), CodeInvalidClientTokenID)

	noToken := creds
	noToken.SessionToken = ""
	wantCode(t, call(noToken), CodeInvalidClientTokenID)

	otherToken := creds
	otherToken.SessionToken = creds.SessionToken[:len(creds.SessionToken)-4] + "AAAA"
	wantCode(t, call(otherToken), CodeInvalidClientTokenID)

	userWithToken := user
	userWithToken.SessionToken = creds.SessionToken
	wantCode(t, call(userWithToken), CodeInvalidClientTokenID)

	// Unsigned.
	_, err = e.anon.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, CodeMissingAuthenticationToken)

	// Signed for another region.
	c := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.srv.URL), Credentials: static(creds), Retryer: aws.NopRetryer{}})
	_, err = c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, CodeSignatureDoesNotMatch)

	// The server's clock is far from the signing time.
	e.clk.Advance(20 * time.Minute)
	wantCode(t, call(creds), CodeRequestExpired)
	e.clk.Set(e.start)

	// Expired credentials.
	e.clk.Set(e.start.Add(-3 * time.Hour))
	old, err := e.svc.IssueCredentials(devRole, "old", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Set(e.start)
	wantCode(t, call(old), CodeExpiredToken)
}

// post sends a raw query-protocol request and returns status and body.
func post(t *testing.T, e *env, form url.Values, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func TestQueryProtocolShapes(t *testing.T) {
	e := newEnv(t)
	status, body, hdr := post(t, e, url.Values{"Action": {"GetCallerIdentity"}, "Version": {STSVersion}}, nil)
	if status != http.StatusForbidden {
		t.Errorf("unsigned GetCallerIdentity: status %d", status)
	}
	mustContain(t, body, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code>`)
	reqID := hdr.Get("X-Amzn-Requestid")
	if len(reqID) != 36 {
		t.Errorf("x-amzn-RequestId %q", reqID)
	}
	mustContain(t, body, "<RequestId>"+reqID+"</RequestId></ErrorResponse>")

	status, body, _ = post(t, e, url.Values{"Action": {"GetCallerIdentity"}}, nil)
	if status != http.StatusBadRequest {
		t.Errorf("no Version: status %d", status)
	}
	mustContain(t, body, "<Code>InvalidAction</Code><Message>Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED</Message>")

	_, body, _ = post(t, e, url.Values{"Action": {"Frobnicate"}, "Version": {STSVersion}}, nil)
	mustContain(t, body, "<Code>InvalidAction</Code>")
	_, body, _ = post(t, e, url.Values{"Version": {STSVersion}}, nil)
	mustContain(t, body, "<Code>MissingAction</Code>")
	_, body, _ = post(t, e, url.Values{"Action": {"AssumeRoleWithSAML"}, "Version": {STSVersion}, "RoleArn": {devRole}, "PrincipalArn": {oktaIdP}}, nil)
	mustContain(t, body, "<Code>ValidationError</Code><Message>1 validation error detected: Value null at &#39;sAMLAssertion&#39;")

	// GET with the query string works like POST.
	a := samlAssertion(t, e.clk.Now(), samlSpec{})
	q := url.Values{"Action": {"AssumeRoleWithSAML"}, "Version": {STSVersion}, "RoleArn": {devRole}, "PrincipalArn": {oktaIdP}, "SAMLAssertion": {a}}
	resp, err := e.srv.Client().Get(e.srv.URL + "/?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET AssumeRoleWithSAML: %d %s", resp.StatusCode, raw)
	}
	mustContain(t, string(raw), `<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithSAMLResult><Credentials><AccessKeyId>ASIA`)
	mustContain(t, string(raw), `<PackedPolicySize>0</PackedPolicySize>`)
	mustContain(t, string(raw), `</AssumeRoleWithSAMLResult><ResponseMetadata><RequestId>`)

	// A session policy is checked and counted.
	q.Set("Policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
	q.Set("SAMLAssertion", samlAssertion(t, e.clk.Now(), samlSpec{}))
	_, body, _ = post(t, e, q, nil)
	mustContain(t, body, "<PackedPolicySize>5</PackedPolicySize>")
	q.Set("Policy", "{not json")
	_, body, _ = post(t, e, q, nil)
	mustContain(t, body, "<Code>MalformedPolicyDocument</Code>")
}

func TestIssueCredentialsBounds(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.IssueCredentials("arn:aws:iam::111111111111:role/Ghost", "s1", 0); ErrorCodeOf(err) != CodeAccessDenied {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := e.svc.IssueCredentials(devRole, "x", 0); ErrorCodeOf(err) != CodeValidationError {
		t.Errorf("one-letter session name: %v", err)
	}
	if _, err := e.svc.IssueCredentials(devRole, "s1", 2*time.Hour); ErrorCodeOf(err) != CodeValidationError {
		t.Errorf("beyond max session: %v", err)
	}
	c, err := e.svc.IssueCredentials(longRole, "s1", 12*time.Hour)
	if err != nil || !c.Expires.Equal(e.start.Add(12*time.Hour)) || c.AccountID != acct {
		t.Errorf("12h on a 12h role: %+v %v", c, err)
	}
}

func TestConfigYAML(t *testing.T) {
	doc := `
region: eu-central-1
accounts:
  - {id: "111111111111", alias: dev}
roles:
  - arn: arn:aws:iam::111111111111:role/Dev
    max_session_duration: 4h
    trust:
      saml_providers: [arn:aws:iam::111111111111:saml-provider/Okta]
      oidc_providers: [arn:aws:iam::111111111111:oidc-provider/127.0.0.1/oauth2/default]
saml_providers:
  - {arn: arn:aws:iam::111111111111:saml-provider/Okta, okta_app: 0oaaws}
oidc_providers:
  - {arn: arn:aws:iam::111111111111:oidc-provider/127.0.0.1/oauth2/default, url: /oauth2/default, client_ids: [ci]}
users:
  - {arn: arn:aws:iam::111111111111:user/ci, access_key_id: AKIAEXAMPLESANDBOX01, secret_access_key: abcdefghijklmnopqrstuvwxyz}
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Roles[0].MaxSessionDuration != 4*time.Hour || cfg.SAMLProviders[0].OktaApp != "0oaaws" {
		t.Fatalf("decoded %+v", cfg)
	}
	svc, err := New(cfg, Options{BaseURL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Region() != "eu-central-1" || svc.oidc["arn:aws:iam::111111111111:oidc-provider/127.0.0.1/oauth2/default"].issuer != "http://127.0.0.1:9/oauth2/default" {
		t.Errorf("region %s / relative issuer not resolved", svc.Region())
	}
	if svc.AccountAlias("111111111111") != "dev" || len(svc.AccountIDs()) != 1 {
		t.Errorf("accounts")
	}

	bad := map[string]Config{
		"unknown account":       {Roles: []RoleConfig{{ARN: devRole}}},
		"bad role arn":          {Accounts: []AccountConfig{{ID: acct}}, Roles: []RoleConfig{{ARN: "arn:aws:iam::111111111111:user/x"}}},
		"session too long":      {Accounts: []AccountConfig{{ID: acct}}, Roles: []RoleConfig{{ARN: devRole, MaxSessionDuration: 13 * time.Hour}}},
		"trust unknown":         {Accounts: []AccountConfig{{ID: acct}}, Roles: []RoleConfig{{ARN: devRole, Trust: TrustConfig{SAMLProviders: []string{oktaIdP}}}}},
		"relative without base": {Accounts: []AccountConfig{{ID: acct}}, OIDCProviders: []OIDCProviderConfig{{ARN: oidcIdP, URL: "/x", ClientIDs: []string{"a"}}}},
		"bad access key":        {Accounts: []AccountConfig{{ID: acct}}, Users: []UserConfig{{ARN: userARN, AccessKeyID: "ASIAXXXXXXXXXXXXXXXX", SecretAccessKey: userSecret}}},
		"bad region":            {Region: "moon"},
		"metadata file missing": {Accounts: []AccountConfig{{ID: acct}}, SAMLProviders: []SAMLProviderConfig{{ARN: oktaIdP, MetadataFile: "/nonexistent/metadata.xml"}}},
	}
	for name, c := range bad {
		if _, err := New(c, Options{}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestMetadataRefusals(t *testing.T) {
	e := newEnv(t)
	main, _ := idps(t)
	for name, md := range map[string]string{
		"not xml":        "hello",
		"wrong root":     `<x xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>`,
		"no entityID":    `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><IDPSSODescriptor/></EntityDescriptor>`,
		"no certificate": `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><IDPSSODescriptor/></EntityDescriptor>`,
		"bad cert":       `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><IDPSSODescriptor><KeyDescriptor><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>AAAA</X509Certificate></X509Data></KeyInfo></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>`,
	} {
		if err := e.svc.AddSAMLProviderMetadata(oktaIdP, []byte(md)); ErrorCodeOf(err) != CodeInvalidInput {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := e.svc.AddSAMLProviderMetadata("arn:aws:iam::999999999999:saml-provider/X", main.metadata("x")); err == nil {
		t.Errorf("provider in an unknown account accepted")
	}
	// A new provider can be created at run time, like CreateSAMLProvider.
	if err := e.svc.AddSAMLProviderMetadata("arn:aws:iam::111111111111:saml-provider/Late", main.metadata("late")); err != nil {
		t.Fatal(err)
	}
	md, err := ParseSAMLMetadata(main.metadata(entityID))
	if err != nil || md.EntityID != entityID || len(md.Certificates) != 1 {
		t.Fatalf("ParseSAMLMetadata: %+v %v", md, err)
	}
	a, err := ParseSAMLResponse(samlAssertion(t, e.clk.Now(), samlSpec{}), md, e.clk.Now())
	if err != nil || a.NameID != "alice@example.com" || a.Attributes[SAMLAttrRoleSessionName][0] != "alice@example.com" {
		t.Fatalf("ParseSAMLResponse: %+v %v", a, err)
	}
}

// TestConcurrentCallers exercises issuance and verification from many
// goroutines at once, for the race detector.
func TestConcurrentCallers(t *testing.T) {
	e := newEnv(t)
	errs := make(chan error, 8)
	assertion := samlAssertion(t, e.clk.Now(), samlSpec{}) // built here: t.Fatal belongs to the test goroutine
	for i := 0; i < 8; i++ {
		go func(i int) {
			if i%2 == 0 {
				out, err := e.assumeSAML(assertion, devRole, oktaIdP, 0)
				if err != nil {
					errs <- err
					return
				}
				c := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
				_, err = e.client(static(c)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
				errs <- err
				return
			}
			c, err := e.svc.IssueCredentials(devRole, "worker", time.Hour)
			if err == nil {
				_, err = e.client(static(c)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
