package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/krbtest"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
)

var rootSeq atomic.Int64

func testRoot(t *testing.T) string {
	return fmt.Sprintf("/ctl%d-%s", rootSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}

// sim is a running livy-sim.
type sim struct {
	*testutil.Sim
	id int
}

var listening = regexp.MustCompile(`^livy-sim: id=(\d+) listening on (http://127\.0\.0\.1:\d+)$`)

// startSims starts n livy-sim servers (ids 1..n) registered under root
// with 2s ZooKeeper sessions, and returns them once one is active, with
// its index.
func startSims(t *testing.T, zkc, root string, n int, step time.Duration, extra ...string) ([]*sim, int) {
	t.Helper()
	var sims []*sim
	var procs []*testutil.Proc
	for id := 1; id <= n; id++ {
		s := testutil.StartSim(t, append([]string{"--zk", zkc, "--root", root, "--id", strconv.Itoa(id),
			"--session-timeout", "2s", "--step", step.String()}, extra...)...)
		if m := listening.FindStringSubmatch(s.Line); m == nil || m[2] != s.URL {
			t.Fatalf("livy-sim %d: first line %q; stderr %q", id, s.Line, s.Text(testutil.Stderr))
		}
		sims = append(sims, &sim{Sim: s, id: id})
		procs = append(procs, s.Proc)
	}
	// The one that says it is active (bounded: 20s).
	i, _, _, ok := testutil.FindAny(20*time.Second, testutil.Stderr, procs, func(i, _ int, l string) bool {
		return strings.Contains(l, fmt.Sprintf("id=%d is now active", sims[i].id))
	})
	if !ok {
		t.Fatalf("no livy-sim became active within 20s")
	}
	return sims, i
}

// expectedLog is livytest's synthetic log of a successful batch (see
// livytest/model.go): what a complete, in-order, once-only follow prints.
func expectedLog(name, file string, args []string, app string) string {
	cmd := "livytest: spark-submit --name " + name + " " + file
	for _, a := range args {
		cmd += " " + a
	}
	lines := []string{"stdout: ", cmd, "livytest: submitting application to the cluster",
		"livytest: application report for " + app + " (state: ACCEPTED)"}
	for i := 0; i < 4; i++ {
		lines = append(lines, "livytest: application report for "+app+" (state: RUNNING)")
	}
	lines = append(lines, "livytest: application report for "+app+" (state: FINISHED)",
		"livytest: final status: SUCCEEDED", "\nstderr: ", "\nYARN Diagnostics: ")
	return strings.Join(lines, "\n") + "\n"
}

var created = regexp.MustCompile(`^livyctl: batch (\d+) \(name (livyctl-[0-9a-f]{16})\) created`)

// batchesNamed counts the batches called name (batch list -o json).
func batchesNamed(t *testing.T, target []string, name string) int {
	t.Helper()
	r := runCtl(t, append([]string{"batch", "list", "-o", "json", "--size", "1000"}, target...)...)
	if r.code != 0 {
		t.Fatalf("batch list: %v", r)
	}
	var l livyclient.BatchList
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatalf("batch list -o json: %v in %q", err, r.stdout)
	}
	n := 0
	for _, b := range l.Sessions {
		if b.Name != nil && *b.Name == name {
			n++
		}
	}
	return n
}

func appIDOf(t *testing.T, target []string, name string) string {
	t.Helper()
	r := runCtl(t, append([]string{"batch", "get", "-o", "json", name}, target...)...)
	var b livyclient.Batch
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &b) != nil || b.AppID == nil {
		t.Fatalf("batch get %s: %v", name, r)
	}
	return *b.AppID
}

