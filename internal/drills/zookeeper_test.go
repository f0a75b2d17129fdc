package drills

import (
	"context"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

// ZooKeeper's leader is killed (kill -9) under load: the ensemble elects
// another within a second, every client and server reconnects within its
// session. Targets: 0 failed reads, 0 failed creates, the active never
// passive (the client never had to retry, the active never changed).
func TestDrillZooKeeperLeaderKill(t *testing.T) {
	var elections []time.Duration
	for run := 0; run < repeats(t); run++ {
		zk := zktest.Start(t, 3)
		// A 4 s session leaves a loaded CI machine room for the election
		// and the reconnection (the lease lasts ~0.8 session after the last
		// answer); the property shown is the same at 2 s on an idle one.
		r := newRig(t, zk, 4*time.Second, "")
		l := r.startLoad(8, 2)
		if !l.progress(100, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		leader, err := zk.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		for { // until the two others have elected one of them
			if n, err := zk.Leader(ctx); err == nil && n != leader {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("no new ZooKeeper leader")
			case <-time.After(50 * time.Millisecond): // polling the four-letter word: ZooKeeper sends no event
			}
		}
		elections = append(elections, time.Since(t0))
		if !l.progress(200, time.Minute) {
			t.Fatal("the load stalled after the ZooKeeper leader kill")
		}
		if err := leader.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if !l.progress(50, time.Minute) {
			t.Fatal("the load stalled after the restart")
		}
		res := l.finish(w)
		check(t, "ZooKeeper leader kill", res)
		if res.readFails != 0 || res.createFails != 0 {
			t.Errorf("%d reads and %d creates failed", res.readFails, res.createFails)
		}
		if len(res.leaderChanges) != 0 || res.retries != 0 {
			t.Errorf("the active was passive for a while: the view changed %d times (%q), %d requests retried",
				len(res.leaderChanges), res.leaderChanges, res.retries)
		}
	}
	t.Logf("ZooKeeper elections after the leader's kill -9: %s", spread(elections))
}

// Every ZooKeeper server freezes (SIGSTOP) for half the session timeout:
// no one can be elected meanwhile, and the active keeps serving.
// Target: 0 failed reads, the active never passive. Creates wait for the
// state store and succeed after the thaw.
func TestDrillZooKeeperOutageShort(t *testing.T) {
	for run := 0; run < repeats(t); run++ {
		st := 4 * time.Second
		zk := zktest.Start(t, 3)
		r := newRig(t, zk, st, "")
		l := r.startLoad(8, 2)
		if !l.progress(100, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		freezeAll(t, zk)
		outage := time.NewTimer(st / 2)
		<-outage.C // the outage's length is the drill's parameter
		thawAll(t, zk)
		if !l.progress(200, time.Minute) {
			t.Fatal("the load stalled after the outage")
		}
		res := l.finish(w)
		check(t, "ZooKeeper frozen for half the session timeout", res)
		if res.readFails != 0 {
			t.Errorf("%d reads failed", res.readFails)
		}
		if len(res.leaderChanges) != 0 {
			t.Errorf("the active changed %d times (%q) during an outage shorter than the session", len(res.leaderChanges), res.leaderChanges)
		}
	}
}

// Every ZooKeeper server freezes for 1.5 session timeouts: on the thaw
// every session has expired, the latch is empty, a new leader is elected.
// Requests wait through it (reported); no batch is duplicated.
func TestDrillZooKeeperOutageLong(t *testing.T) {
	var recoveries []time.Duration
	for run := 0; run < repeats(t); run++ {
		st := 2 * time.Second
		zk := zktest.Start(t, 3)
		r := newRig(t, zk, st, "")
		l := r.startLoad(6, 2)
		if !l.progress(100, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		freezeAll(t, zk)
		outage := time.NewTimer(st * 3 / 2)
		<-outage.C
		thawAll(t, zk)
		healed := time.Now()
		if !l.progress(200, 2*time.Minute) {
			t.Fatal("the load did not recover after the outage")
		}
		recoveries = append(recoveries, time.Since(healed))
		res := l.finish(w)
		check(t, "ZooKeeper frozen for 1.5 session timeouts", res)
		if res.readFails != 0 {
			t.Errorf("%d reads failed (they may wait 75s)", res.readFails)
		}
	}
	t.Logf("200 operations done after the thaw within: %s", spread(recoveries))
}

// One ZooKeeper follower of three freezes (SIGSTOP: it accepts
// connections and never answers). Target: every new livy-find active
// succeeds, each within about 2s (reported).
func TestDrillFrozenZooKeeperNode(t *testing.T) {
	zk := zktest.Start(t, 3)
	r := newRig(t, zk, 2*time.Second, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader, err := zk.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var frozen *zktest.Node
	for _, n := range zk.Nodes() {
		if n != leader {
			frozen = n
			break
		}
	}
	if err := frozen.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = frozen.Thaw() }()
	calls := min(10*repeats(t), 50)
	var took []time.Duration
	failed := 0
	for i := 0; i < calls; i++ {
		code, d, out := findActive(t, zk.ConnectString(), r.root)
		took = append(took, d)
		if code != 0 {
			failed++
			t.Errorf("livy-find active with node %d frozen: exit %d after %s: %s", frozen.ID(), code, d.Round(time.Millisecond), out)
		}
	}
	t.Logf("livy-find active, 1 of 3 ZooKeeper nodes frozen: %d of %d failed; %s", failed, calls, spread(took))
}

// The client's ZooKeeper traffic is black-holed (bytes dropped, the
// connection kept) while the active is killed; then the network heals.
// Reported: how long after the heal the client's view names the new
// active (target: within 2s). Reads wait through it.
func TestDrillBlackHole(t *testing.T) {
	var recoveries []time.Duration
	for run := 0; run < repeats(t); run++ {
		zk := zktest.Shared(t)
		px := zktest.NewProxy(t, zk.Servers()...)
		r := newRig(t, zk, 2*time.Second, px.Addr())
		l := r.startLoad(6, 0)
		if !l.progress(50, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		old := r.active()
		px.Stall()
		r.kill9(old)
		// Longer than the client's 2/3-session read timeout; each run
		// heals at another point of its reconnect attempts.
		stall := time.NewTimer(5*time.Second + time.Duration(run)*700*time.Millisecond)
		<-stall.C
		px.Unblock()
		healed := time.Now()
		for { // until the client's view names a live server
			snap := r.res.Snapshot()
			if srv, err := snap.Active(); err == nil && r.sims[srv.URL] != nil {
				break
			}
			select {
			case <-snap.Changed():
			case <-time.After(time.Minute):
				t.Fatal("the client never saw the new active after the heal")
			}
		}
		recoveries = append(recoveries, time.Since(healed))
		if !l.progress(100, time.Minute) {
			t.Fatal("the load stalled after the heal")
		}
		res := l.finish(w)
		check(t, "black-hole stall", res)
		if res.readFails != 0 {
			t.Errorf("%d reads failed", res.readFails)
		}
	}
	t.Logf("client's view on the new active after the heal: %s", spread(recoveries))
}

func freezeAll(t *testing.T, zk *zktest.Cluster) {
	t.Helper()
	for _, n := range zk.Nodes() {
		if err := n.Freeze(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { thawAll(t, zk) })
}

func thawAll(t *testing.T, zk *zktest.Cluster) {
	for _, n := range zk.Nodes() {
		if n.Running() {
			_ = n.Thaw()
		}
	}
}
