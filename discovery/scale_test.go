package discovery

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/internal/zktest"
)

// Watched records cost no goroutine each: their watch events come through
// the session's event callback. 300 records (half garbage) add a bounded
// number of goroutines, and a change to one is still seen.
func TestWatchesCostNoGoroutinePerRecord(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	mkTree(t, raw, [][2]string{{root, ""}, {root + "/servers", ""}})
	for i := 0; i < 300; i++ {
		data := fmt.Sprintf("livy.server.id=%d;livy.server.url=http://127.0.0.1:%d", i, 20000+i)
		if i%2 == 1 {
			data = "garbage"
		}
		name := fmt.Sprintf("%s/servers/serverUri=127.0.0.1:%d;version=1;sequence=%010d", root, 20000+i, i)
		if _, err := raw.Create(name, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	before := runtime.NumGoroutine()
	start := time.Now()
	r := resolver(t, zkc.ConnectString(), root, WithMode(MultiActive))
	waitFor(t, r, 20*time.Second, "150 servers", func(s *Snapshot) bool { return len(s.Servers) == 150 && len(s.Problems) == 150 })
	t.Logf("first snapshot of 300 records in %v", time.Since(start).Round(time.Millisecond))
	if d := runtime.NumGoroutine() - before; d > 20 {
		t.Fatalf("a resolver watching 300 records added %d goroutines", d)
	}
	// A huge record is a problem, never a member.
	big := make([]byte, 100<<10)
	copy(big, "livy.server.id=999;livy.server.url=http://127.0.0.1:29999;x=")
	for i := 62; i < len(big); i++ {
		big[i] = 'x'
	}
	if _, err := raw.Create(root+"/servers/serverUri=127.0.0.1:29999;version=1;sequence=0000009999", big, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	s := waitFor(t, r, 10*time.Second, "151 problems", func(s *Snapshot) bool { return len(s.Problems) == 151 })
	if _, ok := s.ServerByID(999); ok || s.IsMember("127.0.0.1:29999") {
		t.Fatal("a 100 KiB record became a member")
	}
	// A record's data changes (its watch fires): seen.
	name := fmt.Sprintf("%s/servers/serverUri=127.0.0.1:%d;version=1;sequence=%010d", root, 20001, 1)
	if _, err := raw.Set(name, []byte("livy.server.id=1;livy.server.url=http://127.0.0.1:20001"), -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 10*time.Second, "151 servers", func(s *Snapshot) bool { return len(s.Servers) == 151 })
}

// A second record claiming the leader's id (a stale record, or a second
// server started with the same id) does not make the cluster leaderless:
// the record whose session holds the leader's latch node wins; the other
// is a problem.
func TestLeaderIDClash(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	g := register(t, zkc.ConnectString(), root, 1, true)
	register(t, zkc.ConnectString(), root, 2, true)
	r := resolver(t, zkc.ConnectString(), root)
	waitFor(t, r, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 && len(s.Servers) == 2 })

	other := rawConn(t, zkc.ConnectString())
	name := root + "/servers/serverUri=127.0.0.9:20001;version=x;sequence=0000009000"
	if _, err := other.Create(name, []byte("livy.server.id=1;livy.server.url=http://127.0.0.9:20001"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	s := waitFor(t, r, 10*time.Second, "the clash as a problem", func(s *Snapshot) bool { return len(s.Problems) == 1 })
	ld, ok := s.Leader()
	if !ok || ld.URL != g.Record().URL || !strings.Contains(s.Problems[0].Reason, "whose session holds the leader latch") ||
		s.IsMember("127.0.0.9:20001") {
		t.Fatalf("leader %+v %v, problems %v", ld, ok, s.Problems)
	}
}
