package livytest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
)

// ---- session HA: ownership records ----
//
// A session-HA server (LIVY-698 with session HA) owns the sessions whose
// ownership record names it (discovery/layout/session.go):
//
//	<root>/session/<kind>/<id>    data: the owning server's decimal id
//
// It writes the record of each session it creates before the create is
// answered and deletes it with the session. Without a record the id
// prefix decides, as in multi-active mode. The latch leader reassigns the
// records of servers that are no longer registered (reconcile), and each
// server adopts — recovers from the state store into its memory — the
// sessions reassigned to it.
//
// Requests read the record of the session they name (a plain read per
// request; a data watch only while waiting for a reassignment), so a
// server never serves a session the record gives to another server, even
// right after the record moved. The ownership loop keeps memory in step
// with the records between requests, driven by the resolver's snapshots
// (a server vanished) and by data watches on orphaned records (the leader
// reassigned them).

// ownership is a session-HA server's bookkeeping of the records.
type ownership struct {
	wake chan struct{} // buffered 1: run reconcile again

	mu      sync.Mutex
	watched map[string]bool // record paths with a pending data watch
}

// poke makes the ownership loop reconcile again (without blocking).
func (o *ownership) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// layoutKind maps a state-store type to the ownership-record kind. They
// are the same words (both are Livy's sessionType), but each package
// keeps its own constants.
func layoutKind(typ string) string {
	if typ == typeBatch {
		return layout.KindBatch
	}
	return layout.KindInteractive
}

// ownerRecord reads session id's ownership record: the owning server's id
// and whether a readable record exists. With watch it also sets a data
// watch (on the record, or on its absence not at all: ch is nil then). A
// record that does not parse counts as absent, and is logged.
func (s *Server) ownerRecord(typ string, id int, watch bool) (owner int, known bool, ch <-chan zk.Event, err error) {
	p, err := layout.SessionOwnerPath(s.cfg.Root, layoutKind(typ), id)
	if err != nil {
		return 0, false, nil, err
	}
	var data []byte
	if w, ok := s.st.kv.(*zkKV); ok && watch {
		data, _, ch, err = w.GetW(p)
	} else {
		data, _, err = s.st.kv.Get(p)
	}
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return 0, false, nil, nil
	case err != nil:
		return 0, false, nil, err
	}
	owner, perr := layout.ParseSessionOwner(data)
	if perr != nil {
		s.log.Warn("livytest: unreadable session ownership record; the id prefix decides", "path", p, "err", perr)
		return 0, false, ch, nil
	}
	return owner, true, ch, nil
}

// ownerOf returns the owner of session id: the server its record names,
// else the id's prefix (recorded false).
func (s *Server) ownerOf(typ string, id int) (owner int, recorded bool, err error) {
	owner, recorded, _, err = s.ownerRecord(typ, id, false)
	if err == nil && !recorded {
		owner = id / discovery.SessionIDBlock
	}
	return owner, recorded, err
}

// claimOwnership writes the record of a session this server is creating
// (persistent, parents created as needed). The caller holds s.mu.
func (s *Server) claimOwnership(typ string, id int) error {
	p, err := layout.SessionOwnerPath(s.cfg.Root, layoutKind(typ), id)
	if err != nil {
		return err
	}
	data := layout.SessionOwnerData(s.cfg.ID)
	err = s.st.kv.Create(p, data)
	if errors.Is(err, zk.ErrNodeExists) {
		// Left over by an earlier session with this id (ids never repeat
		// unless the counter was rewound by hand): the new session is ours.
		err = s.st.kv.Set(p, data, -1)
	}
	return err
}

// dropOwnership deletes the record of a deleted session (a missing record
// is fine). The caller holds s.mu.
func (s *Server) dropOwnership(typ string, id int) error {
	p, err := layout.SessionOwnerPath(s.cfg.Root, layoutKind(typ), id)
	if err != nil {
		return err
	}
	if err := s.st.kv.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	return nil
}

// adopt makes a session whose record names this server known to it: it
// recovers the session from the state store with Livy's recovery rules,
// as of now (the takeover of that one session; see recoveredSince). A
// session this server already knows, or whose record moved on meanwhile,
// is left alone; one the store does not hold (deleted, or a batch without
// file that never reached it) stays unknown.
func (s *Server) adopt(typ string, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || s.mem.get(typ, id) != nil {
		return nil
	}
	owner, known, _, err := s.ownerRecord(typ, id, false)
	if err != nil || !known || owner != s.cfg.ID {
		return err
	}
	r, err := s.load(typ, id)
	if err != nil || r == nil || !s.recoveredSince(r, time.Now()) {
		return err
	}
	if ir, ok := r.(*interactiveRecord); ok && ir.recoveredDead {
		if err := s.st.kv.Delete(s.st.path(typ, id), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			s.log.Warn("livytest: cannot remove a session recovered as dead", "id", id, "err", err)
		}
	}
	s.mem.put(typ, r)
	s.log.Info("livytest: adopted a reassigned session", "id", s.cfg.ID, "type", typ, "session", id)
	return nil
}

