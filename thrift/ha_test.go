package thrift_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beltran/gohive"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livytest"
	"github.com/livyha/livyha/retry"
	"github.com/livyha/livyha/thrift"
	"github.com/livyha/livyha/thrift/hs2test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	zktest.StopShared()
	os.Exit(code)
}

var rootSeq atomic.Int64

func testRoot(t testing.TB) string {
	return fmt.Sprintf("/th%d-%s", rootSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// node is one Livy stand-in with its Thrift endpoint.
type node struct {
	livy   *livytest.Server
	thrift *hs2test.Server
}

// livyCluster starts n Livy stand-ins (server 1 active) each with an
// HS2-compatible Thrift endpoint that refuses while passive.
func livyCluster(t testing.TB, n int, auth string, refusal hs2test.Refusal) (string, string, []*node) {
	return livyClusterNS(t, n, auth, refusal, "")
}

// livyClusterNS also publishes the active's Thrift endpoint in Hive
// namespace hiveNS (leader-only Hive record), when not empty.
func livyClusterNS(t testing.TB, n int, auth string, refusal hs2test.Refusal, hiveNS string) (string, string, []*node) {
	t.Helper()
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var nodes []*node
	for i := 1; i <= n; i++ {
		nd := &node{}
		var active atomic.Pointer[livytest.Server]
		nd.thrift = hs2test.NewServer(t, hs2test.Config{Auth: auth, Refusal: refusal, Name: fmt.Sprintf("livy-%d", i),
			Active: func() bool { s := active.Load(); return s != nil && s.IsActive() }})
		transport := "binary"
		if auth == hs2test.AuthHTTP {
			transport = "http"
		}
		cfg := livytest.Config{ZK: zkc.ConnectString(), Root: root, ID: i, Thrift: nd.thrift.Addr(),
			ThriftTransport: transport, ThriftHTTPPath: hs2test.DefaultHTTPPath, SessionTimeout: time.Second,
			HiveNamespace: hiveNS, HiveAuth: "NOSASL"}
		nd.livy = livytest.NewServer(t, cfg)
		active.Store(nd.livy)
		nodes = append(nodes, nd)
	}
	return zkc.ConnectString(), root, nodes
}

func resolver(t testing.TB, connect, root string) *discovery.Resolver {
	r, err := discovery.NewResolver(connect, discovery.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Wait(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	return r
}

// serverName asks the connected server who it is.
func serverName(t testing.TB, conn *gohive.Connection) string {
	t.Helper()
	cur := conn.Cursor()
	defer cur.Close()
	ctx := ctxT(t, 10*time.Second)
	cur.Exec(ctx, "SELECT current_server()")
	if cur.Err != nil {
		t.Fatalf("query: %v", cur.Err)
	}
	var name string
	cur.FetchOne(ctx, &name)
	if cur.Err != nil {
		t.Fatalf("fetch: %v", cur.Err)
	}
	return name
}

func waitLeader(t testing.TB, r *discovery.Resolver, id int) {
	t.Helper()
	ctx := ctxT(t, 15*time.Second)
	for {
		s := r.Snapshot()
		if l, ok := s.Leader(); ok && l.ID == id {
			return
		}
		select {
		case <-s.Changed():
		case <-ctx.Done():
			t.Fatalf("leader never became %d", id)
		}
	}
}

// 1 active + 2 passives that refuse: every connect lands on the active,
// also after the leader changes between two connects.
func TestConnectHiveLandsOnActive(t *testing.T) {
	for _, tc := range []struct {
		auth, gohiveAuth string
		refusal          hs2test.Refusal
	}{
		{hs2test.AuthNoSASL, "NOSASL", hs2test.RefuseClose},
		{hs2test.AuthNone, "NONE", hs2test.RefuseOpenSession},
		{hs2test.AuthHTTP, "NONE", hs2test.RefuseClose},
	} {
		t.Run(tc.auth+"/"+tc.refusal.String(), func(t *testing.T) {
			connect, root, nodes := livyCluster(t, 3, tc.auth, tc.refusal)
			r := resolver(t, connect, root)
			loc := thrift.NewLocator(thrift.ResolverSource(r))
			// A stale order on purpose: passives first.
			stale := thrift.NewLocator(thrift.StaticSource(nodes[2].thrift.Addr(), nodes[1].thrift.Addr(), nodes[0].thrift.Addr()),
				thrift.WithStagger(20*time.Millisecond))
			// The static list publishes no transport: say it.
			staticCfg := gohive.NewConnectConfiguration()
			if tc.auth == hs2test.AuthHTTP {
				staticCfg.TransportMode = "http"
			}
			for _, l := range []*thrift.Locator{loc, stale} {
				for i := 0; i < 3; i++ {
					cfg := gohive.NewConnectConfiguration() // transport filled from the record
					if l == stale {
						cfg = staticCfg
					}
					conn, err := thrift.ConnectHive(ctxT(t, 10*time.Second), l, tc.gohiveAuth, cfg)
					if err != nil {
						t.Fatal(err)
					}
					if got := serverName(t, conn); got != "livy-1" {
						t.Fatalf("landed on %s", got)
					}
					conn.Close()
				}
			}
			// Leader change between two connects.
			nodes[0].livy.Close()
			waitLeader(t, r, 2)
			conn, err := thrift.ConnectHive(ctxT(t, 10*time.Second), loc, tc.gohiveAuth, gohive.NewConnectConfiguration())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if got := serverName(t, conn); got != "livy-2" {
				t.Fatalf("after the leader change landed on %s", got)
			}
		})
	}
}

// Every candidate refuses: one error naming each of them.
func TestAllRefusingJoinedError(t *testing.T) {
	var nodes []*hs2test.Server
	var addrs []string
	for i := 0; i < 3; i++ {
		refusal := hs2test.RefuseClose
		if i == 1 {
			refusal = hs2test.RefuseOpenSession
		}
		s := hs2test.NewServer(t, hs2test.Config{Refusal: refusal, Active: func() bool { return false }})
		nodes = append(nodes, s)
		addrs = append(addrs, s.Addr())
	}
	loc := thrift.NewLocator(thrift.StaticSource(addrs...),
		thrift.WithRetry(retry.Policy{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1, MaxAttempts: 2}))
	_, err := thrift.ConnectHive(ctxT(t, 10*time.Second), loc, "NOSASL", nil)
	if !errors.Is(err, thrift.ErrAllFailed) || !errors.Is(err, thrift.ErrOpenSession) {
		t.Fatalf("err = %v", err)
	}
	for _, a := range addrs {
		if !strings.Contains(err.Error(), a) {
			t.Errorf("error does not name %s: %v", a, err)
		}
	}
	if _, err := thrift.ConnectHive(ctxT(t, time.Second), loc, "MAGIC", nil); !errors.Is(err, thrift.ErrBadAuth) {
		t.Fatalf("bad auth = %v", err)
	}
}

// gohive's own DialContext hook: any host, the locator picks the active.
func TestDialContextWithGohive(t *testing.T) {
	connect, root, _ := livyCluster(t, 3, hs2test.AuthNoSASL, hs2test.RefuseClose)
	r := resolver(t, connect, root)
	cfg := gohive.NewConnectConfiguration()
	cfg.DialContext = thrift.DialContext(thrift.NewLocator(thrift.ResolverSource(r)))
	conn, err := gohive.Connect("livy-thrift.invalid", 10000, "NOSASL", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := serverName(t, conn); got != "livy-1" {
		t.Fatalf("landed on %s", got)
	}
}

// waitHive waits until the Hive namespace lists exactly addr.
func waitHive(t testing.TB, connect, ns, addr string) {
	t.Helper()
	r, err := discovery.NewResolver("zk://" + connect + "?layout=hive&namespace=" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := ctxT(t, 15*time.Second)
	for s := range r.Subscribe(ctx) {
		if len(s.Servers) == 1 && s.Servers[0].Thrift == addr {
			return
		}
	}
	t.Fatalf("hive namespace %s never listed only %s: %+v", ns, addr, r.Snapshot().Servers)
}

// gohive's own ConnectZookeeper, pointed at the leader-only Hive record,
// only ever finds the active server.
func TestGohiveConnectZookeeperFindsActive(t *testing.T) {
	ns := strings.TrimPrefix(testRoot(t), "/") + "-hs2"
	connect, _, nodes := livyClusterNS(t, 3, hs2test.AuthNoSASL, hs2test.RefuseClose, ns)
	waitHive(t, connect, ns, nodes[0].thrift.Addr())
	for round, want := range []string{"livy-1", "livy-2"} {
		for i := 0; i < 5; i++ {
			cfg := gohive.NewConnectConfiguration()
			cfg.ZookeeperNamespace = ns
			conn, err := gohive.ConnectZookeeper(connect, "NOSASL", cfg)
			if err != nil {
				t.Fatalf("round %d: ConnectZookeeper: %v", round, err)
			}
			got := serverName(t, conn)
			conn.Close()
			if got != want {
				t.Fatalf("round %d: gohive landed on %s, want %s", round, got, want)
			}
			// A Hive target reads the same namespace.
			src, hr, err := thrift.TargetSource("zk://" + connect + "?layout=hive&namespace=" + ns)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := thrift.ConnectHive(ctxT(t, 10*time.Second), thrift.NewLocator(src), "NOSASL", nil)
			hr.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := serverName(t, c2); got != want {
				t.Fatalf("round %d: the Hive target landed on %s", round, got)
			}
			c2.Close()
		}
		if round == 0 {
			nodes[0].livy.Close()
			waitHive(t, connect, ns, nodes[1].thrift.Addr())
		}
	}
}

// Right after a takeover the new active may not accept Thrift yet: the
// locator tries again (waiting for the view to change or backing off)
// instead of failing at once.
func TestRetriesAcrossTakeoverWindow(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var ready atomic.Bool
	srv := hs2test.NewServer(t, hs2test.Config{Name: "livy-1", Active: ready.Load})
	reg, err := discovery.Register(ctxT(t, 10*time.Second), zkc.ConnectString(),
		discovery.ServerRecord{ID: 1, URL: "http://127.0.0.1:1", Thrift: srv.Addr()},
		discovery.WithRoot(root), discovery.WithElection(true))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	r := resolver(t, zkc.ConnectString(), root)

	// Without retries: the refusal is returned at once.
	once := thrift.NewLocator(thrift.ResolverSource(r), thrift.WithRetry(retry.Policy{}))
	if _, err := thrift.ConnectHive(ctxT(t, 10*time.Second), once, "NOSASL", nil); !errors.Is(err, thrift.ErrAllFailed) {
		t.Fatalf("single round = %v", err)
	}
	// With the default policy: it connects once the server accepts.
	flip := time.AfterFunc(300*time.Millisecond, func() { ready.Store(true) })
	defer flip.Stop()
	t0 := time.Now()
	conn, err := thrift.ConnectHive(ctxT(t, 10*time.Second), thrift.NewLocator(thrift.ResolverSource(r)), "NOSASL", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := serverName(t, conn); got != "livy-1" {
		t.Fatalf("landed on %s", got)
	}
	t.Logf("connected %v after the first attempt (server accepted after 300ms)", time.Since(t0).Round(time.Millisecond))
}
