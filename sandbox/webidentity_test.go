package sandbox_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/sandbox/internal/authserver"
)

const automationRole = "arn:aws:iam::123456789012:role/Automation"

// serviceToken gets an access token for the demo service client with the
// client credentials grant from the authorization server at issuer.
func serviceToken(t *testing.T, issuer string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("0oa1demoservice00001", "demo-service-secret-not-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.AccessToken == "" {
		t.Fatalf("token: %v %s", err, v.Error)
	}
	return v.AccessToken
}

// forge re-signs token's claims with a key the issuer never had, keeping
// the header's kid so only the signature can give it away.
func forge(t *testing.T, token string) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", parsed.Headers[0].KeyID))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tamper changes one claim but keeps the issuer's signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(parts) != 3 {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload.UnsafePayloadWithoutVerification(), &claims)
	claims["sub"] = "someone-else"
	b, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func assumeWithWebIdentity(srv *sandbox.Server, token string) error {
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}})
	_, err := c.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(automationRole), RoleSessionName: aws.String("web-identity-test"), WebIdentityToken: aws.String(token),
	})
	return err
}

func TestSTSRefusesWebIdentityTokensItCannotTrust(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	srv := sandbox.StartWithOptions(t, sandbox.DefaultConfig(), sandbox.Options{Clock: clk})
	// A sandbox whose "default" server issues tokens for another audience.
	other := sandbox.DefaultConfig()
	other.OAuth.Servers[0].Audiences = []string{"api://not-aws"}
	// And a server no IAM OIDC provider names.
	other.OAuth.Servers = append(other.OAuth.Servers, authserver.ServerConfig{
		ID: "untrusted", Scopes: []authserver.ScopeConfig{{Name: "orders.read"}},
		Clients: []authserver.ClientConfig{{ClientID: "0oa1demoservice00001", ClientSecret: "demo-service-secret-not-secret", GrantTypes: []string{authserver.GrantClientCredentials}}},
	})
	otherAud := sandbox.Start(t, other)

	issuer := srv.URL + "/oauth2/default"
	tests := []struct {
		name     string
		srv      *sandbox.Server
		token    func() string
		wantCode string
		wantMsg  string
	}{
		{"valid", srv, func() string { return serviceToken(t, issuer) }, "", ""},
		{"signed by another key", srv, func() string { return forge(t, serviceToken(t, issuer)) }, "InvalidIdentityToken", "signature"},
		{"claims changed after signing", srv, func() string { return tamper(t, serviceToken(t, issuer)) }, "InvalidIdentityToken", "signature"},
		{"issuer without an OIDC provider", otherAud, func() string { return serviceToken(t, otherAud.URL+"/oauth2/untrusted") }, "InvalidIdentityToken", "no openidconnect provider"},
		{"audience not a client id of the provider", otherAud, func() string { return serviceToken(t, otherAud.URL+"/oauth2/default") }, "InvalidIdentityToken", "audience"},
		{"expired", srv, func() string {
			tok := serviceToken(t, issuer)
			clk.Advance(61 * time.Minute)
			t.Cleanup(func() { clk.Advance(-61 * time.Minute) })
			return tok
		}, "ExpiredTokenException", "expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := assumeWithWebIdentity(tc.srv, tc.token())
			if got := apiCode(err); got != tc.wantCode {
				t.Fatalf("err = %v, want code %q", err, tc.wantCode)
			}
			if tc.wantMsg != "" && !strings.Contains(strings.ToLower(err.Error()), tc.wantMsg) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}
