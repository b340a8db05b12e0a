package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresServer is a PostgreSQL server of Debian's package, running in a
// temporary directory and listening on 127.0.0.1 only. TCP connections
// need a password (scram-sha-256) and may use TLS with a certificate from
// the test CA (see CAFile).
type PostgresServer struct {
	Host     string // always 127.0.0.1
	Port     int
	User     string // superuser name
	Password string // superuser password
	// CAFile is the PEM file of the CA that signed the server certificate,
	// usable as sslrootcert.
	CAFile  string
	DataDir string
	LogPath string
	// Version is the major version, such as 15.
	Version int

	proc *proc
}

// Postgres starts a PostgreSQL server for t and stops it when t ends.
// Starting one costs about a second; tests that only need a database of
// their own should prefer SharedPostgres with NewDatabase.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	s, err := startPostgres()
	check(t, "PostgreSQL", err)
	cleanupServer(t, s.proc, s.Stop)
	return s
}

// Addr returns host:port.
func (s *PostgresServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL returns a connection URL for user and database over TLS with full
// verification against CAFile. An empty password leaves it out.
func (s *PostgresServer) URL(username, password, database string) string {
	u := url.URL{Scheme: "postgres", Host: s.Addr(), Path: "/" + database}
	if password != "" {
		u.User = url.UserPassword(username, password)
	} else {
		u.User = url.User(username)
	}
	q := url.Values{}
	q.Set("sslmode", "verify-full")
	q.Set("sslrootcert", s.CAFile)
	u.RawQuery = q.Encode()
	return u.String()
}

// AdminURL returns URL for the superuser.
func (s *PostgresServer) AdminURL(database string) string {
	return s.URL(s.User, s.Password, database)
}

// TLSConfig returns a client TLS configuration that verifies the server.
func (s *PostgresServer) TLSConfig() *tls.Config { return clientTLSConfig(s.Host) }

// Exec runs each statement in the database "postgres" as the superuser,
// failing t on the first error. Use it to create roles and databases.
func (s *PostgresServer) Exec(t testing.TB, statements ...string) {
	t.Helper()
	s.ExecIn(t, "postgres", statements...)
}

// ExecIn is Exec in the given database.
func (s *PostgresServer) ExecIn(t testing.TB, database string, statements ...string) {
	t.Helper()
	if err := s.exec(database, statements...); err != nil {
		t.Fatal(err)
	}
}

func (s *PostgresServer) exec(database string, statements ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.AdminURL(database))
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", s.Addr(), err)
	}
	defer conn.Close(context.Background())
	for _, st := range statements {
		if _, err := conn.Exec(ctx, st); err != nil {
			return fmt.Errorf("PostgreSQL: %s: %w", st, err)
		}
	}
	return nil
}

// NewDatabase creates an empty database with a unique name, dropped when t
// ends (connections still open then are closed by force), and returns its
// name. It keeps tests on a shared server from seeing each other's data.
func (s *PostgresServer) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "t_" + randomHex(8)
	s.Exec(t, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		if s.proc.exited() {
			return
		}
		if err := s.exec("postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return name
}

// Log returns the server's log so far.
func (s *PostgresServer) Log() string { return s.proc.log() }

// Stop shuts the server down (fast shutdown) and removes its directory.
// It is safe to call more than once.
func (s *PostgresServer) Stop() {
	s.proc.stop()
	os.RemoveAll(filepath.Dir(s.DataDir))
}

// postgresBin finds the newest server version in Debian's layout,
// /usr/lib/postgresql/VERSION/bin.
func postgresBin() (dir string, version int, err error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	type found struct {
		dir     string
		version int
	}
	var all []found
	for _, m := range matches {
		d := filepath.Dir(m)
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		all = append(all, found{d, v})
	}
	if len(all) == 0 {
		return "", 0, missing("no /usr/lib/postgresql/*/bin/postgres (Debian package postgresql)")
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version > all[j].version })
	return all[0].dir, all[0].version, nil
}

