package m2m_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oktafed/oktafed/m2m"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// TestDPoPApp: an app that requires DPoP refuses token requests without a
// proof, and the error says how to send one; with a DPoP key the provider
// goes through Okta's use_dpop_nonce exchange, gets a token bound to its
// key, and turns it into role credentials.
func TestDPoPApp(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	found := false
	for i, c := range cfg.OAuth.Servers[0].Clients {
		if c.ClientID == demoClientID {
			cfg.OAuth.Servers[0].Clients[i].DPoPBoundAccessTokens = true
			found = true
		}
	}
	if !found {
		t.Fatal("demo machine client not in the default configuration")
	}
	srv := sandbox.Start(t, cfg)
	ctx := context.Background()

	plain, err := m2m.New(demoConfig(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	_, err = plain.AccessToken(ctx)
	var te *m2m.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_dpop_proof" || !strings.Contains(err.Error(), m2m.EnvDPoP) {
		t.Fatalf("no proof: %v", err)
	}

	dc := demoConfig(t, srv)
	if dc.DPoPKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	p, err := m2m.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.AccessToken(ctx)
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("with a DPoP key: %+v %v", tok, err)
	}
	d, err := verify.Decode(tok.AccessToken.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	if cnf, _ := d.Claims["cnf"].(map[string]any); cnf == nil || cnf["jkt"] == "" {
		t.Fatalf("token not bound: %v", d.Claims)
	}
	// A second token reuses the nonce: no second round trip is needed,
	// and it still works.
	if _, err := p.AccessToken(ctx); err != nil {
		t.Fatal(err)
	}
	creds := p.Cache()
	out, err := sts.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(srv.URL)}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || !strings.HasSuffix(aws.ToString(out.Arn), "/Automation/oktafed-"+demoClientID) {
		t.Fatalf("role credentials from a DPoP-bound token: %v %v", out, err)
	}
	// The environment switch.
	env := map[string]string{"OKTA_ISSUER": srv.URL + "/oauth2/default", "OKTA_CLIENT_ID": demoClientID, "OKTAFED_CLIENT_KEY": demoKeyPath, "AWS_ROLE_ARN": demoRole, m2m.EnvDPoP: "true"}
	ec, err := m2m.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || ec.DPoPKey == nil {
		t.Fatalf("OKTAFED_DPOP=true: %v", err)
	}
	env[m2m.EnvDPoP] = "maybe"
	if _, err := m2m.ConfigFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("OKTAFED_DPOP=maybe accepted")
	}
}