// TestSubmitAcrossFailover submits a batch with the livyctl binary and
// stops the active livy-sim (kill -9, or SIGTERM) while submit waits: the
// submit must exit 0 having printed the whole log in order, each line once,
// and the cluster must hold exactly one batch of that name.
func TestSubmitAcrossFailover(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(map[syscall.Signal]string{syscall.SIGKILL: "kill-9", syscall.SIGTERM: "SIGTERM"}[sig], func(t *testing.T) {
			c := zktest.Shared(t)
			zkc, root := c.ConnectString(), testRoot(t)
			sims, active := startSims(t, zkc, root, 2, 500*time.Millisecond)
			target := []string{"--zk", zkc, "--root", root}
			args := []string{"x", "y"}
			start := time.Now()
			p := testutil.StartProc(t, ctlBin, append(append([]string{"batch", "submit", "--file", "/apps/job.jar", "--poll", "100ms",
				"--timeout", "90s"}, target...), append([]string{"--"}, args...)...)...)
			m := p.WaitMatch(testutil.Stderr, 30*time.Second, created)
			name := m[2]

			// Wait until the batch runs (its log says so), then stop the active.
			n, _, ok := p.Find(testutil.Stdout, 30*time.Second, func(_ int, l string) bool { return strings.Contains(l, "(state: RUNNING)") })
			if !ok {
				t.Fatalf("no RUNNING line within 30s before the submit's end; stdout %q, stderr %q", p.Lines(testutil.Stdout), p.Text(testutil.Stderr))
			}
			linesBefore := n + 1
			killedAt := time.Now()
			sims[active].Send(sig)
			var outage time.Duration
			if _, _, ok := p.Find(testutil.Stdout, 90*time.Second, func(n int, _ string) bool { return n >= linesBefore }); ok {
				outage = time.Since(killedAt)
			}
			code := p.Wait(90 * time.Second)
			elapsed := time.Since(start)
			printed := p.Lines(testutil.Stdout)
			if code != 0 {
				t.Fatalf("submit exit %d; stdout %q, stderr %q", code, printed, p.Text(testutil.Stderr))
			}
			got := strings.Join(printed, "\n") + "\n"
			want := expectedLog(name, "/apps/job.jar", args, appIDOf(t, target, name))
			if got != want {
				t.Fatalf("submit printed\n%q\nwant\n%q", got, want)
			}
			// The whole log afterwards, from the new active.
			r := runCtl(t, append([]string{"batch", "log", name}, target...)...)
			if r.code != 0 || r.stdout != got {
				t.Fatalf("batch log %s: %v, want stdout %q", name, r, got)
			}
			if n := batchesNamed(t, target, name); n != 1 {
				t.Fatalf("%d batches named %s, want exactly 1", n, name)
			}
			// stderr is not a terminal: the id and name, no progress noise.
			if e := p.Text(testutil.Stderr); strings.Count(e, "\n") != 0 || !created.MatchString(e) {
				t.Fatalf("submit's stderr %q, want only the created line", e)
			}
			t.Logf("%s of the active mid-submit: first line after it %v later; submit %v in all; %d log lines (%d before the stop), in order, 0 duplicates, 1 batch named %s",
				t.Name(), outage.Round(time.Millisecond), elapsed.Round(time.Millisecond), len(printed), linesBefore, name)
		})
	}
}

