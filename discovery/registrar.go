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
	"github.com/livyha/livyha/discovery/layout"
)

// ErrIDTaken is matched by the error of a Register whose server id a
// record of another live ZooKeeper session already claims (see
// WithTakeover).
var ErrIDTaken = errors.New("discovery: server id already registered by another live session")

// IDTakenError says which record holds the id.
type IDTakenError struct {
	ID   int
	Node string // the record holding it
	URL  string // that record's URL
}

func (e *IDTakenError) Error() string {
	return fmt.Sprintf("%v: id %d is held by %s (url %s); it goes when that session ends (after a crash: the session timeout), or register with WithTakeover",
		ErrIDTaken, e.ID, e.Node, e.URL)
}

func (e *IDTakenError) Is(target error) bool { return target == ErrIDTaken }

// Registrar publishes one Livy server in the canonical layout: an
// ephemeral-sequential server record and, with WithElection, a
// Curator-compatible LeaderLatch participant whose data is the server id.
//
// It keeps working across connection loss, re-creates its nodes after
// session expiry, and deletes them on Close so that a graceful stop fails
// over at once.
//
// Leadership follows Curator's LeaderLatch: this server may lead while
// its latch node sorts first. What it does when its ZooKeeper connection
// is in trouble is its LeadershipPolicy (WithLeadershipPolicy):
//
//   - LeadWhileSession (the default; Curator's
//     SessionConnectionStateErrorPolicy) keeps leadership while the
//     session may be alive. ZooKeeper expires a session no earlier than
//     the negotiated session timeout after a server last heard from the
//     client, and a request a server answered was received after it was
//     sent; so the registrar follows, on its monotonic clock, the send
//     time of the last answered request of its session (its connections
//     ping ten times per timeout to keep that recent) and gives
//     leadership up one tenth of the negotiated timeout (or of the
//     requested one, if smaller) before the earliest moment the session
//     could expire — connected or not, so also when a partition sends no
//     resets and go-zookeeper has not noticed it yet. Another participant
//     can win only after the session expired (ZooKeeper then deletes this
//     server's latch node), hence only after this one gave up. A
//     disconnection shorter than that — a ZooKeeper leader election, an
//     outage well within the session timeout — goes unnoticed by the
//     leadership handler. If the lease cannot be measured (no connect
//     response was read) it falls back to LeadOnConnection. Like
//     Curator's, it assumes nobody deletes the latch node of a live
//     session behind its back: if someone does while this server is
//     disconnected, the next one in the latch leads too until this one
//     reconnects or its lease ends.
//   - LeadOnConnection (Curator's default, "standard" policy) gives
//     leadership up at the first disconnection, and takes it back after
//     reconnecting within the same session if its node still sorts
//     first. A partitioned leader that gets no reset keeps leading until
//     go-zookeeper notices (2/3 of the session timeout of silence), which
//     is still before the session can expire.
//
// So under either policy two registrars never both report leadership
// (clocks and latch deletions aside). After a session expiry every node is
// re-created and leadership starts over.
//
// With WithHiveRecord it also holds a Hive-compatible Thrift record in a
// Hive namespace, only while it leads: created when it becomes leader,
// deleted as soon as it learns it lost leadership, following the same
// policy. While disconnected it cannot delete the node: if the session
// expires, ZooKeeper removes the node (an ephemeral) together with the
// latch node, before electing another leader; if it reconnects within the
// session as a non-leader, it deletes the node then; if it still leads, it
// keeps it.
type Registrar struct {
	cfg        config
	rec        ServerRecord
	data       []byte
	namePrefix string
	sess       *zkSession
	tracker    connTracker // its connections, for Abandon

	// A PR #212 participant (JoinPR212Latch) publishes no record and
	// writes its string id into the latch.
	noRecord    bool
	participant string
	latchData   []byte

	serversPath string
	latchPath   string

	// The leader-only Hive record (WithHiveRecord); hiveDir is "" without.
	hiveDir    string
	hivePrefix string
	hiveData   []byte

	leader      atomic.Bool
	leadMu      sync.Mutex    // serializes leadership changes (run loop, lease watch)
	leadSession atomic.Int64  // the session in which leadership was last gained
	leadWake    chan struct{} // buffered(1): leadership was gained (wakes the lease watch)
	leaseLost   chan struct{} // buffered(1): the lease ended while leading (wakes the run loop)
	abandoned   atomic.Bool
	recordPath  atomic.Pointer[string]
	hivePath    atomic.Pointer[string]
	notify      *notifier

	registered chan struct{} // closed after the first complete registration
	regOnce    sync.Once
	lastErr    atomic.Pointer[error] // the last registration step's failure
	denied     chan struct{}         // closed when ZooKeeper's ACL denies the registration
	deniedOnce sync.Once
	closing    chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Register validates rec, connects to ZooKeeper, publishes the record (and
// joins the latch with WithElection) and returns once the record exists and,
// with election, once the latch node exists and leadership is known. It
// fails when ctx ends first.
//
// target is a ZooKeeper connect string or a zk:// target of the canonical
// layout (its root= is the root unless WithRoot is given).
func Register(ctx context.Context, target string, rec ServerRecord, opts ...RegistrarOption) (*Registrar, error) {
	data, err := rec.MarshalData()
	if err != nil {
		return nil, err
	}
	prefix, err := layout.ServerNodePrefix(rec)
	if err != nil {
		return nil, err
	}
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if t.Kind != "zk" || t.Layout != LayoutCanonical {
		return nil, fmt.Errorf("%w: a Registrar writes the canonical layout; target %q names another (give a connect string or zk://…?root=…)", ErrBadTarget, target)
	}
	cs := t.ZK
	cfg, err := registrarConfig(append([]RegistrarOption{Option(func(c *config) { c.root = t.Root })}, opts...))
	if err != nil {
		return nil, err
	}
	var hiveDir, hivePrefix string
	var hiveData []byte
	if cfg.hiveRec != nil {
		if !cfg.elect {
			return nil, fmt.Errorf("%w: WithHiveRecord needs WithElection(true): the Hive record is held only by the leader", ErrBadOption)
		}
		ns := cfg.hiveRecNS
		if ns == "" {
			ns = layout.DefaultHiveNamespace
		}
		if hiveDir, err = hiveNamespacePath(ns); err != nil {
			return nil, err
		}
		inst, err := cfg.hiveRec.instance(rec)
		if err != nil {
			return nil, err
		}
		if hiveData, err = layout.HiveRecordData(inst); err != nil {
			return nil, wrapOnce(ErrBadOption, "hive record", err)
		}
		if hivePrefix, err = layout.HiveNodePrefix(inst.Host, inst.Port, inst.Version); err != nil {
			return nil, wrapOnce(ErrBadOption, "hive record", err)
		}
	}
	g := &Registrar{
		hiveDir: hiveDir, hivePrefix: hivePrefix, hiveData: hiveData,
		cfg: cfg, rec: rec, data: data, namePrefix: prefix,
		serversPath: layout.JoinPath(cfg.root, layout.ServersDir),
		latchPath:   layout.JoinPath(cfg.root, layout.LeaderDir),
		latchData:   layout.LatchData(rec.ID),
	}
	return g.start(ctx, cs)
}

// JoinPR212Latch makes the caller a participant of a PR #212 (LIVY-11)
// cluster: it joins the Curator LeaderLatch at /<keyPrefix>/leader with
// the string participant id (as livy.server.ha.server-ids names it) and
// publishes nothing else, as PR #212 servers do (clients map the id to a
// host through livy.conf). keyPrefix "" is PR #212's default, livy_ha.
// WithLeadershipHandler, WithLeadershipPolicy, WithSessionTimeout and the
// ZooKeeper options apply; it returns once leadership is known.
func JoinPR212Latch(ctx context.Context, connect, keyPrefix, id string, opts ...RegistrarOption) (*Registrar, error) {
	if err := layout.ValidatePR212ID(id); err != nil {
		return nil, wrapOnce(ErrBadOption, "participant id", err)
	}
	cs, err := ParseConnectString(connect)
	if err != nil {
		return nil, err
	}
	if keyPrefix == "" {
		keyPrefix = layout.PR212DefaultKeyPrefix
	}
	latch, err := layout.CleanPath("/" + keyPrefix + "/" + layout.PR212LeaderDir)
	if err != nil {
		return nil, wrapOnce(ErrBadOption, "key prefix", err)
	}
	cfg, err := registrarConfig(append(opts, registrarOnly(func(c *config) { c.elect = true })))
	if err != nil {
		return nil, err
	}
	g := &Registrar{cfg: cfg, rec: ServerRecord{ID: -1}, noRecord: true, participant: id,
		latchPath: latch, latchData: layout.PR212ParticipantData(id)}
	return g.start(ctx, cs)
}

// start connects and runs the registrar until it is registered.
func (g *Registrar) start(ctx context.Context, cs ConnectString) (*Registrar, error) {
	switch g.cfg.leadership {
	case LeadWhileSession, LeadOnConnection:
	default:
		return nil, fmt.Errorf("%w: unknown leadership policy %v", ErrBadOption, g.cfg.leadership)
	}
	g.tracker.base = g.cfg.dialer
	sess, err := dialSession(cs, sessionConfig{timeout: g.cfg.sessionTimeout, dialer: g.tracker.dial(context.Background()),
		log: g.cfg.log, auth: g.cfg.auth, acl: g.cfg.acl, lease: g.leasePolicy()})
	if err != nil {
		return nil, err
	}
	g.sess = sess
	g.notify = newNotifier(g.cfg.onLeadership)
	g.leadWake = make(chan struct{}, 1)
	g.leaseLost = make(chan struct{}, 1)
	g.registered = make(chan struct{})
	g.denied = make(chan struct{})
	g.closing = make(chan struct{})
	g.done = make(chan struct{})
	go g.run()
	select {
	case <-g.registered:
		return g, nil
	case <-g.denied:
		g.Close()
		return nil, *g.lastErr.Load()
	case <-ctx.Done():
		g.Close()
		if p := g.lastErr.Load(); p != nil {
			return nil, fmt.Errorf("%w: not registered: %w (last error: %v)", ErrUnavailable, ctx.Err(), *p)
		}
		return nil, withDialError(fmt.Errorf("%w: not registered: %w", ErrUnavailable, ctx.Err()), g.sess)
	}
}

// Record returns the published record.
func (g *Registrar) Record() ServerRecord { return g.rec }

// IsLeader reports whether this server currently leads: its latch node
// sorts first and, per its LeadershipPolicy, its ZooKeeper connection is
// up or its session's lease has not ended.
func (g *Registrar) IsLeader() bool { return g.leader.Load() }

// RecordPath returns the current server record path (relative to the
// chroot), or "" while it is being (re-)created.
func (g *Registrar) RecordPath() string {
	if p := g.recordPath.Load(); p != nil {
		return *p
	}
	return ""
}

// HiveRecordPath returns the path (relative to the chroot) of the Hive
// record this registrar holds while it leads (WithHiveRecord), or "".
func (g *Registrar) HiveRecordPath() string {
	if p := g.hivePath.Load(); p != nil {
		return *p
	}
	return ""
}

// Close gives up leadership, deletes the registrar's nodes (bounded by
// WithCloseTimeout) and closes its ZooKeeper session, which removes any
// node a delete missed. It may be called from a leadership handler.
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
		g.notify.close()
	})
	return g.closeErr
}

