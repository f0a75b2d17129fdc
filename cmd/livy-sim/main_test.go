package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

// bin is the livy-sim binary built by TestMain.
var bin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "livy-sim-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "livy-sim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building livy-sim: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	zktest.StopShared()
	return code
}

var rootSeq atomic.Int64

func testRoot(t *testing.T) string {
	return fmt.Sprintf("/sim%d-%s", rootSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}

// proc is a running livy-sim.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	thrift string        // host:port of the Thrift server, with --thrift
	done   chan struct{} // closed once the process has exited and its output is drained
	err    error         // cmd.Wait's result, valid after done

	mu     sync.Mutex
	stderr bytes.Buffer
}

var listening = regexp.MustCompile(`^livy-sim: id=(\S+) listening on (http://127\.0\.0\.\d+:\d+)(?: thrift=(127\.0\.0\.1:\d+))?$`)

// launch runs livy-sim with env added to the test's environment (less
// any LIVY_* variable, so that tests are hermetic) and returns its stdout
// lines; the process is killed at cleanup.
func launch(t *testing.T, env []string, args ...string) (*proc, <-chan string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIVY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = zktest.ProcAttr() // no orphan if the test binary dies
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &syncBuf{p: p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p, lines
}

// firstLine waits for the first stdout line and matches it with re.
func firstLine(t *testing.T, p *proc, lines <-chan string, re *regexp.Regexp) []string {
	t.Helper()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case l, ok := <-lines:
		m := re.FindStringSubmatch(l)
		if !ok || m == nil {
			t.Fatalf("first stdout line %q (ok=%v), want the listening line; stderr %q", l, ok, p.errText())
		}
		return m
	case <-timer.C:
		t.Fatalf("no listening line; stderr %q", p.errText())
	}
	return nil
}

// start runs livy-sim and waits for its listening line.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p, lines := launch(t, nil, args...)
	m := firstLine(t, p, lines, listening)
	p.url, p.thrift = m[2], m[3]
	go func() { // any further stdout line is a bug
		for l := range lines {
			t.Errorf("unexpected stdout line %q", l)
		}
	}()
	return p
}

type syncBuf struct{ p *proc }

func (s *syncBuf) Write(b []byte) (int, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.p.stderr.Write(b)
}

func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("process did not exit within %v; stderr %q", d, p.errText())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
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
			t.Fatalf("%s not active within %v; stderr %q", p.url, d, p.errText())
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
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := a.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr %q", code, a.errText())
	}
	t.Logf("takeover after SIGTERM: %v", waitActive(t, b, 2*time.Second))
	if !strings.Contains(b.errText(), "livy-sim: id=2 is now active") {
		t.Fatalf("no leadership line on stderr: %q", b.errText())
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
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
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
