package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/tlstest"
	"github.com/livyha/livyha/internal/zktest"
)

// TestZKTLS runs a Resolver and a Registrar against a ZooKeeper that
// listens on a secure client port only (zktest with TLS: there is no plain
// port to fall back to), and checks that a wrong CA fails with an error
// that names TLS.
func TestZKTLS(t *testing.T) {
	b := tlstest.New(t, "zookeeper CA")
	zkc := zktest.StartConfig(t, zktest.Config{TLS: &zktest.TLS{CertFile: b.CertFile, KeyFile: b.KeyFile, CAFile: b.CAFile}})
	if zkc.Node(1).ClientPort() != 0 {
		t.Fatal("the cluster has a plain client port")
	}
	secure := zkc.SecureConnectString()
	good := WithZKTLS(&tls.Config{RootCAs: b.CA.Pool()})

	t.Run("resolver and registrar", func(t *testing.T) {
		noLeaks(t)
		root := testRoot(t)
		r := resolver(t, secure, root, good)
		g1 := register(t, secure, root, 1, true, good)
		g2 := register(t, secure, root, 2, true, good)
		s := waitFor(t, r, 10*time.Second, "two servers over TLS", func(s *Snapshot) bool { return len(s.Servers) == 2 })
		first := g1
		if !g1.IsLeader() {
			first = g2
		}
		if id := leaderID(s); id != first.Record().ID {
			t.Fatalf("leader %d, registrar %d leads", id, first.Record().ID)
		}
		// Failover over TLS: the leader deregisters, the other takes over.
		first.Close()
		waitFor(t, r, 10*time.Second, "failover over TLS", func(s *Snapshot) bool {
			return len(s.Servers) == 1 && leaderID(s) != first.Record().ID && leaderID(s) >= 0
		})
		// The host name of the connect string is what the certificate is
		// checked against: localhost is in its SANs too.
		local := strings.ReplaceAll(secure, "127.0.0.1", "localhost")
		r2 := resolver(t, local, root, good)
		waitFor(t, r2, 10*time.Second, "a resolver dialling localhost", func(s *Snapshot) bool { return len(s.Servers) == 1 })
		// Probe goes through the same dialer.
		found, err := Probe(ctxT(t, 10*time.Second), secure, good)
		if err != nil || len(found) == 0 {
			t.Fatalf("Probe over TLS: %v, %v", found, err)
		}
	})

	t.Run("wrong CA", func(t *testing.T) {
		noLeaks(t)
		other := tlstest.New(t, "another CA")
		bad := WithZKTLS(&tls.Config{RootCAs: other.CA.Pool()})
		root := testRoot(t)

		r := resolver(t, secure, root, bad)
		start := time.Now()
		_, err := r.Wait(ctxT(t, 3*time.Second))
		t.Logf("Wait after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "TLS handshake with ZooKeeper") ||
			!strings.Contains(err.Error(), "server certificate not trusted") || !strings.Contains(err.Error(), "--zk-ca-file") {
			t.Fatalf("Wait with a wrong CA: %v", err)
		}

		_, err = Register(ctxT(t, 3*time.Second), secure, ServerRecord{ID: 9, URL: "https://127.0.0.1:1"}, WithRoot(root), bad)
		t.Logf("Register: %v", err)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "TLS handshake with ZooKeeper") {
			t.Fatalf("Register with a wrong CA: %v", err)
		}

		_, err = Probe(ctxT(t, 3*time.Second), secure, bad)
		if !strings.Contains(err.Error(), "TLS handshake") {
			t.Fatalf("Probe with a wrong CA: %v", err)
		}

		// No TLS at all against the secure port: the handshake never
		// completes (ZooKeeper waits for a ClientHello); the error says
		// time ran out and the cluster is unavailable.
		r3 := resolver(t, secure, root)
		if _, err := r3.Wait(ctxT(t, 2*time.Second)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("plain client against the secure port: %v", err)
		}
	})

	t.Run("TLS against a plain port", func(t *testing.T) {
		plain := zktest.Shared(t) // before noLeaks: the shared server outlives the test
		noLeaks(t)
		r := resolver(t, plain.ConnectString(), testRoot(t), good)
		_, err := r.Wait(ctxT(t, 3*time.Second))
		t.Logf("Wait: %v", err)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "TLS handshake with ZooKeeper") ||
			!strings.Contains(err.Error(), "secureClientPort") {
			t.Fatalf("TLS against a plain port: %v", err)
		}
	})
}

// TestZKTLSDialer checks the dialer alone against a Go TLS listener: the
// ServerName comes from the dialled host unless the config sets one, the
// caller's config is not modified, and failures are *ZKTLSError wrapping
// ErrZKTLS and the certificate error.
func TestZKTLSDialer(t *testing.T) {
	noLeaks(t)
	ca, err := tlstest.NewCA("dialer CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("zk1.example") // a name only, no IP SAN
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", leaf.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	addr := ln.Addr().String()
	dial := func(cfg *tls.Config, address string) error {
		var c config
		WithZKTLS(cfg)(&c)
		conn, err := c.dialer(ctxT(t, 5*time.Second), "tcp", address)
		if err == nil {
			conn.Close()
		}
		return err
	}

	// By IP: the certificate names only zk1.example.
	err = dial(&tls.Config{RootCAs: ca.Pool()}, addr)
	var te *ZKTLSError
	var hn x509.HostnameError
	if !errors.As(err, &te) || te.Server != addr || !errors.Is(err, ErrZKTLS) || !errors.As(err, &hn) ||
		!strings.Contains(err.Error(), "not for this host") {
		t.Fatalf("dial by IP: %v", err)
	}
	// An explicit ServerName is kept, and the caller's config untouched.
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "zk1.example"}
	if err := dial(cfg, addr); err != nil {
		t.Fatalf("dial with ServerName: %v", err)
	}
	// A ServerName derived per dial does not stick to the caller's config.
	cfg2 := &tls.Config{RootCAs: ca.Pool()}
	_ = dial(cfg2, addr)
	if cfg2.ServerName != "" {
		t.Fatalf("caller's config modified: ServerName %q", cfg2.ServerName)
	}
	// An unknown CA.
	var ua x509.UnknownAuthorityError
	if err := dial(&tls.Config{ServerName: "zk1.example"}, addr); !errors.As(err, &ua) || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("dial without the CA: %v", err)
	}
	// A refused connection is not a TLS error.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	if err := dial(cfg, deadAddr); err == nil || errors.Is(err, ErrZKTLS) {
		t.Fatalf("dial of a closed port: %v", err)
	}
	// Not TLS: an HTTP server answers the ClientHello with plain text.
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	var rh tls.RecordHeaderError
	if err := dial(cfg, hs.Listener.Addr().String()); !errors.As(err, &rh) || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Fatalf("dial of a plain server: %v", err)
	}
}

// TestDialErrorInDeadlineError: without TLS, the last connection error
// (here a refused connection) is named when a Wait runs out of time.
func TestDialErrorInDeadlineError(t *testing.T) {
	noLeaks(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close()
	r := resolver(t, addr, "/livy")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := r.Wait(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "last connection error") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Wait: %v", err)
	}
}
