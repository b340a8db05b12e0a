package iam

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestWebIdentity(t *testing.T) {
	e := newEnv(t)
	rk, badKey, ek := jwtKeys()
	now := e.clk.Now()
	claims := func(mod func(*jwt.Claims)) jwt.Claims {
		c := jwt.Claims{
			Issuer: e.oidc.url(), Subject: "repo:oktafed/oktafed:ref:refs/heads/main", Audience: jwt.Audience{clientID},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)),
		}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	assume := func(token, role string) (*sts.AssumeRoleWithWebIdentityOutput, error) {
		return e.anon.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String(role), RoleSessionName: aws.String("ci-run"), WebIdentityToken: aws.String(token),
		})
	}

	out, err := assume(signJWT(t, rk, "k1", claims(nil)), devRole)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	if *out.SubjectFromWebIdentityToken != "repo:oktafed/oktafed:ref:refs/heads/main" || *out.Audience != clientID || *out.Provider != oidcIdP {
		t.Errorf("result %q %q %q", *out.SubjectFromWebIdentityToken, *out.Audience, *out.Provider)
	}
	if *out.AssumedRoleUser.Arn != "arn:aws:sts::111111111111:assumed-role/Dev/ci-run" {
		t.Errorf("Arn %q", *out.AssumedRoleUser.Arn)
	}
	creds := aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
	if _, err := e.client(static(creds)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity with web-identity credentials: %v", err)
	}

	// ES256 works as well; an audience list only needs one match.
	if _, err := assume(signJWT(t, ek, "e1", claims(func(c *jwt.Claims) { c.Audience = jwt.Audience{"other", clientID} })), devRole); err != nil {
		t.Fatalf("ES256: %v", err)
	}

	cases := []struct {
		name  string
		token string
		role  string
		code  string
	}{
		{"signed by another key", signJWT(t, badKey, "k1", claims(nil)), devRole, CodeInvalidIdentityToken},
		{"unknown kid", signJWT(t, badKey, "k9", claims(nil)), devRole, CodeInvalidIdentityToken},
		{"expired", signJWT(t, rk, "k1", claims(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) })), devRole, CodeExpiredTokenException},
		{"no exp", signJWT(t, rk, "k1", claims(func(c *jwt.Claims) { c.Expiry = nil })), devRole, CodeInvalidIdentityToken},
		{"not yet valid", signJWT(t, rk, "k1", claims(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })), devRole, CodeInvalidIdentityToken},
		{"issued in the future", signJWT(t, rk, "k1", claims(func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), devRole, CodeInvalidIdentityToken},
		{"other audience", signJWT(t, rk, "k1", claims(func(c *jwt.Claims) { c.Audience = jwt.Audience{"someone-else"} })), devRole, CodeInvalidIdentityToken},
		{"unknown issuer", signJWT(t, rk, "k1", claims(func(c *jwt.Claims) { c.Issuer = e.oidc.url() + "/" })), devRole, CodeInvalidIdentityToken},
		{"role does not trust provider", signJWT(t, rk, "k1", claims(nil)), noTrustRole, CodeAccessDenied},
		{"role does not exist", signJWT(t, rk, "k1", claims(nil)), "arn:aws:iam::111111111111:role/Ghost", CodeAccessDenied},
		{"not a JWT", "not.a.jwt", devRole, CodeInvalidIdentityToken},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", devRole, CodeInvalidIdentityToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := assume(tc.token, tc.role)
			wantCode(t, err, tc.code)
		})
	}

	_, err = e.anon.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(devRole), RoleSessionName: aws.String("bad name!"), WebIdentityToken: aws.String(signJWT(t, rk, "k1", claims(nil))),
	})
	wantCode(t, err, CodeValidationError)

	// Keys are cached: the tokens above fetched the JWKS a bounded number
	// of times (once, plus one refetch for the unknown kid).
	e.oidc.mu.Lock()
	hits := e.oidc.jwksHits
	e.oidc.mu.Unlock()
	if hits > 2 {
		t.Errorf("JWKS fetched %d times, want at most 2", hits)
	}

	// An unreachable issuer is IDPCommunicationError.
	e.oidc.mu.Lock()
	e.oidc.down = true
	e.oidc.mu.Unlock()
	e.clk.Advance(jwksTTL + time.Second)
	fresh := signJWT(t, rk, "k1", claims(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(e.clk.Now().Add(time.Hour)) }))
	_, err = assume(fresh, devRole)
	wantCode(t, err, CodeIDPCommunicationError)
}

func TestParseJWT(t *testing.T) {
	rk, _, _ := jwtKeys()
	tok := signJWT(t, rk, "k1", jwt.Claims{Issuer: "https://issuer.example", Subject: "s", Audience: jwt.Audience{"a"}, Expiry: jwt.NewNumericDate(time.Unix(2000000000, 0))})
	c, err := ParseJWT(tok)
	if err != nil || c.Issuer != "https://issuer.example" || c.KeyID != "k1" || c.Expiry.Unix() != 2000000000 {
		t.Fatalf("ParseJWT = %+v, %v", c, err)
	}
	if _, err := ParseJWT("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"); ErrorCodeOf(err) != CodeInvalidIdentityToken {
		t.Errorf("HS256 accepted: %v", err)
	}
}