// TestSubmitInterrupted sends SIGTERM to a waiting livyctl: it stops
// waiting, exits 143, leaves the batch running and says how to resume;
// the resumed follow prints exactly the rest of the log.
func TestSubmitInterrupted(t *testing.T) {
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	startSims(t, zkc, root, 1, 500*time.Millisecond)
	target := []string{"--zk", zkc, "--root", root}
	p := testutil.StartProc(t, ctlBin, append([]string{"batch", "submit", "--file", "/apps/job.jar", "--poll", "100ms", "--timeout", "60s"}, target...)...)
	name := p.WaitMatch(testutil.Stderr, 30*time.Second, created)[2]
	p.WaitLine(testutil.Stdout, 60*time.Second, "(state: RUNNING)")
	p.Send(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 143 {
		t.Fatalf("exit %d after SIGTERM, want 143; stderr %q", code, p.Text(testutil.Stderr))
	}
	printed := p.Lines(testutil.Stdout)
	resume := regexp.MustCompile(`interrupted by SIGTERM; batch \d+ \(name ` + name + `\) is left running, (\d+) log lines printed; resume: livyctl batch log --follow --from (\d+) ` + name + `$`)
	m := p.WaitMatch(testutil.Stderr, time.Second, resume)
	if m[1] != strconv.Itoa(len(printed)) || m[2] != m[1] {
		t.Fatalf("resume says %s lines, %d printed", m[1], len(printed))
	}
	r := runCtl(t, append([]string{"batch", "log", "--follow", "--from", m[2], "--poll", "100ms", name}, target...)...)
	if r.code != 0 {
		t.Fatalf("resumed follow: %v", r)
	}
	got := strings.Join(printed, "\n") + "\n" + r.stdout
	if want := expectedLog(name, "/apps/job.jar", nil, appIDOf(t, target, name)); got != want {
		t.Fatalf("interrupted + resumed printed\n%q\nwant\n%q", got, want)
	}
	if n := batchesNamed(t, target, name); n != 1 {
		t.Fatalf("%d batches named %s", n, name)
	}
}

// oneServer starts one livy-sim (50ms steps) and checks that the test's
// in-process livyctl runs leak no goroutine; it returns the target flags
// and a runner that adds them.
func oneServer(t *testing.T) ([]string, func(args ...string) result) {
	t.Helper()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	testutil.NoLeaks(t) // after the shared ZooKeeper, before the server: its check runs after the server stopped
	startSims(t, zkc, root, 1, 50*time.Millisecond)
	target := []string{"--zk", zkc, "--root", root}
	return target, func(args ...string) result { t.Helper(); return runCtl(t, append(args, target...)...) }
}

func TestBatchVerbs(t *testing.T) {
	target, ctl := oneServer(t)

	req := writeFile(t, "req.yaml", "file: /apps/a.jar\nclassName: org.A\nname: named-batch\nconf:\n  spark.x: 1\n")
	r := ctl("batch", "create", "-f", req, "-o", "json")
	var b livyclient.Batch
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &b) != nil || b.Name == nil || *b.Name != "named-batch" {
		t.Fatalf("batch create -f: %v", r)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("livyctl: batch %d (name named-batch) created", b.ID)) {
		t.Fatalf("create's stderr: %q", r.stderr)
	}
	// A second create with the name Livy already has is rejected (409/400: exit 2).
	if r := ctl("batch", "create", "-f", req); r.code != 2 {
		t.Fatalf("duplicate name: %v", r)
	}
	for _, key := range []string{strconv.Itoa(b.ID), "named-batch"} {
		r := ctl("batch", "get", key)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if r.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[1], "named-batch") {
			t.Fatalf("batch get %s: %v", key, r)
		}
	}
	r = ctl("batch", "log", "--follow", "--poll", "50ms", "named-batch")
	if r.code != 0 || !strings.Contains(r.stdout, "final status: SUCCEEDED") {
		t.Fatalf("log --follow: %v", r)
	}
	if r2 := ctl("batch", "log", "named-batch"); r2.code != 0 || r2.stdout != r.stdout {
		t.Fatalf("batch log: %v, want %q", r2, r.stdout)
	}
	if r := ctl("batch", "log", "--from", "1", "--size", "2", "named-batch"); r.code != 0 || strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("batch log --from 1 --size 2: %v", r)
	}
	r = ctl("batch", "list", "-o", "yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "name: named-batch") || !strings.Contains(r.stdout, "total: 1") {
		t.Fatalf("batch list -o yaml: %v", r)
	}
	// A failing batch: submit exits 6.
	r = ctl("batch", "submit", "--file", "/apps/fail.jar", "--poll", "50ms")
	if r.code != 6 || !strings.Contains(r.stderr, "finished dead") || !strings.Contains(r.stdout, "final status: FAILED") {
		t.Fatalf("failing submit: %v", r)
	}
	// On a terminal, progress: state changes with the elapsed time.
	var out, errb strings.Builder
	code := run(context.Background(), append([]string{"batch", "log", "--follow", "--poll", "50ms", "named-batch"}, target...),
		&stdio{in: strings.NewReader(""), out: &out, err: &errb, tty: true})
	if code != 0 || !regexp.MustCompile(`(?m)^livyctl: batch \d+ is success \(\d+\.\ds\)$`).MatchString(errb.String()) {
		t.Fatalf("progress on a terminal: exit %d, stderr %q", code, errb.String())
	}
	// --timeout bounds the whole command and says how to resume.
	r = ctl("batch", "submit", "--file", "/apps/slow.jar", "--timeout", "200ms", "--poll", "50ms")
	if r.code != 3 || !strings.Contains(r.stderr, "--timeout 200ms passed") ||
		!(strings.Contains(r.stderr, "resume: livyctl batch log --follow --from") || strings.Contains(r.stderr, "may have been created")) {
		t.Fatalf("submit --timeout: %v", r)
	}
	if r := ctl("batch", "delete", "named-batch"); r.code != 0 {
		t.Fatalf("delete: %v", r)
	}
	if r := ctl("batch", "get", "named-batch"); r.code != 1 {
		t.Fatalf("get after delete: %v (want exit 1)", r)
	}
}