// Abandon stops the registrar as a crash would: its ZooKeeper connections
// are cut and no new one is made, its session is not closed and nothing is
// deleted, so its nodes stay until ZooKeeper expires the session (the
// session timeout later). That is what a kill -9 of a sidecar leaves, and
// what PR #212 does even on SIGTERM (its latch is not released). For
// drills and stand-ins; Close is the graceful stop.
func (g *Registrar) Abandon() {
	g.abandoned.Store(true)
	g.tracker.closeAll()
	g.closeOnce.Do(func() {
		close(g.closing)
		<-g.done
		g.sess.Close() // disconnected for good: no close request reaches ZooKeeper
		g.notify.close()
	})
}

func (g *Registrar) setLeader(v bool) {
	g.leadMu.Lock()
	defer g.leadMu.Unlock()
	g.setLeaderLocked(v)
}

// setLeaderLocked changes leadership; g.leadMu is held.
func (g *Registrar) setLeaderLocked(v bool) {
	if g.leader.Swap(v) == v {
		return
	}
	g.cfg.log.Info("discovery: leadership changed", "id", g.rec.ID, "leader", v)
	g.notify.send(v)
	if v {
		poke(g.leadWake)
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// leasePolicy reports whether leadership follows the session's lease
// (LeadWhileSession with election).
func (g *Registrar) leasePolicy() bool { return g.cfg.elect && g.cfg.leadership == LeadWhileSession }

// leaseEnd returns when the lease of the session leadership was gained in
// ends, and whether leadership follows it (the policy, and a lease that
// can be measured).
func (g *Registrar) leaseEnd() (time.Time, bool) {
	if !g.leasePolicy() {
		return time.Time{}, false
	}
	return g.sess.lease.deadline(g.leadSession.Load())
}

// lead takes leadership, in session, when our latch node sorts first: if
// connected and, under the lease policy, the lease has not ended (a reply
// just came, so it has not, unless ZooKeeper took longer to answer than
// the lease lasts: then the run loop tries again).
func (g *Registrar) lead(session int64) {
	g.leadMu.Lock()
	defer g.leadMu.Unlock()
	ok := g.sess.State() == zk.StateHasSession
	if ok && g.leasePolicy() {
		if end, known := g.sess.lease.deadline(session); known && !time.Now().Before(end) {
			ok = false
			poke(g.leaseLost)
		}
	}
	if ok {
		g.leadSession.Store(session)
	}
	g.setLeaderLocked(ok)
}

// disconnected handles a disconnection: under LeadOnConnection (or without
// a lease) leadership goes at once, as ZooKeeper may expire the session
// and elect another before we can know; under LeadWhileSession it stays
// until the lease ends (watchLease).
func (g *Registrar) disconnected() {
	if _, ok := g.leaseEnd(); !ok {
		g.setLeader(false)
		return
	}
	g.checkLease()
}

// checkLease gives leadership up if the lease it follows has ended, and
// has the run loop check leadership again once ZooKeeper answers.
func (g *Registrar) checkLease() (end time.Time, ended bool) {
	g.leadMu.Lock()
	defer g.leadMu.Unlock()
	end, known := g.leaseEnd()
	if !known || !g.leader.Load() || time.Now().Before(end) {
		return end, false
	}
	g.cfg.log.Warn("discovery: ZooKeeper session lease ended; giving leadership up", "id", g.rec.ID)
	g.setLeaderLocked(false)
	poke(g.leaseLost)
	return end, true
}

// watchLease gives leadership up when the lease of its session ends
// (LeadWhileSession), until stop closes.
func (g *Registrar) watchLease(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		var wait <-chan time.Time
		if end, ended := g.checkLease(); !ended && g.leader.Load() && !end.IsZero() {
			t.Reset(time.Until(end))
			wait = t.C
		}
		select {
		case <-stop:
			return
		case <-g.leadWake:
		case <-wait:
		}
		t.Stop()
	}
}

// notifier calls the leadership handler, in order, from its own goroutine,
// so a handler may block or call Close without stalling the registrar.
type notifier struct {
	f       func(bool)
	mu      sync.Mutex
	queue   []bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once
}

func newNotifier(f func(bool)) *notifier {
	n := &notifier{f: f, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if f == nil {
		close(n.done)
		return n
	}
	go n.loop()
	return n
}

func (n *notifier) send(v bool) {
	if n.f == nil {
		return
	}
	n.mu.Lock()
	n.queue = append(n.queue, v)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) loop() {
	defer close(n.done)
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, v := range q {
			n.f(v)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-n.wake:
		case <-n.stop:
			n.mu.Lock()
			q := n.queue
			n.queue = nil
			n.mu.Unlock()
			for _, v := range q {
				n.f(v)
			}
			return
		}
	}
}

// close delivers what is queued and stops the goroutine. It does not wait
// for it: close may run inside a handler.
func (n *notifier) close() { n.stopped.Do(func() { close(n.stop) }) }

type regLoop struct {
	g         *Registrar
	events    chan watchEvent
	sessionID int64

	record       string // relative path of our record, "" if none
	recordUnsure bool   // a create may have succeeded unseen
	checkedID    bool   // the id was checked free at the first registration
	latch        string // relative path of our latch node, "" if none
	protectedID  string // Curator protected id of the latch create in flight
	latchUnsure  bool
	hive         string // relative path of our Hive record, "" if none
	hiveUnsure   bool
	dedupe       bool            // an ambiguous create happened: check for our own duplicates
	watching     map[string]bool // paths with a pending watch of ours
	healthy      bool            // the health check passes (always, without one)
	stale        []string        // our nodes a withdrawal could not delete (ZooKeeper unreachable)
}

// reconnectSettle is how long the registrar waits after a same-session
// reconnect before talking to ZooKeeper (see run).
const reconnectSettle = 20 * time.Millisecond

func newProtectedID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	// Curator uses a UUID string.
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (g *Registrar) run() {
	defer close(g.done)
	if g.leasePolicy() {
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() { defer close(stopped); g.watchLease(stop) }()
		defer func() { close(stop); <-stopped }()
	}
	l := &regLoop{g: g, events: make(chan watchEvent, 16), watching: make(map[string]bool), healthy: g.cfg.health == nil}
	healthC := g.startHealth()
	var (
		dirty   = true
		attempt = 0
		retry   = time.NewTimer(time.Hour)
		retryC  <-chan time.Time
	)
	retry.Stop()
	defer retry.Stop()
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
				if errors.Is(err, zk.ErrNoAuth) && !errors.Is(err, ErrNotAuthenticated) {
					err = fmt.Errorf("%w: %w (the ACL of %s denies this client; give ZooKeeper credentials, e.g. digest auth)", ErrNotAuthenticated, err, g.cfg.root)
				}
				g.lastErr.Store(&err)
				if errors.Is(err, ErrNotAuthenticated) || errors.Is(err, ErrIDTaken) {
					g.deniedOnce.Do(func() { close(g.denied) })
				}
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
				if l.healthy {
					g.regOnce.Do(func() { close(g.registered) })
				}
			}
		}
		select {
		case <-g.closing:
			if g.abandoned.Load() {
				g.setLeader(false)
				return
			}
			l.withdraw()
			return
		case <-g.sess.notify:
			switch g.sess.State() {
			case zk.StateHasSession:
				dirty = true
				if g.sess.SessionID() == l.sessionID {
					// Same session: re-check leadership (our latch node may
					// have been deleted meanwhile), a moment later, when
					// go-zookeeper has re-armed the watches (the request
					// would wait at the reconnectGate until then anyway).
					// Leadership, if given up, stays so until the check.
					retry.Reset(reconnectSettle)
					retryC = retry.C
				}
			case zk.StateExpired:
				l.lost()
				dirty = true
			default:
				// Disconnected or (re)connecting.
				g.disconnected()
			}
		case <-g.leaseLost:
			// Leadership went with the lease: check it again once
			// ZooKeeper answers.
			dirty = true
		case ev := <-l.events:
			if ev.session != l.sessionID {
				continue // armed in an expired session
			}
			delete(l.watching, g.sess.rel(ev.Path))
			if ev.Type == zk.EventNotWatching {
				clear(l.watching)
			}
			dirty = true
		case <-retryC:
			retryC = nil
		case h := <-healthC:
			if h == l.healthy {
				continue
			}
			l.healthy = h
			if h {
				g.cfg.log.Info("discovery: server healthy; publishing", "id", g.rec.ID)
			} else {
				g.cfg.log.Warn("discovery: server unhealthy; withdrawing its nodes", "id", g.rec.ID)
				l.withdraw()
			}
			dirty = true
		}
	}
}

