package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
)

// Resolver keeps a watch-backed, immutable Snapshot of the canonical layout
// and answers lookups from it. Warm lookups are lock-free reads of the
// current snapshot: no ZooKeeper round trip, no allocation.
//
// A Resolver is safe for concurrent use. It recovers by itself from
// ZooKeeper outages and session expiry (every watch is re-armed); during an
// outage it keeps serving the last snapshot it built.
type Resolver struct {
	cfg         config
	sess        *zkSession
	serversPath string
	latchPath   string

	snap     atomic.Pointer[Snapshot]
	rebuilds atomic.Uint64
	lastErr  atomic.Pointer[error]
	closed   atomic.Bool

	poke      chan struct{} // Refresh requests
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewResolver starts a resolver for the ZooKeeper connect string (chroot
// honoured). It returns at once; the first lookup waits for the first
// snapshot or its context's deadline.
func NewResolver(connect string, opts ...Option) (*Resolver, error) {
	cs, err := ParseConnectString(connect)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	sess, err := dialSession(cs, sessionConfig{timeout: cfg.sessionTimeout, dialer: cfg.dialer, log: cfg.log})
	if err != nil {
		return nil, err
	}
	r := &Resolver{
		cfg:         cfg,
		sess:        sess,
		serversPath: layout.JoinPath(cfg.root, layout.ServersDir),
		latchPath:   layout.JoinPath(cfg.root, layout.LeaderDir),
		poke:        make(chan struct{}, 1),
		closing:     make(chan struct{}),
		done:        make(chan struct{}),
	}
	r.snap.Store(emptySnapshot())
	go r.run()
	return r, nil
}

// Mode returns the resolver's mode.
func (r *Resolver) Mode() Mode { return r.cfg.mode }

// Snapshot returns the current snapshot (never nil; not Ready before the
// first successful read).
func (r *Resolver) Snapshot() *Snapshot { return r.snap.Load() }

// Active returns the active server: the latch leader; in MultiActive mode
// without a latch, a random live server. It waits for the first snapshot.
func (r *Resolver) Active(ctx context.Context) (Server, error) {
	s := r.snap.Load()
	if !s.ready || r.closed.Load() {
		var err error
		if s, err = r.Wait(ctx); err != nil {
			return Server{}, err
		}
	}
	return s.Active(r.cfg.mode)
}

// Owner returns the server that owns session sessionID: the active server
// in ActivePassive mode, server sessionID/10_000_000 in MultiActive mode.
func (r *Resolver) Owner(ctx context.Context, sessionID int) (Server, error) {
	s := r.snap.Load()
	if !s.ready || r.closed.Load() {
		var err error
		if s, err = r.Wait(ctx); err != nil {
			return Server{}, err
		}
	}
	return s.Owner(r.cfg.mode, sessionID)
}

// Endpoints returns every usable server, the leader first.
func (r *Resolver) Endpoints(ctx context.Context) ([]Server, error) {
	s, err := r.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.Servers) == 0 {
		return nil, ErrNoServers
	}
	return slicesClone(s.Servers), nil
}

func slicesClone(s []Server) []Server { return append([]Server(nil), s...) }

// Wait returns the current snapshot once one has been built from
// ZooKeeper, waiting until then or until ctx ends.
func (r *Resolver) Wait(ctx context.Context) (*Snapshot, error) {
	for {
		if r.closed.Load() {
			return nil, ErrClosed
		}
		s := r.snap.Load()
		if s.ready {
			return s, nil
		}
		select {
		case <-s.changed:
		case <-r.done:
			return nil, ErrClosed
		case <-ctx.Done():
			if p := r.lastErr.Load(); p != nil {
				return nil, fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), *p)
			}
			return nil, fmt.Errorf("%w: no snapshot yet (session %s): %w", ErrUnavailable, r.sess.State(), ctx.Err())
		}
	}
}

// Subscribe returns a channel that receives the current snapshot once it is
// ready and then every newer one. Slow receivers only miss intermediate
// snapshots, never the latest. The channel is closed when ctx ends or the
// resolver closes.
func (r *Resolver) Subscribe(ctx context.Context) <-chan *Snapshot {
	ch := make(chan *Snapshot, 1)
	go func() {
		defer close(ch)
		s := r.snap.Load()
		for {
			if s.ready {
				select { // keep only the newest undelivered snapshot
				case <-ch:
				default:
				}
				ch <- s
			}
			select {
			case <-s.changed:
				s = r.snap.Load()
			case <-ctx.Done():
				return
			case <-r.done:
				return
			}
		}
	}()
	return ch
}