func TestSessionsAndRun(t *testing.T) {
	target, ctl := oneServer(t)

	r := ctl("session", "create", "--kind", "spark", "--name", "s1", "--wait", "--poll", "50ms", "-o", "json")
	var s livyclient.Session
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &s) != nil || s.State != livyclient.StateIdle || s.Kind != "spark" {
		t.Fatalf("session create --wait: %v", r)
	}
	r = ctl("session", "list", "-o", "json")
	var l livyclient.SessionList
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &l) != nil || l.Total != 1 || l.Sessions[0].ID != s.ID {
		t.Fatalf("session list -o json: %v", r)
	}
	if r := ctl("session", "get", "s1"); r.code != 0 || !strings.Contains(r.stdout, "idle") || !strings.HasPrefix(r.stdout, "ID ") {
		t.Fatalf("session get s1: %v", r)
	}
	if r := ctl("run", "--session", "s1", "1 + 1"); r.code != 0 || r.stdout != "res0: Int = 2\n" {
		t.Fatalf("run 1 + 1: %v", r)
	}
	if r := runCtlIn(t, "20 + 22", append([]string{"run", "--session", strconv.Itoa(s.ID), "-"}, target...)...); r.code != 0 || r.stdout != "res1: Int = 42\n" {
		t.Fatalf("run - (stdin): %v", r)
	}
	r = ctl("run", "--session", "s1", "throw new Exception(\"boom\")")
	if r.code != 6 || r.stdout != "" || !strings.Contains(r.stderr, "Error: throw new Exception(\"boom\")\n") ||
		!strings.Contains(r.stderr, "livytest: error raised by statement 2\n") {
		t.Fatalf("failing statement: %v", r)
	}
	if r := ctl("session", "delete", "s1"); r.code != 0 {
		t.Fatalf("session delete: %v", r)
	}
	if r := ctl("session", "get", strconv.Itoa(s.ID)); r.code != 1 {
		t.Fatalf("session get after delete: %v (want exit 1)", r)
	}
}

// TestAuth: Basic credentials from a file, over ZooKeeper and over a
// static list that names the passive first (its 307 is followed with the
// credentials re-applied); Kerberos SPNEGO with a keytab against a real
// KDC; a wrong or missing credential is exit 4.
func TestAuth(t *testing.T) {
	c := zktest.Shared(t)
	t.Run("basic", func(t *testing.T) {
		zkc, root := c.ConnectString(), testRoot(t)
		sims, active := startSims(t, zkc, root, 2, 50*time.Millisecond, "--basic-auth", "alice:s3cret")
		passive := sims[1-active]
		good, bad := writeFile(t, "pw", "s3cret\n"), writeFile(t, "bad", "wrong\n")
		for _, target := range [][]string{{"--zk", zkc, "--root", root}, {"--endpoints", passive.URL + "," + sims[active].URL}} {
			if r := runCtl(t, append([]string{"batch", "list", "--user", "alice", "--password-file", good}, target...)...); r.code != 0 {
				t.Fatalf("%q with the password: %v", target, r)
			}
			for _, args := range [][]string{{"--user", "alice", "--password-file", bad}, nil} {
				r := runCtl(t, append(append([]string{"batch", "list"}, args...), target...)...)
				if r.code != 4 || strings.Contains(r.stderr, "wrong") {
					t.Fatalf("%q %q: %v, want exit 4", target, args, r)
				}
			}
		}
	})
	t.Run("spnego", func(t *testing.T) {
		k := krbtest.Start(t)
		kt, err := k.AddService("HTTP/127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := k.AddUser("alice", "alice-pw"); err != nil {
			t.Fatal(err)
		}
		userKT, err := k.Keytab("alice")
		if err != nil {
			t.Fatal(err)
		}
		zkc, root := c.ConnectString(), testRoot(t)
		startSims(t, zkc, root, 1, 50*time.Millisecond, "--spnego-keytab", kt, "--spnego-principal", k.Principal("HTTP/127.0.0.1"))
		target := []string{"--zk", zkc, "--root", root, "--krb5-conf", k.Krb5Conf()}
		r := runCtl(t, append([]string{"batch", "submit", "--file", "/apps/k.jar", "--poll", "50ms",
			"--keytab", userKT, "--principal", "alice"}, target...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "final status: SUCCEEDED") {
			t.Fatalf("submit with a keytab: %v", r)
		}
		if r := runCtl(t, append([]string{"batch", "list"}, target...)...); r.code != 4 {
			t.Fatalf("without credentials: %v, want exit 4", r)
		}
	})
}
