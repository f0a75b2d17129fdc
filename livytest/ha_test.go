package livytest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livytest"
)

// pair starts two servers on one root and returns (active, passive).
func pair(t *testing.T, cfg livytest.Config) (*livytest.Server, *livytest.Server) {
	t.Helper()
	cfg1, cfg2 := cfg, cfg
	cfg1.ID, cfg2.ID = 1, 2
	s1 := livytest.NewServer(t, cfg1)
	s2 := livytest.NewServer(t, cfg2)
	waitFor(t, 5*time.Second, "exactly one active server", func() bool { return s1.IsActive() != s2.IsActive() })
	if s1.IsActive() {
		return s1, s2
	}
	return s2, s1
}

func TestActivePassiveRedirect(t *testing.T) {
	zkc := zktest.Shared(t)
	cfg := livytest.Config{ZK: zkc.ConnectString(), Root: testRoot(t), CSRF: true,
		BasicAuth: &livytest.BasicAuth{User: "u", Password: "p"}}
	active, passive := pair(t, cfg)
	c := noRedirect(t)

	// Every method and path, without credentials or CSRF header: 307 to the
	// same path and query on the active server.
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/batches?from=0&size=5", ""},
		{"POST", "/batches", `{"file":"a.py"}`},
		{"DELETE", "/sessions/3", ""},
		{"GET", "/no/such/path", ""},
	} {
		r := do(t, c, tc.method, passive.URL()+tc.path, tc.body)
		expect(t, r, http.StatusTemporaryRedirect)
		want := active.URL() + tc.path
		if loc := r.header.Get("Location"); loc != want {
			t.Fatalf("%s %s: Location %q, want %q", tc.method, tc.path, loc, want)
		}
		if b := string(r.body); b != "This is a standby Livy Instance. The redirect url is: "+want {
			t.Fatalf("307 body %q", b)
		}
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("307 Content-Type %q", r.header.Get("Content-Type"))
		}
	}
	// The active server enforces auth and CSRF.
	expect(t, do(t, c, "GET", active.URL()+"/batches", ""), 401)
	r := do(t, c, "POST", active.URL()+"/batches", `{"file":"a.py"}`, "Authorization", "Basic dTpw", "X-Requested-By", "t")
	expect(t, r, 201)

	preqs := passive.Requests()
	if len(preqs) != 4 || preqs[1].Method != "POST" || preqs[1].Status != 307 || preqs[0].Path != "/batches?from=0&size=5" {
		t.Fatalf("passive request log %+v", preqs)
	}
}