// release forgets a session whose record names another server now (this
// server was deregistered for a while and the leader moved it).
func (s *Server) release(typ string, id int) {
	if s.mem.get(typ, id) == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if owner, known, _, err := s.ownerRecord(typ, id, false); err == nil && known && owner != s.cfg.ID {
		s.mem.remove(typ, id)
		s.log.Warn("livytest: a session moved to another server; forgetting it", "id", s.cfg.ID, "type", typ, "session", id, "owner", owner)
	}
}

// redirectToRecordedOwner routes a request for session id in session-HA
// mode and reports whether it answered. The owner is the server the
// record names, else the id prefix:
//   - this server: it serves the request (adopting the session first if
//     the record was just moved to it);
//   - another registered server: 307 there;
//   - no record and no such server: nobody owns the id, and the answer is
//     Livy's for an unknown id (404 "Session '<id>' not found.");
//   - a recorded owner that is not registered: the leader is about to
//     reassign the session, so the request waits (watching the record and
//     the registrations) up to redirectWait, then answers 503 as any
//     server that knows no server to send a request to.
func (c *call) redirectToRecordedOwner(typ, idOrName string, id int) bool {
	s := c.s
	timer := time.NewTimer(redirectWait)
	defer timer.Stop()
	watch := false
	for {
		snap := s.res.Snapshot()
		owner, recorded, ch, err := s.ownerRecord(typ, id, watch)
		if err != nil {
			c.fail(storeError(err))
			return true
		}
		if !recorded {
			owner = id / discovery.SessionIDBlock
		}
		if owner == s.cfg.ID {
			if recorded && s.mem.get(typ, id) == nil {
				if err := s.adopt(typ, id); err != nil {
					c.fail(storeError(err))
					return true
				}
			}
			return false
		}
		if recorded {
			s.release(typ, id)
		}
		if srv, ok := snap.ServerByID(owner); ok && snap.Ready() {
			c.redirectTo(srv, "This Livy server does not own session "+idOrName+". The redirect url is: ")
			return true
		}
		if !recorded {
			c.fail(errMsg(http.StatusNotFound, "Session '%s' not found.", idOrName))
			return true
		}
		if !watch {
			if s.reg.IsLeader() {
				// An orphan the ownership loop has not seen (its owner
				// left before this server led): reassign it now.
				s.own.poke()
			}
			watch = true // read again, this time with a watch, then wait
			continue
		}
		select {
		case <-snap.Changed():
		case <-ch: // nil if the record vanished between reads: re-read at once
		case <-timer.C:
			c.noActive()
			return true
		case <-c.r.Context().Done():
			c.noActive()
			return true
		}
	}
}

// ownsForWrite is the session-HA fence of a mutation of an existing
// session (see Config.Unfenced): just before committing, under s.mu, the
// record must still name this server. A leader moves sessions only away
// from servers that are not registered, but this server may have been
// deregistered for a while (its ZooKeeper session expired) and not have
// noticed yet. If the session moved, the server forgets it and redirects
// to the recorded owner (503 if that one is not registered). It reports
// whether the caller may commit; otherwise it has answered. The caller
// holds s.mu.
func (c *call) ownsForWrite(typ string, id int) bool {
	s := c.s
	if !s.sessHA || s.cfg.Unfenced {
		return true
	}
	owner, _, err := s.ownerOf(typ, id)
	if err != nil {
		c.fail(storeError(err))
		return false
	}
	if owner == s.cfg.ID {
		return true
	}
	s.mem.remove(typ, id)
	if srv, ok := s.res.Snapshot().ServerByID(owner); ok {
		c.redirectTo(srv, fmt.Sprintf("This Livy server does not own session %d. The redirect url is: ", id))
		return false
	}
	c.noActive()
	return false
}

// ownershipLoop keeps a session-HA server's memory in step with the
// ownership records, and makes the leader reassign the sessions of
// servers that left. It runs reconcile on every new snapshot of the
// server's resolver (servers come and go), when the server wins the
// latch, and when a watched orphaned record changes; a failed reconcile
// is retried with backoff.
func (s *Server) ownershipLoop() {
	defer s.bg.Done()
	const minBackoff = 20 * time.Millisecond
	backoff := minBackoff
	for {
		snap := s.res.Snapshot()
		var retry <-chan time.Time
		if snap.Ready() {
			if err := s.reconcile(); err != nil {
				s.log.Warn("livytest: session ownership check failed; retrying", "id", s.cfg.ID, "err", err)
				retry = time.After(backoff)
				backoff = min(2*backoff, time.Second)
			} else {
				backoff = minBackoff
			}
		}
		select {
		case <-snap.Changed():
		case <-s.own.wake:
		case <-retry:
		case <-s.quit:
			return
		}
	}
}

// ownerRec is one ownership record as reconcile reads it.
type ownerRec struct {
	typ     string
	id      int
	path    string
	version int32
	owner   int
}

