package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The servers present a certificate from a CA made once per test process,
// so clients can verify them fully (verify-full, hostname included) the
// way oktafed's database clients do by default, without any file in the
// repository holding a private key.
var testCA struct {
	once    sync.Once
	caPEM   []byte
	certPEM []byte // server certificate for 127.0.0.1, ::1 and localhost
	keyPEM  []byte
	pool    *x509.CertPool
	err     error
}

func loadTestCA() error {
	testCA.once.Do(func() {
		testCA.err = makeTestCA()
	})
	return testCA.err
}

func makeTestCA() error {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "oktafed testenv CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	// A separate leaf, because OpenSSL in the servers rejects a CA
	// certificate used directly as a server certificate in some modes.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	testCA.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	testCA.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	testCA.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	testCA.pool = x509.NewCertPool()
	testCA.pool.AddCert(caCert)
	return nil
}

// serverTLSFiles holds the paths of a server's certificate files.
type serverTLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// writeServerTLS writes the CA, the server certificate and its key into
// dir, owned by acct when acct is not nil (PostgreSQL insists its key is
// owned by the user it runs as and not readable by others).
func writeServerTLS(dir string, acct *account) (serverTLSFiles, error) {
	if err := loadTestCA(); err != nil {
		return serverTLSFiles{}, err
	}
	f := serverTLSFiles{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "server.pem"),
		KeyFile:  filepath.Join(dir, "server-key.pem"),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CAFile, testCA.caPEM, 0o644},
		{f.CertFile, testCA.certPEM, 0o644},
		{f.KeyFile, testCA.keyPEM, 0o600},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return serverTLSFiles{}, err
		}
		if acct != nil {
			if err := os.Chown(w.path, acct.uid, acct.gid); err != nil {
				return serverTLSFiles{}, err
			}
		}
	}
	return f, nil
}

// TestCAPool returns the pool holding the CA that signed every server
// certificate this package hands out.
func TestCAPool() (*x509.CertPool, error) {
	if err := loadTestCA(); err != nil {
		return nil, err
	}
	return testCA.pool, nil
}

// clientTLSConfig verifies a server started here; serverName may be empty
// when the client library fills it in from the address.
func clientTLSConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: testCA.pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}
