package thrift_test

import (
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/thrift"
	"github.com/livyha/livyha/thrift/hs2test"
)

// A HiveServer2 zooKeeperHA namespace served by hs2test servers: the
// ServiceRecords are written as HS2ActivePassiveHARegistry writes them,
// the passive refuses connections, and a locator over the hive-ha target
// lands on the active; when the records swap (a failover), it follows.
func TestHiveHANamespaceServedByHS2Test(t *testing.T) {
	zkc := zktest.Shared(t)
	chroot := testRoot(t)
	raw, _, err := zk.Connect([]string{zkc.ConnectString()}, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	dir := chroot + "/hs2ActivePassiveHA-unsecure/instances"
	for _, p := range []string{chroot, chroot + "/hs2ActivePassiveHA-unsecure", dir} {
		if _, err := raw.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	var activeName atomic.Value
	activeName.Store("hs2-1")
	var servers []*hs2test.Server
	for i := 1; i <= 2; i++ {
		name := fmt.Sprintf("hs2-%d", i)
		servers = append(servers, hs2test.NewServer(t, hs2test.Config{Auth: hs2test.AuthNoSASL, Refusal: hs2test.RefuseClose, Name: name,
			Active: func() bool { return activeName.Load() == name }}))
	}
	record := func(i int, active bool) []byte {
		host, port, _ := net.SplitHostPort(servers[i].Addr())
		p, _ := strconv.Atoi(port)
		data, err := layout.HiveServiceRecordData(layout.HiveInstance{Host: host, Port: p, TransportMode: "binary", Auth: "NOSASL",
			Active: active, Settings: map[string]string{"registry.unique.id": strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	p1, err := raw.Create(dir+"/instance-", record(0, true), zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := raw.Create(dir+"/instance-", record(1, false), zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	src, r, err := thrift.TargetSource("zk://" + zkc.ConnectString() + chroot + "?layout=hive-ha")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	loc := thrift.NewLocator(src)
	connect := func(want string) {
		t.Helper()
		conn, err := thrift.ConnectHive(ctxT(t, 10*time.Second), loc, "NOSASL", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := serverName(t, conn); got != want {
			t.Fatalf("landed on %s, want %s", got, want)
		}
	}
	connect("hs2-1")
	// Failover: hs2-2 becomes active and the records say so.
	activeName.Store("hs2-2")
	if _, err := raw.Set(p1, record(0, false), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Set(p2, record(1, true), -1); err != nil {
		t.Fatal(err)
	}
	for s := range r.Subscribe(ctxT(t, 10*time.Second)) {
		if ld, ok := s.Leader(); ok && ld.Thrift == servers[1].Addr() {
			break
		}
	}
	connect("hs2-2")
}
