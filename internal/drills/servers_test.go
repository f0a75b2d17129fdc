package drills

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// The active livy-sim freezes (SIGSTOP) under reads and creates; its
// ZooKeeper session expires and another server takes over; later it
// resumes (SIGCONT), deposed. Targets: 0 failed reads (an in-flight read
// to the frozen server is cut when the view moves and sent again), 0
// duplicates, 0 creates reported failed that exist. Reported: the slowest
// read, against the caller's 90s deadline.
//
// It runs against livyha's servers (fenced) and PR #212's (unfenced: the
// deposed server resumes and may still commit what it was serving).
func TestDrillFrozenActive(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) { drillFrozenActive(t, profile) })
	}
}

// profiles are the HA behaviours the server drills run against.
var profiles = []string{"livyha", "pr212"}

func drillFrozenActive(t *testing.T, profile string) {
	var slowest []time.Duration
	for run := 0; run < repeats(t); run++ {
		st := 2 * time.Second
		r := newProfileRig(t, profile, zktest.Shared(t), st)
		r.unfenced = profile == "pr212" // its split brain is counted, not failed on
		l := r.startLoad(8, 2)
		if !l.progress(100, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		old := r.active()
		old.Stop()
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
		old.Cont()
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
// (livyha and PR #212 servers).
func TestDrillKillActiveDuringCreates(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) { drillStopActive(t, profile, syscall.SIGKILL) })
	}
}

// SIGTERM of the active livy-sim while creates are in flight: livyha's
// registrar releases the latch at once; PR #212 keeps it until its
// session expires. Same targets.
func TestDrillGracefulStopDuringCreates(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) { drillStopActive(t, profile, syscall.SIGTERM) })
	}
}

func drillStopActive(t *testing.T, profile string, sig syscall.Signal) {
	var outages []time.Duration
	for run := 0; run < repeats(t); run++ {
		r := newProfileRig(t, profile, zktest.Shared(t), 2*time.Second)
		l := r.startLoad(50, 10) // livyclient's HA tests' load
		if !l.progress(300, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		w := r.watchLeader()
		old := r.active()
		t0 := time.Now()
		old.Send(sig)
		delete(r.sims, old.URL)
		r.active()
		outages = append(outages, time.Since(t0))
		old.Signal(sig, 10*time.Second) // reap it
		if !l.progress(600, 2*time.Minute) {
			t.Fatal("the load stalled after the stop")
		}
		res := l.finish(w)
		check(t, fmt.Sprintf("%v of the active during creates (%s)", sig, profile), res)
		if res.readFails != 0 || res.createFails != 0 {
			t.Errorf("%d reads and %d creates failed", res.readFails, res.createFails)
		}
	}
	t.Logf("%v (%s): the client's view on a new active after %s", sig, profile, spread(outages))
}

// Upstream Livy without HA (the stock profile: recovery from the ZooKeeper
// state store) is killed (kill -9) under load and started again on the
// same address, as a supervisor would: requests wait through the restart
// (a static list of one server), recovered jobs are found, nothing is
// duplicated. Reported: the restart as the client saw it.
func TestDrillStockRestart(t *testing.T) {
	var outages []time.Duration
	for run := 0; run < repeats(t); run++ {
		zk := zktest.Shared(t)
		root := fmt.Sprintf("/drill%d", rootSeq.Add(1))
		port := testutil.FreePortOn(t, "127.0.0.1")
		args := []string{"--profile", "stock", "--zk", zk.ConnectString(), "--root", root, "--step", "20ms",
			"--listen", fmt.Sprintf("127.0.0.1:%d", port)}
		s := testutil.StartSim(t, args...)
		r := startRig(t, zk, 2*time.Second, map[string]*testutil.Sim{s.URL: s}, root, "static://"+strings.TrimPrefix(s.URL, "http://"))
		l := r.startLoad(8, 2)
		if !l.progress(100, 30*time.Second) {
			t.Fatal("the load did not start")
		}
		t0 := time.Now()
		r.kill9(s)
		s = testutil.StartSim(t, args...) // the supervisor's restart
		r.sims[s.URL] = s
		outages = append(outages, time.Since(t0))
		if !l.progress(200, time.Minute) {
			t.Fatal("the load stalled after the restart")
		}
		res := l.finish(nil)
		check(t, "kill -9 and restart of a stock Livy", res)
		if res.readFails != 0 {
			t.Errorf("%d reads failed", res.readFails)
		}
	}
	t.Logf("stock Livy killed and restarted: serving again after %s", spread(outages))
}
