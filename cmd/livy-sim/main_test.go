package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// bin is the livy-sim binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(testutil.Main(m, map[*string]string{&bin: "github.com/livyha/livyha/cmd/livy-sim"}))
}

var rootSeq atomic.Int64

func testRoot(t *testing.T) string {
	return fmt.Sprintf("/sim%d-%s", rootSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}

// proc is a running livy-sim.
type proc struct {
	*testutil.Proc
	url    string
	thrift string // host:port of the Thrift server, with --thrift
}

var listening = regexp.MustCompile(`^livy-sim: id=(\S+) listening on (http://127\.0\.0\.\d+:\d+)(?: thrift=(127\.0\.0\.1:\d+))?$`)

// launch runs livy-sim with env added to the test's environment (less
// any LIVY_* variable, so that tests are hermetic) and waits for its first
// stdout line, which must match re; the process is killed at cleanup.
func launch(t *testing.T, env []string, re *regexp.Regexp, args ...string) (*testutil.Proc, []string) {
	t.Helper()
	p := testutil.StartProcWith(t, testutil.ProcOptions{Env: env}, bin, args...)
	_, l, ok := p.Find(testutil.Stdout, 20*time.Second, nil)
	m := re.FindStringSubmatch(l)
	if !ok || m == nil {
		t.Fatalf("first stdout line %q (ok=%v), want the listening line; stderr %q", l, ok, p.Text(testutil.Stderr))
	}
	return p, m
}

// start runs livy-sim and waits for its listening line.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p, m := launch(t, nil, listening, args...)
	t.Cleanup(func() { // any further stdout line is a bug
		p.Signal(syscall.SIGKILL, 5*time.Second) // all of its output is in
		for _, l := range p.Lines(testutil.Stdout)[1:] {
			t.Errorf("unexpected stdout line %q", l)
		}
	})
	return &proc{Proc: p, url: m[2], thrift: m[3]}
}

var client = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// version returns the status of GET /version and the Location header.
func version(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := client.Get(url + "/version")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

func waitActive(t *testing.T, p *proc, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if code, _ := version(t, p.url); code == http.StatusOK {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s not active within %v; stderr %q", p.url, d, p.Text(testutil.Stderr))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailoverBetweenProcesses(t *testing.T) {
	zkc := zktest.Shared(t)
	const sessionTimeout = time.Second
	common := []string{"--zk", zkc.ConnectString(), "--root", testRoot(t), "--session-timeout", sessionTimeout.String(), "--step", "20ms"}
	a := start(t, append([]string{"--id", "1"}, common...)...)
	b := start(t, append([]string{"--id", "2"}, common...)...)

	// Exactly one is active; the other redirects to it.
	waitActive(t, a, 5*time.Second) // a joined the latch first
	code, loc := version(t, b.url)
	if code != http.StatusTemporaryRedirect || loc != a.url+"/version" {
		t.Fatalf("passive answered %d Location %q, want 307 to %s/version", code, loc, a.url)
	}
	res, err := client.Post(a.url+"/batches", "application/json", strings.NewReader(`{"file":"a.py","name":"job"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", res.StatusCode)
	}

	// SIGTERM: graceful, exit 0, the other takes over at once.
	a.Send(syscall.SIGTERM)
	if code := a.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr %q", code, a.Text(testutil.Stderr))
	}
	t.Logf("takeover after SIGTERM: %v", waitActive(t, b, 2*time.Second))
	if !strings.Contains(b.Text(testutil.Stderr), "livy-sim: id=2 is now active") {
		t.Fatalf("no leadership line on stderr: %q", b.Text(testutil.Stderr))
	}
	res, err = client.Get(b.url + "/batches/job")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("batch created on the old active: %d on the new one", res.StatusCode)
	}

	// kill -9: the third server takes over once the session expires.
	c := start(t, append([]string{"--id", "3"}, common...)...)
	if code, loc := version(t, c.url); code != http.StatusTemporaryRedirect || loc != b.url+"/version" {
		t.Fatalf("new passive answered %d %q", code, loc)
	}
	b.Kill()
	took := waitActive(t, c, sessionTimeout+3*time.Second)
	t.Logf("takeover after kill -9: %v (session timeout %v)", took, sessionTimeout)
}

func TestUsageAndExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--id", "1"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--mode", "both"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--basic-auth", "nocolon"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--root", "relative"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--step", "0s"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--leadership", "standard"}, exitUsage},
		{[]string{"--profile", "pr212", "--livy-conf", "/nonexistent/livy.conf", "--leadership", "connection"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--leadership", "connection", "--register-timeout", "300ms"}, exitUnavailable},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "extra"}, exitUsage},
		{[]string{"--target", "zk://127.0.0.1:1?layout=pr276", "--id", "1"}, exitUsage}, // a registrar writes the canonical layout
		{[]string{"--target", "127.0.0.1:1", "--zk", "127.0.0.1:1", "--id", "1"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--thrift", "nohostport"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--thrift", "127.0.0.1:0", "--thrift-auth", "KERBEROS"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--thrift", "127.0.0.1:0", "--thrift-refusal", "rst"}, exitUsage},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--thrift", "127.0.0.1:0", "--register-timeout", "300ms"}, exitUnavailable},
		{[]string{"--bogus"}, exitUsage},
		{[]string{"-h"}, exitOK},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--register-timeout", "300ms"}, exitUnavailable},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--mode", "session-ha", "--register-timeout", "300ms"}, exitUnavailable},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--mode", "active-active", "--register-timeout", "300ms"}, exitUnavailable},
		{[]string{"--zk", "127.0.0.1:1", "--id", "300", "--mode", "session-ha"}, exitFailure},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errb); code != tc.code {
			t.Errorf("%q: exit %d, want %d; stderr %q", tc.args, code, tc.code, errb.String())
		}
		if tc.code != exitOK && out.Len() != 0 {
			t.Errorf("%q: stdout %q, want nothing", tc.args, out.String())
		}
	}
}