// startHealth runs the health check, if any, and reports each change of
// health on the returned channel (nil without a check). It stops when the
// registrar closes.
func (g *Registrar) startHealth() <-chan bool {
	if g.cfg.health == nil {
		return nil
	}
	out := make(chan bool, 1)
	base, cancelBase := context.WithCancel(context.Background())
	go func() {
		<-g.closing
		cancelBase()
	}()
	go func() {
		interval := g.cfg.healthInterval
		if interval <= 0 {
			interval = time.Second
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		failures, last := 0, false
		for first := true; ; first = false {
			if !first {
				select {
				case <-g.closing:
					return
				case <-t.C:
				}
			}
			ctx, cancel := context.WithTimeout(base, interval)
			err := g.cfg.health(ctx)
			cancel()
			if base.Err() != nil {
				return
			}
			healthy := last
			if err == nil {
				failures, healthy = 0, true
			} else if failures++; failures >= g.cfg.healthFailures {
				healthy = false
				if last {
					g.cfg.log.Warn("discovery: health check failed", "id", g.rec.ID, "err", err, "failures", failures)
				}
			}
			if healthy != last || first {
				last = healthy
				select { // keep only the newest state
				case <-out:
				default:
				}
				out <- healthy
			}
		}
	}()
	return out
}

// withdraw gives up leadership and deletes our nodes in one transaction
// while the session lives on: when the server turns unhealthy, and on
// Close.
func (l *regLoop) withdraw() {
	g := l.g
	// Stop acting as leader before anyone else can take over.
	g.setLeader(false)
	var paths []string
	for _, p := range []string{l.hive, l.latch, l.record} {
		if p != "" {
			paths = append(paths, p)
		}
	}
	if err := g.sess.DeleteAll(paths...); err != nil {
		// Kept for sync to delete once ZooKeeper answers (they live on
		// with the session otherwise).
		g.cfg.log.Warn("discovery: deleting our nodes; will retry", "err", err)
		l.stale = append(l.stale, paths...)
	}
	l.forget()
}

// forget drops what we know of our nodes.
func (l *regLoop) forget() {
	l.record, l.recordUnsure = "", false
	l.latch, l.latchUnsure, l.protectedID = "", false, ""
	l.setHive("")
	l.hiveUnsure = false
	l.g.recordPath.Store(nil)
}

// lost forgets nodes that died with the session.
func (l *regLoop) lost() {
	l.forget()
	l.stale = nil // they died with the session
	l.dedupe = false
	clear(l.watching)
	l.g.setLeader(false)
}

// watch arms a data watch on p unless one is pending; it reports whether p
// exists. (A data watch, unlike an existence watch, is not left behind when
// p is missing.)
func (l *regLoop) watch(p string) (bool, error) {
	if l.watching[p] {
		// Armed while p existed and no event since: it still exists.
		return true, nil
	}
	_, w, err := l.g.sess.GetW(p)
	if errors.Is(err, zk.ErrNoNode) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.watching[p] = true
	forward(w, l.sessionID, l.events, l.g.closing)
	return true, nil
}

// sync brings ZooKeeper in line with what we want: our record exists, our
// latch node exists (with election), and leadership is known.
func (l *regLoop) sync() error {
	if err := l.g.sess.ensureAuth(); err != nil {
		return err
	}
	g := l.g
	if len(l.stale) > 0 {
		if err := g.sess.DeleteAll(l.stale...); err != nil {
			return fmt.Errorf("deleting withdrawn nodes: %w", err)
		}
		l.stale = nil
	}
	if !l.healthy {
		return nil // nothing to publish until the health check passes
	}
	for tries := 0; !g.noRecord && (l.record == "" || tries == 0); tries++ {
		if tries > 3 {
			return errors.New("server record keeps vanishing")
		}
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
		}
	}
	if g.cfg.elect {
		if l.latch == "" {
			p, err := l.createLatch()
			if err != nil {
				return err
			}
			l.latch = p
		}
		if err := l.checkLeadership(0); err != nil {
			return err
		}
	}
	// The Hive record before the duplicate check, so that a record an
	// ambiguous create left is adopted rather than deleted and re-created.
	if err := l.syncHive(); err != nil {
		return err
	}
	if l.dedupe {
		if err := l.removeOwnDuplicates(); err != nil {
			return err
		}
		l.dedupe = false
		return l.syncHive() // leadership was re-checked
	}
	return nil
}