// reconcile reads every ownership record and:
//   - adopts the sessions recorded for this server that it does not know;
//   - forgets those recorded for another server;
//   - for records whose owner is not registered (orphans): as the latch
//     leader, rewrites each to the live server with the fewest sessions
//     (itself included), with a version-checked set so that of two
//     servers that both believe they lead only one moves a record; as any
//     other server, watches them, to adopt them as soon as they move here.
//
// Who is registered is read from the server records themselves, after
// the ownership records: a server registers before it creates sessions,
// so every owner of a record read here that is still registered is seen,
// even one the resolver's snapshot (what triggered this run) does not
// list yet. Reassigning the sessions of a live server would make two
// servers serve them.
func (s *Server) reconcile() error {
	if err := s.st.kv.Sync(); err != nil {
		return err
	}
	var recs []ownerRec
	for _, typ := range []string{typeBatch, typeInteractive} {
		dir, err := layout.SessionOwnerDir(s.cfg.Root, layoutKind(typ))
		if err != nil {
			return err
		}
		names, err := s.st.kv.Children(dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			id, err := layout.ParseSessionNodeName(n)
			if err != nil {
				continue // not a record of ours
			}
			p := layout.JoinPath(dir, n)
			data, version, err := s.st.kv.Get(p)
			if errors.Is(err, zk.ErrNoNode) {
				continue // deleted meanwhile
			}
			if err != nil {
				return err
			}
			owner, err := layout.ParseSessionOwner(data)
			if err != nil {
				s.log.Warn("livytest: unreadable session ownership record", "path", p, "err", err)
				continue
			}
			recs = append(recs, ownerRec{typ: typ, id: id, path: p, version: version, owner: owner})
		}
	}
	if err := s.st.kv.Sync(); err != nil {
		return err
	}
	live, err := s.registeredIDs()
	if err != nil {
		return err
	}
	load := make(map[int]int, len(live))
	for _, id := range live {
		load[id] = 0
	}
	for _, r := range recs {
		if _, ok := load[r.owner]; ok {
			load[r.owner]++
		}
	}
	leader := s.reg != nil && s.reg.IsLeader()
	for _, r := range recs {
		_, alive := load[r.owner]
		switch {
		case r.owner == s.cfg.ID:
			if err := s.adopt(r.typ, r.id); err != nil {
				return err
			}
		case alive:
			s.release(r.typ, r.id)
		case leader && len(live) > 0:
			s.release(r.typ, r.id)
			to := leastLoaded(live, load)
			err := s.st.kv.Set(r.path, layout.SessionOwnerData(to), r.version)
			switch {
			case errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNoNode):
				s.own.poke() // changed or deleted meanwhile: look again
				continue
			case err != nil:
				return err
			}
			load[to]++
			s.log.Info("livytest: reassigned a session of a server that left", "id", s.cfg.ID,
				"type", r.typ, "session", r.id, "from", r.owner, "to", to)
			if to == s.cfg.ID {
				if err := s.adopt(r.typ, r.id); err != nil {
					return err
				}
			}
		default:
			s.release(r.typ, r.id)
			s.watchRecord(r.path)
		}
	}
	return nil
}

// registeredIDs reads the ids of the registered servers, in ascending
// order, from their records (<root>/servers, the canonical layout).
func (s *Server) registeredIDs() ([]int, error) {
	dir := layout.JoinPath(s.cfg.Root, layout.ServersDir)
	names, err := s.st.kv.Children(dir)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, n := range names {
		data, _, err := s.st.kv.Get(layout.JoinPath(dir, n))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rec, err := layout.ParseServerData(data)
		if err != nil {
			continue // the resolver skips it too
		}
		if !slices.Contains(ids, rec.ID) {
			ids = append(ids, rec.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// leastLoaded returns the live server with the fewest sessions, the lowest
// id among equals, so that reassigned sessions spread over the survivors.
func leastLoaded(live []int, load map[int]int) int {
	best := live[0]
	for _, id := range live[1:] {
		if load[id] < load[best] {
			best = id
		}
	}
	return best
}

// watchRecord sets a data watch on an orphaned record (once per record)
// and pokes the ownership loop when it fires: the leader reassigned it,
// perhaps to this server. Only the ownership loop calls it (so s.bg is
// held while it adds to it).
func (s *Server) watchRecord(p string) {
	w, ok := s.st.kv.(*zkKV)
	if !ok {
		return
	}
	s.own.mu.Lock()
	if s.own.watched[p] {
		s.own.mu.Unlock()
		return
	}
	s.own.watched[p] = true
	s.own.mu.Unlock()
	_, _, ch, err := w.GetW(p)
	if err != nil {
		s.own.mu.Lock()
		delete(s.own.watched, p)
		s.own.mu.Unlock()
		if !errors.Is(err, zk.ErrNoNode) {
			s.own.poke()
		}
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		select {
		case <-ch:
		case <-s.quit:
		}
		s.own.mu.Lock()
		delete(s.own.watched, p)
		s.own.mu.Unlock()
		s.own.poke()
	}()
}
