package livytest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livytest"
)

// haCluster starts n servers of mode on one root, ids 1..n, in that order
// (so in session-HA mode server 1 joins the latch first and leads). The
// tests close servers gracefully and wait for no session expiry, so the
// ZooKeeper session is long: a short one can lose its connection under
// -race load.
func haCluster(t *testing.T, n int, mode discovery.Mode) (*zktest.Cluster, string, []*livytest.Server) {
	t.Helper()
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var servers []*livytest.Server
	for id := 1; id <= n; id++ {
		servers = append(servers, livytest.NewServer(t, livytest.Config{ZK: zkc.ConnectString(), Root: root, ID: id,
			Mode: mode, Step: 20 * time.Millisecond, SessionTimeout: 10 * time.Second}))
	}
	return zkc, root, servers
}

// resolver starts a discovery resolver of mode on root and waits until it
// sees n servers (and, with election, a leader).
func resolver(t *testing.T, zkc *zktest.Cluster, root string, mode discovery.Mode, n int) *discovery.Resolver {
	t.Helper()
	r, err := discovery.NewResolver(zkc.ConnectString(), discovery.WithRoot(root), discovery.WithMode(mode))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	waitSnapshot(t, r, 10*time.Second, fmt.Sprintf("%d servers", n), func(s *discovery.Snapshot) bool {
		_, led := s.Leader()
		return len(s.Servers) == n && (led || mode == discovery.ActiveActive)
	})
	return r
}

// waitSnapshot waits, snapshot by snapshot, until cond holds.
func waitSnapshot(t *testing.T, r *discovery.Resolver, timeout time.Duration, what string, cond func(*discovery.Snapshot) bool) *discovery.Snapshot {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s := r.Snapshot()
		if s.Ready() && cond(s) {
			return s
		}
		select {
		case <-s.Changed():
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for a snapshot with %s; last: %+v", timeout, what, s.Servers)
		}
	}
}

