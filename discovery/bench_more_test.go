package discovery

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/internal/zktest"
)

// The benchmarks in this file report their results with b.ReportMetric;
// internal/benchtable (make bench) runs them and prints BENCHMARKS.md's
// table. Their iteration count is b.N (make bench sets it with
// -benchtime Nx).

// medianDur returns the median of d (which it sorts).
func medianDur(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkColdStart compares, interleaved in one run, the time from
// nothing to the first answer of
//   - resolver: NewResolver on a canonical cluster of 3 registrars, then
//     Active() (the ZooKeeper session, the reads of the first snapshot);
//   - bare: a go-zookeeper session (zk.Connect) and one Children list of
//     the same servers directory, which is the least any ZooKeeper client
//     must do to learn the servers — with the buffer sizes our sessions
//     start with (initialSendBuffer, initialRecvBuffer), so that the two
//     differ only in what they do;
//   - bare-defaults: the same with go-zookeeper's default buffers (3 MiB,
//     whose allocation, in a small heap, starts a garbage collection).
//
// Each iteration measures one of each, in a rotating order, from a
// collected heap (runtime.GC, not timed, so that none pays for another's
// garbage); closing is not timed. It reports the medians and the ratios
// resolver/bare (target ≤ 1.5) and resolver/bare-defaults.
func BenchmarkColdStart(b *testing.B) {
	zkc := zktest.Shared(b)
	connect := zkc.ConnectString()
	root := testRoot(b)
	for _, id := range []int{1, 2, 3} {
		register(b, connect, root, id, true)
	}
	servers := strings.Split(connect, ",")
	serversDir := root + "/servers"
	waitCtx := ctxT(b, 10*time.Minute)
	// Until the 3 registrars are visible to a resolver.
	waitFor(b, resolver(b, connect, root), 10*time.Second, "3 servers", func(s *Snapshot) bool {
		return len(s.Servers) == 3 && leaderID(s) == 1
	})

	resolverOnce := func() time.Duration {
		runtime.GC()
		t0 := time.Now()
		r, err := NewResolver(connect, WithRoot(root))
		if err != nil {
			b.Fatal(err)
		}
		s, err := r.Active(waitCtx)
		d := time.Since(t0)
		r.Close()
		if err != nil || s.ID != 1 {
			b.Fatalf("Active = %+v, %v", s, err)
		}
		return d
	}
	bare := func(small bool) func() time.Duration {
		return func() time.Duration {
			opts := sliceOf(zk.WithLogInfo(false), zk.WithLogger(zkLogger{discardLogger()}))
			if small {
				opts = append(opts, zk.WithMaxBufferSize(initialRecvBuffer), zk.WithMaxConnBufferSize(initialSendBuffer))
			}
			runtime.GC()
			t0 := time.Now()
			c, _, err := zk.Connect(servers, DefaultSessionTimeout, opts...)
			if err != nil {
				b.Fatal(err)
			}
			ch, _, err := c.Children(serversDir)
			d := time.Since(t0)
			c.Close()
			if err != nil || len(ch) != 3 {
				b.Fatalf("Children = %v, %v", ch, err)
			}
			return d
		}
	}
	ways := []func() time.Duration{resolverOnce, bare(true), bare(false)}
	times := make([][]time.Duration, len(ways))
	for i := 0; i < 5; i++ { // warm up every path
		for _, w := range ways {
			w()
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Rotate the order so that none always runs right after another.
		for j := range ways {
			k := (i + j) % len(ways)
			times[k] = append(times[k], ways[k]())
		}
	}
	b.StopTimer()
	mr, mb, md := medianDur(times[0]), medianDur(times[1]), medianDur(times[2])
	b.ReportMetric(msOf(mr), "resolver-ms")
	b.ReportMetric(msOf(mb), "bare-ms")
	b.ReportMetric(msOf(md), "bare-defaults-ms")
	b.ReportMetric(float64(mr)/float64(mb), "ratio")
	b.ReportMetric(float64(mr)/float64(md), "ratio-vs-defaults")
}

// waitAll waits until cond holds for every resolver's snapshot, following
// snapshot changes, and returns each resolver's time since t0.
func waitAll(b *testing.B, rs []*Resolver, t0 time.Time, d time.Duration, what string, cond func(*Snapshot) bool) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	times := make([]time.Duration, len(rs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s := r.Snapshot()
				if s.Ready() && cond(s) {
					times[i] = time.Since(t0)
					return
				}
				select {
				case <-s.Changed():
				case <-ctx.Done():
					mu.Lock()
					failed = append(failed, fmt.Sprintf("resolver %d: servers=%+v", i, s.Servers))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		b.Fatalf("timed out waiting for %s (%d of %d resolvers); first: %s", what, len(failed), len(rs), failed[0])
	}
	return times
}

func sumRequests(rs []*Resolver) uint64 {
	var n uint64
	for _, r := range rs {
		n += r.Stats().ZKRequests
	}
	return n
}

// settledRequests returns the resolvers' summed request count once it has
// not moved for quiet (bounded by limit).
func settledRequests(rs []*Resolver, quiet, limit time.Duration) uint64 {
	deadline := time.Now().Add(limit)
	last, since := sumRequests(rs), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(quiet / 5)
		n := sumRequests(rs)
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			break
		}
	}
	return last
}

// BenchmarkLeaderChange200 measures one leader change as 200 resolvers in
// one process see it: each has its own ZooKeeper session to the shared
// ZooKeeper and watches one canonical cluster of 3 registrars. Per
// iteration the leader's registrar is closed (gracefully: its record and
// latch node go in one transaction); the benchmark reports the ZooKeeper
// requests the 200 resolvers issued for it (Resolver.Stats().ZKRequests,
// summed, counted until the sum is still for 200 ms) and the time from the
// Close call until all 200 report the new leader — both medians over the
// iterations. Between iterations a new registrar restores 3 servers.
func BenchmarkLeaderChange200(b *testing.B) {
	const n = 200
	zkc := zktest.Shared(b)
	connect := zkc.ConnectString()
	root := testRoot(b)
	type reg struct {
		id int
		g  *Registrar
	}
	var regs []reg
	nextID := 1
	add := func() {
		regs = append(regs, reg{nextID, register(b, connect, root, nextID, true)})
		nextID++
	}
	for i := 0; i < 3; i++ {
		add()
	}
	rs := make([]*Resolver, n)
	for i := range rs {
		rs[i] = resolver(b, connect, root)
	}
	full := func(leader int) func(*Snapshot) bool {
		return func(s *Snapshot) bool { return len(s.Servers) == 3 && leaderID(s) == leader }
	}
	waitAll(b, rs, time.Now(), time.Minute, "3 servers", full(regs[0].id))

	var reqs []float64
	var conv, p50 []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		old, next := regs[0], regs[1]
		before := sumRequests(rs)
		t0 := time.Now()
		old.g.Close()
		times := waitAll(b, rs, t0, 30*time.Second, fmt.Sprintf("leader %d", next.id), func(s *Snapshot) bool {
			return leaderID(s) == next.id
		})
		after := settledRequests(rs, 200*time.Millisecond, 5*time.Second)
		b.StopTimer()
		reqs = append(reqs, float64(after-before))
		conv = append(conv, slices.Max(times))
		p50 = append(p50, medianDur(times))
		if !next.g.IsLeader() {
			waitUntil(b, 5*time.Second, "the next registrar to know it leads", next.g.IsLeader)
		}
		regs = regs[1:]
		add()
		waitAll(b, rs, time.Now(), 30*time.Second, "3 servers again", full(next.id))
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(reqs)
	b.ReportMetric(reqs[len(reqs)/2], "zk-requests")
	b.ReportMetric(reqs[len(reqs)/2]/n, "zk-requests/resolver")
	b.ReportMetric(msOf(medianDur(conv)), "converge-ms")
	b.ReportMetric(msOf(medianDur(p50)), "p50-resolver-ms")
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerResolver measures the heap a resolver holds: 50
// resolvers are started on a canonical cluster of 3 registrars and, once
// each has its first snapshot and they have idled for 200 ms, the live heap
// (runtime.ReadMemStats after GC) is compared with the one before they
// were started; it reports the difference per resolver (target ≤ 1 MiB),
// the median over the iterations. For reference it measures the same for
// 50 bare go-zookeeper connections (zk.Connect with its defaults, one
// Children list each).
func BenchmarkMemoryPerResolver(b *testing.B) {
	const n = 50
	zkc := zktest.Shared(b)
	connect := zkc.ConnectString()
	root := testRoot(b)
	for _, id := range []int{1, 2, 3} {
		register(b, connect, root, id, true)
	}
	servers := strings.Split(connect, ",")
	var perResolver, perConn, goroutines []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h0, g0 := heapInUse(), runtime.NumGoroutine()
		rs := make([]*Resolver, n)
		for j := range rs {
			r, err := NewResolver(connect, WithRoot(root))
			if err != nil {
				b.Fatal(err)
			}
			rs[j] = r
		}
		waitAll(b, rs, time.Now(), time.Minute, "3 servers", func(s *Snapshot) bool {
			return len(s.Servers) == 3 && leaderID(s) == 1
		})
		time.Sleep(200 * time.Millisecond)
		h1, g1 := heapInUse(), runtime.NumGoroutine()
		perResolver = append(perResolver, (float64(h1)-float64(h0))/n/(1<<20))
		goroutines = append(goroutines, float64(g1-g0)/n)
		for _, r := range rs {
			r.Close()
		}

		h0 = heapInUse()
		cs := make([]*zk.Conn, n)
		for j := range cs {
			c, _, err := zk.Connect(servers, DefaultSessionTimeout, zk.WithLogInfo(false), zk.WithLogger(zkLogger{discardLogger()}))
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.Children(root + "/servers"); err != nil {
				b.Fatal(err)
			}
			cs[j] = c
		}
		time.Sleep(200 * time.Millisecond)
		h1 = heapInUse()
		perConn = append(perConn, (float64(h1)-float64(h0))/n/(1<<20))
		for _, c := range cs {
			c.Close()
		}
	}
	b.StopTimer()
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(med(perResolver), "MiB/resolver")
	b.ReportMetric(med(goroutines), "goroutines/resolver")
	b.ReportMetric(med(perConn), "MiB/bare-zk-conn")
}

// A session's go-zookeeper buffers start small (bufSizer, zkconn.go) and
// grow, in the same session, to what it meets: here a 1 MB record (a
// response above the initial receive buffer, read on the same
// connection) and a record whose name is about
// 132 KiB (requests above the send buffer, a child list above the receive
// limit). TestTwentyThousandChildren covers a
// child list of about 760 KB.
func TestZKBuffersGrow(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	connect := zkc.ConnectString()
	root := testRoot(t)
	register(t, connect, root, 1, true)
	r := resolver(t, connect, root)
	waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 && len(s.Servers) == 1 })
	sess := r.src.(*zkSource).sess
	sid := sess.SessionID()
	if got := sess.bufs.sendSize.Load(); got != initialSendBuffer {
		t.Fatalf("send buffer %d, want %d", got, initialSendBuffer)
	}

	dials := func() int {
		sess.bufs.mu.Lock()
		defer sess.bufs.mu.Unlock()
		return sess.bufs.dials
	}
	// The session moves off its first connection once the sentinel watch
	// is armed (reconnectGate).
	waitUntil(t, 10*time.Second, "the session on its second connection", func() bool {
		return dials() >= 2 && sess.State() == zk.StateHasSession
	})
	conns := dials()

	raw := rawConn(t, connect)
	dir := root + "/servers/"
	if _, err := raw.Create(dir+"serverUri=127.0.0.1:9;version=1;sequence=0000000900", make([]byte, 1_000_000), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	// The 1 MB response (above the initial receive buffer) grows
	// go-zookeeper's buffer in place: same connection.
	waitFor(t, r, 20*time.Second, "the 1 MB record a problem", func(s *Snapshot) bool {
		return slices.ContainsFunc(s.Problems, func(p Problem) bool { return strings.Contains(p.Reason, "1000000 bytes") })
	})
	if got := dials(); got != conns {
		t.Fatalf("reading a 1 MB record took %d new connections, want 0", got-conns)
	}
	// A path that, in a read request, would end exactly at the end of the
	// initial send buffer (go-zookeeper panics on that one; see bufSizer).
	prefix, suffix := dir+"serverUri=127.0.0.1:8;version=", ";sequence=0000000901"
	long := prefix + strings.Repeat("v", initialSendBuffer-16-len(prefix)-len(suffix)) + suffix
	if _, err := raw.Create(long, []byte("livy.server.id=8;livy.server.url=http://127.0.0.1:8"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s := waitFor(t, r, 20*time.Second, "servers 1 and 8, the 1 MB record a problem", func(s *Snapshot) bool {
		if len(s.Servers) != 2 || leaderID(s) != 1 {
			return false
		}
		for _, p := range s.Problems {
			if strings.Contains(p.Reason, "1000000 bytes") {
				return true
			}
		}
		return false
	})
	t.Logf("read after %v: servers %d, problems %d; send buffer %d, largest response %d, %d ZooKeeper requests",
		time.Since(start).Round(time.Millisecond), len(s.Servers), len(s.Problems),
		sess.bufs.sendSize.Load(), sess.bufs.recvNeed.Load(), r.Stats().ZKRequests)
	if got := sess.bufs.sendSize.Load(); got < int64(len(long)) {
		t.Fatalf("send buffer %d after a %d-byte path", got, len(long))
	}
	// The 1 MB record was read without a reconnect: the receive limit is
	// above it, and go-zookeeper grew its buffer in place.
	if got := sess.bufs.recvNeed.Load(); got != 0 {
		t.Fatalf("a response of %d bytes was over the receive limit", got)
	}
	if sess.SessionID() != sid {
		t.Fatal("the session changed")
	}
}
