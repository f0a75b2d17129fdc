package discovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
)

// ownerTable answers SessionHA ownership from the records
// <root>/session/<kind>/<id> (package layout, session.go): read lazily on
// the first lookup of a session, then watched and cached, so that warm
// lookups cost no ZooKeeper request and no allocation. It is bounded: a
// cluster may hold 100 000 sessions; beyond max entries, arbitrary ones are
// forgotten (their watches, which go-zookeeper cannot remove, are ignored
// when they fire) and read again when next asked for.
type ownerTable struct {
	sess    *zkSession
	root    string
	prefix  string // <root>/session/, absolute in the session's chroot
	max     int
	changed func() // a cached owner changed: republish

	// Lookups read frozen, an immutable map, without a lock; entries
	// added since it was built wait in recent (under mu) until the next
	// merge. Every change or deletion builds a new frozen map at once.
	frozen  atomic.Pointer[map[uint64]ownerEntry]
	mu      sync.RWMutex
	recent  map[uint64]ownerEntry
	pending map[uint64]*ownerFetch // lookups in flight (one per key)
	dirty   map[uint64]string      // records whose watch fired: key -> path
	watched map[uint64]bool        // records with a watch pending
	gen     uint64                 // bumped by every reset
	rev     atomic.Uint64
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

type ownerEntry struct {
	owner int
	known bool // a record exists and parses
}

type ownerFetch struct {
	done  chan struct{}
	entry ownerEntry
	err   error
}

// newOwnerTable starts a table reading records through sess. Watch events
// reach it through the session's event callback (go-zookeeper sends every
// watch event there too), so a cached record costs no goroutine; one
// worker re-reads the records whose watches fired.
func newOwnerTable(sess *zkSession, root string, max int, changed func()) *ownerTable {
	if max <= 0 {
		max = DefaultOwnerCacheSize
	}
	t := &ownerTable{sess: sess, root: root, prefix: layout.JoinPath(root, layout.SessionDir) + "/", max: max, changed: changed,
		recent: make(map[uint64]ownerEntry), pending: make(map[uint64]*ownerFetch), dirty: make(map[uint64]string), watched: make(map[uint64]bool),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	empty := map[uint64]ownerEntry{}
	t.frozen.Store(&empty)
	sess.addWatchHook(t.onWatch)
	go t.work()
	return t
}

// mergeEvery bounds how many new entries wait in recent; tables smaller
// than mergeSmall are rebuilt on every insert.
const (
	mergeEvery = 64
	mergeSmall = 1024
)

// lookup returns the cached entry for k. Lock-free for entries older than
// the last merge.
func (t *ownerTable) lookup(k uint64) (ownerEntry, bool) {
	if e, ok := (*t.frozen.Load())[k]; ok {
		return e, true
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	// A merge may have moved the entry from recent into a new frozen map
	// since the first look: look at both under the lock.
	return t.cached(k)
}

// cached reports whether k is cached; t.mu is held.
func (t *ownerTable) cached(k uint64) (ownerEntry, bool) {
	if e, ok := (*t.frozen.Load())[k]; ok {
		return e, true
	}
	e, ok := t.recent[k]
	return e, ok
}

// rebuild makes a new frozen map from the old one, recent and edit (which
// may change or delete entries); t.mu is held.
func (t *ownerTable) rebuild(edit func(m map[uint64]ownerEntry)) {
	old := *t.frozen.Load()
	m := make(map[uint64]ownerEntry, len(old)+len(t.recent))
	for k, e := range old {
		m[k] = e
	}
	for k, e := range t.recent {
		m[k] = e
	}
	clear(t.recent)
	if edit != nil {
		edit(m)
	}
	for len(m) > t.max { // forget arbitrary entries beyond the bound
		for victim := range m {
			delete(m, victim)
			break
		}
	}
	t.frozen.Store(&m)
}

// size returns how many entries are cached.
func (t *ownerTable) size() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(*t.frozen.Load()) + len(t.recent)
}

func ownerKey(kind SessionKind, id int) uint64 { return uint64(kind)<<32 | uint64(uint32(id)) }

// Owner implements Owners.
func (t *ownerTable) Owner(ctx context.Context, kind SessionKind, id int, fetch bool) (int, bool, error) {
	if id < 0 || id > layout.MaxServerID {
		return 0, false, nil // no record can exist for it: the prefix decides
	}
	k := ownerKey(kind, id)
	e, ok := t.lookup(k)
	if ok || !fetch {
		return e.owner, e.known, nil
	}
	return t.fetch(ctx, kind, id, k)
}

// fetch reads a record (one read per key at a time), bounded by ctx.
func (t *ownerTable) fetch(ctx context.Context, kind SessionKind, id int, k uint64) (int, bool, error) {
	path, err := layout.SessionOwnerPath(t.root, kind.String(), id)
	if err != nil {
		return 0, false, nil // not a session id a record can have: the prefix decides
	}
	t.mu.Lock()
	f, ok := t.pending[k]
	if !ok {
		f = &ownerFetch{done: make(chan struct{})}
		t.pending[k] = f
		go func() {
			gen := t.generation()
			e, err := t.get(k, path)
			t.mu.Lock()
			delete(t.pending, k)
			if err == nil && gen == t.gen {
				// (A reset in between — the session expired — leaves
				// this read without a watch: it is not cached.)
				t.store(k, e)
			}
			t.mu.Unlock()
			f.entry, f.err = e, err
			close(f.done)
		}()
	}
	t.mu.Unlock()
	select {
	case <-f.done:
		return f.entry.owner, f.entry.known, f.err
	case <-ctx.Done():
		return 0, false, fmt.Errorf("%w: reading the owner of %s session %d (%s): %w", ErrUnavailable, kind, id, path, ctx.Err())
	case <-t.stop:
		return 0, false, ErrClosed
	}
}

// store caches a newly read e under k. t.mu is held.
func (t *ownerTable) store(k uint64, e ownerEntry) {
	if old, had := t.cached(k); had {
		if old != e {
			t.rebuild(func(m map[uint64]ownerEntry) { m[k] = e })
		}
		return
	}
	t.recent[k] = e
	if len(t.recent) >= mergeEvery || len(*t.frozen.Load()) < mergeSmall || len(*t.frozen.Load())+len(t.recent) > t.max {
		t.rebuild(nil)
	}
}

// get reads a record with a data watch, or arms an existence watch when
// there is none. A watch is set only when none is pending for the record
// (go-zookeeper keeps one more channel per call until the node changes);
// the channels are left unread: events arrive through onWatch.
func (t *ownerTable) get(k uint64, path string) (ownerEntry, error) {
	t.mu.Lock()
	watch := !t.watched[k]
	if watch {
		t.watched[k] = true
	}
	t.mu.Unlock()
	if watch {
		// Watch requests wait for the session's sentinel (reconnectGate).
		if err := t.sess.ensureGuard(); err != nil {
			t.mu.Lock()
			delete(t.watched, k)
			t.mu.Unlock()
			return ownerEntry{}, fmt.Errorf("%w: read %s: %w", ErrUnavailable, path, err)
		}
	}
	for i := 0; i < 3; i++ {
		var data []byte
		var err error
		if watch {
			data, _, err = t.sess.GetW(path)
		} else {
			data, _, err = t.sess.Get(path)
		}
		if err == nil {
			owner, perr := layout.ParseSessionOwner(data)
			return ownerEntry{owner: owner, known: perr == nil}, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			if watch {
				t.mu.Lock()
				delete(t.watched, k)
				t.mu.Unlock()
			}
			if errors.Is(err, zk.ErrNoAuth) {
				return ownerEntry{}, fmt.Errorf("%w: read %s", ErrNotAuthenticated, path)
			}
			return ownerEntry{}, fmt.Errorf("%w: read %s: %w", ErrUnavailable, path, err)
		}
		var ok bool
		if watch {
			ok, _, err = t.sess.ExistsW(path)
		} else {
			ok, _, err = t.sess.Exists(path)
		}
		if err != nil {
			return ownerEntry{}, fmt.Errorf("%w: watch %s: %w", ErrUnavailable, path, err)
		}
		if !ok {
			return ownerEntry{}, nil
		}
	}
	return ownerEntry{}, fmt.Errorf("%w: %s keeps appearing and vanishing", ErrUnavailable, path)
}

// onWatch runs on go-zookeeper's receive goroutine: it only notes which
// record changed.
func (t *ownerTable) onWatch(ev zk.Event) {
	p := t.sess.rel(ev.Path)
	if !strings.HasPrefix(p, t.prefix) {
		return
	}
	kindName, idStr, ok := strings.Cut(p[len(t.prefix):], "/")
	if !ok {
		return
	}
	kind := Interactive
	switch kindName {
	case layout.KindBatch:
		kind = Batch
	case layout.KindInteractive:
	default:
		return
	}
	id, err := layout.ParseSessionNodeName(idStr)
	if err != nil {
		return
	}
	k := ownerKey(kind, id)
	t.mu.Lock()
	delete(t.watched, k) // the watch has fired (or is gone)
	if ev.Type == zk.EventNotWatching {
		// The session expired (or is closing): every watch is gone, and
		// go-zookeeper says so once per watch, holding its watch lock:
		// forget everything once, cheaply; records are read again when
		// next asked for.
		t.resetLocked()
	} else if _, cached := t.cached(k); cached {
		t.dirty[k] = p
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// work re-reads the records whose watches fired.
func (t *ownerTable) work() {
	defer close(t.done)
	for {
		select {
		case <-t.wake:
		case <-t.stop:
			return
		}
		t.mu.Lock()
		batch := t.dirty
		t.dirty = make(map[uint64]string)
		t.mu.Unlock()
		type upd struct {
			e   ownerEntry
			err error
		}
		reads := make(map[uint64]upd, len(batch))
		for k, path := range batch {
			e, err := t.get(k, path)
			reads[k] = upd{e, err}
		}
		changed := false
		t.mu.Lock()
		edits := make(map[uint64]upd)
		for k, u := range reads {
			if old, cached := t.cached(k); cached && (u.err != nil || old != u.e) {
				edits[k] = u
			}
		}
		if len(edits) > 0 {
			changed = true
			t.rebuild(func(m map[uint64]ownerEntry) { // one rebuild for the whole batch
				for k, u := range edits {
					if u.err != nil {
						delete(m, k) // read again when next asked
					} else {
						m[k] = u.e
					}
				}
			})
		}
		t.mu.Unlock()
		if changed {
			t.rev.Add(1)
			t.changed()
		}
	}
}

func (t *ownerTable) close() {
	close(t.stop)
	<-t.done
}

// revision changes whenever a cached owner changed.
func (t *ownerTable) revision() uint64 { return t.rev.Load() }

// reset forgets everything (the session expired: its watches are gone).
func (t *ownerTable) reset() {
	t.mu.Lock()
	t.resetLocked()
	t.mu.Unlock()
}

// resetLocked forgets every entry and pending watch; t.mu is held.
func (t *ownerTable) resetLocked() {
	t.gen++
	clear(t.recent)
	clear(t.dirty)
	clear(t.watched)
	if len(*t.frozen.Load()) > 0 {
		empty := map[uint64]ownerEntry{}
		t.frozen.Store(&empty)
	}
}

func (t *ownerTable) generation() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.gen
}
