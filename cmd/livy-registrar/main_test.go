package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// bin is the livy-registrar binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	// The developer's environment must not leak into in-process runs.
	getenv = func(string) string { return "" }
	os.Exit(testutil.Main(m, map[*string]string{&bin: "github.com/livyha/livyha/cmd/livy-registrar"}))
}

var rootSeq atomic.Int64

func testRoot(t *testing.T) string {
	return fmt.Sprintf("/reg%d-%s", rootSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}

func urlOf(id int) string { return fmt.Sprintf("http://127.0.0.1:%d", 20000+id) }

// start runs the binary with args and the given extra environment (the
// test's own LIVY_* variables are removed).
func start(t *testing.T, env []string, args ...string) *testutil.Proc {
	t.Helper()
	return testutil.StartProcWith(t, testutil.ProcOptions{Env: env}, bin, args...)
}

// waitSnap waits for a snapshot satisfying cond.
func waitSnap(t *testing.T, r *discovery.Resolver, d time.Duration, what string, cond func(*discovery.Snapshot) bool) *discovery.Snapshot {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s := r.Snapshot()
		if s.Ready() && cond(s) {
			return s
		}
		select {
		case <-s.Changed():
		case <-timer.C:
			t.Fatalf("%s: not within %v; last snapshot: servers %+v problems %v", what, d, s.Servers, s.Problems)
		}
	}
}

func leaderIs(id int) func(*discovery.Snapshot) bool {
	return func(s *discovery.Snapshot) bool {
		l, ok := s.Leader()
		return ok && l.ID == id
	}
}

