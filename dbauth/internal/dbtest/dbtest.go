// Package dbtest is the test rig of dbauth and its driver packages (tests
// only): a sandbox's AWS side on a fake clock with RDS fronts before real
// PostgreSQL and MariaDB, and impostor database servers with certificates
// nothing trusts.
package dbtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-sql-driver/mysql"

	"github.com/oktafed/oktafed/dbauth"
	"github.com/oktafed/oktafed/internal/clock"
	"github.com/oktafed/oktafed/internal/testenv"
	"github.com/oktafed/oktafed/sandbox"
	"github.com/oktafed/oktafed/secret"
)

// The role, SAML provider and database users the rig is set up with.
const (
	AppRole  = "arn:aws:iam::123456789012:role/App"
	SAMLIdP  = "arn:aws:iam::123456789012:saml-provider/okta"
	DBUser   = "alice"
	Master   = "master"
	MasterPW = "master-password"
)

// Env is a sandbox, for its AWS side, on a fake clock with an RDS front.
type Env struct {
	Srv   *sandbox.Server // its AWS side checks tokens and issues credentials
	Clk   *clock.Fake
	Front *sandbox.RDSFront
	// Federations counts Config.Federation calls and Logins counts
	// credential fetches, each standing for one Okta login and
	// AssumeRoleWithSAML call.
	Federations, Logins atomic.Int32
	// ForeignFirst makes the first login return credentials the sandbox
	// never issued, as a revoked session would be.
	ForeignFirst atomic.Bool
}

// NewEnv starts the sandbox's AWS side on a fake clock.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	clk := clock.NewFake(time.Now())
	srv := sandbox.StartWithOptions(t, sandbox.Config{AWS: sandbox.AWSConfig{
		Region:   "us-east-1",
		Accounts: []sandbox.AWSAccountConfig{{ID: "123456789012"}},
		Roles:    []sandbox.AWSRoleConfig{{ARN: AppRole}},
	}}, sandbox.Options{Clock: clk})
	return &Env{Srv: srv, Clk: clk}
}

// config is the okta plugin with a Federation that stands in for package
// federation: each Retrieve is one Okta login + AssumeRoleWithSAML, here
// IssueCredentials on the sandbox.
func (e *Env) Config() dbauth.Config {
	return dbauth.Config{
		Plugin:      dbauth.PluginOkta,
		IdPEndpoint: "http://127.0.0.1:1", AppID: "0oa1demoawsapp0000001",
		IAMRoleARN: AppRole, IAMIdPARN: SAMLIdP, IAMRegion: "us-east-1",
		IdPUsername: "demo@example.com", IdPPassword: secret.New("demo-password"),
		Now: e.Clk.Now,
		Federation: func(ctx context.Context, l dbauth.OktaLogin) (aws.CredentialsProvider, error) {
			e.Federations.Add(1)
			return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
				n := e.Logins.Add(1)
				// Let concurrent callers pile up behind the first, as a
				// real login's round trips would.
				time.Sleep(20 * time.Millisecond)
				if n == 1 && e.ForeignFirst.Load() {
					return aws.Credentials{AccessKeyID: "ASIAREVOKEDREVOKED00", SecretAccessKey: "x", SessionToken: "y", CanExpire: true, Expires: time.Now().Add(time.Hour)}, nil
				}
				return e.Srv.IssueCredentials(l.RoleARN, "dbauth-test", time.Hour)
			}), nil
		},
	}
}

// StartPostgres starts real PostgreSQL with user alice and database app,
// and an RDS front before it that allows alice for AppRole; caFile holds
// the front's CA.
func (e *Env) StartPostgres(t testing.TB) (front *sandbox.RDSFront, caFile string) {
	t.Helper()
	pg := testenv.Postgres(t)
	pg.Exec(t,
		"CREATE ROLE alice LOGIN PASSWORD 'alice-backend-password'",
		"CREATE DATABASE app OWNER alice",
	)
	front = e.Srv.StartRDS(t, sandbox.RDSConfig{
		Engine:    sandbox.RDSPostgres,
		Allowed:   map[string][]string{DBUser: {AppRole}},
		Passwords: map[string]string{Master: MasterPW},
		Backend: sandbox.RDSBackendConfig{Addr: pg.Addr(), User: pg.User, Password: pg.Password,
			Users: map[string]string{DBUser: "alice-backend-password"}},
	})
	caFile = filepath.Join(t.TempDir(), "front.pem")
	if err := os.WriteFile(caFile, front.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Front = front
	return front, caFile
}

// PgURL is a verify-full pgx URL for user at front, trusting caFile, with
// extra parameters.
func PgURL(front *sandbox.RDSFront, caFile, user string, extra url.Values) string {
	q := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {caFile}}
	for k, v := range extra {
		q[k] = v
	}
	return "postgres://" + user + "@" + front.Addr() + "/app?" + q.Encode()
}

