package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
)

// This file is the engine every ZooKeeper layout shares: it lists up to
// two watched places (a directory whose children it reads, a Curator latch,
// or a single node), caches what it read, re-reads only what a watch says
// changed, and hands a consistent reading to the layout, which turns it
// into a State. Steady state issues no ZooKeeper request at all.

// maxRecordSize bounds the data of a record: anything bigger is a
// problem, never a member (a 1 MB znode is garbage, not a server).
const maxRecordSize = 64 << 10

// specKind is what a watched place is.
type specKind int

const (
	// specDir: a directory; every accepted child's data is read (and
	// data-watched) and parsed.
	specDir specKind = iota
	// specLatch: a Curator latch; only the first child in Curator's order
	// whose data reads is read (latch data never changes).
	specLatch
	// specNode: one node; its data is read and watched.
	specNode
)

// zkSpec describes one watched place.
type zkSpec struct {
	path string
	kind specKind
	// accept decides which children of a specDir are read: ok false with
	// a reason records a problem without reading; ok false without one
	// ignores the child.
	accept func(name string) (ok bool, reason string)
	// parse turns a child's (or the node's) data into the layout's value.
	parse func(name string, data []byte) (any, error)
}

// dirEntry is one child of a specDir as read.
type dirEntry struct {
	name  string
	val   any
	err   error
	owner int64 // the session owning the node, if ephemeral
}

// zkRead is the reading of one spec.
type zkRead struct {
	path string
	// specDir: the accepted children (and skipped ones, with err), in
	// listing order.
	entries []dirEntry
	// specLatch: whether the latch has children, and the first readable.
	latched     bool
	leaderNode  string
	leaderData  []byte
	leaderOwner int64 // the session owning the leader's latch node
	// specNode: whether it exists, and its parsed data.
	present bool
	val     any
	err     error
}

// zkLayout is one ZooKeeper layout read by the engine.
type zkLayout interface {
	specs() []zkSpec
	// build turns a consistent reading (one zkRead per spec) into a State.
	build(reads []zkRead) State
	mode() Mode
	name() string
	// home is the path Probe reports this layout at.
	home() string
}

type specState struct {
	spec  zkSpec
	armed bool
	w     <-chan zk.Event
	kids  []string
	// specDir: the children read (parsed); children rejected by their
	// name alone are not kept, their name says it again. specLatch: the
	// data of read children (val = []byte).
	cache map[string]cacheEntry
	node  *zkRead // specNode: the cached reading
}

// cacheEntry is a child as read (its name is the key).
type cacheEntry struct {
	val   any
	err   error
	owner int64 // the session owning the node, if ephemeral
	mzxid int64 // the transaction that last changed it, as read
	// watched: a data watch on the child is pending (so a re-read sets
	// none); stale: to be read again (a forced refresh).
	watched, stale bool
}

// zkSource is a Source over one ZooKeeper layout.
type zkSource struct {
	sess  *zkSession
	scfg  sessionConfig // sess's, for the extra sessions of bulk reads
	lay   zkLayout
	cs    ConnectString
	log   *slog.Logger
	extra func(State) State // post-processing (diagnostics, owners)
	pub   Publisher
	poke  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	bulk  sync.WaitGroup // the extra sessions of bulk reads (readBulk)

	// For tests: extra sessions that served bulk reads, and the data
	// watches armed (pending) after the last refresh; watching: a
	// reading with watches has completed (the session's first reading
	// sets none).
	bulkSessions, dataWatches atomic.Int64
	watching                  atomic.Bool

	sessionID int64
	specs     []*specState
	force     bool
	settled   bool
	lastReads []zkRead      // the last consistent reading, for republish (a specDir's entries are rebuilt from kids and cache)
	bump      chan struct{} // republish from lastReads (no ZooKeeper request)
	closers   []func()      // run on Close (owner table)
	onExpiry  []func()      // run when the session expired
	hint      string        // what else is in ZooKeeper, when this layout finds nothing
	hinted    time.Time     // when hint was computed
	denied    bool          // the layout's home is hidden by an ACL

	// Data watches on children arrive through the session's event
	// callback (go-zookeeper sends every watch event there too), queued
	// here: no goroutine per watched node.
	evMu    sync.Mutex
	evQueue []watchEvent
	evWake  chan struct{}
}