func ownerPath(t *testing.T, root, kind string, id int) string {
	t.Helper()
	p, err := layout.SessionOwnerPath(root, kind, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recordedOwner reads an ownership record (ok false: no record).
func recordedOwner(t *testing.T, conn *zk.Conn, p string) (int, bool) {
	t.Helper()
	data, _, err := conn.Get(p)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, false
	}
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	owner, err := layout.ParseSessionOwner(data)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return owner, true
}

// awaitOwner waits, with a data watch, until the ownership record at p
// names a server for which ok holds, and returns it.
func awaitOwner(t *testing.T, conn *zk.Conn, p string, timeout time.Duration, ok func(int) bool) int {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		data, _, ch, err := conn.GetW(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		owner, err := layout.ParseSessionOwner(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if ok(owner) {
			return owner
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %s: %s still names server %d", timeout, p, owner)
		}
	}
}

func byID(servers []*livytest.Server, id int) *livytest.Server {
	for _, s := range servers {
		if s.ID() == id {
			return s
		}
	}
	return nil
}

func expectRedirect(t *testing.T, r resp, to string) {
	t.Helper()
	expect(t, r, http.StatusTemporaryRedirect)
	if loc := r.header.Get("Location"); loc != to {
		t.Fatalf("Location %q, want %q", loc, to)
	}
}

// TestSessionHARecordsAndRedirects: a create writes the ownership record
// before it answers and a delete removes it; other servers answer 307 to
// the server the record names — also when it is not the id's prefix —
// falling back to the prefix without a record, and 404 when nobody owns
// the id.
func TestSessionHARecordsAndRedirects(t *testing.T) {
	zkc, root, servers := haCluster(t, 3, discovery.SessionHA)
	s1, s2, s3 := servers[0], servers[1], servers[2]
	conn := zkConn(t, zkc)
	c := noRedirect(t)

	r := do(t, c, "POST", s2.URL()+"/batches", `{"file":"a.py","name":"first"}`)
	expect(t, r, 201)
	if loc := r.header.Get("Location"); loc != "/batches/20000000" {
		t.Fatalf("Location %q", loc)
	}
	expect(t, do(t, c, "POST", s2.URL()+"/batches", `{"file":"b.py"}`), 201)    // 20000001
	expect(t, do(t, c, "POST", s2.URL()+"/sessions", `{"kind":"spark"}`), 201)  // session 20000000
	expect(t, do(t, c, "POST", s2.URL()+"/batches", `{"file":"gone.py"}`), 201) // 20000002
	for _, rec := range []struct {
		kind string
		id   int
	}{{layout.KindBatch, 20000000}, {layout.KindBatch, 20000001}, {layout.KindInteractive, 20000000}} {
		p := ownerPath(t, root, rec.kind, rec.id)
		if owner, ok := recordedOwner(t, conn, p); !ok || owner != 2 {
			t.Fatalf("%s: owner %d (exists %v), want 2", p, owner, ok)
		}
		data, _, _ := conn.Get(p)
		if string(data) != "2" {
			t.Fatalf("%s: data %q, want %q", p, data, "2")
		}
	}

	// Others redirect to the recorded owner, path and query kept.
	expectRedirect(t, do(t, c, "GET", s1.URL()+"/batches/20000000?x=1", ""), s2.URL()+"/batches/20000000?x=1")
	expectRedirect(t, do(t, c, "GET", s3.URL()+"/sessions/20000000/state", ""), s2.URL()+"/sessions/20000000/state")
	expect(t, do(t, c, "GET", s2.URL()+"/batches/first", ""), 200)
	// Names stay per server, as in multi-active mode.
	expectMsg(t, do(t, c, "GET", s1.URL()+"/batches/first", ""), 404, "Session 'first' not found.")

	// A delete removes the record too.
	expect(t, do(t, c, "DELETE", s2.URL()+"/batches/20000002", ""), 200)
	if _, ok := recordedOwner(t, conn, ownerPath(t, root, layout.KindBatch, 20000002)); ok {
		t.Fatal("the ownership record of a deleted batch is still there")
	}

	// The record wins over the prefix: move batch 20000001 to server 3 by
	// hand. Server 2 forgets it and redirects, server 3 adopts it from the
	// state store on the first request and serves it.
	p := ownerPath(t, root, layout.KindBatch, 20000001)
	if _, err := conn.Set(p, layout.SessionOwnerData(3), -1); err != nil {
		t.Fatal(err)
	}
	expectRedirect(t, do(t, c, "GET", s2.URL()+"/batches/20000001", ""), s3.URL()+"/batches/20000001")
	expectRedirect(t, do(t, c, "DELETE", s1.URL()+"/batches/20000001", ""), s3.URL()+"/batches/20000001")
	r = do(t, c, "GET", s3.URL()+"/batches/20000001", "")
	expect(t, r, 200)
	if num(t, r.obj(t)["id"]) != 20000001 {
		t.Fatalf("adopted batch %v", r.obj(t))
	}
	if l := do(t, c, "GET", s2.URL()+"/batches", "").obj(t); l["total"] != 1.0 {
		t.Fatalf("server 2 still lists the batch it gave up: %v", l)
	}

	// Without a record the prefix decides: server 3's id without a record
	// is redirected there (and is unknown there); an id whose prefix
	// names no registered server has no owner at all: 404, as Livy
	// answers an unknown id.
	expectRedirect(t, do(t, c, "GET", s1.URL()+"/batches/30000042", ""), s3.URL()+"/batches/30000042")
	expectMsg(t, do(t, c, "GET", s3.URL()+"/batches/30000042", ""), 404, "Session '30000042' not found.")
	expectMsg(t, do(t, c, "GET", s1.URL()+"/batches/90000000", ""), 404, "Session '90000000' not found.")
}

// TestSessionHAReassignOnClose: when a server leaves, the leader spreads
// its sessions over the live servers (itself included) by rewriting their
// records; the new owners serve them, names included, and a SessionHA
// resolver reports the new owner. Then the leader itself leaves and the
// next leader does the same with its sessions.
func TestSessionHAReassignOnClose(t *testing.T) {
	zkc, root, servers := haCluster(t, 3, discovery.SessionHA)
	res := resolver(t, zkc, root, discovery.SessionHA, 3)
	if l, _ := res.Snapshot().Leader(); l.ID != 1 {
		t.Fatalf("leader %d, want server 1 (first in the latch)", l.ID)
	}
	conn := zkConn(t, zkc)
	c := noRedirect(t)
	s2 := servers[1]

	type job struct {
		kind, coll string
		id         int
		name       string
	}
	var jobs []job
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("b%d", i)
		r := do(t, c, "POST", s2.URL()+"/batches", fmt.Sprintf(`{"file":"x.py","name":%q}`, name))
		expect(t, r, 201)
		jobs = append(jobs, job{layout.KindBatch, "/batches/", num(t, r.obj(t)["id"]), name})
	}
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("s%d", i)
		r := do(t, c, "POST", s2.URL()+"/sessions", fmt.Sprintf(`{"kind":"spark","name":%q}`, name))
		expect(t, r, 201)
		jobs = append(jobs, job{layout.KindInteractive, "/sessions/", num(t, r.obj(t)["id"]), name})
	}
	// Up before its server goes, so that the new owner recovers it alive
	// (a session whose driver was not up yet is recovered as dead).
	waitState(t, c, s2.URL()+"/sessions/s0", "idle", 5*time.Second)
	waitState(t, c, s2.URL()+"/sessions/s1", "idle", 5*time.Second)

	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := map[int]int{}
	owners := map[job]int{}
	for _, j := range jobs {
		o := awaitOwner(t, conn, ownerPath(t, root, j.kind, j.id), 10*time.Second, func(o int) bool { return o != 2 })
		got[o]++
		owners[j] = o
	}
	t.Logf("reassigned %d sessions of server 2 within %s: %v", len(jobs), time.Since(start), got)
	if got[1] == 0 || got[3] == 0 || got[1]+got[3] != len(jobs) {
		t.Fatalf("sessions of server 2 went to %v, want them spread over servers 1 and 3", got)
	}
	for _, j := range jobs {
		owner := byID(servers, owners[j])
		other := byID(servers, 4-owners[j]) // 1 <-> 3
		path := j.coll + strconv.Itoa(j.id)
		r := do(t, c, "GET", owner.URL()+path, "")
		expect(t, r, 200)
		if num(t, r.obj(t)["id"]) != j.id {
			t.Fatalf("%s on its new owner: %v", path, r.obj(t))
		}
		expect(t, do(t, c, "GET", owner.URL()+j.coll+j.name, ""), 200)
		expectRedirect(t, do(t, c, "GET", other.URL()+path, ""), owner.URL()+path)
		kind := discovery.Batch
		if j.kind == layout.KindInteractive {
			kind = discovery.Interactive
		}
		waitOwnerFromResolver(t, res, kind, j.id, owners[j])
	}
	// A reassigned interactive session goes on: a statement runs on its
	// new owner.
	s0 := jobs[4]
	u := byID(servers, owners[s0]).URL() + "/sessions/" + strconv.Itoa(s0.id)
	expect(t, do(t, c, "POST", u+"/statements", `{"code":"1+1"}`), 201)
	waitFor(t, 5*time.Second, "statement available on the new owner", func() bool {
		return do(t, c, "GET", u+"/statements/0", "").obj(t)["state"] == "available"
	})

	// The leader leaves: server 3 leads and takes everything.
	if err := servers[0].Close(); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		awaitOwner(t, conn, ownerPath(t, root, j.kind, j.id), 10*time.Second, func(o int) bool { return o == 3 })
		expect(t, do(t, c, "GET", servers[2].URL()+j.coll+strconv.Itoa(j.id), ""), 200)
	}
	if l := do(t, c, "GET", servers[2].URL()+"/batches", "").obj(t); l["total"] != 4.0 {
		t.Fatalf("the last server lists %v", l)
	}
}