// Refresh asks the resolver to re-read everything from ZooKeeper (for
// example after a client saw a 307 that suggests the snapshot is stale).
// It does not wait.
func (r *Resolver) Refresh() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Stats are counters for observability and benchmarks.
type Stats struct {
	// ZKRequests counts ZooKeeper requests issued by the resolver.
	ZKRequests uint64
	// Snapshots counts snapshots published.
	Snapshots uint64
}

// Stats returns the resolver's counters.
func (r *Resolver) Stats() Stats {
	return Stats{ZKRequests: r.sess.requests.Load(), Snapshots: r.rebuilds.Load()}
}

// Close stops the resolver and closes its ZooKeeper session.
func (r *Resolver) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.closing)
		r.sess.Close()
		<-r.done
	})
	return nil
}

// --- the watch loop ---------------------------------------------------------

type recEntry struct {
	rec ServerRecord
	seq int64
	err error
}

type latchEntry struct {
	data []byte
}

type resolverLoop struct {
	r      *Resolver
	events chan watchEvent

	sessionID int64

	serversArmed bool
	serversKids  []string
	serversW     <-chan zk.Event // the armed children (or existence) watch of the servers dir
	latchArmed   bool
	latchKids    []string
	latchW       <-chan zk.Event
	recs         map[string]recEntry
	recWatched   map[string]bool // records with a pending data watch
	latches      map[string]latchEntry
	force        bool // Refresh was asked: sync, then re-read everything
	settled      bool // the first request of this session, a plain one, has been answered
}

// settle makes the first request of a new session one that sets no watch.
// go-zookeeper v1.0.4 reads its lastZxid, once it holds watches, in the
// connect path right after starting the goroutine that writes it
// (conn.go:614 vs :849; upstream PR #35); a watch request answered in that
// instant is a data race. A plain round trip first lets that step pass
// with no watch registered.
func (l *resolverLoop) settle() error {
	if l.settled {
		return nil
	}
	if _, _, err := l.r.sess.Exists(l.r.cfg.root); err != nil {
		return fmt.Errorf("check %s: %w", l.r.cfg.root, err)
	}
	l.settled = true
	return nil
}

