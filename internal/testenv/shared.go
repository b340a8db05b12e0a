package testenv

import (
	"os"
	"sync"
	"testing"
)

// Shared servers are started by the first test that asks for one and live
// until the test binary ends, so a package's tests pay the start-up cost
// once. Tests on a shared server isolate themselves with NewDatabase (or
// names of their own) and must not stop or reconfigure it.
//
// A package that uses them should stop them in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// Without that they still die with the test binary (they get a
// parent-death signal), and their directories are removed by the next
// test run that uses this package.
var shared struct {
	mu      sync.Mutex
	servers map[string]*sharedServer
}

type sharedServer struct {
	once sync.Once
	srv  any
	err  error
	stop func()
}

func getShared(kind string, start func() (any, func(), error)) (any, error) {
	shared.mu.Lock()
	if shared.servers == nil {
		shared.servers = map[string]*sharedServer{}
	}
	s := shared.servers[kind]
	if s == nil {
		s = &sharedServer{}
		shared.servers[kind] = s
	}
	shared.mu.Unlock()
	s.once.Do(func() {
		s.srv, s.stop, s.err = start()
	})
	return s.srv, s.err
}

// SharedPostgres returns this test binary's shared PostgreSQL server,
// starting it on first use. See Main.
func SharedPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	srv, err := getShared("postgres", func() (any, func(), error) {
		s, err := startPostgres()
		if err != nil {
			return nil, nil, err
		}
		return s, s.Stop, nil
	})
	check(t, "PostgreSQL", err)
	return srv.(*PostgresServer)
}

// SharedMariaDB returns this test binary's shared MariaDB server, starting
// it on first use. See Main.
func SharedMariaDB(t testing.TB) *MySQLServer {
	t.Helper()
	srv, err := getShared("mariadb", func() (any, func(), error) {
		s, err := startMariaDB()
		if err != nil {
			return nil, nil, err
		}
		return s, s.Stop, nil
	})
	check(t, "MariaDB", err)
	return srv.(*MySQLServer)
}

// Main runs the tests, then stops the shared servers and removes every
// directory this package made. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	Shutdown()
	return code
}

// Shutdown stops the shared servers and removes this package's
// directories. Main calls it; call it yourself only from a TestMain that
// cannot use Main.
func Shutdown() {
	shared.mu.Lock()
	servers := shared.servers
	shared.servers = nil
	shared.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		if s.stop != nil {
			wg.Go(s.stop)
		}
	}
	wg.Wait()
	if base.dir != "" {
		os.RemoveAll(base.dir)
	}
}
