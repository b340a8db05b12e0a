package secrets_test

import (
	"context"
	"fmt"

	"github.com/oktafed/oktafed/awsauth"
	"github.com/oktafed/oktafed/sandbox/sandboxtest"
	"github.com/oktafed/oktafed/secrets"
)

// Read the database login that the sandbox keeps in Secrets Manager, with
// the credentials of an oktafed login.
func ExampleReader_Field() {
	ctx := context.Background()
	env, err := sandboxtest.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()
	defer env.Setenv()()
	if _, err := env.Login(ctx, "/Admin$/"); err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := awsauth.LoadConfig(ctx, awsauth.WithProfile("okta-prod-Admin"), awsauth.WithSessions(env.Sessions))
	if err != nil {
		fmt.Println(err)
		return
	}

	r := secrets.New(cfg)
	user, err := r.Field(ctx, "demo/orders-db", "username")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := r.Get(ctx, "demo/orders-db") // served from the cache
	fmt.Println(user)
	fmt.Println(s) // values never print
	// Output:
	// orders_app
	// secret demo/orders-db [redacted]
}