// serverAccount returns the system user a database server must run as
// when the tests run as root, or nil when they do not.
func serverAccount(name, pkg string) (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, missing("system user %q, made by Debian package %s, is missing: %v", name, pkg, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &account{name: name, uid: uid, gid: gid}, nil
}

// The superuser's password is set by initdb in the template, so it is the
// same for every server of one test process, and random per process.
var pgTemplatePassword struct {
	once sync.Once
	pw   string
}

func pgPassword() string {
	pgTemplatePassword.once.Do(func() { pgTemplatePassword.pw = randomHex(12) })
	return pgTemplatePassword.pw
}

const pgSuperuser = "postgres"

func startPostgres() (*PostgresServer, error) {
	bin, version, err := postgresBin()
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount("postgres", "postgresql")
	if err != nil {
		return nil, err
	}
	tmpl, err := template("postgres"+strconv.Itoa(version), func(dir string) error {
		return initPostgresTemplate(bin, acct, dir)
	})
	if err != nil {
		return nil, err
	}
	dir, err := newServerDir("pg-", acct)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	// PostgreSQL refuses a data directory that others can read.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := copyTree(filepath.Join(tmpl, "data"), data); err != nil {
		return nil, err
	}
	tlsFiles, err := writeServerTLS(dir, acct)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	p, port, err := startOnFreePort(func(port int) (*proc, error) {
		cmd := exec.Command(filepath.Join(bin, "postgres"),
			"-D", data,
			"-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories="+dir,
			"-c", "ssl=on",
			"-c", "ssl_cert_file="+tlsFiles.CertFile,
			"-c", "ssl_key_file="+tlsFiles.KeyFile,
			// Test data is thrown away, so durability only costs time.
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "shared_buffers=32MB",
			"-c", "max_connections=200",
			"-c", "huge_pages=off",
			"-c", "timezone=UTC",
			"-c", "logging_collector=off",
		)
		cmd.Dir = dir
		cmd.Env = serverEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential()}
		// SIGINT is PostgreSQL's fast shutdown: it ends sessions and
		// exits without waiting for clients.
		p, err := startProc("postgres", cmd, logPath, syscall.SIGINT)
		if err != nil {
			return nil, err
		}
		if err := p.waitLog("database system is ready to accept connections"); err != nil {
			p.stop()
			return p, err
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return &PostgresServer{
		Host:     "127.0.0.1",
		Port:     port,
		User:     pgSuperuser,
		Password: pgPassword(),
		CAFile:   tlsFiles.CAFile,
		DataDir:  data,
		LogPath:  logPath,
		Version:  version,
		proc:     p,
	}, nil
}

func initPostgresTemplate(bin string, acct *account, dir string) error {
	if acct != nil {
		if err := os.Chown(dir, acct.uid, acct.gid); err != nil {
			return err
		}
	}
	pwFile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwFile, []byte(pgPassword()+"\n"), 0o600); err != nil {
		return err
	}
	if acct != nil {
		if err := os.Chown(pwFile, acct.uid, acct.gid); err != nil {
			return err
		}
	}
	defer os.Remove(pwFile)
	cmd := exec.Command(filepath.Join(bin, "initdb"),
		"-D", filepath.Join(dir, "data"),
		"--username="+pgSuperuser,
		"--pwfile="+pwFile,
		// Local (Unix socket) logins need no password: the socket lives in
		// a private directory. TCP logins always need one.
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
		"--no-instructions",
	)
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential()}
	return runLogged(cmd)
}

// serverEnv is a small, predictable environment for server processes:
// the test's own PG*, MYSQL* or locale variables must not change them.
func serverEnv() []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C", "TZ=UTC"}
	if h := os.Getenv("HOME"); h != "" && os.Geteuid() != 0 {
		env = append(env, "HOME="+h)
	}
	return env
}
