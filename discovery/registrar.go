package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// Registrar publishes one Livy server in the canonical layout: an
// ephemeral-sequential server record and, with WithElection, a
// Curator-compatible LeaderLatch participant whose data is the server id.
//
// It keeps working across connection loss, re-creates its nodes after
// session expiry, and deletes them on Close so that a graceful stop fails
// over at once.
//
// Leadership follows Curator's LeaderLatch (this participant's node is the
// first in latch order) with a session-based error policy: a disconnection
// alone does not end leadership, but once the connection has been lost for
// a whole session timeout (after which ZooKeeper will have expired the
// session) the registrar reports leadership lost without waiting to hear it
// from ZooKeeper.
type Registrar struct {
	cfg        config
	rec        ServerRecord
	data       []byte
	namePrefix string
	sess       *zkSession

	serversPath string
	latchPath   string

	leader     atomic.Bool
	recordPath atomic.Pointer[string]

	registered chan struct{} // closed once the record exists for the first time
	regOnce    sync.Once
	closing    chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Register validates rec, connects to ZooKeeper, publishes the record (and
// joins the latch with WithElection) and returns once the record exists and,
// with election, once the latch node exists and leadership is known. It
// fails when ctx ends first.
func Register(ctx context.Context, connect string, rec ServerRecord, opts ...Option) (*Registrar, error) {
	data, err := rec.MarshalData()
	if err != nil {
		return nil, err
	}
	prefix, err := ServerNodePrefix(rec)
	if err != nil {
		return nil, err
	}
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
	g := &Registrar{
		cfg: cfg, rec: rec, data: data, namePrefix: prefix, sess: sess,
		serversPath: joinPath(cfg.root, serversDir),
		latchPath:   joinPath(cfg.root, leaderDir),
		registered:  make(chan struct{}),
		closing:     make(chan struct{}),
		done:        make(chan struct{}),
	}
	go g.run()
	select {
	case <-g.registered:
		return g, nil
	case <-ctx.Done():
		g.Close()
		return nil, fmt.Errorf("%w: not registered: %w", ErrUnavailable, ctx.Err())
	}
}

// Record returns the published record.
func (g *Registrar) Record() ServerRecord { return g.rec }

// IsLeader reports whether this server currently holds the latch.
func (g *Registrar) IsLeader() bool { return g.leader.Load() }

// RecordPath returns the current server record path (relative to the
// chroot), or "" while it is being (re-)created.
func (g *Registrar) RecordPath() string {
	if p := g.recordPath.Load(); p != nil {
		return *p
	}
	return ""
}

// Close deletes the registrar's nodes (bounded by WithCloseTimeout) and
// closes its ZooKeeper session, which removes any node a delete missed.
func (g *Registrar) Close() error {
	g.closeOnce.Do(func() {
		close(g.closing)
		select {
		case <-g.done:
		case <-time.After(g.cfg.closeTimeout):
			g.closeErr = fmt.Errorf("discovery: registrar close: nodes not deleted within %s; the session close removes them", g.cfg.closeTimeout)
		}
		g.sess.Close()
		<-g.done
	})
	return g.closeErr
}

type regLoop struct {
	g         *Registrar
	events    chan zk.Event
	sessionID int64

	record       string // relative path of our record, "" if none
	recordUnsure bool   // a create may have succeeded unseen
	latch        string // relative path of our latch node, "" if none
	protectedID  string // Curator protected id of the latch create in flight
	latchUnsure  bool
	watching     map[string]bool // paths with a pending watch of ours

	disconnectedAt time.Time
}

func newProtectedID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	// Curator uses a UUID string.
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (g *Registrar) setLeader(v bool) {
	if g.leader.Swap(v) == v {
		return
	}
	g.cfg.log.Info("discovery: leadership changed", "id", g.rec.ID, "leader", v)
	if g.cfg.onLeadership != nil {
		g.cfg.onLeadership(v)
	}
}

func (g *Registrar) run() {
	defer close(g.done)
	l := &regLoop{g: g, events: make(chan zk.Event, 16), watching: make(map[string]bool)}
	var (
		dirty   = true
		attempt = 0
		retry   = time.NewTimer(time.Hour)
		retryC  <-chan time.Time
		demote  = time.NewTimer(time.Hour)
		demoteC <-chan time.Time
	)
	retry.Stop()
	demote.Stop()
	defer retry.Stop()
	defer demote.Stop()
	for {
		if dirty && retryC == nil && g.sess.State() == zk.StateHasSession {
			if sid := g.sess.SessionID(); sid != l.sessionID {
				if l.sessionID != 0 {
					g.cfg.log.Warn("discovery: new ZooKeeper session; re-creating nodes", "id", g.rec.ID)
				}
				l.lost()
				l.sessionID = sid
			}
			if err := l.sync(); err != nil {
				select {
				case <-g.closing:
				default:
					d := refreshBackoff(attempt)
					attempt++
					g.cfg.log.Warn("discovery: registration step failed; will retry", "err", err, "in", d)
					retry.Reset(d)
					retryC = retry.C
				}
			} else {
				attempt = 0
				dirty = false
				g.regOnce.Do(func() { close(g.registered) })
			}
		}
		select {
		case <-g.closing:
			l.cleanup()
			return
		case <-g.sess.notify:
			switch g.sess.State() {
			case zk.StateHasSession:
				demote.Stop()
				demoteC = nil
				dirty = true
			case zk.StateExpired:
				l.lost()
				dirty = true
			default: // disconnected or (re)connecting
				if g.leader.Load() && demoteC == nil {
					demote.Reset(g.cfg.sessionTimeout)
					demoteC = demote.C
				}
			}
		case ev := <-l.events:
			delete(l.watching, g.sess.rel(ev.Path))
			if ev.Type == zk.EventNotWatching {
				clear(l.watching)
			}
			dirty = true
		case <-retryC:
			retryC = nil
		case <-demoteC:
			demoteC = nil
			if g.sess.State() != zk.StateHasSession {
				g.cfg.log.Warn("discovery: ZooKeeper unreachable for a session timeout; giving up leadership", "id", g.rec.ID)
				g.setLeader(false)
			}
		}
	}
}

// lost forgets nodes that died with the session.
func (l *regLoop) lost() {
	l.record, l.recordUnsure = "", false
	l.latch, l.latchUnsure, l.protectedID = "", false, ""
	l.g.recordPath.Store(nil)
	clear(l.watching)
	l.g.setLeader(false)
}

// watch arms an existence watch on p unless one is pending; it reports
// whether p exists.
func (l *regLoop) watch(p string) (bool, error) {
	if l.watching[p] {
		// Armed while p existed and no event since: it still exists.
		return true, nil
	}
	ok, w, err := l.g.sess.ExistsW(p)
	if err != nil {
		return false, err
	}
	if ok {
		l.watching[p] = true
		forward(w, l.events, l.g.closing)
	}
	return ok, nil
}

// sync brings ZooKeeper in line with what we want: our record exists, our
// latch node exists (with election), and leadership is known.
func (l *regLoop) sync() error {
	g := l.g
	if l.record == "" {
		p, err := l.createRecord()
		if err != nil {
			return err
		}
		l.record = p
		g.recordPath.Store(&p)
		g.cfg.log.Info("discovery: registered", "id", g.rec.ID, "url", g.rec.URL, "node", p)
	}
	if ok, err := l.watch(l.record); err != nil {
		return err
	} else if !ok {
		g.cfg.log.Warn("discovery: server record vanished; re-creating", "node", l.record)
		l.record = ""
		g.recordPath.Store(nil)
		return l.sync()
	}
	if !g.cfg.elect {
		return nil
	}
	if l.latch == "" {
		p, err := l.createLatch()
		if err != nil {
			return err
		}
		l.latch = p
	}
	return l.checkLeadership()
}

func isAmbiguous(err error) bool {
	return err != nil && !isDefinite(err) && !errors.Is(err, zk.ErrSessionExpired)
}

func (l *regLoop) createRecord() (string, error) {
	g := l.g
	if l.recordUnsure {
		// A previous create may have succeeded without us hearing back:
		// adopt the record our session owns instead of adding a second one.
		kids, err := g.sess.Children(g.serversPath)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return "", err
		}
		for _, k := range kids {
			if !strings.HasPrefix(k, g.namePrefix) {
				continue
			}
			p := joinPath(g.serversPath, k)
			ok, st, err := g.sess.Exists(p)
			if err != nil {
				return "", err
			}
			if ok && st.EphemeralOwner == g.sess.SessionID() {
				l.recordUnsure = false
				return p, nil
			}
		}
		l.recordUnsure = false
	}
	if err := g.sess.EnsurePath(g.serversPath); err != nil {
		return "", err
	}
	p, err := g.sess.Create(joinPath(g.serversPath, g.namePrefix), g.data, zk.FlagEphemeral|zk.FlagSequence)
	if isAmbiguous(err) {
		l.recordUnsure = true
	}
	if err != nil {
		return "", fmt.Errorf("create server record: %w", err)
	}
	return p, nil
}

func (l *regLoop) createLatch() (string, error) {
	g := l.g
	if l.latchUnsure && l.protectedID != "" {
		kids, err := g.sess.Children(g.latchPath)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return "", err
		}
		for _, k := range kids {
			if latchHasProtectedID(k, l.protectedID) {
				l.latchUnsure = false
				return joinPath(g.latchPath, k), nil
			}
		}
	}
	l.latchUnsure = false
	if err := g.sess.EnsurePath(g.latchPath); err != nil {
		return "", err
	}
	if l.protectedID == "" {
		l.protectedID = newProtectedID()
	}
	p, err := g.sess.Create(joinPath(g.latchPath, LatchNodePrefix(l.protectedID)), LatchData(g.rec.ID), zk.FlagEphemeral|zk.FlagSequence)
	if isAmbiguous(err) {
		l.latchUnsure = true
	}
	if err != nil {
		return "", fmt.Errorf("join leader latch: %w", err)
	}
	l.protectedID = "" // the next join (after a loss) gets a fresh id, as Curator does
	return p, nil
}

