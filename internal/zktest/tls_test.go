package zktest

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/internal/tlstest"
)

// tlsDialer is go-zookeeper's dialer over TLS with tc.
func tlsDialer(tc *tls.Config) zk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: tc}
		return d.Dial(network, address)
	}
}

// sessionWithin connects with dialer and reports whether a session is
// established within d.
func sessionWithin(t *testing.T, servers []string, dialer zk.Dialer, d time.Duration) (*zk.Conn, bool) {
	t.Helper()
	if dialer == nil {
		dialer = func(network, address string, timeout time.Duration) (net.Conn, error) {
			return net.DialTimeout(network, address, timeout)
		}
	}
	conn, ev, err := zk.Connect(servers, 5*time.Second, zk.WithLogger(nopLogger{}), zk.WithDialer(dialer))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	deadline := time.After(d)
	for {
		select {
		case e := <-ev:
			if e.State == zk.StateHasSession {
				return conn, true
			}
		case <-deadline:
			return conn, false
		}
	}
}

// TestTLSOnly: a TLS cluster has no plain client port; go-zookeeper over
// TLS with the CA gets a session and reads and writes; a plain client and
// a TLS client with another CA get none.
func TestTLSOnly(t *testing.T) {
	b := tlstest.New(t, "zktest CA")
	c := StartConfig(t, Config{TLS: &TLS{CertFile: b.CertFile, KeyFile: b.KeyFile, CAFile: b.CAFile}})
	n := c.Node(1)
	if n.ClientPort() != 0 || n.SecurePort() == 0 || n.Addr() != n.SecureAddr() || c.ConnectString() != c.SecureConnectString() {
		t.Fatalf("ports: client %d secure %d addr %s secure addr %s", n.ClientPort(), n.SecurePort(), n.Addr(), n.SecureAddr())
	}
	cfg, _ := os.ReadFile(filepath.Join(n.dir, "zoo.cfg"))
	for _, line := range strings.Split(string(cfg), "\n") {
		if strings.HasPrefix(line, "clientPort") {
			t.Fatalf("zoo.cfg of a TLS-only cluster has a plain client port:\n%s", cfg)
		}
	}
	if st, err := os.Stat(filepath.Join(n.dir, "keystore.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key store: %v %v", st, err)
	}
	ctx := context.Background()
	if mode, err := n.Mode(ctx); err != nil || mode != "standalone" {
		t.Fatalf("Mode() over TLS = %q, %v", mode, err)
	}
	if out, err := FourLetterWordTLS(ctx, n.SecureAddr(), "ruok", b.ClientConfig()); err != nil || out != "imok" {
		t.Fatalf("ruok over TLS = %q, %v", out, err)
	}

	conn, ok := sessionWithin(t, c.SecureServers(), tlsDialer(b.ClientConfig()), 10*time.Second)
	if !ok {
		t.Fatalf("no session over TLS; log:\n%s", n.logTail())
	}
	if _, err := conn.Create("/tls", []byte("secret"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if data, _, err := conn.Get("/tls"); err != nil || string(data) != "secret" {
		t.Fatalf("Get = %q, %v", data, err)
	}

	// Plain ZooKeeper protocol on the secure port: no session.
	if _, ok := sessionWithin(t, c.SecureServers(), nil, 3*time.Second); ok {
		t.Fatal("a plain client got a session on the secure port")
	}
	// Another CA: the handshake fails with a certificate error.
	other := tlstest.New(t, "other CA")
	d := tls.Dialer{Config: other.ClientConfig()}
	_, err := d.DialContext(ctx, "tcp", n.SecureAddr())
	var uae *tls.CertificateVerificationError
	if !errors.As(err, &uae) {
		t.Fatalf("dial with another CA: %v, want a certificate verification error", err)
	}

	// Restart keeps the secure port.
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "get over TLS after restart", func() error {
		_, _, err := conn.Get("/tls")
		return err
	})
}

// TestTLSPlainToo: with TLS.Plain both ports serve the same data.
func TestTLSPlainToo(t *testing.T) {
	b := tlstest.New(t, "zktest CA")
	c := StartConfig(t, Config{TLS: &TLS{CertFile: b.CertFile, KeyFile: b.KeyFile, CAFile: b.CAFile, Plain: true}})
	n := c.Node(1)
	if n.ClientPort() == 0 || n.Addr() == n.SecureAddr() {
		t.Fatalf("ports: client %d, addr %s, secure %s", n.ClientPort(), n.Addr(), n.SecureAddr())
	}
	plain := connect(t, c.Servers())
	if _, err := plain.Create("/both", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	conn, ok := sessionWithin(t, c.SecureServers(), tlsDialer(b.ClientConfig()), 10*time.Second)
	if !ok {
		t.Fatal("no session over TLS")
	}
	if data, _, err := conn.Get("/both"); err != nil || string(data) != "x" {
		t.Fatalf("Get over TLS = %q, %v", data, err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	b := tlstest.New(t, "zktest CA")
	// The same key in SEC 1 form ("EC PRIVATE KEY"): Go reads it,
	// ZooKeeper's PEM reader does not, so zktest refuses it.
	der, err := x509.MarshalECPrivateKey(b.Leaf.TLS.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	ecKey := filepath.Join(t.TempDir(), "ec.pem")
	if err := os.WriteFile(ecKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tls  TLS
		want string
	}{
		{TLS{CertFile: b.CertFile, KeyFile: b.KeyFile}, "needs CertFile, KeyFile and CAFile"},
		{TLS{CertFile: b.CertFile, KeyFile: b.CertFile, CAFile: b.CAFile}, "key pair"},
		{TLS{CertFile: b.CertFile, KeyFile: b.KeyFile, CAFile: b.KeyFile}, "no PEM certificate"},
		{TLS{CertFile: b.CertFile, KeyFile: ecKey, CAFile: b.CAFile}, "only PKCS #8"},
	} {
		_, err := StartCluster(context.Background(), Config{TLS: &tc.tls})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.tls, err, tc.want)
		}
	}
}
