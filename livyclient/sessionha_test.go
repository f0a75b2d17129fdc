package livyclient_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// answered reports whether s answered a GET of path with 200.
func answered(s *livytest.Server, path string) bool {
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet && r.Path == path && r.Status == http.StatusOK {
			return true
		}
	}
	return false
}

// TestSessionHAClientFollowsReassignment: a client over a SessionHA
// resolver creates a session and a batch (on the leader, server 1, which
// takes work that is not session-scoped). Server 1 closes; the next leader
// hands both to live servers, and the client's next GETs — and a
// statement — reach them through the ownership records, without an error.
func TestSessionHAClientFollowsReassignment(t *testing.T) {
	connect, root, servers := cluster(t, 3, discovery.SessionHA, nil)
	c, r := client(t, connect, root, discovery.SessionHA)
	waitServers(t, r, 3, 10*time.Second)
	ctx := ctxT(t, 30*time.Second)

	sess, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark"})
	if err != nil {
		t.Fatal(err)
	}
	// Up before its server goes, so that it is recovered alive.
	if _, err := c.Sessions.Wait(ctx, sess.ID, livyclient.StateIdle); err != nil {
		t.Fatal(err)
	}
	batch, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/pi.py"})
	if err != nil {
		t.Fatal(err)
	}
	if sess.ID/discovery.SessionIDBlock != 1 || batch.ID/discovery.SessionIDBlock != 1 {
		t.Fatalf("session %d and batch %d: want both created on server 1 (the leader)", sess.ID, batch.ID)
	}

	if err := servers[0].Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := c.Batches.Get(ctx, batch.ID)
	if err != nil || got.ID != batch.ID || got.Name == nil || *got.Name != *batch.Name {
		t.Fatalf("batch after its server closed: %+v, %v", got, err)
	}
	took := time.Since(start)
	s, err := c.Sessions.Get(ctx, sess.ID)
	if err != nil || s.ID != sess.ID {
		t.Fatalf("session after its server closed: %+v, %v", s, err)
	}
	bpath, spath := "/batches/"+strconv.Itoa(batch.ID), "/sessions/"+strconv.Itoa(sess.ID)
	var bOwner, sOwner int
	for _, srv := range servers[1:] {
		if answered(srv, bpath) {
			bOwner = srv.ID()
		}
		if answered(srv, spath) {
			sOwner = srv.ID()
		}
	}
	if bOwner == 0 || sOwner == 0 {
		t.Fatalf("no live server answered the GETs (batch by %d, session by %d)", bOwner, sOwner)
	}
	t.Logf("first GET after the close answered in %s; batch now on server %d, session on server %d", took.Round(time.Millisecond), bOwner, sOwner)
	for _, id := range []int{bOwner, sOwner} {
		for _, rq := range servers[id-1].Requests() {
			if rq.Status == http.StatusTemporaryRedirect && (strings.HasPrefix(rq.Path, bpath) || strings.HasPrefix(rq.Path, spath)) {
				t.Fatalf("the new owner redirected %s %s", rq.Method, rq.Path)
			}
		}
	}

	st, err := c.Statements.Run(ctx, sess.ID, &livyclient.StatementRequest{Code: "20 + 22"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = c.Statements.Wait(ctx, sess.ID, st.ID); err != nil {
		t.Fatal(err)
	}
	if text, _ := st.Output.Text(); st.Output.Status != "ok" || !strings.Contains(text, "42") {
		t.Fatalf("statement output %+v", st.Output)
	}
	if b, err := c.Batches.Wait(ctx, batch.ID); err != nil || b.State != livyclient.StateSuccess {
		t.Fatalf("batch after the reassignment: %+v, %v", b, err)
	}
}
