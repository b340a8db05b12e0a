package guard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/oktafed/oktafed/guard"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/verify"
)

// Middleware in front of a handler: the handler runs only for a token that
// verifies and grants the rule's role, and finds the principal in the
// request's context. The sandbox stands in for the Okta org.
func ExampleGuard_Require() {
	srv, err := sandbox.New(sandbox.DefaultConfig(), sandbox.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	pc := verify.Okta("", "default")
	pc.BaseURL = srv.URL
	v, err := verify.New(verify.Config{Providers: []verify.ProviderConfig{pc}, Policy: verify.Policy{
		Audiences: []string{"api://default"}, WriteGroups: []string{"developers"},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}

	g := guard.New(v, guard.Options{Realm: "orders"})
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := guard.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "hello %s", p.Subject)
	})
	api := httptest.NewServer(g.Require(guard.Rule{Roles: []string{verify.RoleWrite}})(hello))
	defer api.Close()

	token, _ := srv.MintAccessToken("default", map[string]any{
		"sub": "alice@example.com", "cid": "0oa1demoservice00001", "groups": []string{"developers"},
	}, time.Hour)
	for _, auth := range []string{"", "Bearer " + token} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, api.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 401 authentication required: send an Okta access token as 'Authorization: Bearer <token>'
	// 200 hello alice@example.com
}
