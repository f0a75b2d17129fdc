package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	zktest.StopShared()
	os.Exit(code)
}

var rootSeq atomic.Int64

// testRoot gives each test its own root in the shared ZooKeeper.
func testRoot(t testing.TB) string {
	return fmt.Sprintf("/t%d-%s", rootSeq.Add(1), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
}

// noLeaks fails the test if goroutines started during it outlive it.
func noLeaks(t *testing.T) { testutil.NoLeaks(t) }

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func register(t testing.TB, connect, root string, id int, elect bool, opts ...RegistrarOption) *Registrar {
	t.Helper()
	rec := ServerRecord{ID: id, URL: fmt.Sprintf("http://127.0.0.1:%d", 20000+id), Thrift: fmt.Sprintf("127.0.0.1:%d", 30000+id)}
	opts = append([]RegistrarOption{WithRoot(root), WithElection(elect), WithSessionTimeout(2 * time.Second)}, opts...)
	g, err := Register(ctxT(t, 20*time.Second), connect, rec, opts...)
	if err != nil {
		t.Fatalf("register %d: %v", id, err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func resolver(t testing.TB, connect, root string, opts ...ResolverOption) *Resolver {
	t.Helper()
	r, err := NewResolver(connect, append([]ResolverOption{WithRoot(root)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// waitFor waits, by following snapshot changes, until cond holds for the
// resolver's snapshot.
func waitFor(t testing.TB, r *Resolver, d time.Duration, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	ctx := ctxT(t, d)
	for {
		s := r.Snapshot()
		if s.Ready() && cond(s) {
			return s
		}
		select {
		case <-s.Changed():
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; last snapshot: servers=%+v problems=%v", what, s.Servers, s.Problems)
		}
	}
}

// watching waits until r's ZooKeeper source has completed a reading with
// watches: a session's first reading sets none, the next one (on its
// second connection) arms them (reconnectGate).
func watching(t testing.TB, r *Resolver) {
	t.Helper()
	waitUntil(t, 10*time.Second, "watches armed", r.src.(*zkSource).watching.Load)
}

func leaderID(s *Snapshot) int {
	if l, ok := s.Leader(); ok {
		return l.ID
	}
	return -1
}

func rawConn(t testing.TB, connect string) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect(strings.Split(connect, ","), 5*time.Second, zk.WithLogInfo(false), zk.WithLogger(zkLogger{discardLogger()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestActivePassiveFailover(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	a := register(t, zkc.ConnectString(), root, 1, true)
	r := resolver(t, zkc.ConnectString(), root)

	waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 })
	if !a.IsLeader() {
		t.Fatal("registrar 1 does not know it leads")
	}
	b := register(t, zkc.ConnectString(), root, 2, true)
	s := waitFor(t, r, 10*time.Second, "two servers", func(s *Snapshot) bool { return len(s.Servers) == 2 })
	if leaderID(s) != 1 || s.Servers[1].ID != 2 || b.IsLeader() {
		t.Fatalf("after second registrar: %+v (b leader=%v)", s.Servers, b.IsLeader())
	}
	act, err := r.Active(ctxT(t, time.Second))
	if err != nil || act.ID != 1 || act.URL != "http://127.0.0.1:20001" || act.HostPort != "127.0.0.1:20001" {
		t.Fatalf("Active = %+v, %v", act, err)
	}
	own, err := r.Owner(ctxT(t, time.Second), Interactive, 20_000_005) // active-passive: the active owns all
	if err != nil || own.ID != 1 {
		t.Fatalf("Owner = %+v, %v", own, err)
	}
	if !s.IsMember("127.0.0.1:20002") || !s.IsMember("127.0.0.1:30002") || s.IsMember("127.0.0.1:20003") {
		t.Fatal("IsMember wrong")
	}

	// Graceful stop: the record and latch node go at once.
	a.Close()
	s = waitFor(t, r, 5*time.Second, "leader 2", func(s *Snapshot) bool { return leaderID(s) == 2 })
	if len(s.Servers) != 1 {
		t.Fatalf("servers after close: %+v", s.Servers)
	}
	waitUntil(t, 5*time.Second, "b to learn it leads", b.IsLeader)

	b.Close()
	s = waitFor(t, r, 5*time.Second, "no servers", func(s *Snapshot) bool { return len(s.Servers) == 0 })
	if _, err := s.Active(); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Active with nobody = %v", err)
	}
	if _, err := r.Endpoints(ctxT(t, time.Second)); !errors.Is(err, ErrNoServers) {
		t.Fatalf("Endpoints with nobody = %v", err)
	}
}

// waitUntil polls a condition that has no event to wait on (the
// registrar's leadership flag is set by its own goroutine).
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLeadershipHandlerAndNoServerYet(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	r := resolver(t, zkc.ConnectString(), root)
	// Nothing registered, root absent: ready snapshot, no leader.
	if _, err := r.Active(ctxT(t, 10*time.Second)); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Active on empty root = %v", err)
	}
	changes := make(chan bool, 4)
	register(t, zkc.ConnectString(), root, 5, true, WithLeadershipHandler(func(v bool) { changes <- v }))
	select {
	case v := <-changes:
		if !v {
			t.Fatal("first leadership change was a loss")
		}
	case <-ctxT(t, 10*time.Second).Done():
		t.Fatal("no leadership change reported")
	}
	// The resolver was watching for the directories to appear.
	waitFor(t, r, 10*time.Second, "leader 5", func(s *Snapshot) bool { return leaderID(s) == 5 })
}

func TestMultiActiveOwner(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	register(t, zkc.ConnectString(), root, 101, false)
	register(t, zkc.ConnectString(), root, 7, false)
	r := resolver(t, zkc.ConnectString(), root, WithMode(MultiActive))
	waitFor(t, r, 10*time.Second, "two servers", func(s *Snapshot) bool { return len(s.Servers) == 2 })

	own, err := r.Owner(ctxT(t, time.Second), Interactive, 1010000001)
	if err != nil || own.ID != 101 {
		t.Fatalf("Owner(1010000001) = %+v, %v", own, err)
	}
	own, err = r.Owner(ctxT(t, time.Second), Interactive, 70000000)
	if err != nil || own.ID != 7 {
		t.Fatalf("Owner(70000000) = %+v, %v", own, err)
	}
	if _, err := r.Owner(ctxT(t, time.Second), Interactive, 20000000); !errors.Is(err, ErrNoOwner) || !strings.Contains(err.Error(), "server 2 ") {
		t.Fatalf("Owner of unregistered server = %v", err)
	}
	if _, err := r.Owner(ctxT(t, time.Second), Interactive, -1); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("Owner(-1) = %v", err)
	}
	// No latch in multi-active mode: Active picks a live server.
	act, err := r.Active(ctxT(t, time.Second))
	if err != nil || (act.ID != 7 && act.ID != 101) {
		t.Fatalf("Active = %+v, %v", act, err)
	}
}

func TestGarbageIsSkipped(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	mk := func(p string, data string) {
		t.Helper()
		if _, err := raw.Create(p, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	mk(root, "")
	mk(root+"/servers", "")
	mk(root+"/leader", "")
	mk(root+"/servers/leader", "")                                                        // Hive-style latch child: ignored
	mk(root+"/servers/serverUri=x:1;version=1;sequence=0000000001", "\x00\xffgarbage")    // bad data
	mk(root+"/servers/serverUri=x:2;version=1;sequence=0000000002", "livy.server.id=abc") // bad id
	mk(root+"/servers/serverUri=%%;sequence=zz", "livy.server.id=9;livy.server.url=http://h:1")
	mk(root+"/leader/garbage-without-latch", "not-an-id") // sorts after every latch- child

	g := register(t, zkc.ConnectString(), root, 3, true)
	r := resolver(t, zkc.ConnectString(), root)
	s := waitFor(t, r, 10*time.Second, "leader 3", func(s *Snapshot) bool { return leaderID(s) == 3 })
	if len(s.Servers) != 1 || len(s.Problems) != 4 {
		t.Fatalf("servers=%+v problems=%v", s.Servers, s.Problems)
	}
	// A garbage latch child that sorts first (Curator would call it the
	// leader) means no leader, with a reason, and never a crash.
	mk(root+"/leader/_c_zzz-latch-0000000000", "boss")
	s = waitFor(t, r, 10*time.Second, "garbage leader", func(s *Snapshot) bool { return leaderID(s) == -1 })
	if _, err := s.Active(); !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), "unreadable id") {
		t.Fatalf("Active = %v", err)
	}
	if err := raw.Delete(root+"/leader/_c_zzz-latch-0000000000", -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 10*time.Second, "leader 3 again", func(s *Snapshot) bool { return leaderID(s) == 3 })

	// Someone deletes our record behind our back: the registrar re-creates it.
	old := g.RecordPath()
	if err := raw.Delete(root+old[len(root):], -1); err != nil {
		t.Fatal(err)
	}
	s = waitFor(t, r, 10*time.Second, "record re-created", func(s *Snapshot) bool {
		return len(s.Servers) == 1 && root+"/servers/"+s.Servers[0].Node != old
	})
	if leaderID(s) != 3 {
		t.Fatalf("leader after re-creation: %+v", s.Servers)
	}
}

func TestChroot(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	chroot := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	if _, err := raw.Create(chroot, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	register(t, zkc.ConnectString()+chroot, layout.DefaultRoot, 4, true)
	// Through the chroot with the default root, and without the chroot
	// with the full path as root: the same view.
	r1 := resolver(t, zkc.ConnectString()+chroot, layout.DefaultRoot)
	r2 := resolver(t, zkc.ConnectString(), chroot+layout.DefaultRoot)
	for _, r := range []*Resolver{r1, r2} {
		s := waitFor(t, r, 10*time.Second, "leader 4", func(s *Snapshot) bool { return leaderID(s) == 4 })
		if len(s.Problems) != 0 {
			t.Fatalf("problems: %v", s.Problems)
		}
	}
	if ok, _, err := raw.Exists(chroot + "/livy/leader"); err != nil || !ok {
		t.Fatalf("latch not under the chroot: %v %v", ok, err)
	}
}

func TestWarmLookupsMakeNoZKRequests(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	register(t, zkc.ConnectString(), root, 1, true)
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "leader", func(s *Snapshot) bool { return leaderID(s) == 1 })
	watching(t, r)
	before := r.Stats()
	ctx := context.Background()
	for i := 0; i < 10_000; i++ {
		if s, err := r.Active(ctx); err != nil || s.ID != 1 {
			t.Fatalf("Active = %+v, %v", s, err)
		}
		if _, err := r.Owner(ctx, Interactive, i); err != nil {
			t.Fatal(err)
		}
	}
	if after := r.Stats(); after.ZKRequests != before.ZKRequests {
		t.Fatalf("10 000 warm lookups made %d ZooKeeper requests", after.ZKRequests-before.ZKRequests)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		_, _ = r.Active(ctx)
		_, _ = r.Owner(ctx, Interactive, 5)
	})
	if allocs != 0 {
		t.Fatalf("warm lookups allocate %v times", allocs)
	}
}

func TestUnreachableZooKeeper(t *testing.T) {
	noLeaks(t)
	// A port nobody listens on (taken and released).
	r, err := NewResolver("127.0.0.1:1", WithSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Active(ctxT(t, 300*time.Millisecond))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Active with dead ZooKeeper = %v", err)
	}
	_, err = Register(ctxT(t, 300*time.Millisecond), "127.0.0.1:1", ServerRecord{ID: 1, URL: "http://h:1"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Register with dead ZooKeeper = %v", err)
	}
	if _, err := Register(context.Background(), "127.0.0.1:1", ServerRecord{ID: 1, URL: "mailto:x"}); !errors.Is(err, layout.ErrBadRecord) {
		t.Fatalf("Register with bad URL = %v", err)
	}
	if _, err := NewResolver("127.0.0.1:1", WithSessionTimeout(-1)); !errors.Is(err, ErrBadOption) {
		t.Fatalf("NewResolver bad session timeout = %v", err)
	}
	if _, err := NewResolver("127.0.0.1:1", WithRoot("no-slash")); !errors.Is(err, ErrBadPath) || !errors.Is(err, ErrBadOption) {
		t.Fatalf("NewResolver bad root = %v", err)
	}
	r.Close()
	if _, err := r.Active(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Active after Close = %v", err)
	}
}

func TestSubscribe(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	r := resolver(t, zkc.ConnectString(), root)
	ctx, cancel := context.WithCancel(context.Background())
	ch := r.Subscribe(ctx)
	first := <-ch
	if !first.Ready() || len(first.Servers) != 0 {
		t.Fatalf("first = %+v", first)
	}
	register(t, zkc.ConnectString(), root, 9, true)
	for s := range ch {
		if s.Version <= first.Version {
			t.Fatalf("version went from %d to %d", first.Version, s.Version)
		}
		if leaderID(s) == 9 {
			break
		}
	}
	cancel()
	for range ch { // closed after cancel
	}
}

// A resolver and a registrar partitioned from ZooKeeper long enough for
// their sessions to expire: the registrar gives up leadership on its own,
// and after the partition heals both get new sessions, the registrar
// re-creates its nodes and the resolver re-arms its watches.
func TestSessionExpiry(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	a := register(t, proxy.Addr(), root, 1, true, WithSessionTimeout(time.Second))
	r := resolver(t, proxy.Addr(), root, WithSessionTimeout(time.Second))
	direct := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 })
	raw := rawConn(t, zkc.ConnectString())
	ok, _, gone, err := raw.ExistsW(root + a.RecordPath()[len(root):])
	if err != nil || !ok {
		t.Fatalf("record of a: %v %v", ok, err)
	}

	proxy.Block()
	// ZooKeeper expires a's session: its record goes.
	select {
	case ev := <-gone:
		if ev.Type != zk.EventNodeDeleted {
			t.Fatalf("unexpected event %v", ev)
		}
	case <-ctxT(t, 15*time.Second).Done():
		t.Fatal("session of the partitioned registrar never expired")
	}
	waitUntil(t, 5*time.Second, "a to give up leadership", func() bool { return !a.IsLeader() })
	b := register(t, zkc.ConnectString(), root, 2, true)
	waitFor(t, direct, 10*time.Second, "leader 2", func(s *Snapshot) bool { return leaderID(s) == 2 })
	if got := leaderID(r.Snapshot()); got != 1 {
		t.Fatalf("partitioned resolver should still show its last snapshot, leader 1; got %d", got)
	}

	proxy.Unblock()
	s := waitFor(t, r, 15*time.Second, "leader 2 with a re-registered", func(s *Snapshot) bool {
		return leaderID(s) == 2 && len(s.Servers) == 2
	})
	if s.Servers[1].ID != 1 || a.IsLeader() || !b.IsLeader() {
		t.Fatalf("after heal: %+v", s.Servers)
	}
	// The re-armed watches work: a graceful stop of b hands over to a.
	b.Close()
	waitFor(t, r, 10*time.Second, "leader 1 after b left", func(s *Snapshot) bool { return leaderID(s) == 1 })
	waitUntil(t, 5*time.Second, "a to lead again", a.IsLeader)
}

// Quorum loss and recovery in a 3-node ensemble: sessions survive, and
// watches keep working afterwards.
func TestEnsembleOutage(t *testing.T) {
	zkc := zktest.Start(t, 3)
	noLeaks(t)
	root := "/ensemble"
	a := register(t, zkc.ConnectString(), root, 1, true, WithSessionTimeout(5*time.Second))
	register(t, zkc.ConnectString(), root, 2, true, WithSessionTimeout(5*time.Second))
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "two servers", func(s *Snapshot) bool { return leaderID(s) == 1 && len(s.Servers) == 2 })

	nodes := zkc.Nodes()
	if err := nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].Kill(); err != nil {
		t.Fatal(err)
	}
	// No quorum now. The resolver keeps its last snapshot.
	if act, err := r.Active(context.Background()); err != nil || act.ID != 1 {
		t.Fatalf("Active during outage = %+v, %v", act, err)
	}
	for _, n := range nodes[:2] {
		if err := n.Restart(ctxT(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zkc.WaitReady(ctxT(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The session survived: a leads (it kept leadership, or let go when
	// its lease ended and takes it back).
	waitUntil(t, 20*time.Second, "a to lead again after the outage", a.IsLeader)
	a.Close()
	waitFor(t, r, 20*time.Second, "leader 2 after the outage", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 1 })
}

// A leader cut off by a partition that sends no resets gives up leadership
// before ZooKeeper expires its session and elects another: there is no
// moment at which both report leadership.
func TestNoSplitBrainOnSilentPartition(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	const st = 1500 * time.Millisecond
	a := register(t, proxy.Addr(), root, 1, true, WithSessionTimeout(st))
	b := register(t, zkc.ConnectString(), root, 2, true, WithSessionTimeout(st))
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("leaders: a=%v b=%v", a.IsLeader(), b.IsLeader())
	}
	raw := rawConn(t, zkc.ConnectString())
	_, _, gone, err := raw.ExistsW(root + a.RecordPath()[len(root):])
	if err != nil {
		t.Fatal(err)
	}
	proxy.Stall()
	select {
	case <-gone: // ZooKeeper expired a's session
	case <-ctxT(t, 15*time.Second).Done():
		t.Fatal("a's session never expired")
	}
	if a.IsLeader() {
		t.Fatal("a still claims leadership after ZooKeeper expired its session")
	}
	waitUntil(t, 5*time.Second, "b to lead", b.IsLeader)
	proxy.Block() // drop the stalled connections, whose handshakes would wait 10 s
	proxy.Unblock()
	// a comes back as a passive with a new session.
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 15*time.Second, "a re-registered behind b", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 2 })
	if a.IsLeader() {
		t.Fatal("a leads after rejoining")
	}
}

// A leadership handler may call Close without deadlocking the registrar.
func TestLeadershipHandlerMayClose(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	var g *Registrar
	ready := make(chan struct{})
	closed := make(chan error, 1)
	var calls atomic.Int32
	g, err := Register(ctxT(t, 10*time.Second), zkc.ConnectString(), ServerRecord{ID: 1, URL: "http://127.0.0.1:1"},
		WithRoot(root), WithElection(true), WithLeadershipHandler(func(leader bool) {
			calls.Add(1)
			if leader {
				<-ready
				closed <- g.Close()
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close from handler: %v", err)
		}
	case <-ctxT(t, 10*time.Second).Done():
		t.Fatal("Close from the leadership handler deadlocked")
	}
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "nodes gone", func(s *Snapshot) bool { return len(s.Servers) == 0 && !s.HasLatch() })
	waitUntil(t, 5*time.Second, "the loss to be reported", func() bool { return calls.Load() == 2 })
}

// Refresh re-reads everything without piling up watches or goroutines.
func TestRefreshDoesNotLeak(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	for id := 1; id <= 3; id++ {
		register(t, zkc.ConnectString(), root, id, true)
	}
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "3 servers", func(s *Snapshot) bool { return len(s.Servers) == 3 })
	settle := func() uint64 { // wait until the resolver stops issuing requests
		last := r.Stats().ZKRequests
		for i := 0; i < 100; i++ {
			time.Sleep(20 * time.Millisecond)
			n := r.Stats().ZKRequests
			if n == last {
				return n
			}
			last = n
		}
		return last
	}
	settle()
	before := runtime.NumGoroutine()
	reqBefore := r.Stats().ZKRequests
	for i := 0; i < 100; i++ {
		r.Refresh()
	}
	reqs := settle() - reqBefore
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines grew from %d to %d after 100 Refresh calls", before, after)
	}
	// Coalesced: far fewer than 100 full re-reads of 1 sync + 2 lists + 3 records + 1 latch.
	if reqs == 0 || reqs > 100*7 {
		t.Fatalf("100 Refresh calls made %d requests", reqs)
	}
	t.Logf("100 Refresh calls: %d ZooKeeper requests", reqs)
	if leaderID(r.Snapshot()) != 1 {
		t.Fatal("leader changed")
	}
}

// One unresolvable host in the connect string does not break the others.
func TestUnresolvableHostIsSkipped(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	register(t, zkc.ConnectString(), root, 1, true)
	// The dialer plays DNS for the bad name, so no query leaves loopback;
	// the name reaches it unresolved (go-zookeeper's default provider
	// would have failed the whole connect string up front).
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); host == "nonexistent-zk.invalid" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	r := resolver(t, "nonexistent-zk.invalid:2181,"+zkc.ConnectString(), root, WithDialer(dialer))
	waitFor(t, r, 15*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 })
}

// The registrar never writes above the chroot and checks before creating,
// so a read-only ancestor does not stop it.
func TestReadOnlyAncestor(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	if _, err := raw.Create(root, nil, 0, zk.WorldACL(zk.PermRead)); err != nil {
		t.Fatal(err)
	}
	// Only a super user could create below a read-only node; this test
	// needs the chroot to exist, so create it before locking.
	if err := raw.Delete(root, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Create(root, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Create(root+"/apps", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.SetACL(root, zk.WorldACL(zk.PermRead), -1); err != nil {
		t.Fatal(err)
	}
	g := register(t, zkc.ConnectString()+root+"/apps", "/livy", 1, true)
	if !g.IsLeader() {
		t.Fatal("not leader")
	}
}

// A health check that fails withdraws the server (leadership included)
// while its session lives on; when it passes again the server comes back.
func TestHealthCheckWithdrawsAndRestores(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	var sick atomic.Bool
	check := func(ctx context.Context) error {
		if sick.Load() {
			return errors.New("livy is down")
		}
		return nil
	}
	a := register(t, zkc.ConnectString(), root, 1, true, WithHealthCheck(check, 20*time.Millisecond, 2))
	b := register(t, zkc.ConnectString(), root, 2, true)
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 && len(s.Servers) == 2 })

	sick.Store(true)
	s := waitFor(t, r, 10*time.Second, "leader 2 alone", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 1 })
	if a.IsLeader() || a.RecordPath() != "" || s.Servers[0].ID != 2 {
		t.Fatalf("unhealthy a: leader=%v record=%q", a.IsLeader(), a.RecordPath())
	}
	waitUntil(t, 5*time.Second, "b to lead", b.IsLeader)

	sick.Store(false)
	waitFor(t, r, 10*time.Second, "a back as a passive", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 2 })
	if a.IsLeader() {
		t.Fatal("a leads after coming back")
	}
}

