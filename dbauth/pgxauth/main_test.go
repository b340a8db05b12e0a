package pgxauth_test

import (
	"testing"

	"github.com/oktafed/oktafed/dbauth/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
