package discovery_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
)

func ExampleParseConnectString() {
	cs, err := discovery.ParseConnectString("zk1,zk2:2182,[::1]:2181/apps/livy")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cs.Servers, cs.Chroot)
	// Output: [zk1:2181 zk2:2182 [::1]:2181] /apps/livy
}

func ExampleServerRecord_MarshalData() {
	rec := discovery.ServerRecord{ID: 101, URL: "http://livy-1:8998", Thrift: "livy-1:10090"}
	data, _ := rec.MarshalData()
	name, _ := layout.ServerNodePrefix(rec)
	fmt.Println(name + "0000000007")
	fmt.Println(string(data))
	// Output:
	// serverUri=livy-1:8998;version=unknown;sequence=0000000007
	// livy.server.id=101;livy.server.url=http://livy-1:8998;livy.server.thrift.uri=livy-1:10090
}

// A client asks which Livy server is active. The first lookup waits for the
// first snapshot; later ones are lock-free reads.
func ExampleResolver_Active() {
	r, err := discovery.NewResolver("zk1:2181,zk2:2181,zk3:2181", discovery.WithRoot("/livy"))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := r.Active(ctx)
	if err != nil {
		log.Fatal(err) // errors.Is(err, discovery.ErrNoLeader), ErrUnavailable, ...
	}
	fmt.Println(srv.URL)
}

// A server publishes itself and joins the leader election.
func ExampleRegister() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := discovery.Register(ctx, "zk1:2181,zk2:2181,zk3:2181",
		discovery.ServerRecord{ID: 1, URL: "http://livy-1:8998"},
		discovery.WithElection(true),
		discovery.WithSessionTimeout(5*time.Second),
		discovery.WithLeadershipHandler(func(leader bool) { log.Printf("leader: %v", leader) }))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close() // deletes the nodes at once: clients fail over immediately
}

// One target string selects the source: here a PR #212 cluster described
// in the target itself, and a static list.
func ExampleParseTarget() {
	t, err := discovery.ParseTarget("zk://zk1:2181,zk2:2181/apps?layout=pr212&ids=livy1,livy2&hosts=h1,h2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Kind, t.Layout, t.ZK.Servers, t.ZK.Chroot, t.IDs, t.Hosts)
	t, _ = discovery.ParseTarget("static://livy1,livy2:9000?scheme=https")
	fmt.Println(t.Kind, t.Endpoints)
	_, err = discovery.ParseTarget("zk://zk1?layout=pr276&mode=multi-active")
	fmt.Println(err)
	// Output:
	// zk pr212 [zk1:2181 zk2:2181] /apps [livy1 livy2] [h1 h2]
	// static [https://livy1:8998 https://livy2:9000]
	// discovery: bad target "zk://zk1?layout=pr276&mode=multi-active": parameter mode does not apply here (allowed: layout, path, scheme)
}

// A PR #212 cluster: the Curator latch in ZooKeeper, the hosts in livy.conf.
func ExampleNewResolver_livyConf() {
	r, err := discovery.NewResolver("livy-conf:///etc/livy/conf/livy.conf")
	if err != nil {
		log.Fatal(err) // a livy.conf that does not describe PR #212 HA says which key is wrong
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := r.Active(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.Name, srv.URL) // the participant id and its host from livy.conf
}
