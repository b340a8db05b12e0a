package m2m

import (
	"bytes"
	"net/http"
	"os"
	"testing"
)

func FuzzParseKey(f *testing.F) {
	if demo, err := os.ReadFile("../sandbox/testdata/demo-m2m-client.PUBLIC-TEST-KEY.pem"); err == nil {
		f.Add(demo)
	}
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}`))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKey(data)
		if err != nil {
			if len(data) > 8 && bytes.Contains([]byte(err.Error()), data) {
				t.Fatalf("error quotes the key material: %v", err)
			}
			return
		}
		if k.Signer == nil {
			t.Fatal("no signer and no error")
		}
	})
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"a.b.c","token_type":"Bearer","expires_in":3600,"scope":"x"}`))
	f.Add(401, []byte(`{"error":"invalid_client","error_description":"no"}`))
	f.Add(200, []byte(`{"access_token":"t","expires_in":"99999999999999999999"}`))
	f.Add(502, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		tok, err := parseTokenResponse(status, bytes.NewReader(body))
		if err == nil && (tok.AccessToken.IsZero() || status != http.StatusOK || tok.ExpiresIn < 0) {
			t.Fatalf("accepted %d %q as %+v", status, body, tok)
		}
	})
}
