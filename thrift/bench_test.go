package thrift_test

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beltran/gohive"
	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/thrift"
	"github.com/livyha/livyha/thrift/hs2test"
)

// BenchmarkConnect measures the time to a working gohive connection with
// 1 active + 2 refusing passives, interleaved in one run:
//   - direct: gohive.Connect to the known active (the floor);
//   - livyha: thrift.ConnectHive with a warm discovery resolver;
//   - gohive-zk-leader: gohive.ConnectZookeeper on the leader-only Hive
//     record livyha's Registrar publishes;
//   - gohive-zk-all: gohive.ConnectZookeeper on a namespace listing all
//     three servers, as HiveServer2/Kyuubi register (it shuffles).
//
// It reports medians and the ratios livyha/direct (docs/design.md target ≤ 1.2)
// and livyha/gohive-zk-*.
func BenchmarkConnect(b *testing.B) {
	// gohive's ZooKeeper client logs through the standard logger.
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	ns := strings.TrimPrefix(testRoot(b), "/") + "-hs2"
	connect, root, nodes := livyClusterNS(b, 3, hs2test.AuthNoSASL, hs2test.RefuseClose, ns)
	waitHive(b, connect, ns, nodes[0].thrift.Addr())
	// A namespace with every server, Hive/Kyuubi style.
	allNS := ns + "-all"
	raw, _, err := zk.Connect([]string{connect}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Create("/"+allNS, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		b.Fatal(err)
	}
	for i, n := range nodes {
		name := "/" + allNS + "/serverUri=" + n.thrift.Addr() + ";version=1;sequence=000000000" + strconv.Itoa(i)
		if _, err := raw.Create(name, []byte(n.thrift.Addr()), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			b.Fatal(err)
		}
	}
	r := resolver(b, connect, root)
	loc := thrift.NewLocator(thrift.ResolverSource(r))
	host, portS, _ := net.SplitHostPort(nodes[0].thrift.Addr())
	port, _ := strconv.Atoi(portS)
	ctx := context.Background()

	type way struct {
		name string
		fn   func() (*gohive.Connection, error)
		d    []time.Duration
	}
	ways := []*way{
		{name: "direct", fn: func() (*gohive.Connection, error) {
			return gohive.Connect(host, port, "NOSASL", gohive.NewConnectConfiguration())
		}},
		{name: "livyha", fn: func() (*gohive.Connection, error) {
			return thrift.ConnectHive(ctx, loc, "NOSASL", gohive.NewConnectConfiguration())
		}},
		{name: "gohive-zk-leader", fn: func() (*gohive.Connection, error) {
			cfg := gohive.NewConnectConfiguration()
			cfg.ZookeeperNamespace = ns
			return gohive.ConnectZookeeper(connect, "NOSASL", cfg)
		}},
		{name: "gohive-zk-all", fn: func() (*gohive.Connection, error) {
			cfg := gohive.NewConnectConfiguration()
			cfg.ZookeeperNamespace = allNS
			return gohive.ConnectZookeeper(connect, "NOSASL", cfg)
		}},
	}
	run := func(w *way) time.Duration {
		t0 := time.Now()
		conn, err := w.fn()
		d := time.Since(t0)
		if err != nil {
			b.Fatalf("%s: %v", w.name, err)
		}
		if got := serverName(b, conn); got != "livy-1" {
			b.Fatalf("%s landed on %s", w.name, got)
		}
		conn.Close()
		return d
	}
	for _, w := range ways { // warm up
		for i := 0; i < 5; i++ {
			run(w)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, w := range ways {
			w.d = append(w.d, run(w))
		}
	}
	b.StopTimer()
	med := map[string]float64{}
	for _, w := range ways {
		s := slices.Clone(w.d)
		slices.Sort(s)
		med[w.name] = float64(s[len(s)/2].Microseconds())
		b.ReportMetric(med[w.name], w.name+"-µs")
	}
	b.ReportMetric(med["livyha"]/med["direct"], "livyha/direct")
	b.ReportMetric(med["livyha"]/med["gohive-zk-leader"], "livyha/zk-leader")
	b.ReportMetric(med["livyha"]/med["gohive-zk-all"], "livyha/zk-all")
}
