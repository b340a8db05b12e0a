package testenv

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLServer is a MariaDB server of Debian's package, running in a
// temporary directory and listening on 127.0.0.1 only. The administrator
// (User, Password) may log in from anywhere over TCP with a password;
// connections may use TLS with a certificate from the test CA.
type MySQLServer struct {
	Host     string // always 127.0.0.1
	Port     int
	User     string // administrator with all privileges, "root"
	Password string
	// CAFile is the PEM file of the CA that signed the server certificate.
	CAFile  string
	DataDir string
	LogPath string

	proc *proc
}

// TLSConfigName is the name under which this package registers, with
// github.com/go-sql-driver/mysql, a TLS configuration that verifies the
// servers it starts; DSN uses it as the tls parameter.
const TLSConfigName = "oktafed-testenv"

var registerMySQLTLS struct {
	once sync.Once
	err  error
}

// MariaDB starts a MariaDB server for t and stops it when t ends. Starting
// one costs about a second; tests that only need a database of their own
// should prefer SharedMariaDB with NewDatabase.
func MariaDB(t testing.TB) *MySQLServer {
	t.Helper()
	s, err := startMariaDB()
	check(t, "MariaDB", err)
	cleanupServer(t, s.proc, s.Stop)
	return s
}

// Addr returns host:port.
func (s *MySQLServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DSN returns a github.com/go-sql-driver/mysql data source name for user
// and database over TCP with TLS verified against the test CA.
func (s *MySQLServer) DSN(username, password, database string) string {
	c := mysql.NewConfig()
	c.User = username
	c.Passwd = password
	c.Net = "tcp"
	c.Addr = s.Addr()
	c.DBName = database
	c.TLSConfig = TLSConfigName
	return c.FormatDSN()
}

// AdminDSN returns DSN for the administrator.
func (s *MySQLServer) AdminDSN(database string) string {
	return s.DSN(s.User, s.Password, database)
}

// TLSConfig returns a client TLS configuration that verifies the server.
func (s *MySQLServer) TLSConfig() *tls.Config { return clientTLSConfig(s.Host) }

// Exec runs each statement as the administrator, failing t on the first
// error. Use it to create users and databases.
func (s *MySQLServer) Exec(t testing.TB, statements ...string) {
	t.Helper()
	if err := s.exec("", statements...); err != nil {
		t.Fatal(err)
	}
}

// ExecIn is Exec with database as the default database.
func (s *MySQLServer) ExecIn(t testing.TB, database string, statements ...string) {
	t.Helper()
	if err := s.exec(database, statements...); err != nil {
		t.Fatal(err)
	}
}

func (s *MySQLServer) exec(database string, statements ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("mysql", s.AdminDSN(database))
	if err != nil {
		return err
	}
	defer db.Close()
	// One connection, so statements that set session state apply to the
	// ones after them.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to MariaDB at %s: %w", s.Addr(), err)
	}
	defer conn.Close()
	for _, st := range statements {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			return fmt.Errorf("MariaDB: %s: %w", st, err)
		}
	}
	return nil
}

