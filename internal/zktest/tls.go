package zktest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TLS configures the servers' secure client port (Config.TLS): ZooKeeper's
// secureClientPort on loopback, served by the Netty connection factory
// (serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory),
// with ZooKeeper 3.8's own PEM support (ssl.keyStore.type=PEM,
// ssl.trustStore.type=PEM) and client authentication off
// (ssl.clientAuth=none). Quorum traffic between ensemble members stays
// plain.
//
// ZooKeeper's PEM key store is one file holding the private key and the
// certificate chain; zktest writes it from KeyFile and CertFile into the
// node's directory (mode 0600), which Cluster.Close removes.
type TLS struct {
	// CertFile is the server certificate, PEM, optionally followed by
	// its chain. It must be valid for 127.0.0.1 (an IP SAN): zktest's own
	// probes verify it, as clients will.
	CertFile string
	// KeyFile is its private key, PEM PKCS #8 ("BEGIN PRIVATE KEY", as
	// x509.MarshalPKCS8PrivateKey writes it): ZooKeeper's PEM reader takes
	// no other form.
	KeyFile string
	// CAFile holds the CA certificates, PEM: ZooKeeper's trust store and
	// what zktest verifies the servers with (required).
	CAFile string
	// Plain also keeps the plain client port. By default a TLS cluster
	// has none: it is reachable over TLS only.
	Plain bool
}

// checkTLS validates Config.TLS and prepares the probes' client config.
func (c *Cluster) checkTLS() error {
	t := c.cfg.TLS
	if t == nil {
		return nil
	}
	if t.CertFile == "" || t.KeyFile == "" || t.CAFile == "" {
		return fmt.Errorf("zktest: TLS needs CertFile, KeyFile and CAFile")
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return fmt.Errorf("zktest: TLS key pair %s, %s: %w", t.CertFile, t.KeyFile, err)
	}
	key, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	if b, _ := pem.Decode(key); b == nil || b.Type != "PRIVATE KEY" {
		return fmt.Errorf("zktest: TLS key %s: ZooKeeper reads only PKCS #8 keys (BEGIN PRIVATE KEY)", t.KeyFile)
	}
	ca, err := os.ReadFile(t.CAFile)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("zktest: TLS CA file %s holds no PEM certificate", t.CAFile)
	}
	c.probeTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return nil
}

// writeTLSConfig adds the secure port's settings to zoo.cfg and writes the
// PEM key store.
func (n *Node) writeTLSConfig(b *strings.Builder) error {
	t := n.c.cfg.TLS
	if t == nil {
		return nil
	}
	key, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	cert, err := os.ReadFile(t.CertFile)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	store := filepath.Join(n.dir, "keystore.pem")
	data := append(append(append([]byte(nil), key...), '\n'), cert...)
	if err := os.WriteFile(store, data, 0o600); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	ca, err := filepath.Abs(t.CAFile)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	fmt.Fprintf(b, "secureClientPort=%d\n", n.securePort)
	b.WriteString("secureClientPortAddress=127.0.0.1\n")
	b.WriteString("serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n")
	fmt.Fprintf(b, "ssl.keyStore.location=%s\nssl.keyStore.type=PEM\n", store)
	fmt.Fprintf(b, "ssl.trustStore.location=%s\nssl.trustStore.type=PEM\n", ca)
	b.WriteString("ssl.clientAuth=none\n")
	return nil
}

// SecureAddr returns the secure client address "127.0.0.1:port", or ""
// without Config.TLS.
func (n *Node) SecureAddr() string {
	if n.securePort == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.securePort))
}

// SecurePort returns the secure client port (0 without Config.TLS).
func (n *Node) SecurePort() int { return n.securePort }

// SecureServers returns the secure client addresses of all nodes (nil
// without Config.TLS).
func (c *Cluster) SecureServers() []string {
	if c.cfg.TLS == nil {
		return nil
	}
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.SecureAddr()
	}
	return addrs
}

// SecureConnectString returns the secure client addresses of all nodes,
// comma-separated ("" without Config.TLS).
func (c *Cluster) SecureConnectString() string { return strings.Join(c.SecureServers(), ",") }

// fourLetterWord sends cmd to the node: over the plain client port, or
// over TLS (verified with Config.TLS.CAFile) when it has none.
func (n *Node) fourLetterWord(ctx context.Context, cmd string) (string, error) {
	if n.clientPort == 0 {
		return fourLetterWord(ctx, n.SecureAddr(), cmd, n.c.probeTLS)
	}
	return fourLetterWord(ctx, n.Addr(), cmd, nil)
}

// FourLetterWordTLS is FourLetterWord over TLS (ZooKeeper answers them on
// its secure port too).
func FourLetterWordTLS(ctx context.Context, addr, cmd string, tc *tls.Config) (string, error) {
	if tc == nil {
		tc = &tls.Config{}
	}
	return fourLetterWord(ctx, addr, cmd, tc)
}