func newResolver(t *testing.T, zkc, root string) *discovery.Resolver {
	t.Helper()
	r, err := discovery.NewResolver(zkc, discovery.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestGracefulFailover(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)

	p1 := start(t, nil, "--zk", zkc, "--root", root, "--id", "1", "--url", urlOf(1),
		"--thrift", "127.0.0.1:30001", "--version", "1.0", "--elect")
	p1.WaitLine(testutil.Stderr, 20*time.Second, "id=1 is now leader")
	// The second one takes --zk and --root from the environment.
	p2 := start(t, []string{"LIVY_ZK=" + zkc, "LIVY_ZK_ROOT=" + root}, "--id", "2", "--url", urlOf(2), "--elect")
	p2.WaitLine(testutil.Stderr, 20*time.Second, "registered id=2")

	r := newResolver(t, zkc, root)
	s := waitSnap(t, r, 10*time.Second, "leader 1 of 2 servers", func(s *discovery.Snapshot) bool {
		return leaderIs(1)(s) && len(s.Servers) == 2
	})
	if ld, _ := s.Leader(); ld.Thrift != "127.0.0.1:30001" || ld.Version != "1.0" {
		t.Fatalf("leader record %+v", ld)
	}

	start := time.Now()
	p1.Send(syscall.SIGTERM)
	if code := p1.Wait(10 * time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d; stderr %q", code, p1.Lines(testutil.Stderr))
	}
	exited := time.Since(start)
	s = waitSnap(t, r, 10*time.Second, "server 2 alone and leader", func(s *discovery.Snapshot) bool {
		return leaderIs(2)(s) && len(s.Servers) == 1
	})
	t.Logf("SIGTERM: registrar exited after %v, resolver saw leader 2 after %v", exited.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if _, ok := s.ServerByID(1); ok {
		t.Fatal("server 1 still registered")
	}
	p2.WaitLine(testutil.Stderr, 10*time.Second, "id=2 is now leader")

	lines := p1.Lines(testutil.Stderr)
	want := []string{
		"livy-registrar: registered id=1 url=" + urlOf(1) + " node=" + root + "/servers/serverUri=127.0.0.1:20001;version=1.0;sequence=",
		"livy-registrar: id=1 is now leader",
		"livy-registrar: id=1 is no longer leader",
		"livy-registrar: deregistered id=1",
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr of server 1: %q, want lines like %q", lines, want)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("stderr line %d: %q, want prefix %q", i, lines[i], want[i])
		}
	}
	if l := p2.Lines(testutil.Stderr); len(l) != 2 || !strings.HasPrefix(l[0], "livy-registrar: registered id=2 url="+urlOf(2)+" node="+root+"/servers/") ||
		l[1] != "livy-registrar: id=2 is now leader" {
		t.Errorf("stderr of server 2: %q", l)
	}

	p2.Send(syscall.SIGINT)
	if code := p2.Wait(10 * time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d; stderr %q", code, p2.Lines(testutil.Stderr))
	}
	waitSnap(t, r, 10*time.Second, "no servers left", func(s *discovery.Snapshot) bool { return len(s.Servers) == 0 })
}

func TestKillFailover(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	const sessionTimeout = time.Second

	args := func(id int) []string {
		return []string{"--zk", zkc, "--root", root, "--id", fmt.Sprint(id), "--url", urlOf(id),
			"--elect", "--session-timeout", sessionTimeout.String()}
	}
	p1 := start(t, nil, args(1)...)
	p1.WaitLine(testutil.Stderr, 20*time.Second, "id=1 is now leader")
	p2 := start(t, nil, args(2)...)
	p2.WaitLine(testutil.Stderr, 20*time.Second, "registered id=2")

	r := newResolver(t, zkc, root)
	waitSnap(t, r, 10*time.Second, "leader 1", leaderIs(1))

	start := time.Now()
	p1.Kill()
	waitSnap(t, r, 10*time.Second, "leader 2 after kill -9 of 1", leaderIs(2))
	took := time.Since(start)
	t.Logf("kill -9 of the leader's registrar: resolver saw leader 2 after %v (session timeout %v)", took.Round(time.Millisecond), sessionTimeout)
	// The expired session's record and latch node go in one ZooKeeper
	// transaction, but their watch events arrive one by one: a snapshot may
	// show the new leader before the old record is gone.
	waitSnap(t, r, 5*time.Second, "record of 1 gone", func(s *discovery.Snapshot) bool {
		_, ok := s.ServerByID(1)
		return !ok
	})
	p2.WaitLine(testutil.Stderr, 10*time.Second, "id=2 is now leader")
	if code := p1.Wait(5 * time.Second); code != -1 {
		t.Errorf("killed process: exit code %d, want -1 (signal)", code)
	}
}

func TestUsageAndUnreachable(t *testing.T) {
	t.Parallel()
	const zkc = "127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--zk", zkc, "--url", urlOf(1)}, 2, "missing --id"},
		{[]string{"--zk", zkc, "--id", "1"}, 2, "missing --url"},
		{[]string{"--id", "1", "--url", urlOf(1)}, 2, "missing --zk"},
		{[]string{"--zk", zkc, "--id", "1", "--url", "ftp://h:1"}, 2, "scheme must be http or https"},
		{[]string{"--zk", zkc, "--id", "1", "--url", "http://h:1", "--health-url", "h:1/version"}, 2, "bad --health-url"},
		{[]string{"--zk", zkc, "--id", "1", "--url", "http://h:1", "--health-url", "http://h:1/", "--health-failures", "0"}, 2, "--health-failures"},
		{[]string{"--zk", zkc, "--id", "1", "--url", "not a url"}, 2, "bad server record"},
		{[]string{"--zk", zkc, "--id", "-1", "--url", urlOf(1)}, 2, "out of range"},
		{[]string{"--zk", zkc, "--id", "x", "--url", urlOf(1)}, 2, "invalid value"},
		{[]string{"--zk", zkc, "--id", "1", "--url", urlOf(1), "--thrift", "nohostport"}, 2, "thrift"},
		{[]string{"--zk", zkc, "--id", "1", "--url", urlOf(1), "--version", "a;b"}, 2, "bad server record"},
		{[]string{"--zk", "h:x", "--id", "1", "--url", urlOf(1)}, 2, "bad ZooKeeper connect string"},
		{[]string{"--zk", zkc, "--root", "nope", "--id", "1", "--url", urlOf(1)}, 2, "bad ZooKeeper path"},
		{[]string{"--zk", zkc, "--id", "1", "--url", urlOf(1), "--session-timeout", "0s"}, 2, "--session-timeout"},
		{[]string{"--zk", zkc, "--id", "1", "--url", urlOf(1), "--elect", "--leadership", "standard"}, 2, "bad --leadership"},
		{[]string{"--zk", zkc, "--id", "1", "--url", urlOf(1), "extra"}, 2, "unexpected arguments"},
		{[]string{"--zk", zkc, "--id", "1", "--url", urlOf(1), "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"--zk", zkc, "--id", "1", "--url", urlOf(1), "--register-timeout", "500ms"}, 3, "cannot register id=1 within 500ms"},
	} {
		p := start(t, nil, tc.args...)
		code := p.Wait(10 * time.Second)
		lines := p.Lines(testutil.Stderr)
		if code != tc.code || len(lines) != 1 || !strings.HasPrefix(lines[0], "livy-registrar: ") || !strings.Contains(lines[0], tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, lines, tc.code, tc.msg)
		}
	}

	p := start(t, nil, "-h")
	if code := p.Wait(10 * time.Second); code != 0 || len(p.Lines(testutil.Stderr)) != 0 {
		t.Errorf("-h: exit %d, stderr %q", code, p.Lines(testutil.Stderr))
	}
}

