package discovery

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/curatortest"
	"github.com/livyha/livyha/internal/zktest"
)

func activeURL(s *Snapshot) string {
	if a, err := s.Active(); err == nil {
		return a.URL
	}
	return ""
}

// PR #212: real Curator LeaderLatch participants with string ids (as
// Livy's CuratorElectorService joins), the hosts only in a livy.conf.
// The resolver follows a kill -9 of the Curator leader; a participant id
// missing from livy.conf gives no leader with the ids named; the same
// cluster is found with ids=/hosts= instead of a livy.conf.
func TestPR212CuratorLatch(t *testing.T) {
	zkc := zktest.Shared(t)
	prefix := strings.TrimPrefix(testRoot(t), "/") + "/livy_ha"
	latch := "/" + prefix + "/leader"
	conf := filepath.Join(t.TempDir(), "livy.conf")
	body := "# a PR #212 livy.conf\n" +
		"livy.server.ha.mode = on\n" +
		"livy.server.ha.zookeeper-url = " + zkc.ConnectString() + "\n" +
		"livy.server.ha.key-prefix " + prefix + "\n" + // Livy's other syntax: key value
		"livy.server.ha.server-ids = livy-a,livy-b\n" +
		"livy.server.ha.server-hostnames = 127.0.0.21, 127.0.0.22\n" +
		"livy.server.port = 8999\n" +
		"livy.server.port = 9000\n" // later lines win
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	a := curatortest.Start(t, zkc.ConnectString(), latch, "livy-a")
	if err := a.Join(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.AwaitLeadership(ctxT(t, 20*time.Second), 10*time.Second); err != nil || !ok {
		t.Fatalf("livy-a did not lead: %v %v", ok, err)
	}
	b := curatortest.Start(t, zkc.ConnectString(), latch, "livy-b")
	if err := b.Join(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}

	r, err := NewResolver("livy-conf://" + conf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := waitFor(t, r, 10*time.Second, "leader livy-a", func(s *Snapshot) bool { return activeURL(s) == "http://127.0.0.21:9000" })
	if len(s.Servers) != 2 || s.Servers[0].Name != "livy-a" || s.Servers[1].URL != "http://127.0.0.22:9000" ||
		!s.IsMember("127.0.0.22:9000") || s.Mode != ActivePassive {
		t.Fatalf("snapshot %+v", s)
	}
	// The same cluster, described in the target.
	r2, err := NewResolver("zk://" + zkc.ConnectString() + "?layout=pr212&namespace=" + prefix +
		"&ids=livy-a,livy-b&hosts=127.0.0.21,127.0.0.22&port=9000")
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	waitFor(t, r2, 10*time.Second, "leader livy-a (ids=)", func(s *Snapshot) bool { return activeURL(s) == "http://127.0.0.21:9000" })

	// kill -9 of the Curator leader: its session expires (5s), livy-b leads.
	start := time.Now()
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 30*time.Second, "leader livy-b", func(s *Snapshot) bool { return activeURL(s) == "http://127.0.0.22:9000" })
	t.Logf("PR #212 failover followed %v after kill -9 of the Curator leader (Curator session 5s)", time.Since(start))
	if got := curatorLeader(t, b); got != "livy-b" {
		t.Fatalf("curator says %q", got)
	}

	// A participant whose id livy.conf does not know, ahead of livy-b.
	b.Close()
	x := curatortest.Start(t, zkc.ConnectString(), latch, "livy-x")
	if err := x.Join(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	s = waitFor(t, r, 30*time.Second, "unknown leader id", func(s *Snapshot) bool { _, ok := s.Leader(); return !ok && s.HasLatch() })
	_, err = s.Active()
	if !errors.Is(err, ErrNoLeader) || !strings.Contains(err.Error(), `"livy-x" is not one of livy.server.ha.server-ids (livy-a, livy-b)`) {
		t.Fatalf("Active = %v", err)
	}
}

// PR #189: the persistent server.uri node, written as Livy writes it (a
// JSON string), overwritten by the next server, watched.
func TestPR189ServerURI(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	node := root + "/server.uri"
	raw := rawConn(t, zkc.ConnectString())
	r, err := NewResolver("zk://" + zkc.ConnectString() + "?layout=pr189&path=" + node)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := waitFor(t, r, 10*time.Second, "a snapshot", func(*Snapshot) bool { return true })
	if _, err := s.Active(); !errors.Is(err, ErrNoServers) || !strings.Contains(err.Error(), node+" does not exist") {
		t.Fatalf("no node: %v", err)
	}
	data, err := layout.PR189URIData("http://127.0.0.31:8998")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `"http://127.0.0.31:8998"` {
		t.Fatalf("PR #189 data %s", data)
	}
	// Curator's create().creatingParentsIfNeeded(): persistent nodes.
	if _, err := raw.Create(root, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Create(node, data, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 10*time.Second, "server 31", func(s *Snapshot) bool { return activeURL(s) == "http://127.0.0.31:8998" })
	// The next server to start overwrites it (setData).
	data, _ = layout.PR189URIData("http://127.0.0.32:8998")
	if _, err := raw.Set(node, data, -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 10*time.Second, "server 32", func(s *Snapshot) bool { return activeURL(s) == "http://127.0.0.32:8998" })
	if _, err := raw.Set(node, []byte("garbage"), -1); err != nil {
		t.Fatal(err)
	}
	s = waitFor(t, r, 10*time.Second, "garbage", func(s *Snapshot) bool { return len(s.Servers) == 0 })
	if len(s.Problems) != 1 || s.Problems[0].Path != node {
		t.Fatalf("problems %v", s.Problems)
	}
}

// PR #276: ephemeral service nodes, one per server, written as Livy's
// ZKClusterManager does (delete any old node, then create EPHEMERAL); every
// server serves; a server's session ending removes it.
func TestPR276Services(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	dir := root + "/zk/services"
	raw := rawConn(t, zkc.ConnectString())
	for _, p := range []string{root, root + "/zk", dir} {
		if _, err := raw.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	servers := map[string]*zk.Conn{}
	for i, host := range []string{"127.0.0.41", "127.0.0.42"} {
		c := rawConn(t, zkc.ConnectString())
		svc := layout.PR276Service{Host: host, Port: 8998, UUID: []string{"3d7e0a5e-8c1b-4d5c-9a53-0c2a6f1d2b11", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}[i]}
		name, err := layout.PR276NodeName(svc)
		if err != nil {
			t.Fatal(err)
		}
		data, err := layout.PR276ServiceData(svc)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Delete(dir+"/"+name, -1)
		if _, err := c.Create(dir+"/"+name, data, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		servers[host] = c
	}
	if _, err := raw.Create(dir+"/127.0.0.43:8998", []byte(`{"host":"127.0.0.43"}`), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver("zk://" + zkc.ConnectString() + "?layout=pr276&path=" + dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := waitFor(t, r, 10*time.Second, "2 services", func(s *Snapshot) bool { return len(s.Servers) == 2 })
	if s.Mode != ActiveActive || len(s.Problems) != 1 || s.Servers[0].URL != "http://127.0.0.41:8998" {
		t.Fatalf("snapshot %+v problems %v", s.Servers, s.Problems)
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		a, err := s.Active()
		if err != nil {
			t.Fatal(err)
		}
		seen[a.URL] = true
		if o, err := s.Owner(Batch, 12345); err != nil || o.URL == "" {
			t.Fatalf("owner in active-active: %+v %v", o, err)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("Active in active-active picked only %v", seen)
	}
	servers["127.0.0.41"].Close() // the server's session ends
	waitFor(t, r, 10*time.Second, "1 service", func(s *Snapshot) bool {
		return len(s.Servers) == 1 && s.Servers[0].URL == "http://127.0.0.42:8998"
	})
}

// JoinPR212Latch plays a PR #212 server: string participant ids in a
// Curator latch, no records. A real Curator participant agrees on the
// leader; Abandon (a crash, or PR #212's SIGTERM) keeps the latch node
// until the session expires, then the next participant leads.
func TestJoinPR212Latch(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	prefix := strings.TrimPrefix(testRoot(t), "/") + "/livy_ha"
	opts := []RegistrarOption{WithSessionTimeout(2 * time.Second)}
	a, err := JoinPR212Latch(ctxT(t, 20*time.Second), zkc.ConnectString(), prefix, "livy-a", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := JoinPR212Latch(ctxT(t, 20*time.Second), zkc.ConnectString(), prefix, "livy-b", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("leaders: a=%v b=%v", a.IsLeader(), b.IsLeader())
	}
	cur := curatortest.Start(t, zkc.ConnectString(), "/"+prefix+"/leader", "livy-c")
	if got := curatorLeader(t, cur); got != "livy-a" {
		t.Fatalf("Curator sees leader %q", got)
	}
	r, err := NewResolver("zk://" + zkc.ConnectString() + "?layout=pr212&namespace=" + prefix + "&ids=livy-a,livy-b&hosts=127.0.0.21,127.0.0.22")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitFor(t, r, 10*time.Second, "leader livy-a", func(s *Snapshot) bool { return activeURL(s) == "http://127.0.0.21:8998" })
	raw := rawConn(t, zkc.ConnectString())
	if ok, _, err := raw.Exists("/" + prefix + "/servers"); err != nil || ok {
		t.Fatalf("a PR #212 participant wrote records: %v %v", ok, err)
	}
	start := time.Now()
	a.Abandon()
	waitFor(t, r, 20*time.Second, "leader livy-b", func(s *Snapshot) bool { return activeURL(s) == "http://127.0.0.22:8998" })
	if d := time.Since(start); d < time.Second {
		t.Fatalf("the abandoned latch went after %v: Abandon released it", d)
	}
	t.Logf("leader moved %v after Abandon (2s session)", time.Since(start).Round(time.Millisecond))
	// b learns of it through its own watch, which may come after the
	// resolver's.
	waitUntil(t, 10*time.Second, "b knows it leads", b.IsLeader)
}
