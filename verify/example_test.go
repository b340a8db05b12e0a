package verify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// A service trusts an Okta authorization server and maps Okta groups to
// roles; Verify checks a bearer token and returns who sent it. The
// sandbox stands in for the Okta org and mints the token.
func ExampleNew() {
	srv, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	pc := verify.Okta("", "default") // the org's "default" server
	pc.BaseURL = srv.URL             // in production: Okta("example.okta.com", "default")
	v, err := verify.New(verify.Config{
		Providers: []verify.ProviderConfig{pc},
		Policy: verify.Policy{
			Audiences:   []string{"api://default"},
			AdminGroups: []string{"aws-admins"},
			WriteGroups: []string{"developers"},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	token, _ := srv.MintAccessToken("default", map[string]any{
		"sub": "alice@example.com", "cid": "0oa1demoservice00001", "scp": []string{"orders.read"}, "groups": []string{"developers"},
	}, time.Hour)
	p, err := v.Verify(context.Background(), token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Subject, p.Role, p.Scopes)

	_, err = v.Verify(context.Background(), token[:len(token)-4]+"AAAA")
	fmt.Println(err != nil)
	// Output:
	// alice@example.com write [orders.read]
	// true
}