func newZKSource(cs ConnectString, lay zkLayout, cfg config) (*zkSource, error) {
	scfg := sessionConfig{timeout: cfg.sessionTimeout, dialer: cfg.dialer, log: cfg.log, auth: cfg.auth}
	sess, err := dialSession(cs, scfg)
	if err != nil {
		return nil, err
	}
	s := &zkSource{sess: sess, scfg: scfg, lay: lay, cs: cs, log: cfg.log,
		poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		bump: make(chan struct{}, 1), evWake: make(chan struct{}, 1)}
	for _, sp := range lay.specs() {
		s.specs = append(s.specs, &specState{spec: sp, cache: make(map[string]cacheEntry)})
	}
	if len(s.specs) == 0 || len(s.specs) > 2 {
		sess.Close()
		return nil, fmt.Errorf("discovery: layout %s watches %d places (want 1 or 2)", lay.name(), len(s.specs))
	}
	sess.addWatchHook(s.onWatch)
	return s, nil
}

// onWatch runs on go-zookeeper's receive goroutine: it queues watch events
// on the children of specDir places (the places' own watches are read from
// their channels, which the consistency check needs).
func (s *zkSource) onWatch(ev zk.Event) {
	p := s.sess.rel(ev.Path)
	mine := false
	for _, sp := range s.specs {
		if sp.spec.kind == specDir && strings.HasPrefix(p, sp.spec.path+"/") {
			mine = true
		}
	}
	if !mine {
		return
	}
	s.evMu.Lock()
	s.evQueue = append(s.evQueue, watchEvent{ev, s.sess.SessionID()})
	s.evMu.Unlock()
	select {
	case s.evWake <- struct{}{}:
	default:
	}
}

// takeEvents returns the queued child watch events.
func (s *zkSource) takeEvents() []watchEvent {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	q := s.evQueue
	s.evQueue = nil
	return q
}

func (s *zkSource) mode() Mode        { return s.lay.mode() }
func (s *zkSource) requests() uint64  { return s.sess.requests.Load() }
func (s *zkSource) describe() string  { return "ZooKeeper " + s.cs.String() + " (" + s.lay.name() + ")" }
func (s *zkSource) Start(p Publisher) { s.pub = p; go s.run() }
func (s *zkSource) Refresh() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func (s *zkSource) Close() {
	s.once.Do(func() {
		close(s.stop)
		s.sess.Close()
		if s.pub != nil {
			<-s.done
		}
		s.bulk.Wait()
		for _, c := range s.closers {
			c()
		}
	})
}

// republish asks for the last reading to be published again (something
// the State shows besides the reading changed, such as a session owner).
func (s *zkSource) republish() {
	select {
	case s.bump <- struct{}{}:
	default:
	}
}

// hintInterval bounds how often a source that finds nothing probes
// ZooKeeper for other layouts.
const hintInterval = 30 * time.Second

// withHint appends what else is in ZooKeeper to the error of a State that
// finds no server, probing at most every hintInterval.
func (s *zkSource) withHint(st State) State {
	if len(st.Servers) > 0 {
		return st // the layout's own messages say why there is no leader
	}
	if s.hinted.IsZero() || time.Since(s.hinted) > hintInterval {
		s.hinted = time.Now()
		// The nodes may be missing only to this client: ZooKeeper answers
		// "no node" below a root whose ACL hides it.
		home := s.lay.home()
		_, err := s.sess.Children(home)
		s.denied = errors.Is(err, zk.ErrNoAuth)
		found, err := probeTree(s.sess, s.cs, 200)
		if err == nil {
			var others []Finding
			for _, f := range found {
				if f.Path != home {
					others = append(others, f)
				}
			}
			s.hint = hintFor(others, "")
		}
	}
	msg := ErrNoServers.Error()
	if st.Empty != nil {
		msg = st.Empty.Error()
	}
	switch {
	case s.denied:
		st.Empty = &bothErr{msg: msg + "; " + s.lay.home() + " is not readable by this client: its ZooKeeper ACL denies it (not authenticated; give credentials)" + s.hint,
			errs: []error{ErrNoServers, ErrNotAuthenticated}}
	case s.hint != "":
		st.Empty = wrapf(ErrNoServers, msg+s.hint)
	}
	return st
}

