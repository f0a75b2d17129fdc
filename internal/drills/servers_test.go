package drills

import (
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

// The active livy-sim freezes (SIGSTOP) under reads and creates; its
// ZooKeeper session expires and another server takes over; later it
// resumes (SIGCONT), deposed. Targets: 0 failed reads (an in-flight read
// to the frozen server is cut when the view moves and sent again), 0
// duplicates, 0 creates reported failed that exist. Reported: the slowest
// read, against the caller's 90s deadline.
func TestDrillFrozenActive(t *testing.T) {
	var slowest []time.Duration
	for run := 0; run < repeats(t); run++ {
		st := 2 * time.Second
		r := newRig(t, zktest.Shared(t), st, "")
		l := r.startLoad(8, 2)
		if !l.progress(100, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		old := r.active()
		if err := old.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		frozen := true
		defer func() {
			if frozen {
				_ = old.Cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		delete(r.sims, old.URL)
		r.active() // the others elected a new active
		if !l.progress(200, time.Minute) {
			t.Fatal("the load stalled after the freeze")
		}
		if err := old.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		frozen = false
		r.sims[old.URL] = old
		if !l.progress(100, time.Minute) {
			t.Fatal("the load stalled after the thaw")
		}
		res := l.finish(w)
		slowest = append(slowest, res.maxRead)
		check(t, "frozen active", res)
		if res.readFails != 0 {
			t.Errorf("%d reads failed", res.readFails)
		}
	}
	t.Logf("slowest read across the freeze: %s", spread(slowest))
}

// kill -9 of the active livy-sim while creates are in flight. Targets: 0
// failed creates, 0 duplicates, 0 failed reads.
func TestDrillKillActiveDuringCreates(t *testing.T) {
	for run := 0; run < repeats(t); run++ {
		r := newRig(t, zktest.Shared(t), 2*time.Second, "")
		l := r.startLoad(2, 6)
		if !l.progress(60, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		r.kill9(r.active())
		r.active()
		if !l.progress(150, time.Minute) {
			t.Fatal("the load stalled after the kill")
		}
		res := l.finish(w)
		check(t, "kill -9 of the active during creates", res)
		if res.readFails != 0 || res.createFails != 0 {
			t.Errorf("%d reads and %d creates failed", res.readFails, res.createFails)
		}
	}
}
