package discovery

import (
	"strconv"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/curatortest"
	"github.com/livyha/livyha/internal/zktest"
)

// curatorLeader asks the real Curator LeaderLatch for the leader.
func curatorLeader(t *testing.T, p *curatortest.Participant) string {
	t.Helper()
	id, err := p.Leader(ctxT(t, 15*time.Second))
	if err != nil {
		t.Fatalf("curator getLeader: %v", err)
	}
	return id
}

// A Go Registrar and a real Curator LeaderLatch participant share one
// latch. Participants that elect through Curator (as Livy's PR #212 does)
// publish their server record with a non-electing Registrar.
func TestCuratorInteropGoFirst(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	latch := root + "/" + layout.LeaderDir

	goSrv := register(t, zkc.ConnectString(), root, 1, true)
	register(t, zkc.ConnectString(), root, 2, false) // record for the Curator participant
	cur := curatortest.Start(t, zkc.ConnectString(), latch, "2")
	if err := cur.Join(ctxT(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}
	r := resolver(t, zkc.ConnectString(), root)
	s := waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 && len(s.Servers) == 2 })
	if got := curatorLeader(t, cur); got != strconv.Itoa(leaderID(s)) {
		t.Fatalf("curator says leader %q, livyha says %d", got, leaderID(s))
	}
	if is, err := cur.IsLeader(ctxT(t, 10*time.Second)); err != nil || is {
		t.Fatalf("curator participant claims leadership: %v %v", is, err)
	}

	// The Go leader leaves: Curator takes over, and both agree.
	goSrv.Close()
	if ok, err := cur.AwaitLeadership(ctxT(t, 20*time.Second), 10*time.Second); err != nil || !ok {
		t.Fatalf("curator did not take over: %v %v", ok, err)
	}
	s = waitFor(t, r, 10*time.Second, "leader 2", func(s *Snapshot) bool { return leaderID(s) == 2 })
	if got := curatorLeader(t, cur); got != "2" {
		t.Fatalf("curator says leader %q after the Go leader left", got)
	}
}

func TestCuratorInteropCuratorFirst(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	latch := root + "/" + layout.LeaderDir

	register(t, zkc.ConnectString(), root, 3, false) // record for the Curator participant
	cur := curatortest.Start(t, zkc.ConnectString(), latch, "3")
	if err := cur.Join(ctxT(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, err := cur.AwaitLeadership(ctxT(t, 20*time.Second), 10*time.Second); err != nil || !ok {
		t.Fatalf("curator alone did not lead: %v %v", ok, err)
	}
	goSrv := register(t, zkc.ConnectString(), root, 4, true)
	if goSrv.IsLeader() {
		t.Fatal("Go registrar leads although Curator joined first")
	}
	r := resolver(t, zkc.ConnectString(), root)
	s := waitFor(t, r, 10*time.Second, "leader 3", func(s *Snapshot) bool { return leaderID(s) == 3 && len(s.Servers) == 2 })
	if got := curatorLeader(t, cur); got != strconv.Itoa(leaderID(s)) {
		t.Fatalf("curator says leader %q, livyha says %d", got, leaderID(s))
	}

	// Curator leaves: the Go registrar learns it leads, everyone agrees.
	if err := cur.Leave(ctxT(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "Go registrar to lead", goSrv.IsLeader)
	waitFor(t, r, 10*time.Second, "leader 4", func(s *Snapshot) bool { return leaderID(s) == 4 })
	if got := curatorLeader(t, cur); got != "4" {
		t.Fatalf("curator says leader %q after it left", got)
	}
}