// checkLeadership is Curator's LeaderLatch.checkLeadership: leader when our
// node sorts first; otherwise watch the node just before ours.
func (l *regLoop) checkLeadership() error {
	g := l.g
	kids, err := g.sess.Children(g.latchPath)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	SortLatchChildren(kids)
	own := l.latch[len(g.latchPath)+1:]
	idx := -1
	for i, k := range kids {
		if k == own {
			idx = i
			break
		}
	}
	switch {
	case idx < 0:
		g.cfg.log.Warn("discovery: latch node vanished; re-joining", "node", l.latch)
		l.latch = ""
		g.setLeader(false)
		p, err := l.createLatch()
		if err != nil {
			return err
		}
		l.latch = p
		return l.checkLeadership()
	case idx == 0:
		// Watch our own node so that its deletion by someone else is seen.
		if ok, err := l.watch(l.latch); err != nil {
			return err
		} else if !ok {
			return l.checkLeadership()
		}
		g.setLeader(true)
	default:
		g.setLeader(false)
		prev := joinPath(g.latchPath, kids[idx-1])
		ok, err := l.watch(prev)
		if err != nil {
			return err
		}
		if !ok {
			return l.checkLeadership()
		}
		if ok, err := l.watch(l.latch); err != nil {
			return err
		} else if !ok {
			return l.checkLeadership()
		}
	}
	return nil
}

// cleanup deletes our nodes; called on Close.
func (l *regLoop) cleanup() {
	g := l.g
	// Stop acting as leader before anyone else can take over.
	g.setLeader(false)
	var paths []string
	for _, p := range []string{l.latch, l.record} {
		if p != "" {
			paths = append(paths, p)
		}
	}
	if err := g.sess.DeleteAll(paths...); err != nil {
		g.cfg.log.Warn("discovery: deleting nodes on close", "err", err)
	}
	g.recordPath.Store(nil)
}
