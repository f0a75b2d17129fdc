package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/tlstest"
	"github.com/livyha/livyha/internal/zktest"
)

// livy-sim --zk-auth: every node it creates — its server record, the
// latch, the state store's sessions — is creator-all + world-read: a
// client without credentials finds the active but cannot delete or change
// anything, and the password appears nowhere in its output.
func TestZooKeeperAuth(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	p := start(t, "--zk", zkc.ConnectString(), "--root", root, "--id", "1", "--zk-auth", "digest:livy:s3cret-zk", "--step", "20ms")
	waitActive(t, p, 10*time.Second)
	if code, _ := post(t, p.url+"/batches", `{"file":"local:/a.jar","name":"protected"}`); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	res, err := discovery.NewResolver(zkc.ConnectString(), discovery.WithRoot(root)) // no credentials
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if act, err := res.Active(ctx); err != nil || act.URL != p.url {
		t.Fatalf("a reader without credentials: %+v, %v; want %s", act, err, p.url)
	}

	conn, _, err := zk.Connect(zkc.Servers(), 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var nodes []string
	var walk func(string)
	walk = func(p string) {
		kids, _, err := conn.Children(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, k := range kids {
			c := path.Join(p, k)
			nodes = append(nodes, c)
			walk(c)
		}
	}
	walk(root)
	// ZooKeeper shows a digest to a client without the right as "user:x".
	creator := func(a zk.ACL) bool {
		return a.Scheme == "digest" && strings.HasPrefix(a.ID, "livy:") && a.Perms == zk.PermAll
	}
	store := false
	for _, n := range nodes {
		acl, _, err := conn.GetACL(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if !slices.ContainsFunc(acl, creator) || !slices.Contains(acl, zk.WorldACL(zk.PermRead)[0]) || len(acl) != 2 {
			t.Errorf("%s: ACL %v, want creator-all (digest livy) + world-read", n, acl)
		}
		if strings.Contains(n, "batch") {
			store = true
		}
		if _, err := conn.Set(n, []byte("forged"), -1); err != zk.ErrNoAuth {
			t.Errorf("%s: set without credentials: %v, want ErrNoAuth", n, err)
		}
	}
	if len(nodes) < 3 || !store {
		t.Errorf("nodes under %s: %q; want the record, the latch and the stored batch", root, nodes)
	}
	if strings.Contains(p.Text(testutil.Stderr), "s3cret-zk") || p.Dropped(testutil.Stderr) > 0 {
		t.Errorf("the ZooKeeper password is in livy-sim's output (or %d lines were not kept)", p.Dropped(testutil.Stderr))
	}
}

// livy-sim --zk-ca-file against a ZooKeeper that serves TLS only.
func TestZooKeeperTLS(t *testing.T) {
	b := tlstest.New(t, "zookeeper CA")
	zkc := zktest.StartConfig(t, zktest.Config{TLS: &zktest.TLS{CertFile: b.CertFile, KeyFile: b.KeyFile, CAFile: b.CAFile}})
	root := testRoot(t)
	p := start(t, "--zk", zkc.SecureConnectString(), "--root", root, "--id", "1", "--zk-ca-file", b.CAFile)
	waitActive(t, p, 10*time.Second)
	if code, _ := post(t, p.url+"/batches", `{"file":"local:/a.jar"}`); code != http.StatusCreated {
		t.Fatalf("create through a TLS state store: %d", code)
	}
	res, err := discovery.NewResolver(zkc.SecureConnectString(), discovery.WithRoot(root),
		discovery.WithZKTLS(&tls.Config{RootCAs: b.CA.Pool()}))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if act, err := res.Active(ctx); err != nil || act.URL != p.url {
		t.Fatalf("resolver over TLS: %+v, %v; want %s", act, err, p.url)
	}
}
