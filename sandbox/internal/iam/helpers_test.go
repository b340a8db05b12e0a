package iam

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/beevik/etree"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/oktafed/oktafed/internal/clock"
)

const (
	acct        = "111111111111"
	otherAcct   = "222222222222"
	devRole     = "arn:aws:iam::111111111111:role/Dev"
	pathRole    = "arn:aws:iam::111111111111:role/team/Ops"
	longRole    = "arn:aws:iam::111111111111:role/Long"
	noTrustRole = "arn:aws:iam::111111111111:role/NoTrust"
	otherRole   = "arn:aws:iam::222222222222:role/Admin"
	oktaIdP     = "arn:aws:iam::111111111111:saml-provider/Okta"
	otherIdP    = "arn:aws:iam::111111111111:saml-provider/Other"
	oidcIdP     = "arn:aws:iam::111111111111:oidc-provider/127.0.0.1/oidc"
	userARN     = "arn:aws:iam::111111111111:user/ci"
	userKeyID   = "AKIAEXAMPLESANDBOX01"
	userSecret  = "sandbox-static-user-secret-for-tests"
	entityID    = "http://www.okta.com/exk-sandbox-test"
	clientID    = "sandbox-client"
)

// testIdP is a SAML IdP the tests control: its key signs assertions and its
// certificate is published through metadata.
type testIdP struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	idpOnce           sync.Once
	idpMain, idpEvil  *testIdP
	rsaOnce           sync.Once
	jwtKey, jwtKeyBad *rsa.PrivateKey
	jwtECKey          *ecdsa.PrivateKey
)

// idps returns the trusted test IdP and an impostor with its own key.
func idps(t testing.TB) (*testIdP, *testIdP) {
	t.Helper()
	idpOnce.Do(func() {
		idpMain = newTestIdP(loadKey("idp-rsa.pem").(*rsa.PrivateKey))
		idpEvil = newTestIdP(loadKey("impostor-rsa.pem").(*rsa.PrivateKey))
	})
	return idpMain, idpEvil
}

// loadKey reads a PKCS #8 key from testdata. The keys were generated for
// these tests with openssl genpkey; loading them instead of generating keys
// keeps the tests fast, and fuzz workers (whose coverage instrumentation
// makes RSA key generation take many seconds) usable.
func loadKey(name string) crypto.Signer {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		panic("no PEM block in " + name)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	return key.(crypto.Signer)
}

func newTestIdP(key *rsa.PrivateKey) *testIdP {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "oktafed sandbox test IdP"},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return &testIdP{key: key, cert: cert}
}

// metadata renders IdP metadata for entity with this IdP's certificate.
func (p *testIdP) metadata(entity string) []byte {
	doc := etree.NewDocument()
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMetadata)
	ed.CreateAttr("entityID", entity)
	idp := ed.CreateElement("md:IDPSSODescriptor")
	idp.CreateAttr("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol")
	kd := idp.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", "signing")
	ki := kd.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", nsDSig)
	ki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(p.cert.Raw))
	sso := idp.CreateElement("md:SingleSignOnService")
	sso.CreateAttr("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
	sso.CreateAttr("Location", "http://127.0.0.1/app/sso/saml")
	out, err := doc.WriteToBytes()
	if err != nil {
		panic(err)
	}
	return out
}

// samlSpec describes an assertion; zero fields get valid defaults.
type samlSpec struct {
	issuer          string
	nameID          string
	recipient       string
	audience        string
	notBefore       time.Time
	notOnOrAfter    time.Time
	roles           []string
	sessionName     string
	noSessionName   bool
	sessionDuration string
	sessionNotAfter time.Time
	status          string
	signResponse    bool
	noSignAssertion bool
	signer          *testIdP
}