func TestFailoverStateContinuity(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	cfg := livytest.Config{ZK: zkc.ConnectString(), Root: root, Step: 30 * time.Millisecond, SessionTimeout: time.Second}
	active, passive := pair(t, cfg)
	c := noRedirect(t)

	expect(t, do(t, c, "POST", active.URL()+"/batches", `{"file":"etl.py","name":"nightly"}`), 201)  // 0
	expect(t, do(t, c, "POST", active.URL()+"/batches", `{"file":"other.py"}`), 201)                 // 1
	expect(t, do(t, c, "POST", active.URL()+"/sessions", `{"kind":"spark","name":"nb"}`), 201)       // session 0
	expectMsg(t, do(t, c, "POST", active.URL()+"/batches", `{"file":"x.py","name":"nightly"}`), 400, // id 2 consumed
		"Rejected, Reason: Duplicate session name: Some(nightly) for session 2")
	waitState(t, c, active.URL()+"/sessions/nb", "idle", 5*time.Second)
	expect(t, do(t, c, "POST", active.URL()+"/sessions/nb/statements", `{"code":"20+22"}`), 201)
	// A batch that is still starting when the active goes away.
	expect(t, do(t, c, "POST", active.URL()+"/batches", `{"file":"late.py","name":"late"}`), 201) // 3

	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 3*time.Second, "passive to take over", passive.IsActive)
	t.Logf("takeover after graceful close: %s", time.Since(start))
	u := passive.URL()

	// Everything committed on the old active is served by the new one,
	// and states keep progressing from the stored creation times.
	r := do(t, c, "GET", u+"/batches/nightly", "")
	expect(t, r, 200)
	if r.obj(t)["id"] != 0.0 {
		t.Fatalf("nightly %v", r.obj(t))
	}
	waitState(t, c, u+"/batches/late", "success", 5*time.Second)
	if l := do(t, c, "GET", u+"/batches", "").obj(t); l["total"] != 3.0 {
		t.Fatalf("batch list after failover %v", l)
	}
	waitFor(t, 5*time.Second, "statement available on the new active", func() bool {
		return do(t, c, "GET", u+"/sessions/nb/statements/0", "").obj(t)["state"] == "available"
	})
	if out := do(t, c, "GET", u+"/sessions/nb/statements/0", "").obj(t)["output"].(map[string]any); out["data"].(map[string]any)["text/plain"] != "res0: Int = 42" {
		t.Fatalf("output %v", out)
	}
	// Ids continue from the shared counter; names stay unique.
	r = do(t, c, "POST", u+"/batches", `{"file":"new.py"}`)
	expect(t, r, 201)
	if loc := r.header.Get("Location"); loc != "/batches/4" {
		t.Fatalf("Location after failover %q, want /batches/4", loc)
	}
	expectMsg(t, do(t, c, "POST", u+"/batches", `{"file":"x.py","name":"late"}`), 400,
		"Rejected, Reason: Duplicate session name: Some(late) for session 5")
	r = do(t, c, "POST", u+"/sessions", `{}`)
	if loc := r.header.Get("Location"); loc != "/sessions/1" {
		t.Fatalf("session Location after failover %q, want /sessions/1", loc)
	}

	// The state store holds Livy's layout.
	conn, _, err := zk.Connect(zkc.Servers(), time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data, _, err := conn.Get(root + "/v1/batch/state")
	if err != nil || string(data) != `{"nextSessionId":6}` {
		t.Fatalf("batch counter %q, %v", data, err)
	}
	if ok, _, err := conn.Exists(root + "/v1/batch/0"); !ok || err != nil {
		t.Fatalf("batch record 0 missing: %v", err)
	}
}

// TestLeadershipLossRedirectsAtOnce deletes the active server's latch node
// behind its back: it must stop serving and redirect to the new leader.
func TestLeadershipLossRedirectsAtOnce(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	active, passive := pair(t, livytest.Config{ZK: zkc.ConnectString(), Root: root})
	depose(t, zkConn(t, zkc), root, active.ID())
	waitFor(t, 5*time.Second, "leadership to move", func() bool { return passive.IsActive() && !active.IsActive() })
	c := noRedirect(t)
	waitFor(t, 5*time.Second, "old active to redirect to the new one", func() bool {
		r := do(t, c, "GET", active.URL()+"/batches", "")
		return r.status == http.StatusTemporaryRedirect && r.header.Get("Location") == passive.URL()+"/batches"
	})
	expect(t, do(t, c, "GET", passive.URL()+"/batches", ""), 200)
}