// Register waits for the first healthy check.
func TestRegisterWaitsForHealth(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	_, err := Register(ctxT(t, 300*time.Millisecond), zkc.ConnectString(), ServerRecord{ID: 1, URL: "http://h:1"},
		WithRoot(testRoot(t)), WithHealthCheck(func(context.Context) error { return errors.New("down") }, 20*time.Millisecond, 1))
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Register with a failing health check = %v", err)
	}
}

// The server turns unhealthy while ZooKeeper is unreachable: its nodes
// cannot be deleted then, so they are deleted when ZooKeeper answers again
// (the session lived on), and it comes back cleanly once healthy.
func TestWithdrawWhileDisconnected(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	var sick atomic.Bool
	check := func(context.Context) error {
		if sick.Load() {
			return errors.New("livy is down")
		}
		return nil
	}
	a := register(t, proxy.Addr(), root, 1, true, WithSessionTimeout(8*time.Second), WithHealthCheck(check, 20*time.Millisecond, 1))
	b := register(t, zkc.ConnectString(), root, 2, true)
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 && len(s.Servers) == 2 })

	proxy.Block()
	sick.Store(true)
	waitUntil(t, 10*time.Second, "a to withdraw (its deletes fail)", func() bool { return a.RecordPath() == "" })
	proxy.Unblock()
	waitFor(t, r, 15*time.Second, "a's nodes deleted after the reconnect", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 1 })
	waitUntil(t, 5*time.Second, "b to lead", b.IsLeader)

	sick.Store(false)
	s := waitFor(t, r, 15*time.Second, "a back as a passive", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 2 })
	if len(s.Problems) != 0 || a.IsLeader() {
		t.Fatalf("after recovery: problems %v, a leader %v", s.Problems, a.IsLeader())
	}
}

