package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/zktest"
)

func TestMain(m *testing.M) {
	// The developer's environment must not leak into the tests.
	getenv = func(string) string { return "" }
	code := m.Run()
	zktest.StopShared()
	os.Exit(code)
}

var rootSeq atomic.Int64

func testRoot(t *testing.T) string {
	return fmt.Sprintf("/find%d-%s", rootSeq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func urlOf(id int) string { return fmt.Sprintf("http://127.0.0.1:%d", 20000+id) }

// register publishes server id under root and closes it at cleanup.
func register(t *testing.T, connect, root string, id int, elect bool) *discovery.Registrar {
	t.Helper()
	rec := discovery.ServerRecord{ID: id, URL: urlOf(id), Thrift: fmt.Sprintf("127.0.0.1:%d", 30000+id), Version: "0.9"}
	g, err := discovery.Register(ctxT(t, 20*time.Second), connect, rec,
		discovery.WithRoot(root), discovery.WithElection(elect), discovery.WithSessionTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("register %d: %v", id, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

type result struct {
	code           int
	stdout, stderr string
}

func runFind(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctxT(t, 30*time.Second), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

func TestActive(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	register(t, zkc, root, 1, true)
	register(t, zkc, root, 2, true)

	r := runFind(t, "--zk", zkc, "--root", root, "active")
	if r.code != 0 || r.stdout != urlOf(1)+"\n" || r.stderr != "" {
		t.Fatalf("active: %v", r)
	}
	// Flags after the subcommand.
	r = runFind(t, "active", "--zk", zkc, "--root", root, "--format", "hostport")
	if r.code != 0 || r.stdout != "127.0.0.1:20001\n" {
		t.Fatalf("active --format hostport: %v", r)
	}
	r = runFind(t, "--zk", zkc, "--root", root, "--format", "json", "active")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "}\n") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("active --format json: %v", r)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"name": "1", "id": 1.0, "url": urlOf(1), "thrift": "127.0.0.1:30001", "version": "0.9", "leader": true}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("json = %v, want %v", m, want)
	}
	// Active-passive session lookup is the active server.
	r = runFind(t, "--zk", zkc, "--root", root, "session", "42")
	if r.code != 0 || r.stdout != urlOf(1)+"\n" {
		t.Fatalf("session 42: %v", r)
	}
}

func TestServers(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	register(t, zkc, root, 5, false) // registered first, not a leader
	register(t, zkc, root, 6, true)  // the leader

	// Garbage next to the records.
	conn, _, err := zk.Connect(c.Servers(), 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	badName := root + "/servers/not-a-record"
	badData := root + "/servers/serverUri=127.0.0.1:1;version=x;sequence=0000000099"
	for p, data := range map[string]string{badName: "junk", badData: "no equals sign here"} {
		if _, err := conn.Create(p, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}

	r := runFind(t, "--zk", zkc, "--root", root, "servers")
	if r.code != 0 || r.stdout != urlOf(6)+"\n"+urlOf(5)+"\n" {
		t.Fatalf("servers: %v", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 problem lines, got %q", r.stderr)
	}
	for _, p := range []string{badName, badData} {
		if !strings.Contains(r.stderr, "livy-find: skipped "+p+": ") {
			t.Errorf("stderr lacks a problem line for %s: %q", p, r.stderr)
		}
	}

	// Garbage at scale is summarised: 10 lines, then a count.
	for i := 0; i < 30; i++ {
		if _, err := conn.Create(fmt.Sprintf("%s/servers/junk-%02d", root, i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	r = runFind(t, "--zk", zkc, "--root", root, "servers")
	lines = strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 0 || len(lines) != 11 || lines[10] != "livy-find: skipped 22 more znodes (32 in all)" {
		t.Fatalf("32 problems: exit %d, %d stderr lines, last %q", r.code, len(lines), lines[len(lines)-1])
	}

	r = runFind(t, "--zk", zkc, "--root", root, "--format", "hostport", "servers")
	if r.code != 0 || r.stdout != "127.0.0.1:20006\n127.0.0.1:20005\n" {
		t.Fatalf("servers --format hostport: %v", r)
	}

	r = runFind(t, "--zk", zkc, "--root", root, "--format", "json", "servers")
	if r.code != 0 {
		t.Fatalf("servers --format json: %v", r)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	if len(list) != 2 {
		t.Fatalf("json list: %v", list)
	}
	for i, want := range []struct {
		id     float64
		leader bool
	}{{6, true}, {5, false}} {
		s := list[i]
		if len(s) != 6 || s["name"] != fmt.Sprint(want.id) || s["id"] != want.id || s["leader"] != want.leader ||
			s["url"] != urlOf(int(want.id)) || s["version"] != "0.9" || s["thrift"] == nil {
			t.Errorf("json[%d] = %v", i, s)
		}
	}

	// No servers at all: the message names the path read (and, from
	// discovery, what else is there).
	r = runFind(t, "--zk", zkc, "--root", root+"-empty", "servers")
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "livy-find: discovery: no servers registered under "+root+"-empty/servers") ||
		strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("servers in an empty root: %v", r)
	}
}

func TestJSONEmptyFields(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	g, err := discovery.Register(ctxT(t, 20*time.Second), zkc, discovery.ServerRecord{ID: 3, URL: "https://h.example"},
		discovery.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r := runFind(t, "--zk", zkc, "--root", root, "--mode", "multi-active", "--format", "json", "active")
	want := `{"name":"3","id":3,"url":"https://h.example","thrift":"","version":"","leader":false}` + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("got %v, want stdout %q", r, want)
	}
	r = runFind(t, "--zk", zkc, "--root", root, "--mode", "multi-active", "--format", "hostport", "active")
	if r.code != 0 || r.stdout != "h.example:443\n" {
		t.Fatalf("hostport of a URL without port: %v", r)
	}
}

func TestMultiActiveSession(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	register(t, zkc, root, 101, false)
	register(t, zkc, root, 7, false)

	r := runFind(t, "--zk", zkc, "--root", root, "--mode", "multi-active", "session", "1010000001")
	if r.code != 0 || r.stdout != urlOf(101)+"\n" {
		t.Fatalf("session 1010000001: %v", r)
	}
	r = runFind(t, "--zk", zkc, "--root", root, "--mode", "multi-active", "session", "70000000")
	if r.code != 0 || r.stdout != urlOf(7)+"\n" {
		t.Fatalf("session 70000000: %v", r)
	}
	r = runFind(t, "--zk", zkc, "--root", root, "--mode", "multi-active", "session", "90000000")
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "livy-find: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("session of an unregistered owner: %v", r)
	}
	// Without a latch, multi-active "active" is one of the live servers.
	r = runFind(t, "--zk", zkc, "--root", root, "--mode", "multi-active", "active")
	if r.code != 0 || (r.stdout != urlOf(101)+"\n" && r.stdout != urlOf(7)+"\n") {
		t.Fatalf("multi-active active: %v", r)
	}
	// Active-passive without a latch: no leader.
	r = runFind(t, "--zk", zkc, "--root", root, "active")
	if r.code != 1 || r.stdout != "" || r.stderr != "livy-find: discovery: no leader: the latch "+root+"/leader has no participants, but 2 servers are registered under "+
		root+"/servers: a multi-active cluster? use mode=multi-active (or session-ha)\n" {
		t.Fatalf("active without leader: %v", r)
	}
}

func TestChroot(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	chroot := testRoot(t)
	conn, _, err := zk.Connect(c.Servers(), 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Create(chroot, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	zkc := c.ConnectString() + chroot
	register(t, zkc, "/livy", 9, true)

	if ok, _, err := conn.Exists(chroot + "/livy/servers"); err != nil || !ok {
		t.Fatalf("records are not under the chroot: %v %v", ok, err)
	}
	r := runFind(t, "--zk", zkc, "active") // default root /livy
	if r.code != 0 || r.stdout != urlOf(9)+"\n" {
		t.Fatalf("active through a chroot: %v", r)
	}
	r = runFind(t, "--zk", c.ConnectString(), "--root", chroot+"/livy", "active")
	if r.code != 0 || r.stdout != urlOf(9)+"\n" {
		t.Fatalf("active with the chroot as root: %v", r)
	}
}

// TestEnvDefaults is not parallel: it replaces getenv, which run reads.
func TestEnvDefaults(t *testing.T) {
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	register(t, zkc, root, 4, true)
	env := map[string]string{"LIVY_ZK": zkc, "LIVY_ZK_ROOT": root}
	fake := func(k string) string { return env[k] }

	resolve := func(args ...string) string {
		t.Helper()
		o, _, _, err := parseArgs(args)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := o.targets.Resolve(fake)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		return tg.String
	}
	if got, want := resolve("active"), "zk://"+zkc+"?root="+root; got != want {
		t.Fatalf("env defaults: target %q, want %q", got, want)
	}
	if got, want := resolve("--root", "/other", "active"), "zk://"+zkc+"?root=/other"; got != want {
		t.Fatalf("flag over env: target %q, want %q", got, want)
	}

	old := getenv
	getenv = fake
	defer func() { getenv = old }()
	if r := runFind(t, "active"); r.code != 0 || r.stdout != urlOf(4)+"\n" {
		t.Fatalf("active with $LIVY_ZK and $LIVY_ZK_ROOT: %v", r)
	}
	env["LIVY_ZK_ROOT"] = "no-slash"
	if r := runFind(t, "active"); r.code != 2 {
		t.Fatalf("bad $LIVY_ZK_ROOT: %v", r)
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		cmd  string
		pos  []string
	}{
		{[]string{"--zk", "x", "session", "12"}, "session", []string{"12"}},
		{[]string{"session", "12", "--zk", "x"}, "session", []string{"12"}},
		{[]string{"session", "--zk", "x", "12"}, "session", []string{"12"}},
		{[]string{"--zk=x", "--", "session", "-3"}, "session", []string{"-3"}},
	} {
		o, cmd, pos, err := parseArgs(tc.args)
		if err != nil || cmd != tc.cmd || fmt.Sprint(pos) != fmt.Sprint(tc.pos) {
			t.Errorf("parseArgs(%q) = %q %q %v", tc.args, cmd, pos, err)
			continue
		}
		if tg, err := o.targets.Resolve(noEnv); err != nil || tg.String != "x" {
			t.Errorf("parseArgs(%q): target %q %v", tc.args, tg.String, err)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc := c.ConnectString()
	for _, args := range [][]string{
		{"--zk", zkc, "frobnicate"},
		{"--zk", zkc},
		{"active"}, // no --zk and no $LIVY_ZK
		{"--zk", zkc, "--format", "xml", "active"},
		{"--zk", zkc, "--mode", "both", "active"},
		{"--zk", zkc, "--timeout", "soon", "active"},
		{"--zk", zkc, "--timeout", "0s", "active"},
		{"--zk", zkc, "--bogus", "active"},
		{"--zk", zkc, "session", "abc"},
		{"--zk", zkc, "session", "--", "-1"},
		{"--zk", zkc, "session"},
		{"--zk", zkc, "session", "1", "2"},
		{"--zk", zkc, "active", "extra"},
		{"--zk", "host:notaport", "active"},
		{"--zk", zkc + "//x", "active"},
		{"--zk", zkc, "--root", "relative", "active"},
		{"--zk", zkc, "--root", "/a//b", "active"},
		{"--zk", zkc, "batch"},
		{"--zk", zkc, "batch", "x"},
		{"--zk", zkc, "probe", "extra"},
		{"--target", zkc, "--zk", zkc, "active"},
		{"--target", "zk://" + zkc + "?layout=nope", "active"},
		{"--zk", zkc, "--layout", "pr212", "active"},
		{"--zk", zkc, "--layout", "hive", "--mode", "multi-active", "thrift"},
		{"--zk", zkc, "--layout", "hive", "--root", "/x", "thrift"},
		{"--endpoints", "http://a:1,https://b:2", "active"},
		{"--endpoints", "a:1", "probe"},
		{"--zk", zkc, "--format", "url", "probe"},
		{"--livy-conf", "/nonexistent/livy.conf", "active"},
	} {
		r := runFind(t, args...)
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "livy-find: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q: %v (want exit 2 and one stderr line)", args, r)
		}
		t.Logf("%q: %s", args, strings.TrimSpace(r.stderr))
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"active", "-h"}} {
		r := runFind(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: livy-find") || r.stderr != "" {
			t.Errorf("%q: %v (want usage on stdout, exit 0)", args, r)
		}
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := runFind(t, "--zk", "127.0.0.1:1", "--timeout", "300ms", "active")
	if r.code != 3 || r.stdout != "" || !strings.HasPrefix(r.stderr, "livy-find: discovery: ZooKeeper unavailable") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("unreachable: %v", r)
	}
	t.Logf("unreachable ZooKeeper: exit 3 after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(r.stderr))
	r = runFind(t, "--zk", "127.0.0.1:1", "--timeout", "300ms", "watch")
	if r.code != 3 || r.stdout != "" {
		t.Fatalf("watch unreachable: %v", r)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWatch(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	a := register(t, zkc, root, 1, true)
	b := register(t, zkc, root, 2, true)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"--zk", zkc, "--root", root, "--timeout", "10s", "watch"}, pw, &stderr)
		pw.Close()
		done <- code
	}()
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch output ended; stderr %q", stderr.String())
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("no watch output within 10s; stderr %q", stderr.String())
		}
		return ""
	}
	if l := next(); l != urlOf(1) {
		t.Fatalf("first line %q, want %q", l, urlOf(1))
	}
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != urlOf(2) {
		t.Fatalf("after closing A: %q, want %q", l, urlOf(2))
	}
	t.Logf("watch printed the new leader %v after A's Close", time.Since(start).Round(time.Millisecond))

	// No leader at all: a line on stderr, nothing on stdout.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "livy-find: no active server: ") {
		if time.Now().After(deadline) {
			t.Fatalf("no 'no active server' line; stderr %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A new leader is printed again.
	register(t, zkc, root, 3, true)
	if l := next(); l != urlOf(3) {
		t.Fatalf("after registering C: %q, want %q", l, urlOf(3))
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("watch exit %d; stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not return after cancel")
	}
	if l, ok := <-lines; ok {
		t.Fatalf("unexpected extra line %q", l)
	}
	for _, l := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "livy-find: no active server: ") {
			t.Errorf("unexpected stderr line %q", l)
		}
	}
}

func TestThriftAndJDBCURL(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	first := register(t, zkc.ConnectString(), root, 1, true)
	second, err := discovery.Register(ctxT(t, 20*time.Second), zkc.ConnectString(),
		discovery.ServerRecord{ID: 2, URL: urlOf(2), Thrift: "127.0.0.1:30002", ThriftTransport: "http", ThriftHTTPPath: "/lhttp"},
		discovery.WithRoot(root), discovery.WithElection(true))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	base := []string{"--zk", zkc.ConnectString(), "--root", root}
	if r := runFind(t, append(base, "thrift")...); r.code != 0 || r.stdout != "127.0.0.1:30001\n" {
		t.Fatalf("thrift: %v", r)
	}
	if r := runFind(t, append(base, "jdbc-url")...); r.code != 0 || r.stdout != "jdbc:hive2://127.0.0.1:30001/default\n" {
		t.Fatalf("jdbc-url: %v", r)
	}
	// The leader leaves; the next one publishes http transport settings.
	first.Close()
	want := "jdbc:hive2://127.0.0.1:30002/default;transportMode=http;httpPath=lhttp"
	if r := runFind(t, append(base, "jdbc-url")...); r.code != 0 || r.stdout != want+"\n" {
		t.Fatalf("jdbc-url (http): %v", r)
	}
	r := runFind(t, append(base, "--format", "json", "jdbc-url")...)
	var obj map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil || r.code != 0 {
		t.Fatalf("json: %v %v", r, err)
	}
	if obj["jdbc_url"] != want || obj["transport"] != "http" || obj["thrift"] != "127.0.0.1:30002" || obj["id"] != float64(2) || obj["leader"] != true {
		t.Fatalf("json object %v", obj)
	}
	// No Thrift endpoint: exit 1.
	root2 := testRoot(t)
	third, err := discovery.Register(ctxT(t, 20*time.Second), zkc.ConnectString(), discovery.ServerRecord{ID: 3, URL: urlOf(3)},
		discovery.WithRoot(root2), discovery.WithElection(true))
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if r := runFind(t, "--zk", zkc.ConnectString(), "--root", root2, "thrift"); r.code != 1 || !strings.Contains(r.stderr, "no Thrift endpoint") {
		t.Fatalf("no thrift: %v", r)
	}
}