func zkConn(t *testing.T, zkc *zktest.Cluster) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect(zkc.Servers(), 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// depose deletes server id's latch node behind its back: it loses
// leadership (and re-joins the latch at the end of the queue).
func depose(t *testing.T, conn *zk.Conn, root string, id int) {
	t.Helper()
	kids, _, err := conn.Children(root + "/leader")
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	for _, k := range kids {
		data, _, err := conn.Get(root + "/leader/" + k)
		if err == nil && string(data) == fmt.Sprint(id) {
			if err := conn.Delete(root+"/leader/"+k, -1); err != nil {
				t.Fatal(err)
			}
			deleted = true
		}
	}
	if !deleted {
		t.Fatalf("no latch node of server %d among %v", id, kids)
	}
}

// TestRecoveryOnceAtTakeover: a server learns the state store's sessions
// when it becomes active, not afterwards. A record committed later by
// someone else (a deposed active) is invisible to it — also to its name
// check — until the next takeover recovers it, as in Livy.
func TestRecoveryOnceAtTakeover(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	active, passive := pair(t, livytest.Config{ZK: zkc.ConnectString(), Root: root})
	c := noRedirect(t)
	expect(t, do(t, c, "POST", active.URL()+"/batches", `{"file":"a.py","name":"early"}`), 201) // 0

	// What a deposed active does after the takeover: take id 1 from the
	// shared counter and commit its record (as Livy writes it).
	conn := zkConn(t, zkc)
	if _, err := conn.Set(root+"/v1/batch/state", []byte(`{"nextSessionId":2}`), 0); err != nil {
		t.Fatal(err)
	}
	rec := `{"id":1,"name":"late","appId":null,"appTag":"livy-batch-1-abcd1234","owner":null,"proxyUser":null,"version":1}`
	if _, err := conn.Create(root+"/v1/batch/1", []byte(rec), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	expectMsg(t, do(t, c, "GET", active.URL()+"/batches/1", ""), 404, "Session '1' not found.")
	expectMsg(t, do(t, c, "GET", active.URL()+"/batches/late", ""), 404, "Session 'late' not found.")
	if l := do(t, c, "GET", active.URL()+"/batches", "").obj(t); l["total"] != 1.0 {
		t.Fatalf("list shows a record committed after recovery: %v", l)
	}
	// The name is free here; the id is not reused.
	r := do(t, c, "POST", active.URL()+"/batches", `{"file":"b.py","name":"late"}`)
	expect(t, r, 201)
	if loc := r.header.Get("Location"); loc != "/batches/2" {
		t.Fatalf("Location %q, want /batches/2", loc)
	}

	// The next takeover recovers all of it.
	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "passive to take over", passive.IsActive)
	expect(t, do(t, c, "GET", passive.URL()+"/batches/1", ""), 200)
	if l := do(t, c, "GET", passive.URL()+"/batches", "").obj(t); l["total"] != 3.0 {
		t.Fatalf("list after the takeover %v", l)
	}
}

// TestSplitBrainWindow: the active accepts a create, stalls before
// committing it (AbortBeforeCommit blocking), and loses leadership
// meanwhile; the other server takes over and recovers. Fenced (the
// default), the deposed server redirects the request instead of writing.
// Unfenced, it commits it — as Livy does — and the new active never learns
// of it: it even accepts the same name again.
func TestSplitBrainWindow(t *testing.T) {
	for _, unfenced := range []bool{false, true} {
		t.Run(fmt.Sprintf("unfenced=%v", unfenced), func(t *testing.T) {
			zkc := zktest.Shared(t)
			root := testRoot(t)
			var armed atomic.Bool
			armed.Store(true)
			entered, release := make(chan struct{}), make(chan struct{})
			cfg := livytest.Config{ZK: zkc.ConnectString(), Root: root, Unfenced: unfenced,
				AbortBeforeCommit: func(r *http.Request) bool {
					if r.URL.Path == "/batches" && armed.CompareAndSwap(true, false) {
						close(entered)
						<-release
					}
					return false
				}}
			active, passive := pair(t, cfg)
			c := noRedirect(t)
			done := make(chan resp, 1)
			go func() {
				req, _ := http.NewRequest("POST", active.URL()+"/batches", strings.NewReader(`{"file":"a.py","name":"split"}`))
				res, err := c.Do(req)
				if err != nil {
					done <- resp{}
					return
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				done <- resp{status: res.StatusCode, header: res.Header, body: b}
			}()
			<-entered
			depose(t, zkConn(t, zkc), root, active.ID())
			waitFor(t, 5*time.Second, "leadership to move", func() bool { return passive.IsActive() && !active.IsActive() })
			expect(t, do(t, c, "GET", passive.URL()+"/batches", ""), 200) // recovered and serving
			close(release)
			r := <-done

			conn := zkConn(t, zkc)
			if !unfenced {
				expect(t, r, http.StatusTemporaryRedirect)
				if loc := r.header.Get("Location"); loc != passive.URL()+"/batches" {
					t.Fatalf("Location %q", loc)
				}
				if ok, _, _ := conn.Exists(root + "/v1/batch/0"); ok {
					t.Fatal("the fenced deposed server wrote a record")
				}
				return
			}
			expect(t, r, http.StatusCreated)
			id := num(t, r.obj(t)["id"])
			if ok, _, err := conn.Exists(fmt.Sprintf("%s/v1/batch/%d", root, id)); !ok || err != nil {
				t.Fatalf("record %d of the deposed server not in the store: %v", id, err)
			}
			expect(t, do(t, c, "GET", passive.URL()+fmt.Sprintf("/batches/%d", id), ""), 404)
			expect(t, do(t, c, "GET", passive.URL()+"/batches/split", ""), 404)
			r = do(t, c, "POST", passive.URL()+"/batches", `{"file":"a.py","name":"split"}`)
			expect(t, r, http.StatusCreated)
			if id2 := num(t, r.obj(t)["id"]); id2 == id {
				t.Fatalf("id %d handed out twice", id)
			}
		})
	}
}

func TestNoLeader503(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	// A latch participant (id 99) without a server record holds the latch.
	conn, _, err := zk.Connect(zkc.Servers(), 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, p := range []string{root, root + "/leader"} {
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	if _, err := conn.Create(root+"/leader/"+layout.LatchNodePrefix("00000000-0000-0000-0000-000000000000"),
		layout.LatchData(99), zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	s := livytest.NewServer(t, livytest.Config{ZK: zkc.ConnectString(), Root: root, ID: 1})
	if s.IsActive() {
		t.Fatal("server active although it is second in the latch")
	}
	expectMsg(t, do(t, noRedirect(t), "GET", s.URL()+"/batches", ""), 503, "no active Livy server")
}

func TestMultiActive(t *testing.T) {
	zkc := zktest.Shared(t)
	cfg := livytest.Config{ZK: zkc.ConnectString(), Root: testRoot(t), Mode: discovery.MultiActive}
	cfg1, cfg2 := cfg, cfg
	cfg1.ID, cfg2.ID = 1, 2
	s1 := livytest.NewServer(t, cfg1)
	s2 := livytest.NewServer(t, cfg2)
	if !s1.IsActive() || !s2.IsActive() {
		t.Fatal("multi-active servers must all be active")
	}
	c := noRedirect(t)

	r := do(t, c, "POST", s1.URL()+"/batches", `{"file":"a.py","name":"one"}`)
	expect(t, r, 201)
	if r.header.Get("Location") != "/batches/10000000" {
		t.Fatalf("s1 Location %q", r.header.Get("Location"))
	}
	r = do(t, c, "POST", s2.URL()+"/batches", `{"file":"b.py","name":"two"}`)
	expect(t, r, 201)
	if r.header.Get("Location") != "/batches/20000000" {
		t.Fatalf("s2 Location %q", r.header.Get("Location"))
	}
	expect(t, do(t, c, "POST", s1.URL()+"/batches", `{"file":"c.py"}`), 201) // 10000001

	for _, path := range []string{"/batches/10000000?x=1", "/batches/10000001/log"} {
		r := do(t, c, "GET", s2.URL()+path, "")
		expect(t, r, http.StatusTemporaryRedirect)
		if loc := r.header.Get("Location"); loc != s1.URL()+path {
			t.Fatalf("%s: Location %q, want %q", path, loc, s1.URL()+path)
		}
	}
	// Names are per server, as in Livy: s2 does not know s1's "one".
	expect(t, do(t, c, "GET", s2.URL()+"/batches/one/state", ""), 404)
	expect(t, do(t, c, "GET", s1.URL()+"/batches/one", ""), 200)
	if l := do(t, c, "GET", s1.URL()+"/batches", "").obj(t); l["total"] != 2.0 {
		t.Fatalf("s1 lists its own batches only: %v", l)
	}
	expectMsg(t, do(t, c, "GET", s2.URL()+"/batches/nope", ""), 404, "Session 'nope' not found.")
	// Names are unique per server only (each Livy keeps its own), so s2
	// accepts "one" too; s1 rejects it again.
	expect(t, do(t, c, "POST", s2.URL()+"/batches", `{"file":"d.py","name":"one"}`), 201)
	expectMsg(t, do(t, c, "POST", s1.URL()+"/batches", `{"file":"d.py","name":"one"}`), 400,
		"Rejected, Reason: Duplicate session name: Some(one) for session 10000002")
	// The owner of a session of server 3 is not registered.
	expectMsg(t, do(t, c, "GET", s1.URL()+"/batches/30000000", ""), 503, "no active Livy server")
}

func TestAbortAfterCommit(t *testing.T) {
	zkc := zktest.Shared(t)
	var armed atomic.Bool
	armed.Store(true)
	s := livytest.NewServer(t, livytest.Config{ZK: zkc.ConnectString(), Root: testRoot(t),
		AbortAfterCommit: func(r *http.Request) bool { return r.URL.Path == "/batches" && armed.CompareAndSwap(true, false) }})
	waitFor(t, 5*time.Second, "server active", s.IsActive)
	c := noRedirect(t)

	req, _ := http.NewRequest("POST", s.URL()+"/batches", strings.NewReader(`{"file":"a.py","name":"once"}`))
	res, err := c.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("got a response (%d), want the connection closed", res.StatusCode)
	}
	r := do(t, c, "GET", s.URL()+"/batches/once", "")
	expect(t, r, 200)
	if r.obj(t)["id"] != 0.0 {
		t.Fatalf("committed batch %v", r.obj(t))
	}
	// A retry of the same create is a duplicate, as on Livy.
	expectMsg(t, do(t, c, "POST", s.URL()+"/batches", `{"file":"a.py","name":"once"}`), 400,
		"Rejected, Reason: Duplicate session name: Some(once) for session 1")
	reqs := s.Requests()
	if reqs[0].Method != "POST" || reqs[0].Status != 0 {
		t.Fatalf("aborted request logged as %+v", reqs[0])
	}
}

func TestAbortBeforeCommit(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	var armed atomic.Bool
	armed.Store(true)
	s := livytest.NewServer(t, livytest.Config{ZK: zkc.ConnectString(), Root: root,
		AbortBeforeCommit: func(r *http.Request) bool { return r.URL.Path == "/batches" && armed.CompareAndSwap(true, false) }})
	c := noRedirect(t)

	req, _ := http.NewRequest("POST", s.URL()+"/batches", strings.NewReader(`{"file":"a.py","name":"once"}`))
	res, err := c.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("got a response (%d), want the connection closed", res.StatusCode)
	}
	// Nothing was committed: the lookup by name finds nothing, the store
	// holds no record, and creating again succeeds.
	expectMsg(t, do(t, c, "GET", s.URL()+"/batches/once", ""), 404, "Session 'once' not found.")
	if l := do(t, c, "GET", s.URL()+"/batches", "").obj(t); l["total"] != 0.0 {
		t.Fatalf("list %v", l)
	}
	if kids, _, err := zkConn(t, zkc).Children(root + "/v1/batch"); err == nil && len(kids) != 0 {
		t.Fatalf("state store holds %v after an abort before commit", kids)
	}
	r := do(t, c, "POST", s.URL()+"/batches", `{"file":"a.py","name":"once"}`)
	expect(t, r, 201)
	if r.obj(t)["name"] != "once" {
		t.Fatalf("created %v", r.obj(t))
	}
	reqs := s.Requests()
	if len(reqs) < 1 || reqs[0].Method != "POST" || reqs[0].Status != 0 {
		t.Fatalf("aborted request logged as %+v", reqs)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	zkc := zktest.Shared(t)
	before := runtime.NumGoroutine()
	cfg := livytest.Config{ZK: zkc.ConnectString(), Root: testRoot(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var servers []*livytest.Server
	for id := 1; id <= 2; id++ {
		cfg.ID = id
		s, err := livytest.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, s)
	}
	tr := &http.Transport{}
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, s := range servers {
		for i := 0; i < 3; i++ {
			res, err := c.Post(s.URL()+"/batches", "application/json", strings.NewReader(`{"file":"a.py"}`))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
	}
	tr.CloseIdleConnections()
	sa := livytest.NewServer(t, livytest.Config{}) // standalone too
	_ = sa.Close()
	for _, s := range servers {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.IsActive() {
			t.Fatal("closed server reports active")
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

// TestStartUnavailable checks that an unreachable ZooKeeper fails Start
// with discovery.ErrUnavailable once ctx ends.
func TestStartUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := livytest.Start(ctx, livytest.Config{ZK: "127.0.0.1:1", Root: "/x"})
	if !errors.Is(err, discovery.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}
