package livytest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livytest"
)

// The stock profile is upstream Livy with recovery from the ZooKeeper
// state store: nothing registered, no redirect; a restarted server
// recovers every session, as recovering until the driver reconnects.
func TestStockRecovery(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	cfg := livytest.Config{ZK: zkc.ConnectString(), Root: root, Profile: livytest.ProfileStock, Step: 40 * time.Millisecond}
	s1 := livytest.NewServer(t, cfg)
	c := noRedirect(t)
	expect(t, do(t, c, "POST", s1.URL()+"/sessions", `{"kind":"spark","name":"repl"}`), 201)
	expect(t, do(t, c, "POST", s1.URL()+"/batches", `{"file":"long.py"}`), 201)
	waitState(t, c, s1.URL()+"/sessions/0", "idle", 5*time.Second)
	expect(t, do(t, c, "POST", s1.URL()+"/sessions/0/statements", `{"code":"1+1"}`), 201)
	if !s1.IsActive() {
		t.Fatal("a stock server is always active")
	}

	// Nothing but Livy's state store under the root.
	conn := zkConn(t, zkc)
	if kids, _, err := conn.Children(root); err != nil || strings.Join(kids, ",") != "v1" {
		t.Fatalf("children of %s: %v, %v; want only the state store v1", root, kids, err)
	}

	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := livytest.NewServer(t, cfg)
	u := s2.URL()
	r := do(t, c, "GET", u+"/sessions/repl", "")
	expect(t, r, 200)
	if st := r.obj(t)["state"]; st != "recovering" {
		t.Fatalf("recovered session state %v, want recovering", st)
	}
	r = do(t, c, "POST", u+"/sessions/0/statements", `{"code":"2+2"}`)
	expect(t, r, 500)
	if got := r.str(t); got != "java.lang.IllegalStateException: Session is in state recovering" {
		t.Fatalf("statement while recovering: %q", got)
	}
	if st := do(t, c, "GET", u+"/batches/0/state", "").obj(t)["state"]; st != "recovering" {
		t.Fatalf("recovered batch state %v, want recovering", st)
	}
	wantStates(t, "recovered session", states(t, c, u+"/sessions/0", "idle", 5*time.Second), "recovering", "idle")
	expect(t, do(t, c, "POST", u+"/sessions/0/statements", `{"code":"2+2"}`), 201)
	if r := do(t, c, "GET", u+"/sessions/0/statements", ""); num(t, r.obj(t)["total_statements"]) != 2 {
		t.Fatalf("statements after recovery: %s", r)
	}
	waitState(t, c, u+"/batches/0", "success", 5*time.Second)
	// Ids continue from the stored counter.
	r = do(t, c, "POST", u+"/sessions", `{"kind":"spark"}`)
	expect(t, r, 201)
	if r.header.Get("Location") != "/sessions/1" {
		t.Fatalf("new session after recovery: Location %q", r.header.Get("Location"))
	}
	expectMsg(t, do(t, c, "POST", u+"/sessions", `{"name":"repl"}`), 400, "Rejected, Reason: Duplicate session name: Some(repl) for session 2")
}

// Two stored sessions with one name (a split brain leaves them) make
// Livy's recovery throw: a stock server does not come up.
func TestStockDuplicateNamesAtRecovery(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	conn := zkConn(t, zkc)
	for _, p := range []string{root, root + "/v1", root + "/v1/batch"} {
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"3", "4"} {
		rec := `{"id":` + id + `,"name":"twice","appId":null,"appTag":"livy-batch-` + id + `-abcd1234","owner":null,"proxyUser":null,"version":1,"livytest":{"file":"a.py","created":1}}`
		if _, err := conn.Create(root+"/v1/batch/"+id, []byte(rec), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := livytest.Start(ctx, livytest.Config{ZK: zkc.ConnectString(), Root: root, Profile: livytest.ProfileStock})
	if err == nil {
		s.Close()
		t.Fatal("a stock server recovered two sessions named twice")
	}
	if !strings.Contains(err.Error(), "java.lang.IllegalArgumentException: Duplicate session name: Some(twice) for session 4") {
		t.Fatalf("error %v", err)
	}
	// The livyha profile tolerates them (kinder than Livy).
	s = livytest.NewServer(t, livytest.Config{ZK: zkc.ConnectString(), Root: root})
	expect(t, do(t, noRedirect(t), "GET", s.URL()+"/batches/twice", ""), 200)
}
