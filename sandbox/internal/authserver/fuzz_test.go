package authserver

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/oktafed/oktafed/internal/clock"
)

const formType = "application/x-www-form-urlencoded"

func FuzzParseFormBody(f *testing.F) {
	f.Add(formType, []byte("grant_type=client_credentials&scope=read+write"))
	f.Add(formType+"; charset=utf-8", []byte("a=1&a=2"))
	f.Add(formType, []byte("%zz=1"))
	f.Add("multipart/form-data; boundary=x", []byte("--x--"))
	f.Add("", []byte(""))
	f.Add(formType, []byte("a;b=c&=&&x"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		form, oerr := parseFormBody(ctype, body)
		if oerr != nil {
			if form != nil || oerr.status != http.StatusBadRequest || oerr.code != "invalid_request" {
				t.Fatalf("error %+v with form %v", oerr, form)
			}
			return
		}
		// Whatever parses re-encodes to a body that parses to the same.
		vals := url.Values{}
		for k, v := range form {
			vals.Set(k, v)
		}
		again, oerr := parseFormBody(formType, []byte(vals.Encode()))
		if oerr != nil || len(again) != len(form) {
			t.Fatalf("round trip of %v: %v %v", form, again, oerr)
		}
		for k, v := range form {
			if again[k] != v {
				t.Fatalf("round trip changed %q: %q -> %q", k, v, again[k])
			}
		}
	})
}

func FuzzParseBasicAuth(f *testing.F) {
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	f.Add(enc("client:secret"))
	f.Add(enc("client%3Aid:se%2Bcret"))
	f.Add(enc(":secret"))
	f.Add(enc("nocolon"))
	f.Add("Basic !!!")
	f.Add("basic " + base64.StdEncoding.EncodeToString([]byte("a:b")))
	f.Add("Bearer abc")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		creds, ok, err := parseBasicAuth(header)
		if !ok {
			if err != nil || creds != (basicCredentials{}) {
				t.Fatalf("not Basic, yet err %v creds %+v", err, creds)
			}
			return
		}
		if err != nil {
			return
		}
		if creds.id == "" || strings.Contains(creds.id, ":") {
			t.Fatalf("id %q from %q", creds.id, header)
		}
		// Re-encoding the raw halves yields the same credentials.
		again, ok2, err2 := parseBasicAuth(enc(creds.id + ":" + creds.secret))
		if !ok2 || err2 != nil || again != creds {
			t.Fatalf("round trip: %+v -> %+v (%v)", creds, again, err2)
		}
	})
}

func FuzzParseClientAssertion(f *testing.F) {
	claims := map[string]any{"iss": "c", "sub": "c", "aud": "http://x/oauth2/default/v1/token", "exp": 1900000000, "jti": "j"}
	f.Add(signAssertion(f, clientEC, jose.ES256, "ec-1", claims))
	f.Add(signAssertion(f, clientRSA, jose.RS256, "rsa-1", claims))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJjIn0.")
	f.Add("a.b.c")
	f.Add("")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		pa, err := parseClientAssertion(raw)
		if err != nil {
			if pa != nil {
				t.Fatal("result with error")
			}
			return
		}
		if len(pa.jws.Signatures) != 1 {
			t.Fatalf("%d signatures", len(pa.jws.Signatures))
		}
		alg := jose.SignatureAlgorithm(pa.jws.Signatures[0].Header.Algorithm)
		if !slices.Contains(assertionAlgs, alg) {
			t.Fatalf("accepted alg %q", alg)
		}
		// Parsing alone never authenticates: no key of the client verifies
		// a token that is not signed with it.
		if verifyAssertionSignature(pa.jws, []jose.JSONWebKey{{Key: &strangerEC.PublicKey}}) {
			t.Fatal("stranger key verified a fuzzed assertion")
		}
	})
}

// fuzzServer is a default server with a fake clock and no listener.
func fuzzServer(f *testing.F) *server {
	s, err := New(testConfig(), Options{Clock: clock.NewFake(testStart), BaseURL: "http://sandbox.test", Directory: testUsers})
	if err != nil {
		f.Fatal(err)
	}
	return s.custom["default"]
}

func FuzzTokenEndpoint(f *testing.F) {
	srv := fuzzServer(f)
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("svc-basic:basic-secret")), []byte("grant_type=client_credentials&scope=read"))
	f.Add("", []byte("grant_type=password&client_id=native&username=ada%40example.com&password=correct+horse&scope=openid+offline_access"))
	f.Add("", []byte("grant_type=refresh_token&client_id=native&refresh_token=x"))
	f.Add("", []byte("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c"))
	f.Add("Basic Og==", []byte("grant_type=client_credentials&client_secret=x"))
	f.Fuzz(func(t *testing.T, auth string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/default/v1/token", bytes.NewReader(body))
		req.Header.Set("Content-Type", formType)
		if utf8.ValidString(auth) && !strings.ContainsAny(auth, "\r\n") {
			req.Header.Set("Authorization", auth)
		}
		resp, oerr := srv.token(req)
		if oerr != nil {
			known := map[string]int{
				"invalid_request": 400, "invalid_client": 401, "invalid_grant": 400, "invalid_scope": 400,
				"unsupported_grant_type": 400, "unauthorized_client": 400,
			}
			if want, ok := known[oerr.code]; !ok || want != oerr.status || oerr.description == "" {
				t.Fatalf("unexpected error %+v", oerr)
			}
			return
		}
		if resp.AccessToken == "" || resp.TokenType != "Bearer" {
			t.Fatalf("response %+v", resp)
		}
	})
}

func FuzzIntrospectToken(f *testing.F) {
	srv := fuzzServer(f)
	good, err := srv.parent.MintAccessToken("default", map[string]any{"cid": "svc-basic"}, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add("a.b.c")
	f.Add("refresh-token-lookalike")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		got := srv.introspect(token)
		if got.Active && token != good {
			// Only a token the server signed can be active; a fuzzed
			// variant may only differ in ways that do not change the
			// signed bytes (base64 padding bits).
			if _, err := srv.verifyJWT(token, testStart); err != nil {
				t.Fatalf("active without a valid signature: %q", token)
			}
		}
		if !got.Active && (got.Sub != "" || got.ClientID != "" || got.Scope != "") {
			t.Fatalf("inactive response carries data: %+v", got)
		}
	})
}
