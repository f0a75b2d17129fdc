package discovery

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/internal/zktest"
)

// Bad data at scale: 10 000 garbage children and 10 000 records that all
// claim one id, plus 2 real servers. The first snapshot comes within a
// bounded number of goroutines and a bounded heap; its time is reported.
func TestTwentyThousandChildren(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 20 000 znodes")
	}
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	mkTree(t, raw, [][2]string{{root, ""}, {root + "/servers", ""}})
	// Create the children with pipelined requests (go-zookeeper sends
	// concurrent requests on one connection).
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name, data := fmt.Sprintf("%s/servers/garbage-%05d", root, i), []byte("x")
				if i%2 == 1 {
					name = fmt.Sprintf("%s/servers/serverUri=127.0.0.1:%d;version=1;sequence=%010d", root, 30000+i%20000, i)
					data = []byte("livy.server.id=7;livy.server.url=http://127.0.0.1:1")
				}
				if _, err := raw.Create(name, data, 0, zk.WorldACL(zk.PermAll)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20000; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	register(t, zkc.ConnectString(), root, 1, true)
	register(t, zkc.ConnectString(), root, 2, true)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	start := time.Now()
	r := resolver(t, zkc.ConnectString(), root)
	s := waitFor(t, r, 60*time.Second, "2 servers", func(s *Snapshot) bool { return len(s.Servers) == 2 })
	took := time.Since(start)
	g1 := runtime.NumGoroutine() - g0
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("first snapshot with 20 002 children: %v, %d goroutines added, heap +%.1f MiB, %d problems, %d ZooKeeper requests",
		took.Round(time.Millisecond), g1, float64(heap)/(1<<20), len(s.Problems), r.Stats().ZKRequests)
	if len(s.Problems) != MaxProblems || leaderID(s) != 1 || s.Problems[MaxProblems-1].Reason != "19001 more problems (20000 in all) not listed" {
		t.Fatalf("problems %d, leader %d", len(s.Problems), leaderID(s))
	}
	if g1 >= 100 {
		t.Fatalf("a resolver over 20 000 children added %d goroutines", g1)
	}
	if heap >= 5<<20 {
		t.Fatalf("a resolver over 20 000 children added %.1f MiB of heap", float64(heap)/(1<<20))
	}
	src := r.src.(*zkSource)
	if src.bulkSessions.Load() == 0 {
		t.Fatal("10 000 records were read on one session")
	}
	// Data watches: bounded, the members' first. A member's record
	// changes in place: seen.
	waitUntil(t, 30*time.Second, "data watches armed", func() bool { return src.dataWatches.Load() == maxDataWatches })
	srv, _ := s.ServerByID(2)
	node := root + "/servers/" + srv.Node
	if _, err := raw.Set(node, []byte("livy.server.id=2;livy.server.url=http://127.0.0.1:2222"), -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 10*time.Second, "server 2's new URL", func(s *Snapshot) bool {
		srv, ok := s.ServerByID(2)
		return ok && srv.URL == "http://127.0.0.1:2222"
	})
	if n := src.dataWatches.Load(); n > maxDataWatches {
		t.Fatalf("%d data watches", n)
	}
}
