package livyclient_test

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
)

// kill -9 of the active livy-sim process under concurrent load: every read
// succeeds, no batch is duplicated, and the outage stays within the
// session timeout plus a margin (reported, not asserted as a tight bound).
func TestKill9FailoverUnderLoad(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	const st = time.Second
	var procs []*testutil.Sim
	for id := 1; id <= 2; id++ {
		procs = append(procs, testutil.StartSim(t, "--zk", zkc.ConnectString(), "--root", root, "--id", strconv.Itoa(id),
			"--session-timeout", st.String(), "--step", "20ms"))
	}
	c, r := client(t, zkc.ConnectString(), root, discovery.ActivePassive)
	ctx := ctxT(t, 60*time.Second)
	act, err := r.Active(ctx)
	if err != nil || act.ID != 1 {
		t.Fatalf("active = %+v, %v", act, err)
	}
	seed, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/seed"})
	if err != nil {
		t.Fatal(err)
	}
	var outage time.Duration
	res := loadAcross(t, ctx, c, seed.ID, func() {
		killedAt := time.Now()
		procs[0].Signal(syscall.SIGKILL, 10*time.Second)
		// A request sent right after the kill completes once the client
		// has failed over: its latency is the outage a client sees.
		if _, err := c.Version(ctx); err != nil {
			t.Errorf("request across the kill: %v", err)
		}
		outage = time.Since(killedAt)
	})
	snap := r.Snapshot()
	if l, ok := snap.Leader(); !ok || l.ID != 2 {
		t.Fatalf("leader after kill -9: %+v", snap.Servers)
	}
	checkLoad(t, ctx, c, res)
	t.Logf("kill -9 with a %v session: failover complete %v after the kill", st, outage.Round(time.Millisecond))
}
