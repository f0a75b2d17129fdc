package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
)

// waitChildren waits, by following a ChildrenW watch (and an ExistsW watch
// while dir is missing), until cond holds for dir's children.
func waitChildren(t testing.TB, raw *zk.Conn, dir string, d time.Duration, what string, cond func([]string) bool) []string {
	t.Helper()
	ctx := ctxT(t, d)
	var last []string
	for {
		kids, _, w, err := raw.ChildrenW(dir)
		if errors.Is(err, zk.ErrNoNode) {
			ok, _, ew, err := raw.ExistsW(dir)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				continue
			}
			if cond(nil) {
				return nil
			}
			select {
			case <-ew:
				continue
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s; %s does not exist", what, dir)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		last = kids
		if cond(kids) {
			return kids
		}
		select {
		case <-w:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; children of %s: %q", what, dir, last)
		}
	}
}

// hiveChildren keeps the serverUri= children.
func hiveChildren(kids []string) []string {
	var out []string
	for _, k := range kids {
		if strings.HasPrefix(k, "serverUri=") {
			out = append(out, k)
		}
	}
	return out
}

// onlyHiveRecordOf reports whether the only serverUri= child is the one of
// the registrar with id (whose Thrift port is 30000+id, see register).
func onlyHiveRecordOf(id int) func([]string) bool {
	prefix := fmt.Sprintf("serverUri=127.0.0.1:%d;", 30000+id)
	return func(kids []string) bool {
		h := hiveChildren(kids)
		return len(h) == 1 && strings.HasPrefix(h[0], prefix)
	}
}

// hiveView is what a hive-layout resolver's first snapshot shows.
type hiveView struct {
	Path      string
	Instances []hiveInst
	Problems  []Problem
}

type hiveInst struct {
	HostPort, TransportMode, Auth, Version, Node string
	Sequence                                     int64
	Active                                       bool
}

// readHive reads a Hive namespace through a resolver for
// zk://connect?params (layout=hive unless params say otherwise).
func readHive(t testing.TB, connect string, params string) hiveView {
	t.Helper()
	if !strings.Contains(params, "layout=") {
		params = "layout=hive&" + params
	}
	r, err := NewResolver("zk://" + connect + "?" + strings.TrimSuffix(params, "&"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap, err := r.Wait(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatalf("hive resolver: %v", err)
	}
	v := hiveView{Problems: snap.Problems}
	if i := strings.Index(snap.Source, "namespace "); i >= 0 {
		v.Path = strings.TrimSuffix(snap.Source[i+len("namespace "):], ")")
	}
	for _, s := range snap.Servers {
		v.Instances = append(v.Instances, hiveInst{HostPort: s.HostPort, TransportMode: s.ThriftTransport, Auth: s.ThriftAuth,
			Version: s.Version, Node: s.Node, Sequence: s.Sequence, Active: s.Leader})
	}
	return v
}

func TestHiveRecordFollowsLeader(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	ns := "hs2" + root[1:] // a Hive namespace of this test's own
	dir := "/" + ns
	hive := WithHiveRecord(ns, HiveRecord{Version: "0.9.0"})
	raw := rawConn(t, zkc.ConnectString())

	a := register(t, zkc.ConnectString(), root, 1, true, hive)
	b := register(t, zkc.ConnectString(), root, 2, true, hive)
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("leaders: a=%v b=%v", a.IsLeader(), b.IsLeader())
	}
	// Register returns once the record is in place: no waiting needed.
	kids, _, err := raw.Children(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !onlyHiveRecordOf(1)(kids) || len(kids) != 1 || dir+"/"+kids[0] != a.HiveRecordPath() || b.HiveRecordPath() != "" {
		t.Fatalf("children of %s: %q (a: %q, b: %q)", dir, kids, a.HiveRecordPath(), b.HiveRecordPath())
	}
	if got := gohiveNames(kids); !slices.Equal(got, []string{"127.0.0.1:30001"}) {
		t.Fatalf("gohive would see %q", got)
	}
	data, _, err := raw.Get(dir + "/" + kids[0])
	if err != nil {
		t.Fatal(err)
	}
	want := "hive.server2.thrift.bind.host=127.0.0.1;hive.server2.instance.uri=127.0.0.1:30001;hive.server2.transport.mode=binary;" +
		"hive.server2.thrift.port=30001;hive.server2.authentication=NONE;hive.server2.use.SSL=false"
	if string(data) != want || !strings.Contains(kids[0], ";version=0.9.0;sequence=") {
		t.Fatalf("hive record %s = %s\nwant %s", kids[0], data, want)
	}
	v := readHive(t, zkc.ConnectString(), "namespace="+ns)
	if len(v.Instances) != 1 || v.Instances[0].HostPort != "127.0.0.1:30001" || v.Instances[0].TransportMode != "binary" ||
		v.Instances[0].Auth != "NONE" || v.Instances[0].Version != "0.9.0" || len(v.Problems) != 0 || v.Path != dir {
		t.Fatalf("the hive source = %+v", v)
	}

	// Graceful stop of the leader: its Hive record goes with its latch
	// node, and the new leader publishes its own.
	start := time.Now()
	a.Close()
	waitChildren(t, raw, dir, 10*time.Second, "b's hive record", onlyHiveRecordOf(2))
	t.Logf("hive record switched %v after the leader's Close", time.Since(start))
	// The node can be seen before b's Create call has returned to it.
	waitUntil(t, 5*time.Second, "b leads and knows its hive record", func() bool { return b.IsLeader() && b.HiveRecordPath() != "" })

	// Garbage in the namespace is skipped by the hive source, the rest ignored.
	mk := func(p, data string) {
		t.Helper()
		if _, err := raw.Create(p, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	mk(dir+"/leader", "")                                                                    // a Hive leader latch directory: ignored
	mk(dir+"/serverUri=x:1;version=1;sequence=0000000001", "\x00\xffgarbage")                // bad data
	mk(dir+"/serverUri=%%;sequence=zz", "hive.server2.thrift.port=1")                        // bad name
	mk(dir+"/serverUri=y:2;version=1;sequence=0000000002", "hive.server2.thrift.port=65536") // bad port
	mk(dir+"/serverUri=old:3;version=0.13;sequence=0000000003", "old.example:10000")         // an old HiveServer2: usable
	v = readHive(t, zkc.ConnectString(), "namespace="+ns)
	hps := []string{}
	for _, in := range v.Instances {
		hps = append(hps, in.HostPort)
	}
	slices.Sort(hps)
	if !slices.Equal(hps, []string{"127.0.0.1:30002", "old.example:10000"}) || len(v.Problems) != 3 ||
		v.Instances[0].Sequence > v.Instances[1].Sequence {
		t.Fatalf("the hive source with garbage = %+v", v)
	}
	b.Close()
	waitChildren(t, raw, dir, 10*time.Second, "no hive record of ours", func(kids []string) bool {
		return !slices.ContainsFunc(kids, func(k string) bool { return strings.HasPrefix(k, "serverUri=127.0.0.1:") })
	})
}

// A leader partitioned from ZooKeeper: a short cut (within the session)
// keeps its Hive record; a long one (session expiry) hands it to the new
// leader. A leader that loses leadership within its session (its latch
// node deleted) withdraws its record. Under LeadOnConnection, which gives
// leadership up at each cut (registrar_lease_test.go has LeadWhileSession).
func TestHiveRecordPartitionedLeader(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	ns := "hs2" + root[1:]
	dir := "/" + ns
	hive := WithHiveRecord(ns, HiveRecord{})
	raw := rawConn(t, zkc.ConnectString())
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	changes := make(chan bool, 16)
	next := func(what string) bool {
		t.Helper()
		select {
		case v := <-changes:
			return v
		case <-ctxT(t, 15*time.Second).Done():
			t.Fatalf("no leadership change: %s", what)
		}
		return false
	}
	a := register(t, proxy.Addr(), root, 1, true, hive, WithSessionTimeout(3*time.Second),
		WithLeadershipHandler(func(v bool) { changes <- v }), WithLeadershipPolicy(LeadOnConnection))
	if !next("a leads") {
		t.Fatal("a's first change is a loss")
	}
	b := register(t, zkc.ConnectString(), root, 2, true, hive)
	first := a.HiveRecordPath()
	waitChildren(t, raw, dir, 5*time.Second, "a's record", onlyHiveRecordOf(1))

	// Short cut: leadership goes at once and comes back in the same
	// session; the record stays the same node.
	proxy.Block()
	if next("a notices the cut") {
		t.Fatal("a still leads while cut off")
	}
	proxy.Unblock()
	if !next("a leads again") {
		t.Fatal("a did not take leadership back")
	}
	if a.HiveRecordPath() != first {
		t.Fatalf("a's record changed from %q to %q across a short cut", first, a.HiveRecordPath())
	}
	if ok, _, err := raw.Exists(first); err != nil || !ok {
		t.Fatalf("a's record after a short cut: %v %v", ok, err)
	}

	// Long cut: ZooKeeper expires a's session, which removes a's record
	// with its latch node; b leads and publishes its own.
	start := time.Now()
	proxy.Block()
	if next("a notices the long cut") {
		t.Fatal("a still leads while cut off")
	}
	waitChildren(t, raw, dir, 15*time.Second, "b's record after a's session expired", onlyHiveRecordOf(2))
	t.Logf("hive record switched %v after the partition began (session timeout 3s)", time.Since(start))
	v := readHive(t, zkc.ConnectString(), "namespace="+ns)
	if len(v.Instances) != 1 || v.Instances[0].HostPort != "127.0.0.1:30002" {
		t.Fatalf("the hive source = %+v", v)
	}
	proxy.Unblock()
	// a comes back with a new session, as a passive: no Hive record.
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 15*time.Second, "a re-registered behind b", func(s *Snapshot) bool { return leaderID(s) == 2 && len(s.Servers) == 2 })
	kids, _, err := raw.Children(dir)
	if err != nil || !onlyHiveRecordOf(2)(kids) || a.HiveRecordPath() != "" || a.IsLeader() {
		t.Fatalf("after a rejoined: %q %v (a: %q leader=%v)", kids, err, a.HiveRecordPath(), a.IsLeader())
	}

	// b loses leadership within its session: someone deletes its latch
	// node, b re-joins behind a, a leads; b withdraws its record and a
	// publishes one.
	latch, _, err := raw.Children(root + "/leader")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range latch {
		if d, _, err := raw.Get(root + "/leader/" + k); err == nil && string(d) == "2" {
			if err := raw.Delete(root+"/leader/"+k, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitChildren(t, raw, dir, 10*time.Second, "a's record after b lost its latch node", onlyHiveRecordOf(1))
	if !next("a leads after b's latch node went") {
		t.Fatal("a did not lead")
	}
	// b forgets its record once its delete is answered, which may come
	// after ZooKeeper (and so this test) already shows the node gone.
	waitUntil(t, 10*time.Second, "b neither leading nor holding a record", func() bool {
		return !b.IsLeader() && b.HiveRecordPath() == ""
	})
}

func TestHiveRecordOptions(t *testing.T) {
	rec := ServerRecord{ID: 1, URL: "http://127.0.0.1:1", Thrift: "127.0.0.1:2"}
	ctx := ctxT(t, time.Second)
	if _, err := Register(ctx, "127.0.0.1:1", rec, WithHiveRecord("", HiveRecord{})); !errors.Is(err, ErrBadOption) {
		t.Fatalf("without election: %v", err)
	}
	if _, err := Register(ctx, "127.0.0.1:1", ServerRecord{ID: 1, URL: "http://h:1"}, WithElection(true), WithHiveRecord("", HiveRecord{})); !errors.Is(err, ErrBadOption) {
		t.Fatalf("without thrift endpoint: %v", err)
	}
	if _, err := Register(ctx, "127.0.0.1:1", rec, WithElection(true), WithHiveRecord("a//b", HiveRecord{})); !errors.Is(err, ErrBadOption) {
		t.Fatalf("bad namespace: %v", err)
	}
	if _, err := NewResolver("zk://127.0.0.1:1?layout=hive&namespace=/"); !errors.Is(err, ErrBadOption) {
		t.Fatalf("root namespace: %v", err)
	}
	if _, err := NewResolver("zk://127.0.0.1:1?layout=hive7"); !errors.Is(err, ErrBadTarget) {
		t.Fatalf("bad mode: %v", err)
	}
}

// zooKeeperHA mode: ServiceRecords as HS2ActivePassiveHARegistry writes
// them, read through a chroot, active first, garbage skipped.
func TestHiveHASource(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	chroot := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	base := chroot + "/hs2ActivePassiveHA-unsecure"
	for _, p := range []string{chroot, base, base + "/instances", base + "/_LEADER"} {
		if _, err := raw.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	passive, err := layout.HiveServiceRecordData(HiveInstance{Host: "hs2-2.example", Port: 10000, TransportMode: "binary", Auth: "NONE",
		Settings: map[string]string{"registry.unique.id": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"instance-0000000001": string(passive),
		"instance-0000000002": activeRecord,
		"instance-0000000003": `{"type":"JSONServiceRecord","internal":[]}`, // neither active nor passive
		"instance-0000000004": "\x00garbage",
		"not-an-instance":     "ignored",
	} {
		if _, err := raw.Create(base+"/instances/"+name, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	v := readHive(t, zkc.ConnectString()+chroot, "layout=hive-ha")
	if len(v.Instances) != 2 || !v.Instances[0].Active || v.Instances[0].HostPort != "hs2-1.example:10000" ||
		v.Instances[0].Sequence != 2 || v.Instances[0].Node != "instance-0000000002" ||
		v.Instances[1].Active || v.Instances[1].HostPort != "hs2-2.example:10000" || len(v.Problems) != 2 ||
		v.Path != "/hs2ActivePassiveHA-unsecure/instances" {
		t.Fatalf("the hive source HA = %+v", v)
	}
	// The -sasl namespace is another one (absent here): an empty view.
	v = readHive(t, zkc.ConnectString()+chroot, "layout=hive-ha&sasl=true")
	if len(v.Instances) != 0 || len(v.Problems) != 0 || v.Path != "/hs2ActivePassiveHA-sasl/instances" {
		t.Fatalf("the hive source HA sasl = %+v", v)
	}
}

// A hive resolver's Wait never outlives its context: not with ZooKeeper
// down, not with a partition that sends no resets; a missing namespace is
// an empty snapshot, not an error.
func TestHiveSourceUnavailable(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	wait := func(target string) error {
		r, err := NewResolver(target, WithSessionTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		start := time.Now()
		_, err = r.Wait(ctxT(t, 300*time.Millisecond))
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Fatalf("Wait(%s) took %v", target, d)
		}
		return err
	}
	if err := wait("zk://127.0.0.1:1?layout=hive"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hive source with ZooKeeper down = %v", err)
	}
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	proxy.Stall()
	if err := wait("zk://" + proxy.Addr() + "?layout=hive"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hive source through a stalled link = %v", err)
	}
	if v := readHive(t, zkc.ConnectString(), "namespace=no-such-namespace-"+fmt.Sprint(time.Now().UnixNano())); len(v.Instances) != 0 {
		t.Fatalf("missing namespace: %+v", v)
	}
}

// gohiveNames emulates gohive v1's parseHiveServer2Info: it reads only the
// node names, "serverUri=<host>:<port>;..." with exactly one ':' in
// host:port.
func gohiveNames(kids []string) []string {
	var out []string
	for _, k := range kids {
		i := strings.IndexByte(k, ';')
		if i <= 0 {
			continue
		}
		parts := strings.Split(k[:i], "=")
		if len(parts) != 2 || parts[0] != "serverUri" || len(strings.Split(parts[1], ":")) != 2 {
			continue
		}
		out = append(out, parts[1])
	}
	return out
}
