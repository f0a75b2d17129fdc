package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/krbtest"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/tlstest"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
)

// A cluster as production runs it — Kerberized (SPNEGO), https only, its
// ZooKeeper nodes behind digest ACLs — driven by clients nobody here wrote
// (curl --negotiate, python3-requests-kerberos) and by livy-find and
// livyclient; no secret appears in any server's output.
func TestSecureCluster(t *testing.T) {
	py := testutil.NeedTool(t, "/usr/bin/python3", "-c", "import requests, requests_kerberos")
	k := krbtest.Start(t)
	kt, err := k.AddService("HTTP/127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.AddUser("alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	cc, err := k.Kinit("alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	b := tlstest.New(t, "secure cluster CA")
	zkc := zktest.Shared(t)
	root := testRoot(t)
	common := []string{"--zk", zkc.ConnectString(), "--root", root, "--spnego-keytab", kt, "--spnego-principal", k.Principal("HTTP/127.0.0.1"),
		"--tls-cert", b.CertFile, "--tls-key", b.KeyFile, "--zk-auth", "digest:livy:zk-s3cret"}
	active := startHTTPS(t, nil, append([]string{"--id", "1"}, common...)...)
	passive := startHTTPS(t, nil, append([]string{"--id", "2"}, common...)...)

	// livy-find, no ZooKeeper credentials needed to read (world-read).
	find, err := testutil.Binary("github.com/livyha/livyha/cmd/livy-find")
	if err != nil {
		t.Fatal(err)
	}
	// Once the first server has won the latch (seen through a resolver's
	// snapshots), livy-find names it.
	res, err := discovery.NewResolver(zkc.ConnectString(), discovery.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	for snap := range res.Subscribe(wctx) {
		if srv, err := snap.Active(); err == nil && srv.URL == active.url {
			break
		}
	}
	lf := testutil.StartProc(t, find, "--zk", zkc.ConnectString(), "--root", root, "--timeout", "10s", "active")
	if code := lf.Wait(30 * time.Second); code != 0 || strings.TrimSpace(lf.Text(testutil.Stdout)) != active.url {
		t.Fatalf("livy-find active: exit %d, %s; want %s", code, lf.Output(), active.url)
	}

	// curl --negotiate with the cluster's CA.
	cmd := exec.Command("curl", "-sS", "--negotiate", "-u", ":", "--cacert", b.CAFile, "-o", "/dev/null", "-w", "%{http_code}", active.url+"/version")
	cmd.Env = k.Env(cc)
	if out, err := cmd.Output(); err != nil || string(out) != "200" {
		t.Errorf("curl --negotiate --cacert: %s %v", out, err)
	}
	// python3-requests-kerberos, mutual authentication required.
	const script = `import sys, requests
from requests_kerberos import HTTPKerberosAuth, REQUIRED
r = requests.get(sys.argv[1] + "/version", auth=HTTPKerberosAuth(mutual_authentication=REQUIRED), verify=sys.argv[2], timeout=20)
print(r.status_code)`
	cmd = exec.Command(py, "-c", script, active.url, b.CAFile)
	cmd.Env = k.Env(cc)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "200" {
		t.Errorf("requests-kerberos: %s %v", out, err)
	}

	// livyclient: SPNEGO from kinit's cache, the CA, the passive first in a
	// static list: its 307 is followed with a fresh token.
	a, err := livyclient.NewSPNEGOFromCCache(cc, livyclient.WithKrb5Conf(k.Krb5Conf()))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c, err := livyclient.New(livyclient.WithEndpoints(passive.url, active.url), livyclient.WithAuth(a), livyclient.WithCAFile(b.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bt, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "local:/secure.jar"})
	if err != nil {
		t.Fatalf("create through the passive: %v", err)
	}
	if bt.Owner == nil || *bt.Owner != "alice" {
		t.Errorf("owner %v, want alice", bt.Owner)
	}
	if out, _, _ := curl(t, "--cacert", b.CAFile, "-o", "/dev/null", "-w", "%{http_code}", passive.url+"/version"); out != "307" {
		t.Errorf("passive: %s, want 307", out)
	}
	for _, p := range []*proc{active, passive} {
		if s := p.Text(testutil.Stderr); strings.Contains(s, "zk-s3cret") || strings.Contains(s, "alice-pw") || p.Dropped(testutil.Stderr) > 0 {
			t.Errorf("a secret is in livy-sim's output (or %d lines were not kept): %q", p.Dropped(testutil.Stderr), s)
		}
	}
}