func (l *regLoop) setHive(p string) {
	l.hive = p
	if p == "" {
		l.g.hivePath.Store(nil)
	} else {
		l.g.hivePath.Store(&p)
	}
}

// syncHive holds the Hive record while this server leads and withdraws it
// otherwise.
func (l *regLoop) syncHive() error {
	g := l.g
	if g.hiveDir == "" {
		return nil
	}
	if !g.leader.Load() {
		if l.hive != "" {
			if err := g.sess.Delete(l.hive); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return fmt.Errorf("withdraw hive record: %w", err)
			}
			g.cfg.log.Info("discovery: withdrew hive record", "id", g.rec.ID, "node", l.hive)
			l.setHive("")
		}
		if l.hiveUnsure {
			// A create whose answer was lost may have landed.
			for {
				p, err := l.findOwn(g.hiveDir, g.hivePrefix)
				if err != nil {
					return err
				}
				if p == "" {
					break
				}
				if err := g.sess.Delete(p); err != nil && !errors.Is(err, zk.ErrNoNode) {
					return fmt.Errorf("withdraw hive record: %w", err)
				}
			}
			l.hiveUnsure = false
		}
		return nil
	}
	for tries := 0; ; tries++ {
		if tries > 3 {
			return errors.New("hive record keeps vanishing")
		}
		if l.hive == "" {
			p, err := l.createHive()
			if err != nil {
				return err
			}
			l.setHive(p)
			g.cfg.log.Info("discovery: published hive record", "id", g.rec.ID, "node", p)
		}
		ok, err := l.watch(l.hive)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		g.cfg.log.Warn("discovery: hive record vanished; re-creating", "node", l.hive)
		l.setHive("")
	}
}