// buildResponse returns the samlp:Response document for spec, signed as
// spec says, with the Assertion still reachable for tampering.
func buildResponse(t testing.TB, now time.Time, spec samlSpec) *etree.Document {
	t.Helper()
	main, _ := idps(t)
	if spec.signer == nil {
		spec.signer = main
	}
	if spec.issuer == "" {
		spec.issuer = entityID
	}
	if spec.nameID == "" {
		spec.nameID = "alice@example.com"
	}
	if spec.recipient == "" {
		spec.recipient = SAMLRecipient
	}
	if spec.audience == "" {
		spec.audience = SAMLAudience
	}
	if spec.notBefore.IsZero() {
		spec.notBefore = now.Add(-time.Minute)
	}
	if spec.notOnOrAfter.IsZero() {
		spec.notOnOrAfter = now.Add(5 * time.Minute)
	}
	if spec.roles == nil {
		spec.roles = []string{devRole + "," + oktaIdP}
	}
	if spec.sessionName == "" {
		spec.sessionName = "alice@example.com"
	}
	if spec.status == "" {
		spec.status = statusSuccess
	}
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

	a := etree.NewElement("saml2:Assertion")
	a.CreateAttr("xmlns:saml2", nsAssertion)
	a.CreateAttr("ID", "id-assertion-"+fmt.Sprint(now.UnixNano()))
	a.CreateAttr("IssueInstant", ts(now))
	a.CreateAttr("Version", "2.0")
	a.CreateElement("saml2:Issuer").SetText(spec.issuer)
	subj := a.CreateElement("saml2:Subject")
	nid := subj.CreateElement("saml2:NameID")
	nid.CreateAttr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
	nid.SetText(spec.nameID)
	sc := subj.CreateElement("saml2:SubjectConfirmation")
	sc.CreateAttr("Method", bearerMethod)
	scd := sc.CreateElement("saml2:SubjectConfirmationData")
	scd.CreateAttr("NotOnOrAfter", ts(spec.notOnOrAfter))
	scd.CreateAttr("Recipient", spec.recipient)
	cond := a.CreateElement("saml2:Conditions")
	cond.CreateAttr("NotBefore", ts(spec.notBefore))
	cond.CreateAttr("NotOnOrAfter", ts(spec.notOnOrAfter))
	cond.CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText(spec.audience)
	authn := a.CreateElement("saml2:AuthnStatement")
	authn.CreateAttr("AuthnInstant", ts(now))
	if !spec.sessionNotAfter.IsZero() {
		authn.CreateAttr("SessionNotOnOrAfter", ts(spec.sessionNotAfter))
	}
	authn.CreateElement("saml2:AuthnContext").CreateElement("saml2:AuthnContextClassRef").SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
	attrs := a.CreateElement("saml2:AttributeStatement")
	addAttr := func(name string, values ...string) {
		at := attrs.CreateElement("saml2:Attribute")
		at.CreateAttr("Name", name)
		at.CreateAttr("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
		for _, v := range values {
			at.CreateElement("saml2:AttributeValue").SetText(v)
		}
	}
	addAttr(SAMLAttrRole, spec.roles...)
	if !spec.noSessionName {
		addAttr(SAMLAttrRoleSessionName, spec.sessionName)
	}
	if spec.sessionDuration != "" {
		addAttr(SAMLAttrSessionDuration, spec.sessionDuration)
	}

	if !spec.noSignAssertion {
		a = spec.signer.sign(t, a)
	}
	resp := etree.NewElement("saml2p:Response")
	resp.CreateAttr("xmlns:saml2p", nsProtocol)
	resp.CreateAttr("ID", "id-response-"+fmt.Sprint(now.UnixNano()))
	resp.CreateAttr("IssueInstant", ts(now))
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("Destination", SAMLRecipient)
	iss := resp.CreateElement("saml2:Issuer")
	iss.CreateAttr("xmlns:saml2", nsAssertion)
	iss.SetText(spec.issuer)
	resp.CreateElement("saml2p:Status").CreateElement("saml2p:StatusCode").CreateAttr("Value", spec.status)
	resp.AddChild(a)
	if spec.signResponse {
		resp = spec.signer.sign(t, resp)
	}
	doc := etree.NewDocument()
	doc.SetRoot(resp)
	// Reparse, so tests that tamper with the tree edit a consistent one
	// (goxmldsig attaches the Signature without setting its parent).
	raw, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	doc = etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	return doc
}

// sign returns el with an enveloped signature made with exclusive
// canonicalization, as Okta and most IdPs sign.
func (p *testIdP) sign(t testing.TB, el *etree.Element) *etree.Element {
	t.Helper()
	ctx, err := dsig.NewSigningContext(p.key, [][]byte{p.cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func encodeDoc(t testing.TB, doc *etree.Document) string {
	t.Helper()
	raw, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func samlAssertion(t testing.TB, now time.Time, spec samlSpec) string {
	t.Helper()
	return encodeDoc(t, buildResponse(t, now, spec))
}

// oidcIssuer is an httptest OpenID provider serving discovery and JWKS.
type oidcIssuer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	jwksHits int
	down     bool
}

func jwtKeys() (*rsa.PrivateKey, *rsa.PrivateKey, *ecdsa.PrivateKey) {
	rsaOnce.Do(func() {
		jwtKey = loadKey("jwt-rsa.pem").(*rsa.PrivateKey)
		jwtKeyBad = loadKey("jwt-impostor-rsa.pem").(*rsa.PrivateKey)
		jwtECKey = loadKey("jwt-ec.pem").(*ecdsa.PrivateKey)
	})
	return jwtKey, jwtKeyBad, jwtECKey
}

func newOIDCIssuer(t testing.TB) *oidcIssuer {
	t.Helper()
	rk, _, ek := jwtKeys()
	iss := &oidcIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oidc/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		down := iss.down
		iss.mu.Unlock()
		if down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss.srv.URL + "/oidc", "jwks_uri": iss.srv.URL + "/oidc/keys"})
	})
	mux.HandleFunc("GET /oidc/keys", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		iss.jwksHits++
		iss.mu.Unlock()
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &rk.PublicKey, KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"},
			{Key: &ek.PublicKey, KeyID: "e1", Algorithm: string(jose.ES256), Use: "sig"},
		}}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