// StartMySQL starts real MariaDB and an RDS front before it, as
// StartPostgres does; tlsName is the front's registered MySQL TLS config.
func (e *Env) StartMySQL(t testing.TB) (front *sandbox.RDSFront, tlsName string) {
	t.Helper()
	my := testenv.MariaDB(t)
	my.Exec(t,
		"CREATE DATABASE app",
		"CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-backend-password'",
		"GRANT ALL PRIVILEGES ON app.* TO 'alice'@'%'",
	)
	front = e.Srv.StartRDS(t, sandbox.RDSConfig{
		Engine:    sandbox.RDSMySQL,
		Allowed:   map[string][]string{DBUser: {AppRole}},
		Passwords: map[string]string{Master: MasterPW},
		Backend: sandbox.RDSBackendConfig{Addr: my.Addr(), User: my.User, Password: my.Password,
			Users: map[string]string{DBUser: "alice-backend-password"}},
	})
	tlsName = "dbauth-test-" + front.Addr()
	if err := mysql.RegisterTLSConfig(tlsName, front.ClientTLSConfig("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	e.Front = front
	return front, tlsName
}

// ConnectConcurrently opens n connections at once through db and checks
// each is a session of alice.
func ConnectConcurrently(t testing.TB, db *sql.DB, n int, query string) {
	t.Helper()
	db.SetMaxOpenConns(n + 5)
	db.SetMaxIdleConns(n + 5)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	conns := make([]*sql.Conn, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := db.Conn(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = c
			var user string
			errs[i] = c.QueryRowContext(ctx, query).Scan(&user)
			if errs[i] == nil && user != DBUser && user != DBUser+"@%" {
				errs[i] = fmt.Errorf("session user %q", user)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

// PortOf is the port of a host:port address.
func PortOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// ImpostorCert is a certificate authority made by the test (self-signed)
// and a server certificate it signed for another name than the address
// the clients dial: a chain check alone (verify-ca) accepts it, a host
// name check refuses it, and nothing else trusts it.
type ImpostorCert struct {
	Cert   tls.Certificate
	CAFile string
	CAPool *x509.CertPool
}

func NewImpostorCert(t testing.TB) ImpostorCert {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "impostor CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "impostor.invalid"},
		DNSNames:  []string{"impostor.invalid"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "impostor-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return ImpostorCert{Cert: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, CAFile: caFile, CAPool: pool}
}

// Impostor is a server that speaks just enough of a database's wire
// protocol to ask for a cleartext password, and records every password
// it is sent.
type Impostor struct {
	ln  net.Listener
	mu  sync.Mutex
	got []string
}

// Addr is where the impostor listens.
func (m *Impostor) Addr() string { return m.ln.Addr().String() }

// Passwords are the passwords the impostor was sent.
func (m *Impostor) Passwords() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

// Record notes a password the impostor was sent.
func (m *Impostor) Record(p string) {
	m.mu.Lock()
	m.got = append(m.got, p)
	m.mu.Unlock()
}

// StartImpostor listens on loopback and serves each connection with serve.
func StartImpostor(t testing.TB, serve func(m *Impostor, c net.Conn)) *Impostor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &Impostor{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(m, c)
			})
		}
	})
	return m
}

// IAMConfig signs tokens with static credentials, so the tests need no
// AWS endpoint: what matters is where the token goes.
func IAMConfig() dbauth.Config {
	return dbauth.Config{
		Plugin: dbauth.PluginIAM, IAMRegion: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIMPOSTORTEST0000", "impostor-test-secret", ""),
	}
}

// PingOnce opens one connection, within 15 seconds.
func PingOnce(db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// Main runs a test binary's tests with the hold-back book of refused
// sign-ins, which lives in the user's cache directory, in a directory of
// the run's own. Call it from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "dbauth-holdback-")
	if err != nil {
		panic(err)
	}
	os.Setenv("OKTAFED_HOLDBACK_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
