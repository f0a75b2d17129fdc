package livytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-zookeeper/zk"
)

// ---- active-active: the shared state store is the only authority ----
//
// An active-active server (the "Multi node HA for batch sessions" design)
// keeps no sessions in memory: every request reads the store and every
// mutation is a version-checked write to it, so any server answers for any
// session at once, whoever created or last changed it. Each read starts
// with a ZooKeeper sync, so that what one server committed is visible to
// the next request on any other, even when their sessions are served by
// different ZooKeeper servers. Names are made unique cluster-wide by a
// name index of livytest's own (store.namePath): a session's name claim is
// created after its record and released after its record is deleted, so a
// claim whose record is gone is stale and may be taken over.

// sharedGet reads session id from the store (nil when unknown).
func (s *Server) sharedGet(typ string, id int) (record, error) {
	if err := s.st.kv.Sync(); err != nil {
		return nil, err
	}
	return s.sharedLoad(typ, id)
}

// sharedLoad is load without the sync. A batch without file is unknown:
// it never reaches Livy's store, and no server memory holds it here.
func (s *Server) sharedLoad(typ string, id int) (record, error) {
	r, err := s.load(typ, id)
	if err != nil || r == nil {
		return nil, err
	}
	if b, ok := r.(*batchRecord); ok && b.Sim.NoFile {
		return nil, nil
	}
	return r, nil
}

// sharedByName finds the session of typ called name through its claim.
func (s *Server) sharedByName(typ, name string) (record, error) {
	if err := s.st.kv.Sync(); err != nil {
		return nil, err
	}
	id, _, ok, err := s.nameClaim(typ, name)
	if err != nil || !ok {
		return nil, err
	}
	r, err := s.sharedLoad(typ, id)
	if err != nil || r == nil {
		return nil, err
	}
	if n := r.sessionName(); n == nil || *n != name {
		return nil, nil // a stale claim whose id was reused: cannot happen unless the counter was rewound
	}
	return r, nil
}

// nameClaim reads the claim of name: the session id it holds (-1 if the
// data does not parse, which no record matches) and its version.
func (s *Server) nameClaim(typ, name string) (id int, version int32, ok bool, err error) {
	data, version, err := s.st.kv.Get(s.st.namePath(typ, name))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return 0, 0, false, nil
	case err != nil:
		return 0, 0, false, err
	}
	id, perr := strconv.Atoi(string(data))
	if perr != nil || id < 0 {
		id = -1
	}
	return id, version, true, nil
}

// sharedNameTaken reports whether a live session holds name's claim.
func (s *Server) sharedNameTaken(typ, name string) (bool, error) {
	if err := s.st.kv.Sync(); err != nil {
		return false, err
	}
	id, _, ok, err := s.nameClaim(typ, name)
	if err != nil || !ok {
		return false, err
	}
	return s.recordExists(typ, id)
}

func (s *Server) recordExists(typ string, id int) (bool, error) {
	if id < 0 {
		return false, nil
	}
	_, _, err := s.st.kv.Get(s.st.path(typ, id))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, zk.ErrNoNode):
		return false, nil
	}
	return false, err
}

// sharedList returns every session of typ in the store, in id order.
func (s *Server) sharedList(typ string) ([]record, error) {
	if err := s.st.kv.Sync(); err != nil {
		return nil, err
	}
	ids, err := s.st.ids(typ)
	if err != nil {
		return nil, err
	}
	out := make([]record, 0, len(ids))
	for _, id := range ids {
		r, err := s.sharedLoad(typ, id)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// sharedCreate writes a new session's record, then claims its name; if
// another session holds the name, the record is deleted again and the
// create fails with errDuplicateName (its id stays consumed, as in Livy).
func (s *Server) sharedCreate(typ string, r record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p := s.st.path(typ, r.sessionID())
	err = s.st.kv.Create(p, data)
	if errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("session record %d already exists (state-store counter behind?)", r.sessionID())
	}
	if err != nil {
		return err
	}
	if n := r.sessionName(); n != nil {
		if err := s.claimName(typ, *n, r.sessionID()); err != nil {
			if derr := s.st.kv.Delete(p, -1); derr != nil && !errors.Is(derr, zk.ErrNoNode) {
				return errors.Join(err, fmt.Errorf("removing the record again: %w", derr))
			}
			return err
		}
	}
	return nil
}

// claimName creates name's claim for session id, taking over a stale one.
func (s *Server) claimName(typ, name string, id int) error {
	np := s.st.namePath(typ, name)
	for {
		err := s.st.kv.Create(np, []byte(strconv.Itoa(id)))
		if !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		other, version, ok, err := s.nameClaim(typ, name)
		if err != nil {
			return err
		}
		if !ok {
			continue // released meanwhile
		}
		// The holder's record was created before its claim, so this read,
		// which follows the read of the claim, sees it unless it is gone.
		live, err := s.recordExists(typ, other)
		if err != nil {
			return err
		}
		if live {
			return errDuplicateName
		}
		if err := s.st.kv.Delete(np, version); err != nil && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrBadVersion) {
			return err
		}
	}
}

// sharedSave writes r back if the record is still at the version r was
// read at.
func (s *Server) sharedSave(typ string, r record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = s.st.kv.Set(s.st.path(typ, r.sessionID()), data, r.meta().zver)
	switch {
	case errors.Is(err, zk.ErrBadVersion):
		return errConflict
	case errors.Is(err, zk.ErrNoNode):
		return errGone
	}
	return err
}

// sharedRemove deletes r if it is still at the version r was read at, then
// releases its name.
func (s *Server) sharedRemove(typ string, r record) error {
	id := r.sessionID()
	err := s.st.kv.Delete(s.st.path(typ, id), r.meta().zver)
	switch {
	case errors.Is(err, zk.ErrBadVersion):
		return errConflict
	case errors.Is(err, zk.ErrNoNode):
		return errGone
	case err != nil:
		return err
	}
	n := r.sessionName()
	if n == nil {
		return nil
	}
	holder, version, ok, err := s.nameClaim(typ, *n)
	if err != nil || !ok || holder != id {
		return err // someone else's claim (or none): leave it
	}
	if err := s.st.kv.Delete(s.st.namePath(typ, *n), version); err != nil && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrBadVersion) {
		return fmt.Errorf("releasing name %q: %w", *n, err)
	}
	return nil
}
