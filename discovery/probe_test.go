package discovery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
)

// mkTree creates nodes (parents first) with data.
func mkTree(t testing.TB, raw *zk.Conn, nodes [][2]string) {
	t.Helper()
	for _, n := range nodes {
		if _, err := raw.Create(n[0], []byte(n[1]), 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatalf("create %s: %v", n[0], err)
		}
	}
}

// A chroot holding one cluster of every kind: Probe names each with the
// target that reads it, and a resolver pointed at the wrong root or mode
// says what it read and what else is there.
func TestProbeAndDiagnostics(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	chroot := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	pr189, _ := layout.PR189URIData("http://127.0.0.31:8998")
	svc, _ := layout.PR276ServiceData(layout.PR276Service{Host: "127.0.0.41", Port: 8998, UUID: "3d7e0a5e-8c1b-4d5c-9a53-0c2a6f1d2b11"})
	c := chroot
	mkTree(t, raw, [][2]string{
		{c, ""},
		{c + "/livy_ha", ""}, {c + "/livy_ha/leader", ""}, {c + "/livy_ha/leader/_c_1b6d-latch-0000000000", "livy1"},
		{c + "/livy", ""}, {c + "/livy/server.uri", string(pr189)},
		{c + "/livy/zk", ""}, {c + "/livy/zk/services", ""}, {c + "/livy/zk/services/127.0.0.41:8998", string(svc)},
		{c + "/hiveserver2", ""}, {c + "/hiveserver2/serverUri=h:10000;version=3;sequence=0000000001", "h:10000"},
		{c + "/hs2ActivePassiveHA-unsecure", ""}, {c + "/hs2ActivePassiveHA-unsecure/instances", ""},
	})
	connect := zkc.ConnectString() + chroot
	register(t, connect, "/apps/livy", 1, false) // canonical, no latch: multi-active
	register(t, connect, "/apps/livy", 2, false)

	found, err := Probe(ctxT(t, 10*time.Second), connect)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Layout]string{
		LayoutCanonical: "zk://" + connect + "?root=/apps/livy&mode=multi-active",
		LayoutPR212:     "zk://" + connect + "?layout=pr212&namespace=livy_ha&conf=/etc/livy/conf/livy.conf",
		LayoutPR189:     "zk://" + connect + "?layout=pr189&path=/livy/server.uri",
		LayoutPR276:     "zk://" + connect + "?layout=pr276&path=/livy/zk/services",
		LayoutHive:      "zk://" + connect + "?layout=hive&namespace=hiveserver2",
		LayoutHiveHA:    "zk://" + connect + "?layout=hive-ha&namespace=hs2ActivePassiveHA",
	}
	got := map[Layout]string{}
	for _, f := range found {
		got[f.Layout] = f.Target
		t.Log(f)
	}
	for l, tg := range want {
		if got[l] != tg {
			t.Errorf("Probe: %s target %q, want %q", l, got[l], tg)
		}
	}
	// Each target Probe printed really reads that layout.
	for _, l := range []Layout{LayoutCanonical, LayoutPR189, LayoutPR276, LayoutHive} {
		r, err := NewResolver(got[l])
		if err != nil {
			t.Fatalf("%s: %v", got[l], err)
		}
		s, err := r.Wait(ctxT(t, 10*time.Second))
		if err != nil || len(s.Servers) == 0 {
			t.Errorf("%s: %v %+v", got[l], err, s)
		}
		r.Close()
	}

	// The wrong root: the error names what was read and what is there.
	r := resolver(t, connect, "/nothere")
	_, err = r.Active(ctxT(t, 10*time.Second))
	for _, part := range []string{"no servers registered under /nothere/servers", "found a PR #276 layout at /livy/zk/services",
		"use zk://" + connect + "?layout=pr276&path=/livy/zk/services"} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("wrong root: %v\nwant it to contain %q", err, part)
		}
	}
	if !errors.Is(err, ErrNoServers) || !errors.Is(err, ErrNoLeader) {
		t.Errorf("wrong root: %v does not wrap ErrNoServers and ErrNoLeader", err)
	}
	// The wrong mode: servers and no latch.
	r = resolver(t, connect, "/apps/livy")
	_, err = r.Active(ctxT(t, 10*time.Second))
	if err == nil || !strings.Contains(err.Error(), "2 servers are registered under /apps/livy/servers: a multi-active cluster? use mode=multi-active") {
		t.Errorf("wrong mode: %v", err)
	}
	// The wrong layout: a PR #212 latch read as canonical.
	r = resolver(t, connect, "/livy_ha")
	_, err = r.Active(ctxT(t, 10*time.Second))
	if err == nil || !strings.Contains(err.Error(), `"livy1" is not a number: a PR #212 latch? use layout=pr212`) {
		t.Errorf("wrong layout: %v", err)
	}
	// Probe never outlives its context.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Probe(ctx, "127.0.0.1:1", WithSessionTimeout(time.Second)); !errors.Is(err, ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Errorf("Probe with ZooKeeper down: %v after %v", err, time.Since(start))
	}
}
