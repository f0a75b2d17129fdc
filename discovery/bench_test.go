package discovery

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
)

func benchResolver(b *testing.B, mode Mode) *Resolver {
	zkc := zktest.Shared(b)
	root := testRoot(b)
	for _, id := range []int{101, 7, 42} {
		register(b, zkc.ConnectString(), root, id, true)
	}
	r := resolver(b, zkc.ConnectString(), root, WithMode(mode))
	waitFor(b, r, 10*time.Second, "3 servers", func(s *Snapshot) bool { return len(s.Servers) == 3 && leaderID(s) == 101 })
	watching(b, r)
	return r
}

// BenchmarkActive measures a warm Active() lookup (target: ≤100 ns, 0 allocs).
func BenchmarkActive(b *testing.B) {
	r := benchResolver(b, ActivePassive)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Active(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOwner measures a warm multi-active Owner() lookup (id / 10^7).
func BenchmarkOwner(b *testing.B) {
	r := benchResolver(b, MultiActive)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s, err := r.Owner(ctx, Interactive, 1010000000+i%1000); err != nil || s.ID != 101 {
			b.Fatal(s, err)
		}
	}
}

// BenchmarkActiveParallel: warm lookups from all cores at once.
func BenchmarkActiveParallel(b *testing.B) {
	r := benchResolver(b, ActivePassive)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Active(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var receivedRE = regexp.MustCompile(`Received: (\d+)`)

func serverReceived(b *testing.B, addr string) int {
	out, err := zktest.FourLetterWord(context.Background(), addr, "srvr")
	if err != nil {
		b.Fatal(err)
	}
	m := receivedRE.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no Received: in %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// BenchmarkZKRequestsPer10kLookups reports the ZooKeeper requests the
// resolver issued (its own counter) and the packets the ZooKeeper server
// received from anyone (its "srvr" counter, which also counts our own srvr
// probe and any session pings) while serving 10 000 warm lookups.
func BenchmarkZKRequestsPer10kLookups(b *testing.B) {
	r := benchResolver(b, ActivePassive)
	addr := zktest.Shared(b).Nodes()[0].Addr()
	ctx := context.Background()
	var reqs, pkts int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before, srvBefore := r.Stats().ZKRequests, serverReceived(b, addr)
		for j := 0; j < 10_000; j++ {
			if _, err := r.Active(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Owner(ctx, Interactive, j); err != nil {
				b.Fatal(err)
			}
		}
		reqs += int(r.Stats().ZKRequests - before)
		pkts += serverReceived(b, addr) - srvBefore - 1 // minus our own srvr probe
	}
	b.ReportMetric(float64(reqs)/float64(b.N), "zk-requests/10k")
	b.ReportMetric(float64(pkts)/float64(b.N), "server-packets/10k")
}

// BenchmarkOwnerSessionHA measures a warm SessionHA Owner() lookup of a
// session whose ownership record is cached.
// sessionHABench returns a SessionHA resolver whose record for batch
// 1010000001 (owner 7, not the prefix's 101) is cached.
func sessionHABench(b *testing.B) *Resolver {
	zkc := zktest.Shared(b)
	root := testRoot(b)
	for _, id := range []int{101, 7} {
		register(b, zkc.ConnectString(), root, id, false)
	}
	raw := rawConn(b, zkc.ConnectString())
	mkOwner(b, raw, root, "batch", 1010000001, 7)
	r := resolver(b, zkc.ConnectString(), root, WithMode(SessionHA))
	waitFor(b, r, 10*time.Second, "2 servers", func(s *Snapshot) bool { return len(s.Servers) == 2 })
	if s, err := r.Owner(context.Background(), Batch, 1010000001); err != nil || s.ID != 7 {
		b.Fatal(s, err)
	}
	return r
}

func BenchmarkOwnerSessionHA(b *testing.B) {
	r := sessionHABench(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s, err := r.Owner(ctx, Batch, 1010000001); err != nil || s.ID != 7 {
			b.Fatal(s, err)
		}
	}
}

// BenchmarkOwnerSessionHAParallel: warm SessionHA lookups from all cores.
func BenchmarkOwnerSessionHAParallel(b *testing.B) {
	r := sessionHABench(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s, err := r.Owner(ctx, Batch, 1010000001); err != nil || s.ID != 7 {
				b.Error(s, err)
				return
			}
		}
	})
}

// BenchmarkActivePerSource measures a warm Active() for each ZooKeeper
// layout (target: ≤100 ns, 0 allocs for every source).
func BenchmarkActivePerSource(b *testing.B) {
	zkc := zktest.Shared(b)
	raw := rawConn(b, zkc.ConnectString())
	root := testRoot(b)
	pr189, _ := layout.PR189URIData("http://127.0.0.31:8998")
	svc, _ := layout.PR276ServiceData(layout.PR276Service{Host: "127.0.0.41", Port: 8998, UUID: "3d7e0a5e-8c1b-4d5c-9a53-0c2a6f1d2b11"})
	mkTree(b, raw, [][2]string{
		{root, ""},
		{root + "/livy_ha", ""}, {root + "/livy_ha/leader", ""}, {root + "/livy_ha/leader/_c_1b6d-latch-0000000000", "livy1"},
		{root + "/server.uri", string(pr189)},
		{root + "/services", ""}, {root + "/services/127.0.0.41:8998", string(svc)},
		{root + "/hs2", ""}, {root + "/hs2/serverUri=h:10000;version=3;sequence=0000000001", "h:10000"},
	})
	zk := "zk://" + zkc.ConnectString() + root
	for _, c := range []struct{ name, target string }{
		{"pr212", zk + "?layout=pr212&namespace=livy_ha&ids=livy1,livy2&hosts=127.0.0.21,127.0.0.22"},
		{"pr189", zk + "?layout=pr189&path=/server.uri"},
		{"pr276", zk + "?layout=pr276&path=/services"},
		{"hive", zk + "?layout=hive&namespace=hs2"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, err := NewResolver(c.target)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			ctx := context.Background()
			if _, err := r.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Active(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Active(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