// TestInterruptedBeforeRegistration runs in-process: a signal (a cancelled
// context) while ZooKeeper is still unreachable is a clean stop.
func TestInterruptedBeforeRegistration(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr strings.Builder
	code := run(ctx, []string{"--zk", "127.0.0.1:1", "--id", "1", "--url", urlOf(1)}, io.Discard, &stderr)
	if code != 0 || stderr.String() != "livy-registrar: interrupted before registration (id=1)\n" {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// The Livy process dies while its sidecar lives on: with --health-url the
// sidecar withdraws the server within about one health interval, and
// publishes it again once Livy answers.
func TestHealthCheckFailover(t *testing.T) {
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	var down atomic.Bool
	livy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			// A dying Livy: connection dropped without an answer.
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusTemporaryRedirect) // even a passive's 307 means alive
	}))
	defer livy.Close()
	const interval = 200 * time.Millisecond
	p1 := start(t, nil, "--zk", zkc, "--root", root, "--id", "1", "--url", urlOf(1), "--elect",
		"--health-url", livy.URL+"/version", "--health-interval", interval.String())
	p1.WaitLine(testutil.Stderr, 20*time.Second, "id=1 is now leader")
	p2 := start(t, nil, "--zk", zkc, "--root", root, "--id", "2", "--url", urlOf(2), "--elect")
	p2.WaitLine(testutil.Stderr, 20*time.Second, "registered id=2")
	r := newResolver(t, zkc, root)
	waitSnap(t, r, 10*time.Second, "leader 1 of 2", func(s *discovery.Snapshot) bool { return leaderIs(1)(s) && len(s.Servers) == 2 })

	t0 := time.Now()
	down.Store(true)
	waitSnap(t, r, 10*time.Second, "leader 2 alone", func(s *discovery.Snapshot) bool { return leaderIs(2)(s) && len(s.Servers) == 1 })
	t.Logf("Livy down, sidecar alive: failover seen %v after (health interval %v)", time.Since(t0).Round(time.Millisecond), interval)
	p1.WaitLine(testutil.Stderr, 5*time.Second, "withdrawing")

	down.Store(false)
	waitSnap(t, r, 10*time.Second, "1 back as a passive", func(s *discovery.Snapshot) bool { return leaderIs(2)(s) && len(s.Servers) == 2 })
	for _, p := range []*testutil.Proc{p1, p2} {
		p.Send(syscall.SIGTERM)
		if code := p.Wait(10 * time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
}

// A second sidecar with the id of a live one exits 5 at once, saying who
// holds it; --takeover registers anyway.
func TestTakenID(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	p1 := start(t, nil, "--zk", zkc, "--root", root, "--id", "4", "--url", urlOf(4), "--elect")
	p1.WaitLine(testutil.Stderr, 20*time.Second, "registered id=4")
	p2 := start(t, nil, "--zk", zkc, "--root", root, "--id", "4", "--url", urlOf(5), "--register-timeout", "10s")
	if code := p2.Wait(15 * time.Second); code != cli.ExitIDTaken {
		t.Fatalf("second id 4: exit %d, stderr %q", code, p2.Lines(testutil.Stderr))
	}
	if l := p2.Lines(testutil.Stderr); len(l) == 0 || !strings.Contains(l[len(l)-1], "id 4 is held by "+root+"/servers/") {
		t.Fatalf("stderr %q", l)
	}
	p3 := start(t, nil, "--zk", zkc, "--root", root, "--id", "4", "--url", urlOf(5), "--takeover")
	p3.WaitLine(testutil.Stderr, 20*time.Second, "registered id=4")
}
