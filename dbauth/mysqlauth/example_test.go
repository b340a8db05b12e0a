package mysqlauth_test

import (
	"database/sql"
	"fmt"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/dbauth/mysqlauth"
)

// The MySQL driver over the default AWS credential chain (plugin iam).
func ExampleNewConnector() {
	c, err := mysqlauth.NewConnector("alice@tcp(orders.abc123.eu-west-1.rds.amazonaws.com:3306)/orders?plugins=iam", dbauth.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	db := sql.OpenDB(c)
	defer db.Close()
}