func (o *oidcIssuer) url() string { return o.srv.URL + "/oidc" }

// signJWT signs claims with key (RSA → RS256, ECDSA → ES256) under kid.
func signJWT(t testing.TB, key any, kid string, claims any) string {
	t.Helper()
	alg := jose.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// env is a Service behind an httptest server plus an SDK client for it.
type env struct {
	t     *testing.T
	clk   *clock.Fake
	svc   *Service
	srv   *httptest.Server
	oidc  *oidcIssuer
	anon  *sts.Client
	cfg   Config
	start time.Time
}

func testConfig(oidcURL string) Config {
	return Config{
		Accounts: []AccountConfig{{ID: acct, Alias: "dev"}, {ID: otherAcct}},
		Roles: []RoleConfig{
			{ARN: devRole, Trust: TrustConfig{SAMLProviders: []string{oktaIdP}, OIDCProviders: []string{oidcIdP}}},
			{ARN: pathRole, Trust: TrustConfig{SAMLProviders: []string{oktaIdP}}},
			{ARN: longRole, MaxSessionDuration: 12 * time.Hour, Trust: TrustConfig{SAMLProviders: []string{oktaIdP}}},
			{ARN: noTrustRole},
			{ARN: otherRole, Trust: TrustConfig{SAMLProviders: []string{otherIdP}}},
		},
		SAMLProviders: []SAMLProviderConfig{{ARN: oktaIdP, OktaApp: "0oa-aws"}, {ARN: otherIdP}},
		OIDCProviders: []OIDCProviderConfig{{ARN: oidcIdP, URL: oidcURL, ClientIDs: []string{clientID}}},
		Users:         []UserConfig{{ARN: userARN, AccessKeyID: userKeyID, SecretAccessKey: userSecret}},
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	main, evil := idps(t)
	e := &env{t: t, start: time.Now().UTC().Truncate(time.Second)}
	e.clk = clock.NewFake(e.start)
	e.oidc = newOIDCIssuer(t)
	// An unstarted server already has its address, which the service needs
	// as its base URL before it can be the handler.
	e.srv = httptest.NewUnstartedServer(nil)
	e.cfg = testConfig(e.oidc.url())
	svc, err := New(e.cfg, Options{Clock: e.clk, BaseURL: "http://" + e.srv.Listener.Addr().String(), HTTPClient: e.oidc.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddSAMLProviderMetadata(oktaIdP, main.metadata(entityID)); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddSAMLProviderMetadata(otherIdP, evil.metadata("http://other.example/idp")); err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.srv.Config.Handler = svc
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.anon = e.client(aws.AnonymousCredentials{})
	return e
}

// client returns an STS client for the sandbox signing with creds.
func (e *env) client(creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.srv.URL),
		Credentials:  creds,
		HTTPClient:   e.srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

// static is a credentials provider that never expires on the client side,
// so the sandbox, not the SDK, judges expiry.
func static(c aws.Credentials) aws.CredentialsProvider {
	c.CanExpire = false
	c.Expires = time.Time{}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
}

func (e *env) assumeSAML(assertion, role, provider string, duration int32) (*sts.AssumeRoleWithSAMLOutput, error) {
	in := &sts.AssumeRoleWithSAMLInput{RoleArn: aws.String(role), PrincipalArn: aws.String(provider), SAMLAssertion: aws.String(assertion)}
	if duration != 0 {
		in.DurationSeconds = aws.Int32(duration)
	}
	return e.anon.AssumeRoleWithSAML(context.Background(), in)
}

// wantCode asserts that err is an AWS API error with code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want error code %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error (want %s)", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

func mustContain(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