func (l *regLoop) createHive() (string, error) {
	return l.createOwn(l.g.hiveDir, l.g.hivePrefix, l.g.hiveData, &l.hiveUnsure, "hive record")
}

// createOwn creates dir/prefix<sequence> as an ephemeral-sequential node
// of our session. After an ambiguous attempt (*unsure) it first adopts the
// node our session already owns, if the earlier create succeeded unseen,
// instead of adding a second one.
func (l *regLoop) createOwn(dir, prefix string, data []byte, unsure *bool, what string) (string, error) {
	g := l.g
	if *unsure {
		p, err := l.findOwn(dir, prefix)
		if err != nil {
			return "", err
		}
		*unsure = false
		if p != "" {
			return p, nil
		}
	}
	if err := g.sess.EnsurePath(dir); err != nil {
		return "", err
	}
	p, err := g.sess.Create(layout.JoinPath(dir, prefix), data, zk.FlagEphemeral|zk.FlagSequence)
	if isAmbiguous(err) {
		*unsure, l.dedupe = true, true
	}
	if err != nil {
		return "", fmt.Errorf("create %s: %w", what, err)
	}
	return p, nil
}

// findOwn returns a child of dir named prefix... that is an ephemeral node
// of our session, or "".
func (l *regLoop) findOwn(dir, prefix string) (string, error) {
	kids, err := l.g.sess.Children(dir)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return "", err
	}
	for _, k := range kids {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		p := layout.JoinPath(dir, k)
		if mine, err := l.ownedBySession(p); err != nil {
			return "", err
		} else if mine {
			return p, nil
		}
	}
	return "", nil
}

