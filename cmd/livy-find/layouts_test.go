package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/internal/curatortest"
	"github.com/livyha/livyha/internal/zktest"
)

// rawConn is a plain go-zookeeper connection, closed at cleanup.
func rawConn(t *testing.T, c *zktest.Cluster) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect(c.Servers(), 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// mkNodes creates persistent nodes (parents first) with data.
func mkNodes(t *testing.T, conn *zk.Conn, nodes ...[2]string) {
	t.Helper()
	for _, n := range nodes {
		if _, err := conn.Create(n[0], []byte(n[1]), 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatalf("create %s: %v", n[0], err)
		}
	}
}

// jsonKeys returns the sorted keys of a JSON object.
func jsonKeys(t *testing.T, obj map[string]any) []string {
	t.Helper()
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// PR #212 through --livy-conf: a real Curator participant with a string id
// in the latch, the hosts only in a livy.conf written for the test.
func TestPR212LivyConf(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	prefix := strings.TrimPrefix(testRoot(t), "/") + "/livy_ha"
	conf := filepath.Join(t.TempDir(), "livy.conf")
	body := "livy.server.ha.mode = on\n" +
		"livy.server.ha.zookeeper-url = " + c.ConnectString() + "\n" +
		"livy.server.ha.key-prefix = " + prefix + "\n" +
		"livy.server.ha.server-ids = livy-a,livy-b\n" +
		"livy.server.ha.server-hostnames = 127.0.0.21,127.0.0.22\n" +
		"livy.server.port = 9000\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	a := curatortest.Start(t, c.ConnectString(), "/"+prefix+"/leader", "livy-a")
	if err := a.Join(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.AwaitLeadership(ctxT(t, 20*time.Second), 10*time.Second); err != nil || !ok {
		t.Fatalf("livy-a did not lead: %v %v", ok, err)
	}

	r := runFind(t, "--livy-conf", conf, "active")
	if r.code != 0 || r.stdout != "http://127.0.0.21:9000\n" || r.stderr != "" {
		t.Fatalf("active --livy-conf: %v", r)
	}
	// The same as a target string, and from $LIVY_CONF (see TestEnvTargets).
	r = runFind(t, "--target", "livy-conf://"+conf, "--format", "json", "active")
	var obj map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil || r.code != 0 {
		t.Fatalf("active --format json: %v %v", r, err)
	}
	if obj["name"] != "livy-a" || obj["id"] != -1.0 || obj["url"] != "http://127.0.0.21:9000" || obj["leader"] != true {
		t.Fatalf("json %v", obj)
	}
	// Both configured servers are listed, the leader first; the one not
	// in the latch is still a configured server.
	r = runFind(t, "--livy-conf", conf, "servers")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "http://127.0.0.21:9000\n") {
		t.Fatalf("servers: %v", r)
	}
	// A PR #212 cluster is active-passive: every session is the leader's.
	if r := runFind(t, "--livy-conf", conf, "batch", "7"); r.code != 0 || r.stdout != "http://127.0.0.21:9000\n" {
		t.Fatalf("batch 7: %v", r)
	}
	// --layout pr212 without a livy.conf cannot know the hosts.
	if r := runFind(t, "--zk", c.ConnectString(), "--layout", "pr212", "active"); r.code != 2 || !strings.Contains(r.stderr, "--livy-conf") {
		t.Fatalf("--layout pr212 without --livy-conf: %v", r)
	}
	// A livy.conf that does not exist is a usage error naming it.
	missing := filepath.Join(t.TempDir(), "nope.conf")
	if r := runFind(t, "--livy-conf", missing, "active"); r.code != 2 || !strings.Contains(r.stderr, missing) || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("missing livy.conf: %v", r)
	}
}

// PR #189: the persistent server.uri node, written as Livy writes it.
func TestPR189(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn := rawConn(t, c)
	root := testRoot(t)
	data, err := layout.PR189URIData("http://127.0.0.31:8998")
	if err != nil {
		t.Fatal(err)
	}
	mkNodes(t, conn, [2]string{root, ""}, [2]string{root + "/server.uri", string(data)})
	target := "zk://" + c.ConnectString() + "?layout=pr189&path=" + root + "/server.uri"
	if r := runFind(t, "--target", target, "active"); r.code != 0 || r.stdout != "http://127.0.0.31:8998\n" {
		t.Fatalf("active: %v", r)
	}
	if r := runFind(t, "--target", target, "--format", "hostport", "session", "3"); r.code != 0 || r.stdout != "127.0.0.31:8998\n" {
		t.Fatalf("session 3: %v", r)
	}
	// The next server overwrites the node.
	data, _ = layout.PR189URIData("http://127.0.0.32:8998")
	if _, err := conn.Set(root+"/server.uri", data, -1); err != nil {
		t.Fatal(err)
	}
	if r := runFind(t, "--target", target, "active"); r.code != 0 || r.stdout != "http://127.0.0.32:8998\n" {
		t.Fatalf("active after the overwrite: %v", r)
	}
	// The default path (/livy/server.uri) under a chroot, through --layout.
	mkNodes(t, conn, [2]string{root + "/livy", ""}, [2]string{root + "/livy/server.uri", string(data)})
	if r := runFind(t, "--zk", c.ConnectString()+root, "--layout", "pr189", "active"); r.code != 0 || r.stdout != "http://127.0.0.32:8998\n" {
		t.Fatalf("--layout pr189 through a chroot: %v", r)
	}
	// A missing node: nothing found, the message names it.
	if r := runFind(t, "--target", target+"x", "active"); r.code != 1 || !strings.Contains(r.stderr, root+"/server.urix does not exist") {
		t.Fatalf("missing node: %v", r)
	}
}

// PR #276: ephemeral service nodes, one per server, written as Livy's
// ZKClusterManager does; every server serves.
func TestPR276(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn := rawConn(t, c)
	root := testRoot(t)
	dir := root + "/zk/services"
	mkNodes(t, conn, [2]string{root, ""}, [2]string{root + "/zk", ""}, [2]string{dir, ""})
	var sessions []*zk.Conn
	for i, host := range []string{"127.0.0.41", "127.0.0.42"} {
		s := layout.PR276Service{Host: host, Port: 8998, UUID: []string{"3d7e0a5e-8c1b-4d5c-9a53-0c2a6f1d2b11", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}[i]}
		name, err := layout.PR276NodeName(s)
		if err != nil {
			t.Fatal(err)
		}
		data, err := layout.PR276ServiceData(s)
		if err != nil {
			t.Fatal(err)
		}
		sc := rawConn(t, c)
		if _, err := sc.Create(dir+"/"+name, data, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, sc)
	}
	target := "zk://" + c.ConnectString() + "?layout=pr276&path=" + dir
	r := runFind(t, "--target", target, "servers")
	if r.code != 0 || r.stdout != "http://127.0.0.41:8998\nhttp://127.0.0.42:8998\n" {
		t.Fatalf("servers: %v", r)
	}
	// Active-active: any live server, for batches too.
	for _, args := range [][]string{{"active"}, {"batch", "12345"}, {"session", "12345"}} {
		r := runFind(t, append([]string{"--target", target}, args...)...)
		if r.code != 0 || (r.stdout != "http://127.0.0.41:8998\n" && r.stdout != "http://127.0.0.42:8998\n") {
			t.Fatalf("%q: %v", args, r)
		}
	}
	sessions[0].Close() // the server's session ends
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := runFind(t, "--target", target, "servers")
		if r.code == 0 && r.stdout == "http://127.0.0.42:8998\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers after a session ended: %v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A HiveServer2/Kyuubi namespace in zooKeeper mode: serverUri= nodes as
// HiveServer2 writes them; thrift and jdbc-url print the first
// registration's endpoint; active has no REST URL to print.
func TestHiveNamespace(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn := rawConn(t, c)
	ns := strings.TrimPrefix(testRoot(t), "/")
	mkNodes(t, conn,
		[2]string{"/" + ns, ""},
		[2]string{"/" + ns + "/serverUri=127.0.0.51:10001;version=3.1.3;sequence=0000000001",
			"hive.server2.thrift.bind.host=127.0.0.51;hive.server2.instance.uri=127.0.0.51:10001;hive.server2.transport.mode=binary;" +
				"hive.server2.thrift.port=10001;hive.server2.authentication=NONE;hive.server2.use.SSL=false"},
		[2]string{"/" + ns + "/serverUri=127.0.0.52:10001;version=3.1.3;sequence=0000000002",
			"hive.server2.thrift.bind.host=127.0.0.52;hive.server2.transport.mode=binary;hive.server2.thrift.port=10001;hive.server2.authentication=NONE"},
		// An http-mode HiveServer2 in a namespace of its own.
		[2]string{"/" + ns + "-http", ""},
		[2]string{"/" + ns + "-http/serverUri=127.0.0.53:10001;version=3.1.3;sequence=0000000007",
			"hive.server2.thrift.bind.host=127.0.0.53;hive.server2.transport.mode=http;hive.server2.thrift.http.port=10002;" +
				"hive.server2.thrift.http.path=hs2http;hive.server2.thrift.port=10001;hive.server2.authentication=NOSASL"},
	)
	target := "zk://" + c.ConnectString() + "?layout=hive&namespace=" + ns
	if r := runFind(t, "thrift", "--target", target); r.code != 0 || r.stdout != "127.0.0.51:10001\n" || r.stderr != "" {
		t.Fatalf("thrift: %v", r)
	}
	if r := runFind(t, "jdbc-url", "--target", target); r.code != 0 || r.stdout != "jdbc:hive2://127.0.0.51:10001/default\n" {
		t.Fatalf("jdbc-url: %v", r)
	}
	// The shorthand builds the same target.
	if r := runFind(t, "thrift", "--zk", c.ConnectString(), "--hive-namespace", ns); r.code != 0 || r.stdout != "127.0.0.51:10001\n" {
		t.Fatalf("thrift --hive-namespace: %v", r)
	}
	r := runFind(t, "jdbc-url", "--zk", c.ConnectString(), "--hive-namespace", ns+"-http", "--format", "json")
	var obj map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil || r.code != 0 {
		t.Fatalf("jdbc-url --format json (http): %v %v", r, err)
	}
	want := map[string]any{"name": "serverUri=127.0.0.53:10001;version=3.1.3;sequence=0000000007", "id": -1.0,
		"thrift": "127.0.0.53:10002", "transport": "http", "http_path": "hs2http", "auth": "NOSASL",
		"jdbc_url": "jdbc:hive2://127.0.0.53:10002/default;transportMode=http;httpPath=hs2http;auth=noSasl", "leader": false}
	if fmt.Sprint(obj) != fmt.Sprint(want) {
		t.Fatalf("json %v\nwant %v", obj, want)
	}
	// Every server is a Hive registration: no REST URL to print.
	for _, args := range [][]string{{"active"}, {"active", "--format", "json"}, {"session", "1"}, {"batch", "1"}} {
		r := runFind(t, append([]string{"--target", target}, args...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "has no REST URL") || !strings.Contains(r.stderr, "use livy-find thrift") ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%q on a Hive target: %v", args, r)
		}
	}
	if r := runFind(t, "--target", target, "servers"); r.code != 1 || !strings.Contains(r.stderr, "--format hostport") {
		t.Errorf("servers (url) on a Hive target: %v", r)
	}
	if r := runFind(t, "--target", target, "--format", "hostport", "servers"); r.code != 0 || r.stdout != "127.0.0.51:10001\n127.0.0.52:10001\n" {
		t.Errorf("servers --format hostport on a Hive target: %v", r)
	}
	if r := runFind(t, "--target", target, "watch"); r.code != 1 || !strings.Contains(r.stderr, "has no REST URL") {
		t.Errorf("watch on a Hive target: %v", r)
	}
}

// HiveServer2 zooKeeperHA mode: the active instance is the leader.
func TestHiveHANamespace(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn := rawConn(t, c)
	chroot := testRoot(t)
	active, err := os.ReadFile("../../discovery/layout/testdata/hs2-active-record.json")
	if err != nil {
		t.Fatal(err)
	}
	passive, err := layout.HiveServiceRecordData(layout.HiveInstance{Host: "hs2-2.example", Port: 10000, TransportMode: "binary", Auth: "NONE",
		Settings: map[string]string{"registry.unique.id": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	base := chroot + "/hs2ActivePassiveHA-unsecure"
	mkNodes(t, conn, [2]string{chroot, ""}, [2]string{base, ""}, [2]string{base + "/instances", ""},
		[2]string{base + "/instances/instance-0000000001", string(passive)},
		[2]string{base + "/instances/instance-0000000002", string(active)})
	if r := runFind(t, "--zk", c.ConnectString()+chroot, "--layout", "hive-ha", "thrift"); r.code != 0 || r.stdout != "hs2-1.example:10000\n" {
		t.Fatalf("thrift (hive-ha): %v", r)
	}
	if r := runFind(t, "--zk", c.ConnectString()+chroot, "--layout", "hive-ha", "jdbc-url"); r.code != 0 || r.stdout != "jdbc:hive2://hs2-1.example:10000/default\n" {
		t.Fatalf("jdbc-url (hive-ha): %v", r)
	}
}

// A static list: one server answers 307 with Livy's standby body, naming
// the other, which answers GET /version.
func TestStaticEndpoints(t *testing.T) {
	t.Parallel()
	active := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"version":"0.8.0-incubating"}`)
	}))
	defer active.Close()
	passive := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loc := active.URL + r.URL.RequestURI()
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = fmt.Fprintf(w, "This is a standby Livy Instance. The redirect url is: %s\n", loc)
	}))
	defer passive.Close()

	// The passive is listed first; entries with and without a scheme.
	list := passive.URL + "," + strings.TrimPrefix(active.URL, "http://")
	r := runFind(t, "--endpoints", list, "--timeout", "10s", "active")
	if r.code != 0 || r.stdout != active.URL+"\n" {
		t.Fatalf("active --endpoints: %v", r)
	}
	r = runFind(t, "--endpoints", list, "--format", "json", "servers")
	var objs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &objs); err != nil || r.code != 0 || len(objs) != 2 {
		t.Fatalf("servers --format json: %v %v", r, err)
	}
	if objs[0]["url"] != active.URL || objs[0]["leader"] != true || objs[0]["id"] != -1.0 || objs[1]["url"] != passive.URL {
		t.Fatalf("servers: %v", objs)
	}
	// Nothing answers: exit 3 or 1, one line, within the timeout.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	start := time.Now()
	r = runFind(t, "--endpoints", deadURL, "--timeout", "2s", "active")
	if (r.code != 1 && r.code != 3) || strings.Count(r.stderr, "\n") != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("a dead static list: %v", r)
	}
	t.Logf("a dead static list: %v after %v", r, time.Since(start).Round(time.Millisecond))
	// probe needs ZooKeeper.
	if r := runFind(t, "--endpoints", list, "probe"); r.code != 2 || !strings.Contains(r.stderr, "has no ZooKeeper") {
		t.Fatalf("probe of a static list: %v", r)
	}
}

// probe on a chroot holding one cluster of each kind lists each with the
// target that reads it, and those targets work; a wrong root says where
// it looked and what to use instead.
func TestProbe(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn := rawConn(t, c)
	chroot := testRoot(t)
	pr189, _ := layout.PR189URIData("http://127.0.0.31:8998")
	svc, _ := layout.PR276ServiceData(layout.PR276Service{Host: "127.0.0.41", Port: 8998, UUID: "3d7e0a5e-8c1b-4d5c-9a53-0c2a6f1d2b11"})
	ch := chroot
	mkNodes(t, conn,
		[2]string{ch, ""},
		[2]string{ch + "/livy_ha", ""}, [2]string{ch + "/livy_ha/leader", ""}, [2]string{ch + "/livy_ha/leader/_c_1b6d-latch-0000000000", "livy1"},
		[2]string{ch + "/livy", ""}, [2]string{ch + "/livy/server.uri", string(pr189)},
		[2]string{ch + "/livy/zk", ""}, [2]string{ch + "/livy/zk/services", ""}, [2]string{ch + "/livy/zk/services/127.0.0.41:8998", string(svc)},
		[2]string{ch + "/hiveserver2", ""}, [2]string{ch + "/hiveserver2/serverUri=127.0.0.61:10000;version=3;sequence=0000000001", "127.0.0.61:10000"},
	)
	connect := c.ConnectString() + chroot
	register(t, connect, "/apps/livy", 1, true)

	r := runFind(t, "--zk", connect, "probe")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("probe: %v", r)
	}
	t.Logf("probe:\n%s", r.stdout)
	wantTargets := map[string]string{
		"canonical": "zk://" + connect + "?root=/apps/livy",
		"pr212":     "zk://" + connect + "?layout=pr212&namespace=livy_ha&conf=/etc/livy/conf/livy.conf",
		"pr189":     "zk://" + connect + "?layout=pr189&path=/livy/server.uri",
		"pr276":     "zk://" + connect + "?layout=pr276&path=/livy/zk/services",
		"hive":      "zk://" + connect + "?layout=hive&namespace=hiveserver2",
	}
	wantPaths := map[string]string{"canonical": "/apps/livy", "pr212": "/livy_ha/leader", "pr189": "/livy/server.uri",
		"pr276": "/livy/zk/services", "hive": "/hiveserver2"}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2*len(wantTargets) {
		t.Fatalf("probe printed %d lines, want %d:\n%s", len(lines), 2*len(wantTargets), r.stdout)
	}
	seen := map[string]bool{}
	for i := 0; i < len(lines); i += 2 {
		head, tgt := lines[i], lines[i+1]
		f := strings.SplitN(head, " ", 3)
		if len(f) != 3 || !strings.HasPrefix(tgt, "  ") {
			t.Fatalf("probe lines %q, %q: want \"<layout> <path> <detail>\" and \"  <target>\"", head, tgt)
		}
		l := f[0]
		seen[l] = true
		if f[1] != wantPaths[l] || strings.TrimPrefix(tgt, "  ") != wantTargets[l] {
			t.Errorf("probe: %q / %q; want path %q and target %q", head, tgt, wantPaths[l], wantTargets[l])
		}
	}
	if len(seen) != len(wantTargets) {
		t.Errorf("probe found %v, want %v", seen, wantTargets)
	}
	// Each target probe printed reads its cluster.
	for l, args := range map[string][]string{
		"canonical": {"active"}, "pr189": {"active"}, "pr276": {"active"}, "hive": {"thrift"},
	} {
		r := runFind(t, append([]string{"--target", wantTargets[l]}, args...)...)
		if r.code != 0 || r.stdout == "" {
			t.Errorf("%s target from probe, %q: %v", l, args, r)
		}
	}
	// JSON: an array of objects with exactly the documented keys.
	r = runFind(t, "--zk", connect, "--format", "json", "probe")
	var objs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &objs); err != nil || r.code != 0 || len(objs) != len(wantTargets) {
		t.Fatalf("probe --format json: %v %v", r, err)
	}
	for _, o := range objs {
		if got := jsonKeys(t, o); !slices.Equal(got, []string{"detail", "layout", "path", "target"}) {
			t.Errorf("probe json keys %v", got)
		}
		if o["target"] != wantTargets[o["layout"].(string)] {
			t.Errorf("probe json %v", o)
		}
	}
	// probe accepts any ZooKeeper target: it reads the target's ZooKeeper.
	if r := runFind(t, "--target", wantTargets["pr189"], "probe"); r.code != 0 || strings.Count(r.stdout, "\n") != 2*len(wantTargets) {
		t.Errorf("probe --target (pr189): %v", r)
	}
	// Nothing there: exit 1.
	mkNodes(t, conn, [2]string{chroot + "-empty", ""})
	if r := runFind(t, "--zk", c.ConnectString()+chroot+"-empty", "probe"); r.code != 1 || r.stdout != "" ||
		!strings.Contains(r.stderr, "no known Livy or Hive layout found in ZooKeeper "+c.ConnectString()+chroot+"-empty") {
		t.Errorf("probe of an empty chroot: %v", r)
	}
	if r := runFind(t, "--zk", c.ConnectString()+chroot+"-empty", "--format", "json", "probe"); r.code != 1 || r.stdout != "[]\n" {
		t.Errorf("probe --format json of an empty chroot: %v", r)
	}
	if r := runFind(t, "--zk", connect, "--format", "hostport", "probe"); r.code != 2 {
		t.Errorf("probe --format hostport: %v", r)
	}

	// The wrong root: exit 1, the message names the path read and the
	// target to use (discovery's diagnostics).
	r = runFind(t, "--zk", connect, "--root", "/nothere", "active")
	if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("wrong root: %v", r)
	}
	for _, part := range []string{"no servers registered under /nothere/servers", "found a livyha layout at /apps/livy",
		"use " + wantTargets["canonical"], "found a PR #276 layout at /livy/zk/services", "use " + wantTargets["pr276"]} {
		if !strings.Contains(r.stderr, part) {
			t.Errorf("wrong root: %q\nwant it to contain %q", r.stderr, part)
		}
	}
	t.Logf("wrong root: %s", strings.TrimSpace(r.stderr))
}

// ZooKeeper denies access: exit 4 at once, not a 10s wait for an outage.
func TestNotAuthorized(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn := rawConn(t, c)
	if err := conn.AddAuth("digest", []byte("u:p")); err != nil {
		t.Fatal(err)
	}
	acl := zk.DigestACL(zk.PermAll, "u", "p")
	for _, sub := range []struct {
		name  string
		nodes []string
	}{
		{"root only", []string{""}},
		{"root, servers and leader", []string{"", "/servers", "/leader"}},
	} {
		t.Run(sub.name, func(t *testing.T) {
			root := testRoot(t)
			for _, n := range sub.nodes {
				if _, err := conn.Create(root+n, nil, 0, acl); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			r := runFind(t, "--zk", c.ConnectString(), "--root", root, "--timeout", "10s", "active")
			took := time.Since(start)
			t.Logf("exit %d after %v: %s", r.code, took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
			if r.code != cli.ExitNotAuthorized || r.stdout != "" || !strings.Contains(r.stderr, "not authenticated") ||
				strings.Count(r.stderr, "\n") != 1 || took > 5*time.Second {
				t.Fatalf("ACL-protected root: %v after %v; want exit 4 at once, saying not authenticated", r, took)
			}
			// With the credentials: readable (and empty), never printed.
			r = runFind(t, "--zk", c.ConnectString(), "--root", root, "--zk-auth", "digest:u:p", "--timeout", "10s", "servers")
			if r.code != cli.ExitNotFound || strings.Contains(r.stderr, "not authenticated") || strings.Contains(r.stderr, "u:p") {
				t.Fatalf("with --zk-auth: %v", r)
			}
		})
	}
}

// session-ha: batches and interactive sessions have their own ownership
// records; batch ID and session ID read the right one.
func TestSessionHABatch(t *testing.T) {
	t.Parallel()
	c := zktest.Shared(t)
	conn := rawConn(t, c)
	zkc, root := c.ConnectString(), testRoot(t)
	register(t, zkc, root, 1, false)
	register(t, zkc, root, 2, false)
	const id = 1_0000005 // server 1's prefix
	p, err := layout.SessionOwnerPath(root, layout.KindBatch, id)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := layout.SessionOwnerDir(root, layout.KindBatch)
	mkNodes(t, conn, [2]string{root + "/" + layout.SessionDir, ""}, [2]string{dir, ""}, [2]string{p, string(layout.SessionOwnerData(2))})

	base := []string{"--zk", zkc, "--root", root, "--mode", "session-ha"}
	if r := runFind(t, append(base, "batch", fmt.Sprint(id))...); r.code != 0 || r.stdout != urlOf(2)+"\n" {
		t.Fatalf("batch %d (record: server 2): %v", id, r)
	}
	if r := runFind(t, append(base, "session", fmt.Sprint(id))...); r.code != 0 || r.stdout != urlOf(1)+"\n" {
		t.Fatalf("session %d (no record: the prefix, server 1): %v", id, r)
	}
	// In multi-active mode the prefix decides for both kinds.
	if r := runFind(t, "--zk", zkc, "--root", root, "--mode", "multi-active", "batch", fmt.Sprint(id)); r.code != 0 || r.stdout != urlOf(1)+"\n" {
		t.Fatalf("batch %d in multi-active mode: %v", id, r)
	}
	// An owner that is not registered: exit 1.
	if r := runFind(t, append(base, "batch", "90000000")...); r.code != 1 || !strings.Contains(r.stderr, "server 9 (owner of session 90000000) is not registered") {
		t.Fatalf("batch of an unregistered owner: %v", r)
	}
	// The target string says the mode as well as --mode.
	if r := runFind(t, "--target", "zk://"+zkc+"?mode=session-ha&root="+root, "batch", fmt.Sprint(id)); r.code != 0 || r.stdout != urlOf(2)+"\n" {
		t.Fatalf("batch with mode=session-ha in the target: %v", r)
	}
}

// docKeys parses the documented JSON key sets: lines such as
//
//	active, session, batch, watch  {"name","id",...}
//
// in text, keyed by command.
func docKeys(t *testing.T, text string) map[string][]string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*(?://\s*)?([a-z-]+(?:, [a-z-]+)*)\s+\[?\s*\{("[a-z_]+"(?:,"[a-z_]+")*)\}`)
	out := map[string][]string{}
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		keys := strings.Split(strings.ReplaceAll(m[2], `"`, ""), ",")
		sort.Strings(keys)
		for _, cmd := range strings.Split(m[1], ", ") {
			out[cmd] = keys
		}
	}
	return out
}

// Each command's JSON has exactly the keys the usage text documents, and
// the package doc documents the same.
func TestJSONKeysAsDocumented(t *testing.T) {
	t.Parallel()
	documented := docKeys(t, usageText)
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	pkgDoc := docKeys(t, string(src[:strings.Index(string(src), "package main")]))
	// servers documents the same objects as active ("[ the same objects ]").
	documented["servers"] = documented["active"]
	pkgDoc["servers"] = pkgDoc["active"]
	cmds := []string{"active", "session", "batch", "watch", "servers", "thrift", "jdbc-url", "probe"}
	for _, cmd := range cmds {
		if len(documented[cmd]) == 0 || !slices.Equal(documented[cmd], pkgDoc[cmd]) {
			t.Errorf("%s: usage text documents %v, package doc %v", cmd, documented[cmd], pkgDoc[cmd])
		}
	}

	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	register(t, zkc, root, 1, true)
	base := []string{"--zk", zkc, "--root", root, "--format", "json"}
	objects := func(cmd string, args ...string) []map[string]any {
		t.Helper()
		var r result
		if cmd == "watch" {
			r = firstWatchLine(t, append(base, "watch")...)
		} else {
			r = runFind(t, append(append(base, cmd), args...)...)
		}
		if r.code != 0 {
			t.Fatalf("%s: %v", cmd, r)
		}
		var objs []map[string]any
		if strings.HasPrefix(r.stdout, "[") {
			if err := json.Unmarshal([]byte(r.stdout), &objs); err != nil {
				t.Fatalf("%s: %v in %q", cmd, err, r.stdout)
			}
			return objs
		}
		var o map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
			t.Fatalf("%s: %v in %q", cmd, err, r.stdout)
		}
		return []map[string]any{o}
	}
	for _, cmd := range cmds {
		var args []string
		if cmd == "session" || cmd == "batch" {
			args = []string{"5"}
		}
		objs := objects(cmd, args...)
		if len(objs) == 0 {
			t.Errorf("%s: no objects", cmd)
		}
		for _, o := range objs {
			if got := jsonKeys(t, o); !slices.Equal(got, documented[cmd]) {
				t.Errorf("%s --format json keys %v, documented %v", cmd, got, documented[cmd])
			}
		}
	}
}

// firstWatchLine runs watch until it prints its first line.
func firstWatchLine(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "\n") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	code := <-done
	return result{code, out.String(), errb.String()}
}

