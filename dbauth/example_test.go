package dbauth_test

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/dbauth"
)

// database/sql over pgx, logging in to RDS with an IAM token that an Okta
// login's STS credentials sign. The plugin parameters may sit in the DSN
// (stripped before pgx sees it) or, as the password here, in Config.
func ExampleNewPgxConnector() {
	dsn := "postgres://alice@orders.abc123.eu-west-1.rds.amazonaws.com:5432/orders" +
		"?plugins=okta&idp_endpoint=example.okta.com&app_id=0oa1demoawsapp0000001" +
		"&iam_role_arn=arn:aws:iam::123456789012:role/Orders&iam_idp_arn=arn:aws:iam::123456789012:saml-provider/okta"
	c, err := dbauth.NewPgxConnector(dsn, dbauth.Config{IdPUsername: "alice@example.com", IdPPassword: secret.New("from a prompt or a secret store")})
	if err != nil {
		fmt.Println(err)
		return
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var user string
	if err := db.QueryRowContext(context.Background(), "select current_user").Scan(&user); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(user)
}

// The MySQL driver over the default AWS credential chain (plugin iam).
func ExampleNewMySQLConnector() {
	c, err := dbauth.NewMySQLConnector("alice@tcp(orders.abc123.eu-west-1.rds.amazonaws.com:3306)/orders?plugins=iam", dbauth.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	db := sql.OpenDB(c)
	defer db.Close()
}