// waitOwnerFromResolver waits until a SessionHA resolver's Owner reports
// want for the session. It depends on discovery reading the ownership
// records (Resolver.Owner: "in SessionHA mode the server its ownership
// record names").
func waitOwnerFromResolver(t *testing.T, res *discovery.Resolver, kind discovery.SessionKind, id, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var last error
	for {
		srv, err := res.Owner(ctx, kind, id)
		if err == nil && srv.ID == want {
			return
		}
		last = err
		if err == nil {
			last = fmt.Errorf("owner %d", srv.ID)
		}
		select {
		case <-res.Changed(): // a watched record that changes republishes the snapshot
		case <-ctx.Done():
			t.Fatalf("resolver: owner of %v %d: %v, want server %d", kind, id, last, want)
		}
	}
}

// TestSessionHAOrphanServedAfterReassignment: a record naming a server
// that is not registered is an orphan; the leader moves it to the live
// server with the fewest sessions (here itself, server 1), and a request
// that arrives before that waits for it (watching the record) instead of
// failing, then is served.
func TestSessionHAOrphanServedAfterReassignment(t *testing.T) {
	zkc, root, servers := haCluster(t, 2, discovery.SessionHA)
	conn := zkConn(t, zkc)
	c := noRedirect(t)
	expect(t, do(t, c, "POST", servers[1].URL()+"/batches", `{"file":"a.py"}`), 201)
	p := ownerPath(t, root, layout.KindBatch, 20000000)
	if _, err := conn.Set(p, layout.SessionOwnerData(7), -1); err != nil { // never registered
		t.Fatal(err)
	}
	r := do(t, c, "GET", servers[0].URL()+"/batches/20000000", "")
	expect(t, r, 200)
	if owner, _ := recordedOwner(t, conn, p); owner != 1 {
		t.Fatalf("orphan reassigned to %d, want 1 (the least loaded live server)", owner)
	}
	expectRedirect(t, do(t, c, "GET", servers[1].URL()+"/batches/20000000", ""), servers[0].URL()+"/batches/20000000")
}

