package main

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/tlstest"
	"github.com/livyha/livyha/internal/zktest"
)

// livy-registrar over a ZooKeeper that serves TLS only: --zk-ca-file (and
// $LIVY_ZK_CA_FILE) registers, a resolver over TLS sees the record and its
// removal on SIGTERM; a wrong CA exits 3 naming TLS.
func TestZooKeeperTLS(t *testing.T) {
	b := tlstest.New(t, "zookeeper CA")
	other := tlstest.New(t, "another CA")
	zkc := zktest.StartConfig(t, zktest.Config{TLS: &zktest.TLS{CertFile: b.CertFile, KeyFile: b.KeyFile, CAFile: b.CAFile}})
	secure, root := zkc.SecureConnectString(), testRoot(t)
	r, err := discovery.NewResolver(secure, discovery.WithRoot(root), discovery.WithZKTLS(&tls.Config{RootCAs: b.CA.Pool()}))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	p1 := start(t, nil, "--zk", secure, "--root", root, "--id", "1", "--url", "https://127.0.0.1:28998", "--elect", "--zk-ca-file", b.CAFile)
	p1.WaitLine(testutil.Stderr, 20*time.Second, "id=1 is now leader")
	p2 := start(t, []string{"LIVY_ZK_CA_FILE=" + b.CAFile}, "--zk", secure, "--root", root, "--id", "2", "--url", "https://127.0.0.1:28999", "--elect")
	p2.WaitLine(testutil.Stderr, 20*time.Second, "registered id=2")
	waitSnap(t, r, 10*time.Second, "two servers over TLS", func(s *discovery.Snapshot) bool { return leaderIs(1)(s) && len(s.Servers) == 2 })
	p1.Send(syscall.SIGTERM)
	if code := p1.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	waitSnap(t, r, 10*time.Second, "failover to 2", func(s *discovery.Snapshot) bool { return leaderIs(2)(s) && len(s.Servers) == 1 })

	for name, args := range map[string][]string{
		"wrong CA":     {"--zk-ca-file", other.CAFile},
		"system roots": {"--zk-tls"},
	} {
		p := start(t, nil, append([]string{"--zk", secure, "--root", root, "--id", "3", "--url", "https://127.0.0.1:1", "--register-timeout", "2s"}, args...)...)
		code := p.Wait(20 * time.Second)
		lines := p.Lines(testutil.Stderr)
		t.Logf("%s: exit %d, %q", name, code, lines)
		if code != 3 || len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "TLS handshake with ZooKeeper") {
			t.Fatalf("%s: exit %d, stderr %q", name, code, lines)
		}
	}
	p := start(t, nil, "--zk", secure, "--id", "3", "--url", "https://127.0.0.1:1", "--zk-ca-file", b.KeyFile)
	if code := p.Wait(10 * time.Second); code != 2 || !strings.Contains(p.Text(testutil.Stderr), "no PEM certificate") {
		t.Fatalf("--zk-ca-file with a key: exit %d, %q", code, p.Lines(testutil.Stderr))
	}
}

// An https --health-url with a private CA: with --ca-file the check
// passes and the server is published; without it the check fails, so it
// never is (exit 3 at --register-timeout).
func TestHealthURLHTTPS(t *testing.T) {
	b := tlstest.New(t, "livy CA")
	livy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	livy.TLS = b.Leaf.ServerConfig()
	livy.Config.ErrorLog = log.New(io.Discard, "", 0)
	livy.StartTLS()
	defer livy.Close()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)

	p := start(t, []string{"LIVY_CA_FILE=" + b.CAFile}, "--zk", zkc, "--root", root, "--id", "1", "--url", livy.URL,
		"--health-url", livy.URL+"/version", "--health-interval", "200ms")
	p.WaitLine(testutil.Stderr, 20*time.Second, "registered id=1")
	p.Send(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	p = start(t, nil, "--zk", zkc, "--root", root, "--id", "2", "--url", livy.URL,
		"--health-url", livy.URL+"/version", "--health-interval", "200ms", "--register-timeout", "2s")
	r := newResolver(t, zkc, root)
	code := p.Wait(20 * time.Second)
	t.Logf("without --ca-file: exit %d, %q", code, p.Lines(testutil.Stderr))
	if code != 3 {
		t.Fatalf("without --ca-file: exit %d, %q", code, p.Lines(testutil.Stderr))
	}
	// (The deadline error does not say why the health check failed: the
	// registrar does not report its health check's error.)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s, err := r.Wait(ctx); err != nil || len(s.Servers) != 0 {
		t.Fatalf("published without a passing health check: %+v, %v", s, err)
	}
}
