package discovery

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/internal/zktest"
)

// A create whose reply is lost may have succeeded unseen. The registrar
// connects through a proxy that lets ZooKeeper perform its create of the
// server record (or of the latch node) but drops the reply and cuts the
// connection; go-zookeeper reconnects within the same session and the
// registrar must end up with exactly one node of its session there: the
// one the lost create made (adopted, not created a second time), or, when
// the create landed twice, one of the two, the other deleted.
func TestRegistrarLostReply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dir   string // below the root: where the create loses its reply
		elect bool
		twice bool // the create lands twice (removeOwnDuplicates)
	}{
		{name: "record", dir: "/servers"},
		{name: "latch", dir: "/leader", elect: true},
		{name: "record-twice", dir: "/servers", elect: true, twice: true},
		{name: "latch-twice", dir: "/leader", elect: true, twice: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zkc := zktest.Shared(t)
			noLeaks(t)
			root := testRoot(t)
			dir := root + tc.dir
			proxy := zktest.NewProxy(t, zkc.ConnectString())
			// The node's create, not the directory's (EnsurePath).
			match := func(r zktest.Request) bool {
				p, ok := r.Path()
				return r.Op == zktest.OpCreate && ok && strings.HasPrefix(p, dir+"/")
			}
			var lost <-chan zktest.Reply
			copies := 1
			if tc.twice {
				lost, copies = proxy.DropReplyDuplicated(match), 2
			} else {
				lost = proxy.DropReply(match)
			}
			// A long session timeout: the session must outlive the cut
			// even on a loaded machine, or there would be nothing to adopt.
			const id = 7
			g := register(t, proxy.Addr(), root, id, tc.elect, WithSessionTimeout(10*time.Second))

			// Register returned, so the fault fired during the registration.
			var made []string
			for range copies {
				select {
				case r, ok := <-lost:
					if !ok {
						t.Fatalf("only %d of %d create replies were dropped", len(made), copies)
					}
					p, okp := r.Path()
					if r.Err != 0 || !okp || !strings.HasPrefix(p, dir+"/") {
						t.Fatalf("dropped reply: err %d, path %q", r.Err, p)
					}
					made = append(made, p)
				case <-ctxT(t, 5*time.Second).Done():
					t.Fatal("no create reply was dropped")
				}
			}
			if tc.twice && made[0] == made[1] {
				t.Fatalf("the duplicated create made one node: %v", made)
			}

			raw := rawConn(t, zkc.ConnectString())
			ok, st, err := raw.Exists(g.RecordPath())
			if err != nil || !ok || st.EphemeralOwner == 0 {
				t.Fatalf("record %q of the registrar: exists %v, %v", g.RecordPath(), ok, err)
			}
			session := st.EphemeralOwner
			dirs := []string{root + "/servers"}
			if tc.elect {
				dirs = append(dirs, root+"/leader")
			}
			// Register returns once the registrar is done, but poll, bounded,
			// rather than rely on it.
			nodes := lostReplyNodes(t, raw, dirs, 10*time.Second)
			for _, d := range dirs {
				p := d + "/" + nodes[d][0]
				ok, st, err := raw.Exists(p)
				if err != nil || !ok {
					t.Fatalf("%s: exists %v, %v", p, ok, err)
				}
				if st.EphemeralOwner != session {
					t.Fatalf("%s: owner %#x, the registrar's session %#x", p, st.EphemeralOwner, session)
				}
			}
			kept := dir + "/" + nodes[dir][0]
			if !slices.Contains(made, kept) {
				t.Fatalf("the node kept, %s, is not one the lost create made (%v)", kept, made)
			}
			if tc.dir == "/servers" && g.RecordPath() != kept {
				t.Fatalf("the registrar's record is %s, the node kept %s", g.RecordPath(), kept)
			}
			// No create after the lost one: each node made counts once in
			// the directory's child version, and each deleted once more.
			_, st, err = raw.Exists(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := int32(2*copies - 1); st.Cversion != want {
				t.Fatalf("%s changed %d times, want %d (%d created, %d deleted)", dir, st.Cversion, want, copies, copies-1)
			}

			r := resolver(t, zkc.ConnectString(), root)
			s := waitFor(t, r, 10*time.Second, "the registrar's server", func(s *Snapshot) bool {
				return len(s.Servers) == 1 && s.Servers[0].ID == id && (!tc.elect || leaderID(s) == id)
			})
			if len(s.Problems) != 0 || root+"/servers/"+s.Servers[0].Node != g.RecordPath() {
				t.Fatalf("resolver: servers %+v, problems %v; record %s", s.Servers, s.Problems, g.RecordPath())
			}
			if tc.elect {
				waitUntil(t, 5*time.Second, "the registrar to know it leads", g.IsLeader)
			} else if g.IsLeader() {
				t.Fatal("leads without election")
			}
		})
	}
}

// lostReplyNodes waits until each directory has exactly one child, read
// directly from ZooKeeper, and returns the children.
func lostReplyNodes(t *testing.T, raw *zk.Conn, dirs []string, d time.Duration) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		nodes := make(map[string][]string, len(dirs))
		one := true
		for _, dir := range dirs {
			kids, _, err := raw.Children(dir)
			if err != nil {
				t.Fatalf("children of %s: %v", dir, err)
			}
			nodes[dir] = kids
			one = one && len(kids) == 1
		}
		if one {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for one node in each of %v; have %v", dirs, nodes)
		}
		time.Sleep(5 * time.Millisecond) // no event to wait on: the registrar's own requests
	}
}