// TestNoGoroutineLeakNewModes: session-HA servers (ownership loop, record
// watches, a reassignment) and active-active servers leave nothing behind
// once closed.
func TestNoGoroutineLeakNewModes(t *testing.T) {
	zkc := zktest.Shared(t)
	conn := zkConn(t, zkc) // open (and connected) before counting: it outlives the check
	if _, _, err := conn.Exists("/"); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := &http.Transport{}
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var all []*livytest.Server
	for _, mode := range []discovery.Mode{discovery.SessionHA, discovery.ActiveActive} {
		root := testRoot(t) + "-" + mode.String()
		var servers []*livytest.Server
		for id := 1; id <= 3; id++ {
			s, err := livytest.Start(ctx, livytest.Config{ZK: zkc.ConnectString(), Root: root, ID: id, Mode: mode, SessionTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			servers = append(servers, s)
		}
		all = append(all, servers...)
		for _, s := range servers {
			res, err := c.Post(s.URL()+"/batches", "application/json", strings.NewReader(`{"file":"a.py"}`))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
		if mode == discovery.SessionHA {
			// Server 3 leaves: server 1 (the leader) reassigns its batch;
			// server 2 watches the orphan meanwhile.
			if err := servers[2].Close(); err != nil {
				t.Fatal(err)
			}
			awaitOwner(t, conn, ownerPath(t, root, layout.KindBatch, 30000000), 10*time.Second, func(o int) bool { return o != 3 })
		}
	}
	tr.CloseIdleConnections()
	for _, s := range all {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