func isAmbiguous(err error) bool {
	return err != nil && !isDefinite(err) && !errors.Is(err, zk.ErrSessionExpired)
}

// ownedBySession reports whether p is an ephemeral node of our session.
func (l *regLoop) ownedBySession(p string) (bool, error) {
	ok, st, err := l.g.sess.Exists(p)
	if err != nil {
		return false, err
	}
	return ok && st.EphemeralOwner == l.g.sess.SessionID(), nil
}

func (l *regLoop) createRecord() (string, error) {
	if !l.checkedID && !l.g.cfg.takeover {
		if err := l.checkIDFree(); err != nil {
			return "", err
		}
	}
	l.checkedID = true
	return l.createOwn(l.g.serversPath, l.g.namePrefix, l.g.data, &l.recordUnsure, "server record")
}

// checkIDFree refuses, at the first registration, an id that a record of
// another live ZooKeeper session already claims: two servers with one id
// make both unusable (or, for the leader's id, one of them invisible).
func (l *regLoop) checkIDFree() error {
	g := l.g
	kids, err := g.sess.Children(g.serversPath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", g.serversPath, err)
	}
	for _, k := range kids {
		if _, err := layout.ParseServerNodeName(k); err != nil {
			continue
		}
		p := layout.JoinPath(g.serversPath, k)
		data, st, err := g.sess.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		rec, perr := layout.ParseServerData(data)
		if perr != nil || rec.ID != g.rec.ID || st.EphemeralOwner == 0 || st.EphemeralOwner == g.sess.SessionID() {
			continue
		}
		return &IDTakenError{ID: g.rec.ID, Node: p, URL: rec.URL}
	}
	return nil
}

