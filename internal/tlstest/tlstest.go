// Package tlstest makes private certificate authorities and server
// certificates for tests (crypto/x509, ECDSA P-256), and writes them as PEM
// files. Nothing here is meant for production: keys are generated per test
// and written only into the directory the caller gives (a test's
// t.TempDir()).
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a private certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// Leaf is a certificate issued by a CA, with its private key.
type Leaf struct {
	Cert    *x509.Certificate
	CertPEM []byte // the leaf, then the CA (the chain a server sends)
	KeyPEM  []byte // PKCS #8 ("PRIVATE KEY")
	TLS     tls.Certificate
}

// NewCA makes a self-signed CA valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"livyha tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), key: key}, nil
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue makes a server (and client) certificate for hosts: IP addresses
// become IP SANs, anything else DNS SANs. The first host is the common
// name.
func (ca *CA) Issue(hosts ...string) (*Leaf, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("tlstest: Issue needs at least one host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	l := &Leaf{Cert: cert, CertPEM: append(pemBlock("CERTIFICATE", der), ca.CertPEM...), KeyPEM: pemBlock("PRIVATE KEY", p8)}
	l.TLS, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ServerConfig returns a server-side tls.Config presenting l.
func (l *Leaf) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{l.TLS}, MinVersion: tls.VersionTLS12}
}

// Files are PEM files written by Write.
type Files struct {
	CAFile   string // the CA certificate
	CertFile string // the leaf and the CA
	KeyFile  string // the leaf's private key (PKCS #8), mode 0600
}

// Write writes the CA certificate and the leaf's certificate and key into
// dir as ca.pem, <prefix>.pem and <prefix>-key.pem.
func Write(dir, prefix string, ca *CA, l *Leaf) (Files, error) {
	f := Files{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, prefix+".pem"),
		KeyFile:  filepath.Join(dir, prefix+"-key.pem"),
	}
	if err := os.WriteFile(f.CAFile, ca.CertPEM, 0o644); err != nil {
		return f, err
	}
	if err := os.WriteFile(f.CertFile, l.CertPEM, 0o644); err != nil {
		return f, err
	}
	if err := os.WriteFile(f.KeyFile, l.KeyPEM, 0o600); err != nil {
		return f, err
	}
	return f, nil
}

// Bundle is a CA and one certificate for 127.0.0.1 and localhost, written
// into a test's temporary directory.
type Bundle struct {
	CA   *CA
	Leaf *Leaf
	Files
}

// New makes a CA named name and a certificate for 127.0.0.1 and localhost
// (plus any extra hosts), written into t.TempDir(). It fails the test on
// error.
func New(t testing.TB, name string, extraHosts ...string) *Bundle {
	t.Helper()
	ca, err := NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ca.Issue(append([]string{"127.0.0.1", "localhost"}, extraHosts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Write(t.TempDir(), "server", ca, l)
	if err != nil {
		t.Fatal(err)
	}
	return &Bundle{CA: ca, Leaf: l, Files: f}
}

// ClientConfig returns a client tls.Config trusting only b's CA.
func (b *Bundle) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: b.CA.Pool(), MinVersion: tls.VersionTLS12}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}
