package dbauth_test

import (
	"context"
	"fmt"

	"github.com/oktafed/oktafed/dbauth"
)

// An RDS IAM token signed with the default AWS credential chain (plugin
// iam), as `aws rds generate-db-auth-token` prints it: for a driver or a
// client that dbauth/pgxauth and dbauth/mysqlauth do not cover.
func ExampleAuth_Token() {
	a, err := dbauth.New(dbauth.Config{Plugin: dbauth.PluginIAM})
	if err != nil {
		fmt.Println(err)
		return
	}
	token, err := a.Token(context.Background(), "orders.abc123.eu-west-1.rds.amazonaws.com", 5432, "alice")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = token // the password of the next connection, for 15 minutes
}
