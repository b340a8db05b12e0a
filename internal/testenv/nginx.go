package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NginxServer is Debian's nginx running in the foreground with a
// generated configuration, its own pid file, logs and temporary paths,
// listening on 127.0.0.1 only.
type NginxServer struct {
	Host string // always 127.0.0.1
	Port int
	Dir  string
	// Conf is the configuration nginx runs with, for failure messages.
	Conf string

	proc *proc
}

// NginxOptions shape the generated configuration.
type NginxOptions struct {
	// Workers is worker_processes (default 1).
	Workers int
	// Server returns the directives inside http { } for the port nginx
	// must listen on (on 127.0.0.1): upstream and server blocks.
	Server func(port int) string
}

// Nginx starts nginx for t and stops it when t ends.
func Nginx(t testing.TB, opts NginxOptions) *NginxServer {
	t.Helper()
	s, err := startNginx(opts)
	check(t, "nginx", err)
	cleanupServer(t, s.proc, s.Stop)
	return s
}

// Addr returns host:port.
func (s *NginxServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL returns http://host:port.
func (s *NginxServer) URL() string { return "http://" + s.Addr() }

// ErrorLog returns nginx's error log so far.
func (s *NginxServer) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	return string(b)
}

// Stop shuts nginx down and removes its directory; safe to call twice.
func (s *NginxServer) Stop() {
	s.proc.stop()
	os.RemoveAll(s.Dir)
}

func nginxBin() (string, error) {
	for _, p := range []string{"/usr/sbin/nginx", "/usr/bin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", missing("nginx not found (Debian package nginx)")
}

func startNginx(opts NginxOptions) (*NginxServer, error) {
	bin, err := nginxBin()
	if err != nil {
		return nil, err
	}
	if opts.Server == nil {
		return nil, fmt.Errorf("NginxOptions.Server is required")
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 1
	}
	dir, err := newServerDir("nginx-", nil)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "nginx.out")
	var conf string
	p, port, err := startOnFreePort(func(port int) (*proc, error) {
		conf = nginxConf(dir, workers, opts.Server(port))
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		// -e: the error log from the first line on, so nginx never
		// touches /var/log/nginx; -p: relative paths stay in dir.
		cmd := exec.Command(bin, "-p", dir+"/", "-e", filepath.Join(dir, "error.log"), "-c", confPath, "-g", "daemon off; master_process on;")
		cmd.Dir = dir
		cmd.Env = serverEnv()
		p, err := startProc("nginx", cmd, logPath, syscall.SIGTERM)
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = p.waitReady(func() (bool, error) {
			if strings.Contains(readFile(filepath.Join(dir, "error.log")), "Address already in use") {
				return false, fmt.Errorf("address already in use")
			}
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err != nil {
				return false, nil
			}
			c.Close()
			return true, nil
		})
		if err != nil {
			p.stop()
			if strings.Contains(readFile(filepath.Join(dir, "error.log")), "Address already in use") {
				// startOnFreePort reads the proc's log for this.
				_ = os.WriteFile(logPath, []byte("Address already in use\n"), 0o644)
			}
			return p, fmt.Errorf("%w\n%s", err, tail(readFile(filepath.Join(dir, "error.log")), 20, "--- nginx error.log ---"))
		}
		return p, nil
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &NginxServer{Host: "127.0.0.1", Port: port, Dir: dir, Conf: conf, proc: p}, nil
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func nginxConf(dir string, workers int, server string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Workers drop root; nginx makes the temporary paths below
		// writable for them.
		b.WriteString("user nobody nogroup;\n")
	}
	fmt.Fprintf(&b, "worker_processes %d;\npid %s;\nerror_log %s info;\n", workers, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"))
	b.WriteString("events { worker_connections 4096; }\nhttp {\n  access_log off;\n")
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s;\n", t, filepath.Join(dir, "tmp-"+t))
	}
	b.WriteString(server)
	b.WriteString("\n}\n")
	return b.String()
}