// A leader whose latch node is deleted while it is disconnected does not
// take leadership back when it reconnects in the same session. (Under
// LeadOnConnection: LeadWhileSession keeps leading while disconnected,
// assuming, as Curator does, that nobody deletes a live session's node.)
func TestLatchDeletedWhileDisconnected(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	a := register(t, proxy.Addr(), root, 1, true, WithSessionTimeout(8*time.Second), WithLeadershipPolicy(LeadOnConnection))
	b := register(t, zkc.ConnectString(), root, 2, true)
	raw := rawConn(t, zkc.ConnectString())
	kids, _, err := raw.Children(root + "/leader")
	if err != nil {
		t.Fatal(err)
	}
	layout.SortLatchChildren(kids)
	proxy.Block()
	waitUntil(t, 5*time.Second, "a to let go on disconnection", func() bool { return !a.IsLeader() })
	if err := raw.Delete(root+"/leader/"+kids[0], -1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "b to lead", b.IsLeader)
	proxy.Unblock()
	// No event tells "both lead": watch the flags for a while.
	r := resolver(t, zkc.ConnectString(), root)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if a.IsLeader() && b.IsLeader() {
			t.Fatal("a and b both lead after a's reconnect")
		}
		time.Sleep(200 * time.Microsecond)
	}
	waitFor(t, r, 10*time.Second, "a re-joined behind b", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 2 })
	if a.IsLeader() {
		t.Fatal("a leads")
	}
}

