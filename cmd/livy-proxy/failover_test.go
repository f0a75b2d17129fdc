package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// progressOf parses a load script's "progress N" line (N operations
// done); its other line is the summary.
func progressOf(l string) (int, bool) {
	n, ok := strings.CutPrefix(l, "progress ")
	if !ok {
		return 0, false
	}
	v, _ := strconv.Atoi(n)
	return v, true
}

// TestFailoverUnderLoad drives livy-proxy with clients nobody here wrote —
// python3-requests (as sparkmagic, pylivy and Airflow's LivyHook use it)
// and curl — across a kill -9 and then a SIGTERM of the active livy-sim:
// every request must succeed and no batch may be created twice. It runs
// against livyha's servers and against PR #212's (latch kept on SIGTERM,
// 500 while leaderless, a restart window of refused connections and
// self-redirects, 307s after the filters with the configured hostname).
func TestFailoverUnderLoad(t *testing.T) {
	for _, profile := range []string{"livyha", "pr212"} {
		t.Run(profile, func(t *testing.T) { testFailoverUnderLoad(t, profile) })
	}
}

func testFailoverUnderLoad(t *testing.T, profile string) {
	python := testutil.NeedTool(t, "python3", "-c", "import requests")
	curl := testutil.NeedTool(t, "curl", "-V")
	sims, target := testutil.StartSims(t, profile, zktest.Shared(t).ConnectString(), "/proxy-"+profile, 2*time.Second)
	p := startProxy(t, "--target", target, "--log-level", "info")

	// python3-requests: 4 workers, bounded in count.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	py := testutil.StartProcWith(t, testutil.ProcOptions{StdinPipe: true}, python, "testdata/load.py", p.url, "4", "100000")
	context.AfterFunc(ctx, func() { py.Signal(syscall.SIGKILL, 5*time.Second) }) // killed at ctx's end
	// atLeast waits until n operations are done (false after d).
	atLeast := func(n int, d time.Duration) bool {
		_, _, ok := py.Find(testutil.Stdout, d, func(_ int, l string) bool { v, ok := progressOf(l); return ok && v >= n })
		return ok
	}
	count := func() int { // the last progress line's
		l := py.Lines(testutil.Stdout)
		for i := len(l) - 1; i >= 0; i-- {
			if v, ok := progressOf(l[i]); ok {
				return v
			}
		}
		return 0
	}

	// curl: one loop of create + get + version, until stopped.
	type curlResult struct {
		ok, failed int
		errs       []string
		batches    []int
	}
	stopCurl := make(chan struct{})
	curlDone := make(chan curlResult, 1)
	go func() {
		var res curlResult
		run := func(args ...string) (string, bool) {
			cmd := exec.CommandContext(ctx, curl, append([]string{"-sS", "--fail-with-body", "--max-time", "120"}, args...)...)
			out, err := cmd.Output()
			if err != nil {
				res.failed++
				if len(res.errs) < 5 {
					res.errs = append(res.errs, fmt.Sprintf("curl %s: %v %s", strings.Join(args, " "), err, out))
				}
				return "", false
			}
			res.ok++
			return string(out), true
		}
		for i := 0; i < 10000; i++ {
			select {
			case <-stopCurl:
				curlDone <- res
				return
			default:
			}
			out, ok := run("-X", "POST", "-H", "Content-Type: application/json", "-d", `{"file":"local:/opt/curl.jar"}`, p.url+"/batches")
			if ok {
				var b struct{ ID int }
				if json.Unmarshal([]byte(out), &b) == nil {
					res.batches = append(res.batches, b.ID)
				}
			}
			run(p.url + "/version")
		}
		curlDone <- res
	}()

	// The test's own resolver on the same target says which process is
	// the active (its snapshots are the event to wait on).
	view, err := discovery.NewResolver(target)
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	activeSim := func() *testutil.Sim {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for snap := range view.Subscribe(ctx) {
			if srv, err := snap.Active(); err == nil && sims[srv.URL] != nil {
				return sims[srv.URL]
			}
		}
		t.Fatal("no active livy-sim")
		return nil
	}
	if !atLeast(40, time.Minute) {
		t.Fatalf("the load did not start: %d operations; stderr %s", count(), py.Text(testutil.Stderr))
	}
	first := activeSim()
	killedAt := count()
	t.Logf("kill -9 of the active %s after %d operations", first.URL, killedAt)
	first.Signal(syscall.SIGKILL, 5*time.Second)
	delete(sims, first.URL)
	if !atLeast(killedAt+60, 2*time.Minute) {
		t.Fatalf("the load stalled after the kill -9: %d operations", count())
	}
	second := activeSim()
	termAt := count()
	t.Logf("SIGTERM of the new active %s after %d operations", second.URL, termAt)
	second.Signal(syscall.SIGTERM, 10*time.Second)
	delete(sims, second.URL)
	if !atLeast(termAt+60, 2*time.Minute) {
		t.Fatalf("the load stalled after the SIGTERM: %d operations", count())
	}
	py.Stdin.Close()
	close(stopCurl)
	// Bounded by ctx's kill.
	_, summary, _ := py.Find(testutil.Stdout, 5*time.Minute, func(_ int, l string) bool { _, ok := progressOf(l); return !ok })
	if code := py.Wait(time.Minute); code != 0 {
		t.Fatalf("load.py: exit %d; stderr %s", code, py.Text(testutil.Stderr))
	}
	var res struct {
		OK, Failed int
		Errors     []string
		Batches    []int
	}
	if err := json.Unmarshal([]byte(summary), &res); err != nil {
		t.Fatalf("load.py summary %q: %v", summary, err)
	}
	cres := <-curlDone
	t.Logf("python3-requests: %d ok, %d failed; curl: %d ok, %d failed", res.OK, res.Failed, cres.ok, cres.failed)
	if res.Failed > 0 {
		t.Errorf("python3-requests: %d requests failed through the proxy: %q", res.Failed, res.Errors)
	}
	if cres.failed > 0 {
		t.Errorf("curl: %d requests failed through the proxy: %q", cres.failed, cres.errs)
	}
	// Duplicates: every batch on the cluster is one a client was told
	// about, exactly once.
	created := map[int]bool{}
	for _, id := range append(res.Batches, cres.batches...) {
		if created[id] {
			t.Errorf("batch id %d returned to two creates", id)
		}
		created[id] = true
	}
	code, _, body := call(t, "GET", p.url+"/batches?size=100000", "")
	var all struct {
		Total    int
		Sessions []struct {
			ID   int
			Name *string
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &all) != nil {
		t.Fatalf("GET /batches: %d %.200s", code, body)
	}
	names := map[string]bool{}
	for _, b := range all.Sessions {
		if !created[b.ID] {
			t.Errorf("batch %d (%v) exists but no client was told it was created: a duplicate", b.ID, b.Name)
		}
		if b.Name == nil || names[*b.Name] {
			t.Errorf("batch %d: name %v missing or repeated", b.ID, b.Name)
		} else {
			names[*b.Name] = true
		}
	}
	if all.Total != len(created) {
		t.Errorf("%d batches on the cluster, %d creates succeeded", all.Total, len(created))
	}
	_, _, metrics := call(t, "GET", p.url+"/metrics", "")
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "livy_proxy_failovers_total") || strings.HasPrefix(l, "livy_proxy_outage_seconds_total") ||
			strings.HasPrefix(l, "livy_proxy_last_outage_seconds") || strings.HasPrefix(l, "livy_proxy_retries_total") {
			t.Log(l)
		}
	}
	if strings.Contains(metrics, "livy_proxy_failovers_total 0") {
		t.Errorf("the proxy counted no failover")
	}
}