// -h lists every flag and environment variable, and the exit codes.
func TestHelpListsEverything(t *testing.T) {
	t.Parallel()
	r := runFind(t, "-h")
	if r.code != 0 {
		t.Fatal(r)
	}
	o, fs := newFlags()
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(r.stdout, "--"+f.Name+" ") {
			t.Errorf("-h lacks --%s", f.Name)
		}
	})
	for _, e := range o.targets.EnvVars() {
		if !strings.Contains(r.stdout, "env "+e) {
			t.Errorf("-h lacks env %s", e)
		}
	}
	for _, cmd := range []string{"active", "session ID", "batch ID", "thrift", "jdbc-url", "servers", "watch", "probe", "help"} {
		if !strings.Contains(r.stdout, "\n  "+cmd+" ") {
			t.Errorf("-h lacks subcommand %q", cmd)
		}
	}
	if !strings.Contains(r.stdout, cli.ExitCodesHelp) {
		t.Errorf("-h lacks the exit codes")
	}
	// The package doc lists every flag too.
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src[:strings.Index(string(src), "package main")])
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(doc, "//\t--"+f.Name+" ") {
			t.Errorf("package doc lacks --%s", f.Name)
		}
	})
}

// The target variables, and flags over them.
func TestEnvTargets(t *testing.T) {
	c := zktest.Shared(t)
	zkc, root := c.ConnectString(), testRoot(t)
	register(t, zkc, root, 8, true)
	env := map[string]string{"LIVY_TARGET": "zk://" + zkc + "?root=" + root}
	old := getenv
	getenv = func(k string) string { return env[k] }
	defer func() { getenv = old }()
	if r := runFind(t, "active"); r.code != 0 || r.stdout != urlOf(8)+"\n" {
		t.Fatalf("active with $LIVY_TARGET: %v", r)
	}
	// A flag target wins over $LIVY_TARGET.
	if r := runFind(t, "--zk", zkc, "--root", root+"-none", "servers"); r.code != 1 {
		t.Fatalf("--zk over $LIVY_TARGET: %v", r)
	}
	// Two variables that name different targets: a usage error naming both.
	env["LIVY_ZK"] = zkc
	if r := runFind(t, "active"); r.code != 2 || !strings.Contains(r.stderr, "$LIVY_TARGET and $LIVY_ZK are both set") {
		t.Fatalf("$LIVY_TARGET and $LIVY_ZK: %v", r)
	}
}