// Heavy churn in a directory never leaves the resolver without a watch on
// it: after the churn, a new node still shows up.
func TestChurnKeepsWatching(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	register(t, zkc.ConnectString(), root, 1, true)
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 })
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Second)
	for w := 0; w < 8; w++ {
		c := rawConn(t, zkc.ConnectString())
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
				p := fmt.Sprintf("%s/servers/junk-%d-%d", root, w, i)
				if _, err := c.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err == nil {
					_ = c.Delete(p, -1)
				}
			}
		}(w)
	}
	wg.Wait()
	raw := rawConn(t, zkc.ConnectString())
	if _, err := raw.Create(root+"/servers/junk-final", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 15*time.Second, "the node created after the churn", func(s *Snapshot) bool {
		return len(s.Problems) == 1 && strings.HasSuffix(s.Problems[0].Path, "junk-final")
	})
}

// The host provider hands out names unresolved, in turn, and says when it
// has gone round once.
func TestLazyHostProvider(t *testing.T) {
	var h lazyHostProvider
	if err := h.Init([]string{"nonexistent-zk.invalid:2181", "127.0.0.1:1"}); err != nil {
		t.Fatalf("Init resolved names: %v", err)
	}
	s1, r1 := h.Next()
	s2, r2 := h.Next()
	s3, r3 := h.Next()
	if s1 != "nonexistent-zk.invalid:2181" || s2 != "127.0.0.1:1" || s3 != s1 || r1 || r2 || !r3 {
		t.Fatalf("Next: %s %v, %s %v, %s %v", s1, r1, s2, r2, s3, r3)
	}
	h.Connected()
	if _, r := h.Next(); r {
		t.Fatal("retryStart right after Connected")
	}
	if err := new(lazyHostProvider).Init(nil); err == nil {
		t.Fatal("Init accepted no servers")
	}
}
