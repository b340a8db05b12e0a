package dbauth_test

import (
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/oktafed/oktafed/dbauth/pgxauth"
	"github.com/oktafed/oktafed/secret"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
)

// TestDatabasesGuideExample runs the "Against oktafed sandbox" example of
// docs/databases.md as written, with only the addresses and file paths of this
// machine put in: its sandbox config, its PostgreSQL DSN with the Go
// wrapper's names, against real PostgreSQL behind the front.
func TestDatabasesGuideExample(t *testing.T) {
	t.Parallel()
	guide, err := os.ReadFile("../docs/databases.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(guide)
	block := regexp.MustCompile("(?s)<!-- databases-sandbox-yaml -->\n```yaml\n(.*?)```").FindStringSubmatch(doc)
	if block == nil {
		t.Fatal("docs/databases.md has no databases sandbox config")
	}
	dsnLine := regexp.MustCompile(`(?m)^postgres://app@127\.0\.0\.1:15432/\S+$`).FindString(doc)
	if dsnLine == "" {
		t.Fatal("docs/databases.md has no PostgreSQL DSN for the sandbox")
	}

	pg := testenv.Postgres(t)
	pg.Exec(t, "CREATE ROLE app LOGIN PASSWORD 'app-backend-password'", "CREATE DATABASE app OWNER app")
	dir := t.TempDir()
	pgCA := filepath.Join(dir, "pg.pem")
	yaml := block[1]
	for old, repl := range map[string]string{
		"127.0.0.1:15432":           "127.0.0.1:0",
		"127.0.0.1:13306":           "127.0.0.1:0",
		"/tmp/oktafed-pg-front.pem": pgCA,
		"/tmp/oktafed-my-front.pem": filepath.Join(dir, "my.pem"),
		"addr: 127.0.0.1:5432":      "addr: " + pg.Addr(),
		"user: postgres\n":          "user: " + pg.User + "\n",
		"password: postgres\n":      "password: " + pg.Password + "\n",
		"addr: 127.0.0.1:3306":      "addr: 127.0.0.1:1",
	} {
		yaml = strings.ReplaceAll(yaml, old, repl)
	}
	cfg, err := sandbox.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatalf("the guide's sandbox config: %v", err)
	}
	srv := sandbox.Start(t, cfg)

	dsn := strings.NewReplacer(
		"127.0.0.1:15432", srv.RDS[0].Addr(),
		"/tmp/oktafed-pg-front.pem", pgCA,
		"http://127.0.0.1:8443", srv.URL,
	).Replace(dsnLine)
	counter := &stsCounter{}
	c, err := pgxauth.NewConnector(dsn, dbauth.Config{IdPPassword: secret.New("Sandbox-Db-1"), HTTPClient: &http.Client{Transport: counter}, STSEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var user string
	if err := db.QueryRow("SELECT current_user").Scan(&user); err != nil || user != "app" {
		t.Fatalf("the guide's DSN: %q, %v", user, err)
	}
	if counter.authn.Load() != 1 {
		t.Fatalf("%d sign-ins", counter.authn.Load())
	}
}