func (s *zkSource) publishReads(reads []zkRead) State {
	st := s.withHint(s.lay.build(reads))
	if s.extra != nil {
		st = s.extra(st)
	}
	if st.Source == "" {
		st.Source = s.describe()
	}
	s.pub.Publish(st)
	return st
}

// settle sends a new session's credentials, before anything else (the
// reads may need them). The session's sentinel watch
// (zkSession.ensureGuard), which lets reconnectGate cover its
// reconnections, is armed after the first reading is published
// (guard): it is not needed for a snapshot.
func (s *zkSource) settle() error {
	if s.settled {
		return nil
	}
	return s.sess.sendAuth()
}

// guard arms the session's sentinel watch once.
func (s *zkSource) guard() error {
	if s.settled {
		return nil
	}
	if err := s.sess.ensureGuard(); err != nil {
		return err
	}
	s.settled = true
	return nil
}

// zkErr wraps a ZooKeeper failure on path; access denied becomes
// ErrNotAuthenticated, which says what to do.
func (s *zkSource) zkErr(op, path string, err error) error {
	if errors.Is(err, zk.ErrNoAuth) {
		return fmt.Errorf("%w: %s %s: the node's ACL does not let this client read it (give ZooKeeper credentials, e.g. digest auth)", ErrNotAuthenticated, op, path)
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

func (s *zkSource) run() {
	defer close(s.done)
	var (
		dirty   = true
		attempt = 0
		retryC  <-chan time.Time
		timer   *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	wait := func(d time.Duration) {
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		retryC = timer.C
	}
	for {
		if dirty && retryC == nil && s.sess.State() == zk.StateHasSession {
			if sid := s.sess.SessionID(); sid != s.sessionID {
				s.reset()
				s.sessionID = sid
				s.settled = false
			}
			s.drain()
			if err := s.refresh(); err != nil {
				select {
				case <-s.stop:
					return
				default:
				}
				s.pub.ReportError(err)
				d := refreshBackoff(attempt)
				attempt++
				s.log.Warn("discovery: refresh failed; will retry", "err", err, "in", d)
				wait(d)
			} else {
				attempt = 0
				dirty = false
			}
		}
		var w0, w1 <-chan zk.Event
		w0 = s.specs[0].w
		if len(s.specs) > 1 {
			w1 = s.specs[1].w
		}
		select {
		case <-s.stop:
			return
		case <-s.sess.notify:
			switch s.sess.State() {
			case zk.StateExpired:
				s.reset()
				for _, f := range s.onExpiry {
					f()
				}
				dirty = true
			case zk.StateHasSession:
				// Same session: go-zookeeper re-arms our watches itself and
				// ZooKeeper fires those whose nodes changed meanwhile, so
				// there is nothing to read now. A read still pending (a
				// refresh that failed while disconnected) waits a moment:
				// the directory watches are not re-armed yet, so that read
				// would list them with new watches.
				if s.sess.SessionID() != s.sessionID {
					dirty = true
				} else if dirty {
					for _, sp := range s.specs {
						sp.armed, sp.w = false, nil
					}
					wait(reconnectSettle)
				}
			}
		case <-s.evWake:
			for _, ev := range s.takeEvents() {
				s.handle(ev)
			}
			dirty = true
		case ev, ok := <-w0:
			s.specs[0].w = nil
			if ok {
				s.handle(watchEvent{ev, s.sessionID})
			}
			dirty = true
		case ev, ok := <-w1:
			s.specs[1].w = nil
			if ok {
				s.handle(watchEvent{ev, s.sessionID})
			}
			dirty = true
		case <-s.poke:
			s.force = true
			dirty = true
		case <-s.bump:
			if s.lastReads != nil && !dirty {
				s.publishReads(s.lastReading())
			}
		case <-retryC:
			retryC = nil
		}
	}
}

// refreshBackoff is capped exponential backoff with full jitter.
func refreshBackoff(attempt int) time.Duration {
	maxD := 50 * time.Millisecond << min(attempt, 6) // 50ms .. 3.2s
	return time.Duration(rand.Int64N(int64(maxD))) + time.Millisecond
}

// reset forgets every cached read and watch, so the next refresh re-reads
// and re-arms everything (after session expiry).
func (s *zkSource) reset() {
	for _, sp := range s.specs {
		sp.armed, sp.w, sp.node = false, nil, nil
		clear(sp.cache)
	}
}

// fired handles a place's watch that has fired, and reports whether one had.
func (s *zkSource) fired() bool {
	fired := false
	for _, sp := range s.specs {
		if sp.w == nil {
			continue
		}
		select {
		case ev, ok := <-sp.w:
			sp.w = nil
			fired = true
			if ok {
				s.handle(watchEvent{ev, s.sessionID})
			}
		default:
		}
	}
	return fired
}

// drain handles watch events that are already queued, so one refresh
// covers them all.
func (s *zkSource) drain() {
	for _, ev := range s.takeEvents() {
		s.handle(ev)
	}
}

func (s *zkSource) handle(ev watchEvent) {
	if ev.session != s.sessionID {
		return // armed in an expired session; the new session re-armed all
	}
	if ev.Type == zk.EventNotWatching {
		s.reset()
		return
	}
	p := s.sess.rel(ev.Path)
	for _, sp := range s.specs {
		switch {
		case p == sp.spec.path:
			sp.armed = false
			sp.node = nil
		case strings.HasPrefix(p, sp.spec.path+"/"):
			delete(sp.cache, p[len(sp.spec.path)+1:]) // and the watch has fired
		}
	}
}

// listW lists a directory's children with a watch, or, when the directory
// does not exist, arms an existence watch on it and returns no children.
func (s *zkSource) listW(dir string, wp *<-chan zk.Event) ([]string, error) {
	for i := 0; i < 3; i++ {
		kids, w, err := s.sess.ChildrenW(dir)
		if err == nil {
			*wp = w
			return kids, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, s.zkErr("list", dir, err)
		}
		ok, w, err := s.sess.ExistsW(dir)
		if err != nil {
			return nil, s.zkErr("watch", dir, err)
		}
		if !ok {
			*wp = w
			return nil, nil
		}
		// Created in between: list again (that data watch is left to fire
		// unheard; go-zookeeper's channel is buffered).
	}
	return nil, fmt.Errorf("list %s: directory keeps appearing and vanishing", dir)
}

// list returns a place's children, arming a watch when none is armed
// (unless unwatched).
func (s *zkSource) list(sp *specState, unwatched bool) ([]string, error) {
	if !sp.armed && !unwatched {
		kids, err := s.listW(sp.spec.path, &sp.w)
		if err != nil {
			return nil, err
		}
		sp.armed = true
		return kids, nil
	}
	kids, err := s.sess.Children(sp.spec.path)
	if errors.Is(err, zk.ErrNoNode) {
		// Deleted since the watch was armed; its event re-arms.
		return nil, nil
	}
	if err != nil {
		return sp.kids, s.zkErr("list", sp.spec.path, err)
	}
	return kids, nil
}

// readNode reads a specNode with a data watch, or arms an existence watch
// when the node does not exist.
// nodeRead parses a specNode's data (bounded by maxRecordSize).
func nodeRead(sp *specState, p string, data []byte) *zkRead {
	r := zkRead{path: p, present: true}
	if len(data) > maxRecordSize {
		r.err = fmt.Errorf("node is %d bytes (more than %d): not a server record", len(data), maxRecordSize)
	} else {
		r.val, r.err = sp.spec.parse("", data)
	}
	return &r
}

func (s *zkSource) readNode(sp *specState, unwatched bool) error {
	if sp.armed && sp.node != nil {
		return nil
	}
	p := sp.spec.path
	if sp.w != nil || unwatched {
		// A forced re-read while the node's watch is pending: read it
		// without a new watch (go-zookeeper would keep one more channel).
		data, _, err := s.sess.Get(p)
		switch {
		case err == nil:
			sp.node, sp.armed = nodeRead(sp, p, data), !unwatched
			return nil
		case errors.Is(err, zk.ErrNoNode):
			sp.node, sp.armed = &zkRead{path: p}, !unwatched
			return nil
		default:
			return s.zkErr("read", p, err)
		}
	}
	for i := 0; i < 3; i++ {
		data, w, err := s.sess.GetW(p)
		if err == nil {
			sp.w, sp.armed = w, true
			sp.node = nodeRead(sp, p, data)
			return nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return s.zkErr("read", p, err)
		}
		ok, w, err := s.sess.ExistsW(p)
		if err != nil {
			return s.zkErr("watch", p, err)
		}
		if !ok {
			sp.w, sp.armed = w, true
			sp.node = &zkRead{path: p}
			return nil
		}
	}
	return fmt.Errorf("read %s: node keeps appearing and vanishing", p)
}

func (s *zkSource) refresh() error {
	if err := s.settle(); err != nil {
		return err
	}
	if s.force {
		// Asked to re-read (a client saw a 307 that contradicts the
		// snapshot): catch up with the ZooKeeper leader, then re-read every
		// node without re-arming watches that are still pending.
		p := s.specs[0].spec.path
		if err := s.sess.Sync(p); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return s.zkErr("sync", p, err)
		}
		for _, sp := range s.specs {
			switch sp.spec.kind {
			case specDir:
				for name, e := range sp.cache {
					e.stale = true // re-read; a pending watch stays
					sp.cache[name] = e
				}
			case specLatch:
				clear(sp.cache)
			case specNode:
				if sp.node != nil {
					sp.armed = false // re-read; the pending watch stays
				}
			}
		}
		s.force = false
	}
	// Every place is listed on every refresh, so that a reading reflects
	// one moment: one transaction (a registrar's Close, a session expiry)
	// deletes nodes in both, but their watch events arrive one at a time.
	// A place whose watch is still armed is listed without a new watch.
	// If a watch fires while we read (a transaction landed between the
	// two lists), the reads may mix two moments: read again (what did not
	// change is cached). ZooKeeper delivers a watch event before the
	// answer to any later read, so a change that our reads saw half of
	// has fired by then.
	//
	// The places are read at once, each listed and then its children
	// read (ZooKeeper answers one session's requests in order, so the
	// check after all of them holds as for one request after the other).
	//
	// A new session's first reading sets no watch at all (unwatched): it
	// goes out on the session's first connection, which carries watch
	// requests only after the sentinel (reconnectGate). Then the session
	// moves to a gated connection (guard) and the places are listed again
	// with watches; the records read are cached, and armWatches watches
	// them.
	for pass := 0; ; pass++ {
		unwatched := !s.settled
		members, err := s.readAll(unwatched)
		if err != nil {
			return err
		}
		if unwatched {
			if err := s.guard(); err != nil {
				return err
			}
			pass = -1
			continue
		}
		// Children read in bulk carry no data watch yet: arm them now
		// (members first), after the snapshot is out, and read again
		// what changed in between.
		changed, err := s.armWatches(members)
		s.countWatches()
		if err != nil || !changed || pass >= 2 {
			if err == nil {
				s.watching.Store(true)
			}
			return err
		}
	}
}

func (s *zkSource) countWatches() {
	n := 0
	for _, sp := range s.specs {
		if sp.spec.kind == specDir {
			for _, e := range sp.cache {
				if e.watched {
					n++
				}
			}
		}
	}
	s.dataWatches.Store(int64(n))
}

// readAll lists every place, reads what is not cached, and publishes
// the reading. It returns the nodes of the State's servers.
func (s *zkSource) readAll(unwatched bool) (map[string]bool, error) {
	reads := make([]zkRead, len(s.specs))
	for try := 0; ; try++ {
		err := s.eachSpec(func(i int, sp *specState) error {
			if sp.spec.kind == specNode {
				if err := s.readNode(sp, unwatched); err != nil {
					return err
				}
				reads[i] = *sp.node
				return nil
			}
			kids, err := s.list(sp, unwatched)
			if err != nil {
				return err
			}
			sp.kids = kids
			if sp.spec.kind == specLatch {
				sp.kids = layout.SortLatchChildren(kids)
				reads[i], err = s.readLatch(sp)
			} else {
				reads[i], err = s.readDir(sp, unwatched)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if !s.fired() {
			break
		}
		if try >= 4 {
			return nil, errors.New("ZooKeeper directories keep changing; will read again")
		}
	}
	st := s.publishReads(reads)
	// Kept without the specDir entries, which lastReading rebuilds.
	s.lastReads = slices.Clone(reads)
	for i, sp := range s.specs {
		if sp.spec.kind == specDir {
			s.lastReads[i].entries = nil
		}
	}
	members := make(map[string]bool, len(st.Servers))
	for _, srv := range st.Servers {
		members[srv.Node] = true
	}
	return members, nil
}

// lastReading is the last consistent reading (lastReads, with the
// entries of each specDir rebuilt: what its kids and cache hold did not
// change since, or a refresh is pending).
func (s *zkSource) lastReading() []zkRead {
	reads := slices.Clone(s.lastReads)
	for i, sp := range s.specs {
		if sp.spec.kind == specDir {
			reads[i].entries = dirEntries(sp)
		}
	}
	return reads
}

// eachSpec runs f for every place at once (each touches only its own
// specState) and returns the first place's error first.
func (s *zkSource) eachSpec(f func(int, *specState) error) error {
	if len(s.specs) == 1 {
		return f(0, s.specs[0])
	}
	errs := make([]error, len(s.specs))
	var wg sync.WaitGroup
	for i, sp := range s.specs[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = f(i+1, sp)
		}()
	}
	errs[0] = f(0, s.specs[0])
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// accepted reports whether a specDir's child is read, and else the
// reason it is a problem ("" when it is ignored).
func accepted(sp *specState, name string) (bool, string) {
	if sp.spec.accept == nil {
		return true, ""
	}
	return sp.spec.accept(name)
}

// dirEntries returns a specDir's children as read, in listing order: the
// cached ones, and those rejected by name (one error per distinct
// reason). An accepted child not cached (it vanished while read) is left
// out, as are ignored ones.
func dirEntries(sp *specState) []dirEntry {
	out := make([]dirEntry, 0, len(sp.kids))
	var rejected map[string]error
	for _, name := range sp.kids {
		if e, ok := sp.cache[name]; ok {
			if !e.stale {
				out = append(out, dirEntry{name: name, val: e.val, err: e.err, owner: e.owner})
			}
			continue
		}
		ok, reason := accepted(sp, name)
		if ok || reason == "" {
			continue
		}
		err, seen := rejected[reason]
		if !seen {
			if rejected == nil {
				rejected = make(map[string]error)
			}
			err = errors.New(reason)
			rejected[reason] = err
		}
		out = append(out, dirEntry{name: name, err: err})
	}
	return out
}

// readDir reads (with a data watch) the accepted children that are not
// cached, several requests in flight at once (go-zookeeper pipelines
// concurrent requests on its one connection), and forgets the children
// that are gone. Its reading's entries are dirEntries.
func (s *zkSource) readDir(sp *specState, unwatched bool) (zkRead, error) {
	var jobs []string
	for _, name := range sp.kids {
		if e, ok := sp.cache[name]; ok && !e.stale {
			continue
		}
		if ok, _ := accepted(sp, name); ok {
			jobs = append(jobs, name)
		}
	}
	watched := 0
	for _, e := range sp.cache {
		if e.watched {
			watched++
		}
	}
	// Many children to read (a flood of records, or the first reading of
	// a big directory): read them without data watches, on extra
	// sessions too, and let armWatches watch up to maxDataWatches of
	// them, members first, once the snapshot is out.
	bulk := unwatched || len(jobs) >= bulkPerSession || watched+len(jobs) > maxDataWatches
	results := make([]bulkResult, len(jobs))
	if bulk {
		s.readBulk(sp, jobs, results)
	} else {
		read := func(k int) {
			name := jobs[k]
			p := layout.JoinPath(sp.spec.path, name)
			r := &results[k]
			if sp.cache[name].watched {
				r.data, r.st, r.err = s.sess.Get(p)
				r.watched = true
			} else {
				// The watch's event comes through onWatch; its channel
				// (buffered, closed after one event) is left unread.
				r.data, r.st, _, r.err = s.sess.GetWStat(p)
				r.watched = r.err == nil
			}
		}
		parallel(len(jobs), maxReadsInFlight, read)
	}
	var failed error
	for k, name := range jobs {
		r := results[k]
		e := cacheEntry{watched: r.watched}
		if r.st != nil {
			e.owner, e.mzxid = r.st.EphemeralOwner, r.st.Mzxid
		}
		switch {
		case errors.Is(r.err, zk.ErrNoNode):
			// Vanished; the children watch fires. A pending data watch
			// stays noted (stale) until its event.
			if old, ok := sp.cache[name]; ok {
				old.stale = true
				sp.cache[name] = old
			}
			continue
		case errors.Is(r.err, zk.ErrNoAuth):
			e.err = errNotReadable
		case r.err != nil:
			if failed == nil {
				failed = s.zkErr("read", layout.JoinPath(sp.spec.path, name), r.err)
			}
			continue
		case len(r.data) > maxRecordSize:
			e.err = fmt.Errorf("record is %d bytes (more than %d): not a server record", len(r.data), maxRecordSize)
		default:
			e.val, e.err = sp.spec.parse(name, r.data)
		}
		sp.cache[name] = e
	}
	out := zkRead{path: sp.spec.path}
	if failed != nil {
		return out, failed
	}
	if len(sp.cache) > 0 {
		present := make(map[string]bool, len(sp.kids))
		for _, name := range sp.kids {
			present[name] = true
		}
		for name := range sp.cache {
			if !present[name] {
				delete(sp.cache, name) // its deletion event ends a pending watch
			}
		}
	}
	out.entries = dirEntries(sp)
	return out, nil
}

// maxReadsInFlight bounds the concurrent reads of one refresh, per
// session.
const maxReadsInFlight = 32

// maxDataWatches bounds the data watches a directory's children get; the
// others (a flood of records: no cluster has a thousand servers) are read
// without one, and read again on a forced refresh (Refresh) or a new
// session. Members are watched first. It bounds what go-zookeeper keeps
// per watch (a channel, a map entry and the path: about 360 bytes).
const maxDataWatches = 1000

// A refresh reads children in bulk (readBulk) and arms their watches
// afterwards when it has bulkPerSession or more to read, or more than
// maxDataWatches could watch. bulkPerSession is also the number of
// children per extra session of a bulk read, and maxBulkSessions their
// maximum: ZooKeeper serves one
// session's requests on one thread (the commit processor assigns each
// session a worker), so 10 000 reads take ~1.4 s on one session here and
// ~0.6 s on four.
const (
	bulkPerSession  = 2000
	maxBulkSessions = 3
)

// bulkResult is one child as read.
type bulkResult struct {
	data    []byte
	st      *zk.Stat
	err     error
	watched bool
}

// parallel runs f(0..n-1) on at most width goroutines (none when it is 1).
func parallel(n, width int, f func(int)) {
	var next atomic.Int64
	work := func() {
		for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
			f(k)
		}
	}
	if width = min(n, width); width <= 1 {
		work()
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < width; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	wg.Wait()
}

// readBulk reads jobs (children of sp) without watches: on this session
// and, for many, on up to maxBulkSessions extra sessions with the same
// server, credentials and dialer, which are closed afterwards. A child an
// extra session cannot read (gone, an error) is read again here, so the
// results are this session's view.
func (s *zkSource) readBulk(sp *specState, jobs []string, results []bulkResult) {
	var next atomic.Int64
	claim := func() int { return int(next.Add(1) - 1) }
	readOn := func(sess *zkSession, k int) {
		r := &results[k]
		r.data, r.st, r.err = sess.Get(layout.JoinPath(sp.spec.path, jobs[k]))
		r.watched = sp.cache[jobs[k]].watched
	}
	// Jobs an extra session is reading: counted before each claim, so
	// that once this session has found every job claimed, waiting for
	// the count to drop covers every job claimed elsewhere.
	var (
		mu       sync.Mutex
		idle     = sync.NewCond(&mu)
		inflight int
		redo     []int // jobs an extra session failed
	)
	begin := func() { mu.Lock(); inflight++; mu.Unlock() }
	end := func(failed int) {
		mu.Lock()
		if failed >= 0 {
			redo = append(redo, failed)
		}
		if inflight--; inflight == 0 {
			idle.Broadcast()
		}
		mu.Unlock()
	}
	extra := min(maxBulkSessions, len(jobs)/bulkPerSession)
	server := s.sess.conn.Server()
	quit := make(chan struct{}) // the reads are done: extra sessions stop
	for i := 0; i < extra && server != ""; i++ {
		s.bulk.Add(1)
		go func() {
			defer s.bulk.Done()
			h, err := dialSession(ConnectString{Servers: []string{server}, Chroot: s.cs.Chroot}, s.scfg)
			if err != nil {
				return
			}
			defer func() {
				s.sess.requests.Add(h.requests.Load())
				h.Close()
			}()
			if !h.waitSession(quit, s.stop) || h.sendAuth() != nil {
				return
			}
			s.bulkSessions.Add(1)
			var wg sync.WaitGroup
			for w := 0; w < maxReadsInFlight; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-quit:
							return
						default:
						}
						begin()
						k := claim()
						if k >= len(jobs) {
							end(-1)
							return
						}
						readOn(h, k)
						if results[k].err != nil {
							end(k)
						} else {
							end(-1)
						}
					}
				}()
			}
			wg.Wait()
		}()
	}
	w := min(len(jobs), maxReadsInFlight)
	parallel(w, w, func(int) {
		for k := claim(); k < len(jobs); k = claim() {
			readOn(s.sess, k)
		}
	})
	close(quit)
	mu.Lock()
	for inflight > 0 {
		idle.Wait()
	}
	again := redo
	mu.Unlock()
	parallel(len(again), maxReadsInFlight, func(i int) { readOn(s.sess, again[i]) })
}

// armWatches sets data watches on the children of each directory that
// were read without one (readBulk): on every member's node (up to
// maxDataWatches of them), and on the others, in listing order, while
// the directory has fewer than maxDataWatches.
// It reports whether any of them changed since it was read (its mzxid
// differs, or it is gone): those are marked to be read again.
func (s *zkSource) armWatches(members map[string]bool) (bool, error) {
	changed := false
	for _, sp := range s.specs {
		if sp.spec.kind != specDir {
			continue
		}
		watched, unwatched := 0, 0
		for _, e := range sp.cache {
			if e.watched {
				watched++
			} else {
				unwatched++
			}
		}
		if unwatched == 0 {
			continue
		}
		var arm []string
		for _, name := range sp.kids {
			if e, ok := sp.cache[name]; ok && !e.watched && members[name] && len(arm) < maxDataWatches {
				arm = append(arm, name)
			}
		}
		for _, name := range sp.kids {
			if e, ok := sp.cache[name]; ok && !e.watched && !members[name] && watched+len(arm) < maxDataWatches {
				arm = append(arm, name)
			}
		}
		type armed struct {
			ok  bool
			st  *zk.Stat
			err error
		}
		res := make([]armed, len(arm))
		parallel(len(arm), maxReadsInFlight, func(k int) {
			r := &res[k]
			r.ok, r.st, r.err = s.sess.ExistsWStat(layout.JoinPath(sp.spec.path, arm[k]))
		})
		for k, name := range arm {
			r := res[k]
			if r.err != nil {
				return changed, s.zkErr("watch", layout.JoinPath(sp.spec.path, name), r.err)
			}
			e := sp.cache[name]
			e.watched = true // an existence watch on a gone node fires when it returns
			if !r.ok || r.st.Mzxid != e.mzxid {
				e.stale = true
				changed = true
			}
			sp.cache[name] = e
		}
	}
	return changed, nil
}

var errNotReadable = errors.New("not readable: the node's ACL denies this client (not authenticated)")

// readLatch reads the first latch child, in Curator's order, whose data
// reads.
func (s *zkSource) readLatch(sp *specState) (zkRead, error) {
	out := zkRead{path: sp.spec.path, latched: len(sp.kids) > 0}
	present := make(map[string]bool, len(sp.kids))
	for _, name := range sp.kids {
		present[name] = true
		if out.leaderData != nil {
			continue
		}
		e, ok := sp.cache[name]
		if !ok {
			data, st, err := s.sess.Get(layout.JoinPath(sp.spec.path, name))
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return out, s.zkErr("read", layout.JoinPath(sp.spec.path, name), err)
			}
			if data == nil {
				data = []byte{}
			}
			e = cacheEntry{val: data, owner: st.EphemeralOwner}
			sp.cache[name] = e
		}
		out.leaderNode, out.leaderData, out.leaderOwner = name, e.val.([]byte), e.owner
	}
	for name := range sp.cache {
		if !present[name] {
			delete(sp.cache, name)
		}
	}
	return out, nil
}
