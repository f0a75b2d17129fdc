package livyclient_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
)

var sims struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// simBinary builds cmd/livy-sim once per test binary.
func simBinary(t *testing.T) string {
	t.Helper()
	sims.once.Do(func() {
		sims.dir, sims.err = os.MkdirTemp("", "livyclient-sim")
		if sims.err != nil {
			return
		}
		sims.bin = filepath.Join(sims.dir, "livy-sim")
		out, err := exec.Command("go", "build", "-o", sims.bin, "../cmd/livy-sim").CombinedOutput()
		if err != nil {
			sims.err = err
			t.Logf("go build: %s", out)
		}
	})
	if sims.err != nil {
		t.Fatalf("building livy-sim: %v", sims.err)
	}
	return sims.bin
}

func stopSims() {
	if sims.dir != "" {
		os.RemoveAll(sims.dir)
	}
}

type simProc struct {
	*zktest.Proc
	url string
}

func startSim(t *testing.T, connect, root string, id int, st time.Duration) *simProc {
	t.Helper()
	cmd := exec.Command(simBinary(t), "--zk", connect, "--root", root, "--id", strconv.Itoa(id),
		"--session-timeout", st.String(), "--step", "20ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := zktest.StartProc(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &simProc{Proc: proc}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "listening on "); i >= 0 {
				urlc <- strings.TrimSpace(sc.Text()[i+len("listening on "):])
			}
		}
	}()
	t.Cleanup(func() { p.Signal(syscall.SIGKILL, 10*time.Second) })
	select {
	case p.url = <-urlc:
	case <-p.Exited():
		t.Fatalf("livy-sim %d exited at start", id)
	case <-time.After(30 * time.Second):
		t.Fatalf("livy-sim %d did not start", id)
	}
	return p
}

// kill -9 of the active livy-sim process under concurrent load: every read
// succeeds, no batch is duplicated, and the outage stays within the
// session timeout plus a margin (reported, not asserted as a tight bound).
func TestKill9FailoverUnderLoad(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	const st = time.Second
	var procs []*simProc
	for id := 1; id <= 2; id++ {
		procs = append(procs, startSim(t, zkc.ConnectString(), root, id, st))
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