// NewDatabase creates an empty database with a unique name, dropped when t
// ends, and returns its name.
func (s *MySQLServer) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "t_" + randomHex(8)
	s.Exec(t, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		if s.proc.exited() {
			return
		}
		if err := s.exec("", "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return name
}

// Log returns the server's log so far.
func (s *MySQLServer) Log() string { return s.proc.log() }

// Stop shuts the server down and removes its directory. It is safe to
// call more than once.
func (s *MySQLServer) Stop() {
	s.proc.stop()
	os.RemoveAll(filepath.Dir(s.DataDir))
}

// mariadbPrograms finds the server and the installer under their MariaDB
// names, falling back to the MySQL-compatible ones.
func mariadbPrograms() (server, installer string, err error) {
	server = firstExisting("/usr/sbin/mariadbd", "/usr/sbin/mysqld")
	installer = firstExisting("/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")
	if server == "" || installer == "" {
		return "", "", missing("mariadbd or mariadb-install-db not found (Debian package mariadb-server)")
	}
	return server, installer, nil
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// mariadbUserArgs lets the server run as root, which mariadbd refuses
// unless told explicitly. Running as root keeps file ownership simple;
// the server still only listens on loopback.
func mariadbUserArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// Settings shared by the template and the servers. InnoDB's redo log is
// kept small so the copied data directory is small.
var mariadbCommonArgs = []string{
	"--innodb-log-file-size=8M",
	"--innodb-buffer-pool-size=32M",
	// Native AIO is often unavailable in containers and brings nothing to
	// a tiny test database.
	"--innodb-use-native-aio=0",
}

func startMariaDB() (*MySQLServer, error) {
	server, installer, err := mariadbPrograms()
	if err != nil {
		return nil, err
	}
	tmpl, err := template("mariadb", func(dir string) error {
		args := append([]string{
			"--no-defaults",
			"--datadir=" + filepath.Join(dir, "data"),
			// An empty root password on the socket only; the server's
			// init file below replaces it before any client connects.
			"--auth-root-authentication-method=normal",
			"--skip-test-db",
			"--skip-name-resolve",
		}, mariadbUserArgs()...)
		args = append(args, mariadbCommonArgs...)
		cmd := exec.Command(installer, args...)
		cmd.Dir = dir
		cmd.Env = serverEnv()
		return runLogged(cmd)
	})
	if err != nil {
		return nil, err
	}
	dir, err := newServerDir("my-", nil)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	data := filepath.Join(dir, "data")
	if err := copyTree(filepath.Join(tmpl, "data"), data); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	tlsFiles, err := writeServerTLS(dir, nil)
	if err != nil {
		return nil, err
	}
	password := randomHex(12)
	// The init file runs with full privileges before the server accepts
	// connections. mariadb-install-db made root@localhost, 127.0.0.1 and
	// ::1 without a password; one password-protected root@'%' replaces
	// the TCP ones (a more specific host would otherwise match first).
	// Bootstrap SQL files take one statement per line.
	initSQL := strings.Join([]string{
		"DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';",
		fmt.Sprintf("CREATE OR REPLACE USER 'root'@'%%' IDENTIFIED BY '%s';", password),
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;",
		fmt.Sprintf("ALTER USER 'root'@'localhost' IDENTIFIED BY '%s';", password),
		"FLUSH PRIVILEGES;",
	}, "\n") + "\n"
	initFile := filepath.Join(dir, "init.sql")
	if err := os.WriteFile(initFile, []byte(initSQL), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "mariadb.log")
	p, port, err := startOnFreePort(func(port int) (*proc, error) {
		args := append([]string{
			"--no-defaults",
			"--datadir=" + data,
			"--socket=" + filepath.Join(dir, "mysqld.sock"),
			"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
			"--tmpdir=" + tmp,
			"--port=" + strconv.Itoa(port),
			"--bind-address=127.0.0.1",
			"--skip-name-resolve",
			"--init-file=" + initFile,
			"--ssl-ca=" + tlsFiles.CAFile,
			"--ssl-cert=" + tlsFiles.CertFile,
			"--ssl-key=" + tlsFiles.KeyFile,
			"--character-set-server=utf8mb4",
			"--collation-server=utf8mb4_general_ci",
			"--max-connections=200",
			// Test data is thrown away, so durability only costs time.
			"--innodb-flush-log-at-trx-commit=0",
			"--innodb-doublewrite=0",
			"--skip-log-bin",
		}, mariadbUserArgs()...)
		args = append(args, mariadbCommonArgs...)
		cmd := exec.Command(server, args...)
		cmd.Dir = dir
		cmd.Env = serverEnv()
		p, err := startProc("mariadbd", cmd, logPath, syscall.SIGTERM)
		if err != nil {
			return nil, err
		}
		if err := p.waitLog("ready for connections"); err != nil {
			p.stop()
			return p, err
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	registerMySQLTLS.once.Do(func() {
		registerMySQLTLS.err = mysql.RegisterTLSConfig(TLSConfigName, clientTLSConfig(""))
	})
	if registerMySQLTLS.err != nil {
		p.stop()
		return nil, registerMySQLTLS.err
	}
	ok = true
	return &MySQLServer{
		Host:     "127.0.0.1",
		Port:     port,
		User:     "root",
		Password: password,
		CAFile:   tlsFiles.CAFile,
		DataDir:  data,
		LogPath:  logPath,
		proc:     p,
	}, nil
}
