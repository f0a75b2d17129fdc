package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/tlstest"
	"github.com/livyha/livyha/internal/zktest"
)

// livy-find against a ZooKeeper that serves TLS only: --zk-ca-file (or
// $LIVY_ZK_CA_FILE) finds the active server and probes; a wrong CA exits 3
// with one line naming TLS and the flag to use; without TLS, exit 3 too.
func TestZooKeeperTLS(t *testing.T) {
	b := tlstest.New(t, "zookeeper CA")
	other := tlstest.New(t, "another CA")
	zkc := zktest.StartConfig(t, zktest.Config{TLS: &zktest.TLS{CertFile: b.CertFile, KeyFile: b.KeyFile, CAFile: b.CAFile}})
	secure, root := zkc.SecureConnectString(), testRoot(t)
	rec := discovery.ServerRecord{ID: 1, URL: "https://127.0.0.1:28998", Version: "0.9"}
	g, err := discovery.Register(ctxT(t, 20*time.Second), secure, rec, discovery.WithRoot(root), discovery.WithElection(true),
		discovery.WithZKTLS(&tls.Config{RootCAs: b.CA.Pool()}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	if r := runFind(t, "--zk", secure, "--root", root, "--zk-ca-file", b.CAFile, "active"); r.code != 0 || r.stdout != rec.URL+"\n" {
		t.Fatalf("active --zk-ca-file: %v", r)
	}
	if r := runFind(t, "--zk", secure, "--zk-ca-file", b.CAFile, "probe"); r.code != 0 || !strings.Contains(r.stdout, root) {
		t.Fatalf("probe --zk-ca-file: %v", r)
	}
	// --zk-tls alone uses the system roots, which do not hold the CA.
	for name, args := range map[string][]string{
		"wrong CA":     {"--zk-ca-file", other.CAFile},
		"system roots": {"--zk-tls"},
	} {
		r := runFind(t, append([]string{"--zk", secure, "--root", root, "--timeout", "2s", "active"}, args...)...)
		t.Logf("%s: %v", name, r)
		if r.code != 3 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "TLS handshake with ZooKeeper") ||
			!strings.Contains(r.stderr, "--zk-ca-file") {
			t.Fatalf("%s: %v", name, r)
		}
	}
	if r := runFind(t, "--zk", secure, "--root", root, "--timeout", "2s", "active"); r.code != 3 {
		t.Fatalf("plain ZooKeeper protocol against the secure port: %v", r)
	}
	if r := runFind(t, "--zk", secure, "--zk-ca-file", t.TempDir()+"/none.pem", "active"); r.code != 2 || !strings.Contains(r.stderr, "none.pem") {
		t.Fatalf("missing --zk-ca-file: %v", r)
	}

	// The variables.
	env := map[string]string{"LIVY_ZK": secure, "LIVY_ZK_ROOT": root, "LIVY_ZK_CA_FILE": b.CAFile}
	old := getenv
	getenv = func(k string) string { return env[k] }
	defer func() { getenv = old }()
	if r := runFind(t, "active"); r.code != 0 || r.stdout != rec.URL+"\n" {
		t.Fatalf("active with $LIVY_ZK_CA_FILE: %v", r)
	}
	env["LIVY_ZK_CA_FILE"], env["LIVY_ZK_TLS"] = "", "true"
	if r := runFind(t, "--timeout", "2s", "active"); r.code != 3 || !strings.Contains(r.stderr, "TLS handshake") {
		t.Fatalf("$LIVY_ZK_TLS with the system roots: %v", r)
	}
}

// A static list of https servers with a private CA: --ca-file (or
// $LIVY_CA_FILE) trusts it; without it the probe fails and says why.
func TestStaticHTTPS(t *testing.T) {
	b := tlstest.New(t, "livy CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"version":"0.8.0-incubating"}`)
	}))
	srv.TLS = b.Leaf.ServerConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	if r := runFind(t, "--endpoints", srv.URL, "--ca-file", b.CAFile, "--timeout", "5s", "active"); r.code != 0 || r.stdout != srv.URL+"\n" {
		t.Fatalf("active --ca-file: %v", r)
	}
	r := runFind(t, "--endpoints", srv.URL, "--timeout", "2s", "active")
	t.Logf("without --ca-file: %v", r)
	if r.code == 0 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("without --ca-file: %v", r)
	}
	if r := runFind(t, "--endpoints", srv.URL, "--ca-file", b.KeyFile, "active"); r.code != 2 || !strings.Contains(r.stderr, "no PEM certificate") ||
		strings.Contains(r.stderr, "PRIVATE KEY") {
		t.Fatalf("--ca-file with a key file: %v", r)
	}

	env := map[string]string{"LIVY_CA_FILE": b.CAFile}
	old := getenv
	getenv = func(k string) string { return env[k] }
	defer func() { getenv = old }()
	if r := runFind(t, "--endpoints", srv.URL, "--timeout", "5s", "active"); r.code != 0 || r.stdout != srv.URL+"\n" {
		t.Fatalf("active with $LIVY_CA_FILE: %v", r)
	}
}
