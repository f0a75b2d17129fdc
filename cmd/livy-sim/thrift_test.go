package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beltran/gohive"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// hiveConnect connects the real gohive v1 client to a livy-sim's Thrift
// server.
func hiveConnect(t *testing.T, addr, auth string) (*gohive.Connection, error) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("thrift address %q: %v", addr, err)
	}
	port, _ := strconv.Atoi(p)
	cfg := gohive.NewConnectConfiguration()
	cfg.Username, cfg.Password = "demo", "demo"
	cfg.ConnectTimeout = 5 * time.Second
	cfg.SocketTimeout = 10 * time.Second
	cfg.PollIntervalInMillis = 10
	gauth := "NONE"
	switch auth {
	case "NOSASL":
		gauth = "NOSASL"
	case "HTTP":
		cfg.TransportMode = "http"
	}
	return gohive.Connect(host, port, gauth, cfg)
}

// currentServer runs SELECT current_server() and returns the answer.
func currentServer(t *testing.T, addr, auth string) (string, error) {
	t.Helper()
	conn, err := hiveConnect(t, addr, auth)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur := conn.Cursor()
	defer cur.Close()
	cur.Exec(ctx, "SELECT current_server()")
	if cur.Err != nil {
		return "", cur.Err
	}
	var name string
	cur.FetchOne(ctx, &name)
	return name, cur.Err
}

func TestThriftActivePassive(t *testing.T) {
	zkc := zktest.Shared(t)
	for _, tc := range []struct{ auth, refusal, transport, path string }{
		{"NOSASL", "close", "binary", ""},
		{"HTTP", "opensession", "http", "cliservice"},
		{"NONE", "opensession", "binary", ""},
	} {
		t.Run(tc.auth+"-"+tc.refusal, func(t *testing.T) {
			root := testRoot(t)
			common := []string{"--zk", zkc.ConnectString(), "--root", root, "--session-timeout", "1s", "--step", "20ms",
				"--thrift", "127.0.0.1:0", "--thrift-auth", tc.auth, "--thrift-refusal", tc.refusal}
			a := start(t, append([]string{"--id", "1"}, common...)...)
			b := start(t, append([]string{"--id", "2"}, common...)...)
			if a.thrift == "" || b.thrift == "" || a.thrift == b.thrift {
				t.Fatalf("thrift addresses %q and %q", a.thrift, b.thrift)
			}
			waitActive(t, a, 5*time.Second)

			// The records carry the actual Thrift address and transport.
			res, err := discovery.NewResolver(zkc.ConnectString(), discovery.WithRoot(root))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			snap, err := res.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for id, p := range map[int]*proc{1: a, 2: b} {
				srv, ok := snap.ServerByID(id)
				if !ok || srv.Thrift != p.thrift || srv.ThriftTransport != tc.transport || srv.ThriftHTTPPath != tc.path {
					t.Fatalf("record of id %d: %+v (ok=%v), want thrift %s %s %q", id, srv.ServerRecord, ok, p.thrift, tc.transport, tc.path)
				}
			}

			// The active answers; the passive refuses.
			if name, err := currentServer(t, a.thrift, tc.auth); err != nil || name != "livy-1" {
				t.Fatalf("active: %q, %v", name, err)
			}
			startT := time.Now()
			_, err = currentServer(t, b.thrift, tc.auth)
			if err == nil {
				t.Fatal("the passive answered a query")
			}
			t.Logf("passive refused (%s) in %v: %v", tc.refusal, time.Since(startT), err)
			if tc.refusal == "opensession" && !strings.Contains(err.Error(), "standby") {
				t.Fatalf("passive error %v, want one mentioning standby", err)
			}

			// After a graceful stop of the active, the other one serves.
			a.Send(syscall.SIGTERM)
			if code := a.Wait(5 * time.Second); code != 0 {
				t.Fatalf("exit %d; stderr %q", code, a.Text(testutil.Stderr))
			}
			waitActive(t, b, 3*time.Second)
			if name, err := currentServer(t, b.thrift, tc.auth); err != nil || name != "livy-2" {
				t.Fatalf("new active: %q, %v", name, err)
			}
		})
	}
}