func (r *Resolver) run() {
	defer close(r.done)
	l := &resolverLoop{
		r:          r,
		events:     make(chan watchEvent, 16),
		recs:       make(map[string]recEntry),
		recWatched: make(map[string]bool),
		latches:    make(map[string]latchEntry),
	}
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
	for {
		if dirty && retryC == nil && r.sess.State() == zk.StateHasSession {
			if sid := r.sess.SessionID(); sid != l.sessionID {
				l.reset()
				l.sessionID = sid
				l.settled = false
			}
			l.drain()
			if err := l.refresh(); err != nil {
				if r.closed.Load() {
					return
				}
				r.lastErr.Store(&err)
				d := refreshBackoff(attempt)
				attempt++
				r.cfg.log.Warn("discovery: refresh failed; will retry", "err", err, "in", d)
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				retryC = timer.C
			} else {
				attempt = 0
				dirty = false
			}
		}
		select {
		case <-r.closing:
			return
		case <-r.sess.notify:
			switch r.sess.State() {
			case zk.StateExpired:
				l.reset()
				dirty = true
			case zk.StateHasSession:
				// Same session: go-zookeeper re-arms our watches itself and
				// ZooKeeper fires those whose nodes changed meanwhile, so
				// there is nothing to read now. A read still pending (a
				// refresh that failed while disconnected) waits a moment:
				// right after the reconnect go-zookeeper v1.0.4 reads its
				// lastZxid while its new receive loop writes it (conn.go:614
				// vs :849, upstream PR #35), and the directory watches are
				// not re-armed yet, so that read lists them with new
				// watches.
				if r.sess.SessionID() != l.sessionID {
					dirty = true
				} else if dirty {
					l.serversArmed, l.latchArmed = false, false
					l.serversW, l.latchW = nil, nil
					if timer == nil {
						timer = time.NewTimer(reconnectSettle)
					} else {
						timer.Reset(reconnectSettle)
					}
					retryC = timer.C
				}
			}
		case ev := <-l.events:
			l.handle(ev)
			dirty = true
		case ev, ok := <-l.serversW:
			l.serversW = nil
			if ok {
				l.handle(watchEvent{ev, l.sessionID})
			}
			dirty = true
		case ev, ok := <-l.latchW:
			l.latchW = nil
			if ok {
				l.handle(watchEvent{ev, l.sessionID})
			}
			dirty = true
		case <-r.poke:
			l.force = true
			dirty = true
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
func (l *resolverLoop) reset() {
	l.serversArmed, l.latchArmed = false, false
	l.serversW, l.latchW = nil, nil
	clear(l.recs)
	clear(l.recWatched)
	clear(l.latches)
}

// dirFired handles a directory watch that has fired, and reports whether
// one had.
func (l *resolverLoop) dirFired() bool {
	fired := false
	for _, w := range []*<-chan zk.Event{&l.serversW, &l.latchW} {
		if *w == nil {
			continue
		}
		select {
		case ev, ok := <-*w:
			*w = nil
			fired = true
			if ok {
				l.handle(watchEvent{ev, l.sessionID})
			}
		default:
		}
	}
	return fired
}

// drain handles watch events that are already queued, so one refresh
// covers them all.
func (l *resolverLoop) drain() {
	for {
		select {
		case ev := <-l.events:
			l.handle(ev)
		default:
			return
		}
	}
}

func (l *resolverLoop) handle(ev watchEvent) {
	if ev.session != l.sessionID {
		return // armed in an expired session; the new session re-armed all
	}
	if ev.Type == zk.EventNotWatching {
		l.reset()
		return
	}
	p := l.r.sess.rel(ev.Path)
	switch {
	case p == l.r.serversPath:
		l.serversArmed = false
	case p == l.r.latchPath:
		l.latchArmed = false
	case strings.HasPrefix(p, l.r.serversPath+"/"):
		delete(l.recs, p[len(l.r.serversPath)+1:])
		delete(l.recWatched, p[len(l.r.serversPath)+1:])
	case strings.HasPrefix(p, l.r.latchPath+"/"):
		delete(l.latches, p[len(l.r.latchPath)+1:])
	}
}

// listW lists a directory's children with a watch, or, when the directory
// does not exist, arms an existence watch on it and returns no children.
func (l *resolverLoop) listW(dir string, wp *<-chan zk.Event) ([]string, error) {
	for i := 0; i < 3; i++ {
		kids, w, err := l.r.sess.ChildrenW(dir)
		if err == nil {
			*wp = w
			return kids, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		ok, w, err := l.r.sess.ExistsW(dir)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", dir, err)
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

// list returns dir's children, arming a watch when none is armed.
func (l *resolverLoop) list(dir string, armed *bool, wp *<-chan zk.Event, cached []string) ([]string, error) {
	if !*armed {
		kids, err := l.listW(dir, wp)
		if err != nil {
			return nil, err
		}
		*armed = true
		return kids, nil
	}
	kids, err := l.r.sess.Children(dir)
	if errors.Is(err, zk.ErrNoNode) {
		// Deleted since the watch was armed; its event re-arms.
		return nil, nil
	}
	if err != nil {
		return cached, fmt.Errorf("list %s: %w", dir, err)
	}
	return kids, nil
}

func (l *resolverLoop) refresh() error {
	r := l.r
	if err := l.settle(); err != nil {
		return err
	}
	if l.force {
		// Asked to re-read (a client saw a 307 that contradicts the
		// snapshot): catch up with the ZooKeeper leader, then re-read every
		// record without re-arming watches that are still pending.
		if err := r.sess.Sync(r.cfg.root); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("sync %s: %w", r.cfg.root, err)
		}
		clear(l.recs)
		clear(l.latches)
		l.force = false
	}
	// Both directories are listed on every refresh, so that a snapshot
	// reflects one moment: one transaction (a registrar's Close, a session
	// expiry) deletes nodes in both, but their watch events arrive one at
	// a time. A directory whose watch is still armed is listed without a
	// new watch. Steady state issues no request at all.
	// If a directory's watch fires while we read (a transaction landed
	// between the two lists), the reads may mix two moments: read again.
	// ZooKeeper delivers a watch event before the answer to any later
	// read, so a change that our reads saw half of has fired by then.
	var err error
	for try := 0; ; try++ {
		if l.serversKids, err = l.list(r.serversPath, &l.serversArmed, &l.serversW, l.serversKids); err != nil {
			return err
		}
		kids, err := l.list(r.latchPath, &l.latchArmed, &l.latchW, l.latchKids)
		if err != nil {
			return err
		}
		l.latchKids = layout.SortLatchChildren(kids)
		if !l.dirFired() {
			break
		}
		if try >= 4 {
			// Keep the loop dirty (and the fired watch re-armed next time).
			return errors.New("directories keep changing; will read again")
		}
	}

	// Server records: read (with a data watch) only what is not cached.
	present := make(map[string]bool, len(l.serversKids))
	recs := make([]builtRecord, 0, len(l.serversKids))
	for _, name := range l.serversKids {
		present[name] = true
		e, ok := l.recs[name]
		if !ok {
			nn, nerr := layout.ParseServerNodeName(name)
			if nerr != nil {
				// Not a server record: skip it without reading its data.
				e = recEntry{err: errors.New("not a server record node (want serverUri=<host>:<port>;version=<v>;sequence=<n>)"), seq: 1 << 40}
			} else {
				var data []byte
				var err error
				if l.recWatched[name] {
					data, _, err = r.sess.Get(layout.JoinPath(r.serversPath, name))
				} else {
					var w <-chan zk.Event
					data, w, err = r.sess.GetW(layout.JoinPath(r.serversPath, name))
					if err == nil {
						l.recWatched[name] = true
						forward(w, l.sessionID, l.events, r.closing)
					}
				}
				if errors.Is(err, zk.ErrNoNode) {
					continue // vanished; the children watch fires
				}
				if err != nil {
					return fmt.Errorf("read %s: %w", layout.JoinPath(r.serversPath, name), err)
				}
				rec, perr := layout.ParseServerData(data)
				e = recEntry{rec: rec, seq: nn.Sequence, err: perr}
			}
			l.recs[name] = e
		}
		recs = append(recs, builtRecord{name: name, rec: e.rec, seq: e.seq, err: e.err})
	}
	for name := range l.recs {
		if !present[name] {
			delete(l.recs, name)
		}
	}
	for name := range l.recWatched {
		if !present[name] {
			delete(l.recWatched, name) // its deletion event ends the watch
		}
	}

	// Leader: the first latch child, in Curator's order, whose data reads.
	var leaderNode string
	var leaderData []byte
	latchPresent := make(map[string]bool, len(l.latchKids))
	for _, name := range l.latchKids {
		latchPresent[name] = true
		if leaderData != nil {
			continue
		}
		e, ok := l.latches[name]
		if !ok {
			data, _, err := r.sess.Get(layout.JoinPath(r.latchPath, name))
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", layout.JoinPath(r.latchPath, name), err)
			}
			if data == nil {
				data = []byte{}
			}
			e = latchEntry{data: data}
			l.latches[name] = e
		}
		leaderNode, leaderData = name, e.data
	}
	for name := range l.latches {
		if !latchPresent[name] {
			delete(l.latches, name)
		}
	}

	s := buildSnapshot(r.serversPath, recs, r.latchPath, len(l.latchKids) > 0, leaderNode, leaderData)
	r.lastErr.Store(nil)
	r.publish(s)
	return nil
}

func (r *Resolver) publish(s *Snapshot) {
	old := r.snap.Load()
	if sameContent(old, s) {
		return
	}
	s.Version = old.Version + 1
	s.changed = make(chan struct{})
	r.snap.Store(s)
	r.rebuilds.Add(1)
	close(old.changed)
	if r.cfg.log.Enabled(context.Background(), slog.LevelInfo) {
		ld, _ := s.Leader()
		r.cfg.log.Info("discovery: snapshot", "version", s.Version, "servers", len(s.Servers),
			"leader", ld.URL, "problems", len(s.Problems))
	}
}
