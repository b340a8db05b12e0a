package dbauth_test

import "github.com/oktafed/oktafed/dbauth/internal/dbtest"

// The names of the rig (package dbtest) the tests here use most.
const (
	appRole = dbtest.AppRole
	samlIdP = dbtest.SAMLIdP
	dbUser  = dbtest.DBUser
)
