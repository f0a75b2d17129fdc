package discovery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
)

// mkOwner writes (creating, with parents) or overwrites a session-HA
// ownership record as a leader would.
func mkOwner(t testing.TB, raw *zk.Conn, root, kind string, id, owner int) {
	t.Helper()
	p, err := layout.SessionOwnerPath(root, kind, id)
	if err != nil {
		t.Fatal(err)
	}
	data := layout.SessionOwnerData(owner)
	if _, err := raw.Set(p, data, -1); err == nil {
		return
	} else if !errors.Is(err, zk.ErrNoNode) {
		t.Fatal(err)
	}
	dir, _ := layout.SessionOwnerDir(root, kind)
	for _, q := range []string{layout.JoinPath(root, layout.SessionDir), dir} {
		if _, err := raw.Create(q, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	if _, err := raw.Create(p, data, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
}

// SessionHA: the record decides, per kind; without one the id prefix
// does; a reassignment (the record's data rewritten) and a deletion are
// followed from the watch; warm lookups cost no ZooKeeper request.
func TestSessionHAOwnerRecords(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	register(t, zkc.ConnectString(), root, 1, false)
	register(t, zkc.ConnectString(), root, 2, false)
	register(t, zkc.ConnectString(), root, 3, false)
	const sid = 1_0000005 // server 1's prefix
	mkOwner(t, raw, root, layout.KindBatch, sid, 2)

	r, err := NewResolver("zk://" + zkc.ConnectString() + "?mode=session-ha&root=" + root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitFor(t, r, 10*time.Second, "3 servers", func(s *Snapshot) bool { return len(s.Servers) == 3 })
	if r.Mode() != SessionHA {
		t.Fatalf("mode %v", r.Mode())
	}
	ctx := ctxT(t, 10*time.Second)
	owner := func(kind SessionKind, id int) int {
		t.Helper()
		s, err := r.Owner(ctx, kind, id)
		if err != nil {
			t.Fatalf("Owner(%v, %d): %v", kind, id, err)
		}
		return s.ID
	}
	if got := owner(Batch, sid); got != 2 {
		t.Fatalf("batch %d owned by %d, want 2 (the record)", sid, got)
	}
	if got := owner(Interactive, sid); got != 1 {
		t.Fatalf("interactive %d owned by %d, want 1 (no record: the prefix)", sid, got)
	}
	// Warm lookups: no request.
	watching(t, r)
	before := r.Stats().ZKRequests
	for i := 0; i < 1000; i++ {
		owner(Batch, sid)
		owner(Interactive, sid)
	}
	if d := r.Stats().ZKRequests - before; d != 0 {
		t.Fatalf("1000 warm owner lookups made %d ZooKeeper requests", d)
	}
	// The leader reassigns the session to server 3.
	mkOwner(t, raw, root, layout.KindBatch, sid, 3)
	waitFor(t, r, 10*time.Second, "batch owner 3", func(s *Snapshot) bool {
		o, err := s.Owner(Batch, sid)
		return err == nil && o.ID == 3
	})
	// A record appears for the interactive session (its existence watch).
	mkOwner(t, raw, root, layout.KindInteractive, sid, 2)
	waitFor(t, r, 10*time.Second, "interactive owner 2", func(s *Snapshot) bool {
		o, err := s.Owner(Interactive, sid)
		return err == nil && o.ID == 2
	})
	// Deleted: the prefix decides again.
	p, _ := layout.SessionOwnerPath(root, layout.KindBatch, sid)
	if err := raw.Delete(p, -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 10*time.Second, "batch owner back to 1", func(s *Snapshot) bool {
		o, err := s.Owner(Batch, sid)
		return err == nil && o.ID == 1
	})
	// A record naming an unregistered server: ErrNoOwner, naming it.
	mkOwner(t, raw, root, layout.KindBatch, 7, 9)
	if _, err := r.Owner(ctx, Batch, 7); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("owner 9 unregistered: %v", err)
	}
	// Garbage data: the prefix decides.
	mkOwner(t, raw, root, layout.KindBatch, 8, 0)
	if _, err := raw.Set(layout.JoinPath(root, "session/batch/8"), []byte("boss"), -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, 10*time.Second, "garbage record ignored", func(s *Snapshot) bool {
		_, err := s.Owner(Batch, 8) // prefix 0: not registered
		return errors.Is(err, ErrNoOwner)
	})
}

// The cache is bounded: lookups of more sessions than it holds still
// answer correctly.
func TestSessionHAOwnerCacheBound(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	register(t, zkc.ConnectString(), root, 1, false)
	register(t, zkc.ConnectString(), root, 2, false)
	for id := 0; id < 20; id++ {
		mkOwner(t, raw, root, layout.KindInteractive, 1_0000000+id, 2)
	}
	r, err := NewResolver("zk://"+zkc.ConnectString()+"?mode=session-ha&root="+root, WithOwnerCacheSize(5))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitFor(t, r, 10*time.Second, "2 servers", func(s *Snapshot) bool { return len(s.Servers) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for round := 0; round < 3; round++ {
		for id := 0; id < 20; id++ {
			s, err := r.Owner(ctx, Interactive, 1_0000000+id)
			if err != nil || s.ID != 2 {
				t.Fatalf("owner of %d: %+v %v", id, s, err)
			}
		}
	}
	if n := r.Snapshot().owners.(*ownerTable).size(); n > 5 {
		t.Fatalf("owner cache holds %d entries, bound 5", n)
	}
}
