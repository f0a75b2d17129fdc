package livytest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livytest"
)

// A total ZooKeeper outage (every client's connections refused) for half
// the session timeout, in the livyha profile with the default leadership
// policy: the active keeps answering reads (200, never 307 or 503) and
// never turns passive, nobody else becomes active, and a client's
// discovery.Resolver keeps answering from its last snapshot.
func TestActiveServesThroughShortZooKeeperOutage(t *testing.T) {
	zkc := zktest.Shared(t)
	root := testRoot(t)
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	// go-zookeeper retries a refused server once a second: the session
	// timeout leaves room for that after the outage.
	const st = 6 * time.Second
	changes := make(chan bool, 64)
	cfg1 := livytest.Config{ZK: proxy.Addr(), Root: root, ID: 1, SessionTimeout: st,
		OnLeadership: func(v bool) {
			select {
			case changes <- v:
			default:
			}
		}}
	active := livytest.NewServer(t, cfg1)
	if !active.IsActive() {
		t.Fatal("the first server is not active")
	}
	passive := livytest.NewServer(t, livytest.Config{ZK: proxy.Addr(), Root: root, ID: 2, SessionTimeout: st})
	r, err := discovery.NewResolver(proxy.Addr(), discovery.WithRoot(root), discovery.WithSessionTimeout(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a, err := r.Active(ctx); err != nil || a.ID != 1 {
		t.Fatalf("Active before the outage = %+v, %v", a, err)
	}
	c := noRedirect(t)
	expect(t, do(t, c, "POST", active.URL()+"/batches", `{"file":"a.py","name":"before"}`), 201)
	select {
	case v := <-changes:
		if !v {
			t.Fatal("the active's first leadership change is a loss")
		}
	default:
		t.Fatal("no leadership notification for the active")
	}

	// Reads during the outage and for as long again after it, one every
	// 20ms (bounded by count as well as time).
	start := time.Now()
	proxy.Block()
	healed := false
	reads := 0
	for i := 0; i < 1000 && time.Since(start) < st; i++ {
		if !healed && time.Since(start) >= st/2 {
			proxy.Unblock()
			healed = true
			t.Logf("outage over after %v; %d reads so far", time.Since(start), reads)
		}
		for _, p := range []string{"/batches", "/batches/before"} {
			resp := do(t, c, "GET", active.URL()+p, "")
			if resp.status != http.StatusOK {
				t.Fatalf("GET %s %v after the outage began: %v", p, time.Since(start), resp)
			}
			reads++
		}
		if a, err := r.Snapshot().Active(); err != nil || a.ID != 1 {
			t.Fatalf("resolver %v after the outage began: Active = %+v, %v", time.Since(start), a, err)
		}
		if passive.IsActive() {
			t.Fatalf("server 2 active %v after the outage began", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond) // the pace of the reads
	}
	if !healed {
		t.Fatal("the loop ended before the outage did")
	}
	t.Logf("%d reads in %v, all 200", reads, time.Since(start))
	select {
	case v := <-changes:
		t.Fatalf("the active's leadership changed (%v) through the outage", v)
	default:
	}
	// After the outage, writes work again.
	expect(t, do(t, c, "POST", active.URL()+"/batches", `{"file":"b.py","name":"after"}`), 201)
}
