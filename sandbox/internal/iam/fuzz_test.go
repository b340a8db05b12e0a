package iam

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	rdsauth "github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The fuzz targets cover every parser of untrusted input. Run them with a
// short minimization budget, e.g.
//
//	go test -run '^$' -fuzz '^FuzzParseSAMLResponse$' -fuzztime 15s -fuzzminimizetime 1s ./sandbox/iam/
//
// because minimizing a multi-kilobyte SAML response at the default 60 s
// budget spends the whole run minimizing instead of fuzzing.

// fuzzNow is the fixed time fuzz targets verify at, so that seeds built for
// it stay valid however long a fuzzing run lasts.
var fuzzNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func FuzzParseQueryParams(f *testing.F) {
	f.Add(true, "", []byte("Action=GetCallerIdentity&Version=2011-06-15"))
	f.Add(false, "Action=AssumeRoleWithSAML&Version=2011-06-15&SAMLAssertion=PHg%2B", []byte(nil))
	f.Add(true, "Action=X", []byte("Action=Y&Action=Z"))
	f.Add(true, "a=%zz", []byte("b=%"))
	f.Fuzz(func(t *testing.T, post bool, rawQuery string, body []byte) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		params, err := ParseQueryParams(method, rawQuery, body)
		if err != nil {
			if ErrorCodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for k, v := range params {
			if len(v) != 1 {
				t.Fatalf("parameter %q has %d values", k, len(v))
			}
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=")
	f.Add("AWS4-HMAC-SHA256 ,,,=,")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			if ErrorCodeOf(err) != CodeIncompleteSignature {
				t.Fatalf("error %v is not IncompleteSignature", err)
			}
			return
		}
		if len(a.Signature) != 64 || len(a.SignedHeaders) == 0 || a.AccessKeyID == "" {
			t.Fatalf("accepted an incomplete header: %+v", a)
		}
	})
}

func FuzzParseSAMLResponse(f *testing.F) {
	main, evil := idps(f)
	md := &SAMLMetadata{EntityID: entityID, Certificates: []*x509.Certificate{main.cert}}
	seed := func(spec samlSpec) []byte {
		raw, err := buildResponse(f, fuzzNow, spec).WriteToBytes()
		if err != nil {
			f.Fatal(err)
		}
		return raw
	}
	f.Add(seed(samlSpec{}))
	f.Add(seed(samlSpec{signResponse: true, noSignAssertion: true}))
	f.Add(seed(samlSpec{signResponse: true}))
	f.Add(seed(samlSpec{noSignAssertion: true}))
	f.Add(seed(samlSpec{signer: evil}))
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := ParseSAMLResponse(base64.StdEncoding.EncodeToString(raw), md, fuzzNow)
		if err != nil {
			if ErrorCodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Anything accepted must have been signed by the trusted key, so
		// it carries what the seeds' IdP put there.
		if a.Issuer != entityID || a.NameID == "" || !strings.Contains(string(raw), "Signature") {
			t.Fatalf("accepted %+v", a)
		}
	})
}

func FuzzParseJWT(f *testing.F) {
	rk, _, ek := jwtKeys()
	claims := jwt.Claims{Issuer: "https://issuer.example", Subject: "s", Audience: jwt.Audience{"a"}, Expiry: jwt.NewNumericDate(fuzzNow)}
	f.Add(signJWT(f, rk, "k1", claims))
	f.Add(signJWT(f, ek, "e1", claims))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ParseJWT(token)
		if err != nil {
			if ErrorCodeOf(err) != CodeInvalidIdentityToken {
				t.Fatalf("error %v is not InvalidIdentityToken", err)
			}
			return
		}
		_ = c.Issuer
	})
}

func FuzzParseSAMLMetadata(f *testing.F) {
	main, _ := idps(f)
	f.Add(main.metadata(entityID))
	f.Add([]byte(`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><EntityDescriptor entityID="x"/></EntitiesDescriptor>`))
	f.Add([]byte(`<!DOCTYPE x><x/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := ParseSAMLMetadata(data)
		if err != nil {
			if ErrorCodeOf(err) != CodeInvalidInput {
				t.Fatalf("error %v is not InvalidInput", err)
			}
			return
		}
		if md.EntityID == "" || len(md.Certificates) == 0 {
			t.Fatalf("accepted metadata without entityID or certificates: %+v", md)
		}
	})
}

func FuzzVerifyPresignedURL(f *testing.F) {
	svc, err := New(Config{
		Accounts: []AccountConfig{{ID: acct}},
		Users:    []UserConfig{{ARN: userARN, AccessKeyID: userKeyID, SecretAccessKey: userSecret}},
	}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	creds := static(aws.Credentials{AccessKeyID: userKeyID, SecretAccessKey: userSecret})
	tok, err := rdsauth.BuildAuthToken(context.Background(), "db.sandbox.internal:5432", "us-east-1", "app_user", creds)
	if err != nil {
		f.Fatal(err)
	}
	// BuildAuthToken signs at the wall clock; verify at that moment.
	signedAt := time.Now()
	f.Add(tok)
	f.Add("db:5432/?Action=connect&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Signature=00")
	f.Add("://%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := svc.VerifyPresignedURL(raw, "rds-db", "", signedAt)
		if err != nil {
			if ErrorCodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if c.ARN != userARN {
			t.Fatalf("accepted as %s", c.ARN)
		}
	})
}