func (l *regLoop) createLatch() (string, error) {
	g := l.g
	if l.latchUnsure && l.protectedID != "" {
		kids, err := g.sess.Children(g.latchPath)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return "", err
		}
		for _, k := range kids {
			if layout.HasProtectedID(k, l.protectedID) {
				l.latchUnsure = false
				return layout.JoinPath(g.latchPath, k), nil
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
	p, err := g.sess.Create(layout.JoinPath(g.latchPath, layout.LatchNodePrefix(l.protectedID)), g.latchData, zk.FlagEphemeral|zk.FlagSequence)
	if isAmbiguous(err) {
		l.latchUnsure, l.dedupe = true, true
	}
	if err != nil {
		return "", fmt.Errorf("join leader latch: %w", err)
	}
	l.protectedID = "" // the next join (after a loss) gets a fresh id, as Curator does
	return p, nil
}

// removeOwnDuplicates deletes nodes of our session other than our record
// and latch node: an ambiguous create can land after we adopted or
// re-created a node, and a second record with our id would make resolvers
// skip both, a second latch node ahead of ours would stall the election.
func (l *regLoop) removeOwnDuplicates() error {
	g := l.g
	check := func(dir, keep string, match func(name string) bool) error {
		kids, err := g.sess.Children(dir)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		for _, k := range kids {
			p := layout.JoinPath(dir, k)
			if p == keep || !match(k) {
				continue
			}
			mine, err := l.ownedBySession(p)
			if err != nil {
				return err
			}
			if mine {
				g.cfg.log.Warn("discovery: deleting a duplicate node of this session", "node", p)
				if err := g.sess.Delete(p); err != nil && !errors.Is(err, zk.ErrNoNode) {
					return err
				}
			}
		}
		return nil
	}
	if !g.noRecord {
		if err := check(g.serversPath, l.record, func(k string) bool { return strings.HasPrefix(k, g.namePrefix) }); err != nil {
			return err
		}
	}
	if g.hiveDir != "" {
		// Our own Hive record (if we lead) is kept; any other is deleted.
		if err := check(g.hiveDir, l.hive, func(k string) bool { return strings.HasPrefix(k, g.hivePrefix) }); err != nil {
			return err
		}
	}
	if g.cfg.elect {
		if err := check(g.latchPath, l.latch, func(k string) bool { return strings.HasPrefix(k, layout.CuratorProtectedPrefix) }); err != nil {
			return err
		}
		return l.checkLeadership(0)
	}
	return nil
}

// checkLeadership is Curator's LeaderLatch.checkLeadership: leader when our
// node sorts first; otherwise watch the node just before ours.
func (l *regLoop) checkLeadership(depth int) error {
	g := l.g
	if depth > 8 {
		return errors.New("leader latch keeps changing under us")
	}
	kids, err := g.sess.Children(g.latchPath)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	layout.SortLatchChildren(kids)
	own := l.latch[len(g.latchPath)+1:]
	idx := -1
	for i, k := range kids {
		if k == own {
			idx = i
			break
		}
	}
	if idx < 0 {
		g.cfg.log.Warn("discovery: latch node vanished; re-joining", "node", l.latch)
		l.latch = ""
		g.setLeader(false)
		p, err := l.createLatch()
		if err != nil {
			return err
		}
		l.latch = p
		return l.checkLeadership(depth + 1)
	}
	// Watch our own node, so that its deletion by someone else is seen.
	if ok, err := l.watch(l.latch); err != nil {
		return err
	} else if !ok {
		return l.checkLeadership(depth + 1)
	}
	if idx == 0 {
		g.lead(l.sessionID)
		return nil
	}
	g.setLeader(false)
	ok, err := l.watch(layout.JoinPath(g.latchPath, kids[idx-1]))
	if err != nil {
		return err
	}
	if !ok {
		return l.checkLeadership(depth + 1)
	}
	return nil
}
