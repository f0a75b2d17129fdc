package livytest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// memory is the sessions a server knows, as Livy's SessionManager holds
// them: filled once from the state store when the server becomes active
// (recovery), then authoritative — requests read it, and the server's own
// mutations go to it and through to the store. Records are never modified
// once stored here (writers store a changed copy), so readers need no lock
// beyond the map access.
type memory struct {
	mu   sync.RWMutex
	recs map[string]map[int]record // type → id → record
}

func (m *memory) get(typ string, id int) record {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.recs[typ][id]
}

// byName returns the session of typ called name (the lowest id if, after a
// split brain, several are).
func (m *memory) byName(typ, name string) record {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var found record
	for id, r := range m.recs[typ] {
		if n := r.sessionName(); n != nil && *n == name && (found == nil || id < found.sessionID()) {
			found = r
		}
	}
	return found
}

// list returns the sessions of typ in id order.
func (m *memory) list(typ string) []record {
	m.mu.RLock()
	out := make([]record, 0, len(m.recs[typ]))
	for _, r := range m.recs[typ] {
		out = append(out, r)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b record) int { return a.sessionID() - b.sessionID() })
	return out
}

func (m *memory) put(typ string, r record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = make(map[string]map[int]record)
	}
	if m.recs[typ] == nil {
		m.recs[typ] = make(map[int]record)
	}
	m.recs[typ][r.sessionID()] = r
}

func (m *memory) remove(typ string, id int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs[typ], id)
}

func (m *memory) replace(recs map[string]map[int]record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = recs
}

// ---- recovery ----

var errSuperseded = errors.New("leadership changed during recovery")

// ownsAtRecovery reports whether recovery should take session id of typ:
// with session HA the one its ownership record names (else the id prefix
// decides), otherwise see owns.
func (s *Server) ownsAtRecovery(typ string, id int) (bool, error) {
	if !s.sessHA {
		return s.owns(id), nil
	}
	owner, _, err := s.ownerOf(typ, id)
	return owner == s.cfg.ID, err
}

// recoverStore is Livy's recovery: it reads every session record of the
// state store this server owns, applies recovered(), and returns what the
// server then knows. An interactive session recovered as dead is removed
// from the store, as Livy does on a transition to dead. The caller holds
// s.mu.
func (s *Server) recoverStore() (map[string]map[int]record, error) {
	if err := s.st.kv.Sync(); err != nil {
		return nil, err
	}
	out := make(map[string]map[int]record)
	for _, typ := range []string{typeBatch, typeInteractive} {
		if s.st.livy {
			if err := s.st.seed(typ); err != nil {
				return nil, err
			}
		}
		ids, err := s.st.ids(typ)
		if err != nil {
			return nil, err
		}
		names := make(map[string]bool)
		known := make(map[int]record)
		for _, id := range ids {
			owned, err := s.ownsAtRecovery(typ, id)
			if err != nil {
				return nil, err
			}
			if !owned {
				continue
			}
			r, err := s.load(typ, id)
			if err != nil {
				return nil, err
			}
			if r == nil || !s.recovered(r) {
				continue
			}
			if n := r.sessionName(); s.lc && n != nil {
				// register throws on a name it has seen, so recovery
				// fails (SessionManager.scala@0.9:93,102-110).
				if names[*n] {
					return nil, &duplicateAtRecovery{msg: fmt.Sprintf("Duplicate session name: Some(%s) for session %d", *n, id)}
				}
				names[*n] = true
			}
			if ir, ok := r.(*interactiveRecord); ok && ir.recoveredDead {
				if err := s.st.kv.Delete(s.st.path(typ, id), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
					s.log.Warn("livytest: cannot remove a session recovered as dead", "id", id, "err", err)
				}
			}
			known[id] = r
		}
		out[typ] = known
	}
	s.resetActivity()
	return out, nil
}

// duplicateAtRecovery is the IllegalArgumentException Livy's recovery
// throws when two stored sessions of a type have the same name (a split
// brain can leave them): the server does not come up (stock), or stays
// stopped while it holds the latch (pr212).
type duplicateAtRecovery struct{ msg string }

func (e *duplicateAtRecovery) Error() string {
	return "java.lang.IllegalArgumentException: " + e.msg
}

// recoverFor runs recovery for leadership term until it succeeds, the term
// ends or the server closes, then makes the server active.
func (s *Server) recoverFor(term uint64) {
	defer s.bg.Done()
	backoff := 20 * time.Millisecond
	for {
		err := s.recoverTerm(term)
		if err == nil || errors.Is(err, errSuperseded) {
			return
		}
		s.log.Warn("livytest: recovery from the state store failed; retrying", "id", s.cfg.ID, "err", err)
		select {
		case <-s.quit:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (s *Server) recoverTerm(term uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.termEnded(term) {
		return errSuperseded
	}
	recs, err := s.recoverStore()
	if err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	s.recMu.Lock()
	if s.term != term || s.closed.Load() {
		s.recMu.Unlock()
		return errSuperseded
	}
	s.mem.replace(recs)
	s.ready.Store(true)
	s.recMu.Unlock()
	s.signalLeadership()
	s.log.Info("livytest: recovered sessions; now active", "id", s.cfg.ID,
		"batches", len(recs[typeBatch]), "sessions", len(recs[typeInteractive]))
	return nil
}

func (s *Server) termEnded(term uint64) bool {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.term != term || s.closed.Load()
}
