package discovery

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// ErrUnavailable is returned when ZooKeeper cannot be reached, or no
// snapshot could be built, before the caller's deadline.
var ErrUnavailable = errors.New("discovery: ZooKeeper unavailable")

// ErrNotAuthenticated is returned when ZooKeeper denies this client access
// to the nodes it must read (an ACL, and no or wrong credentials; see
// WithZKAuth). It is not an outage: waiting does not help.
var ErrNotAuthenticated = errors.New("discovery: ZooKeeper access denied (not authenticated)")

// ErrClosed is returned by calls on a closed Resolver or Registrar.
var ErrClosed = errors.New("discovery: closed")

// DefaultSessionTimeout is the ZooKeeper session timeout used when none is
// configured.
const DefaultSessionTimeout = 10 * time.Second

// Dialer dials a ZooKeeper server; use it for TLS or custom networking.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// zkSession wraps a go-zookeeper connection: it applies the chroot (which
// go-zookeeper lacks), counts requests, and turns session events into a
// non-blocking notification (the library's event channel drops events when
// full, so we use WithEventCallback).
type zkSession struct {
	conn   *zk.Conn
	hosts  *lazyHostProvider
	chroot string
	log    *slog.Logger

	requests atomic.Uint64 // ZooKeeper requests issued through this session

	auth   []ZKAuth
	authed bool // auth was accepted once; go-zookeeper re-sends it on every reconnection

	hooks atomic.Pointer[[]func(zk.Event)] // called with every watch event

	acl []zk.ACL // for the nodes this session creates (nil: the default)

	dials dialErrors // the last failed dial, for errors at a deadline (tls.go)

	bufs *bufSizer // go-zookeeper's buffer sizes

	lease *sessionLease // the session's lease as its connections tell it; nil unless asked for

	// guardSID is the session in which go-zookeeper holds our sentinel
	// watch (0: none); see reconnectGate and ensureGuard.
	guardSID atomic.Int64
	guardMu  sync.Mutex

	mu      sync.Mutex
	state   zk.State
	notify  chan struct{} // buffered(1): some session state changed
	closed  chan struct{}
	closeMu sync.Once
}

type sessionConfig struct {
	timeout time.Duration
	dialer  Dialer
	log     *slog.Logger
	auth    []ZKAuth
	acl     []zk.ACL
	lease   bool // follow the session's lease (zklease.go)
}

func dialSession(cs ConnectString, cfg sessionConfig) (*zkSession, error) {
	s := &zkSession{
		hosts:  &lazyHostProvider{},
		chroot: cs.Chroot,
		log:    cfg.log,
		notify: make(chan struct{}, 1),
		closed: make(chan struct{}),
		state:  zk.StateDisconnected,
	}
	// go-zookeeper's option type is unexported; sliceOf infers it.
	opts := sliceOf(
		zk.WithLogInfo(false),
		zk.WithLogger(zkLogger{cfg.log}),
		zk.WithEventCallback(s.onEvent),
		// Hosts are resolved at dial time, each time: an unresolvable
		// host does not fail the whole connect string, servers that move
		// are found, and a TLS dialer sees host names.
		zk.WithHostProvider(s.hosts),
	)
	timeout := cfg.timeout
	if timeout <= 0 {
		timeout = DefaultSessionTimeout
	}
	// Small buffers that grow to what the session meets (bufSizer).
	s.bufs = &bufSizer{recvLimit: maxRecvBuffer, wait: timeout, log: cfg.log, guard: &s.guardSID}
	s.bufs.sendSize.Store(initialSendBuffer)
	opts = append(opts, s.bufs.attach)
	// Every connection bounds the handshake, so a frozen server costs a
	// new client handshakeTimeout, not 10 × 2/3 of the session timeout.
	dial := s.bufs.dialer(boundedDialer(s.dials.wrap(cfg.dialer), handshakeTimeout, len(cs.Servers), !cfg.lease))
	if cfg.lease {
		s.lease = &sessionLease{requested: timeout}
		dial = s.lease.dialer(dial)
	}
	opts = append(opts, zk.WithDialer(dial))
	conn, _, err := zk.Connect(cs.Servers, timeout, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.conn = conn
	s.auth = cfg.auth
	s.acl = cfg.acl
	return s, nil
}

func sliceOf[T any](xs ...T) []T { return xs }

// addWatchHook registers f to be called, on go-zookeeper's receive
// goroutine (it must not block), with every watch event.
func (s *zkSession) addWatchHook(f func(zk.Event)) {
	for {
		old := s.hooks.Load()
		var hs []func(zk.Event)
		if old != nil {
			hs = append(hs, *old...)
		}
		hs = append(hs, f)
		if s.hooks.CompareAndSwap(old, &hs) {
			return
		}
	}
}

func (s *zkSession) onEvent(ev zk.Event) {
	if ev.Path == guardPath {
		// Fired (someone created the node) or dropped (expiry, Close):
		// reconnections no longer send a SetWatches for sure.
		s.guardSID.Store(0)
		return
	}
	if ev.Type != zk.EventSession {
		if hs := s.hooks.Load(); hs != nil {
			for _, f := range *hs {
				f(ev)
			}
		}
		return
	}
	if ev.State == zk.StateExpired {
		s.guardSID.Store(0)
		s.hosts.Connected() // a server answered: reconnect at once
	}
	s.mu.Lock()
	s.state = ev.State
	s.mu.Unlock()
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("zookeeper session event", "state", ev.State.String(), "server", ev.Server)
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// State returns the last session state reported by go-zookeeper.
func (s *zkSession) State() zk.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// ensureAuth sends the configured credentials once they have not been
// accepted yet, and arms the session's reconnection guard (see
// reconnectGate). Call it from the session's one worker goroutine, before
// the first request of a session.
func (s *zkSession) ensureAuth() error {
	if err := s.sendAuth(); err != nil {
		return err
	}
	return s.ensureGuard()
}

// sendAuth sends the configured credentials once they have not been
// accepted yet.
func (s *zkSession) sendAuth() error {
	if s.authed {
		return nil
	}
	for _, a := range s.auth {
		if err := s.fit(len(a.Scheme) + len(a.Auth)); err != nil {
			return err
		}
		s.requests.Add(1)
		if err := s.conn.AddAuth(a.Scheme, a.Auth); err != nil {
			if errors.Is(err, zk.ErrAuthFailed) {
				return fmt.Errorf("%w: ZooKeeper rejected the %s credentials", ErrNotAuthenticated, a.Scheme)
			}
			return fmt.Errorf("send %s credentials: %w", a.Scheme, err)
		}
	}
	s.authed = true
	return nil
}

// waitSession waits until the session is established (true), or until
// the session timeout passes or a or b closes (false).
func (s *zkSession) waitSession(a, b <-chan struct{}) bool {
	deadline := time.NewTimer(s.bufs.wait)
	defer deadline.Stop()
	for s.State() != zk.StateHasSession {
		select {
		case <-s.notify:
		case <-a:
			return false
		case <-b:
			return false
		case <-deadline.C:
			return false
		}
	}
	return true
}

// ensureGuard arms, once per session, an existence watch on guardPath, a
// node nobody creates, so that go-zookeeper always holds a watch and
// sends a SetWatches on every reconnection of the session: the event
// reconnectGate waits for. On a session's first connection it is the
// one watch request, and that connection's last answer: ensureGuard then
// cuts it and returns once the session is back on a new (gated)
// connection (see reconnectGate). Safe for concurrent callers: every
// user of watches calls it first.
func (s *zkSession) ensureGuard() error {
	s.guardMu.Lock()
	defer s.guardMu.Unlock()
	sid := s.conn.SessionID()
	if sid == 0 {
		return nil
	}
	if s.guardSID.Load() != sid {
		s.requests.Add(1)
		ok, _, _, err := s.conn.ExistsW(guardPath) // absolute: no chroot
		if err != nil {
			return fmt.Errorf("check %s: %w", guardPath, err)
		}
		if ok || s.conn.SessionID() != sid {
			return nil
		}
		s.guardSID.Store(sid)
	}
	return s.bufs.leaveFirst(sid, s)
}

// onFirst reports whether the current connection is a session's first.
func (b *bufSizer) onFirst() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	fc, _ := b.cur.(*frameConn)
	return fc == nil || (fc.gate != nil && fc.gate.first)
}

// leaveFirst cuts the session's connection if it is the session's first
// (gated as such) and waits, bounded by the session timeout, until the
// session sid is established on a new connection.
func (b *bufSizer) leaveFirst(sid int64, s *zkSession) error {
	b.mu.Lock()
	fc, _ := b.cur.(*frameConn)
	dials := b.dials
	first := fc != nil && fc.gate != nil && fc.gate.first
	if first {
		fc.gate.mu.Lock()
		fc.gate.cut(fc.Conn)
		fc.gate.mu.Unlock()
	}
	b.mu.Unlock()
	if !first {
		return nil
	}
	deadline := time.NewTimer(b.wait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		moved := b.dials > dials
		b.mu.Unlock()
		if moved && s.State() == zk.StateHasSession && s.conn.SessionID() == sid {
			return nil
		}
		if st := s.State(); st == zk.StateExpired || (moved && s.conn.SessionID() != sid) {
			return fmt.Errorf("%w: the session ended while moving to a new connection", zk.ErrSessionExpired)
		}
		select {
		case <-s.notify:
		case <-s.closed:
			return zk.ErrClosing
		case <-deadline.C:
			return fmt.Errorf("%w: no reconnection within %s", zk.ErrConnectionClosed, b.wait)
		}
	}
}

func (s *zkSession) SessionID() int64 { return s.conn.SessionID() }

func (s *zkSession) Close() {
	s.closeMu.Do(func() {
		close(s.closed)
		s.conn.Close()
	})
}

func (s *zkSession) abs(p string) string {
	if s.chroot == "" {
		return p
	}
	if p == "/" {
		return s.chroot
	}
	return s.chroot + p
}

func (s *zkSession) rel(p string) string {
	if s.chroot == "" || len(p) < len(s.chroot) {
		return p
	}
	if r := p[len(s.chroot):]; r != "" {
		return r
	}
	return "/"
}

func (s *zkSession) ChildrenW(p string) ([]string, <-chan zk.Event, error) {
	if err := s.fitPath(p); err != nil {
		return nil, nil, err
	}
	s.requests.Add(1)
	ch, _, w, err := s.conn.ChildrenW(s.abs(p))
	return ch, w, err
}

func (s *zkSession) Children(p string) ([]string, error) {
	if err := s.fitPath(p); err != nil {
		return nil, err
	}
	s.requests.Add(1)
	ch, _, err := s.conn.Children(s.abs(p))
	return ch, err
}

func (s *zkSession) Get(p string) ([]byte, *zk.Stat, error) {
	if err := s.fitPath(p); err != nil {
		return nil, nil, err
	}
	s.requests.Add(1)
	return s.conn.Get(s.abs(p))
}

func (s *zkSession) GetW(p string) ([]byte, <-chan zk.Event, error) {
	d, _, w, err := s.GetWStat(p)
	return d, w, err
}

// GetWStat is GetW with the node's Stat.
func (s *zkSession) GetWStat(p string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
	if err := s.fitPath(p); err != nil {
		return nil, nil, nil, err
	}
	s.requests.Add(1)
	return s.conn.GetW(s.abs(p))
}

func (s *zkSession) Exists(p string) (bool, *zk.Stat, error) {
	if err := s.fitPath(p); err != nil {
		return false, nil, err
	}
	s.requests.Add(1)
	return s.conn.Exists(s.abs(p))
}

// ExistsWStat arms an existence watch on p and returns its Stat.
func (s *zkSession) ExistsWStat(p string) (bool, *zk.Stat, error) {
	if err := s.fitPath(p); err != nil {
		return false, nil, err
	}
	s.requests.Add(1)
	ok, st, _, err := s.conn.ExistsW(s.abs(p))
	return ok, st, err
}

func (s *zkSession) ExistsW(p string) (bool, <-chan zk.Event, error) {
	if err := s.fitPath(p); err != nil {
		return false, nil, err
	}
	s.requests.Add(1)
	ok, _, w, err := s.conn.ExistsW(s.abs(p))
	return ok, w, err
}

// nodeACL is the ACL of the nodes this session creates: the configured
// one; else, with credentials, creator-all and world-read (anyone can read
// the records, only their writer can change or delete them, and nobody
// else can add to a directory we created); without credentials world-all,
// as ZooKeeper's default.
func (s *zkSession) nodeACL() []zk.ACL {
	switch {
	case s.acl != nil:
		return s.acl
	case len(s.auth) > 0:
		return append(zk.AuthACL(zk.PermAll), zk.WorldACL(zk.PermRead)...)
	}
	return zk.WorldACL(zk.PermAll)
}

// Create creates a node and returns its path relative to the chroot.
func (s *zkSession) Create(p string, data []byte, flags int32) (string, error) {
	acl := s.nodeACL()
	if err := s.fit(len(s.abs(p)) + len(data) + aclSize(acl)); err != nil {
		return "", err
	}
	s.requests.Add(1)
	out, err := s.conn.Create(s.abs(p), data, flags, acl)
	if err != nil {
		return "", err
	}
	return s.rel(out), nil
}

func (s *zkSession) Delete(p string) error {
	if err := s.fitPath(p); err != nil {
		return err
	}
	s.requests.Add(1)
	return s.conn.Delete(s.abs(p), -1)
}

// DeleteAll deletes the nodes in one transaction, so watchers see them go
// together; if that fails it deletes them one by one. Missing nodes are
// not an error.
func (s *zkSession) DeleteAll(paths ...string) error {
	if len(paths) == 0 {
		return nil
	}
	ops := make([]any, len(paths))
	size := 0
	for i, p := range paths {
		ops[i] = &zk.DeleteRequest{Path: s.abs(p), Version: -1}
		size += len(s.abs(p)) + 32
	}
	if err := s.fit(size); err != nil {
		return err
	}
	s.requests.Add(1)
	if _, err := s.conn.Multi(ops...); err == nil {
		return nil
	}
	var errs []error
	for _, p := range paths {
		if err := s.Delete(p); err != nil && !errors.Is(err, zk.ErrNoNode) {
			errs = append(errs, fmt.Errorf("delete %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// EnsurePath creates p and its missing parents (below the chroot, which
// it creates if missing but never goes above) as persistent nodes, checking
// existence first as Curator's ZKPaths.mkdirs does, so that a locked-down
// ancestor is never written to.
func (s *zkSession) EnsurePath(p string) error {
	full := s.abs(p)
	from := len(s.chroot)
	if from == 0 {
		from = 1
	}
	for i := from; i <= len(full); i++ {
		if i != len(full) && full[i] != '/' {
			continue
		}
		part := full[:i]
		if err := s.fit(len(part) + aclSize(s.nodeACL())); err != nil {
			return err
		}
		s.requests.Add(1)
		ok, _, err := s.conn.Exists(part)
		if err != nil {
			return fmt.Errorf("check %s: %w", part, err)
		}
		if ok {
			continue
		}
		s.requests.Add(1)
		_, err = s.conn.Create(part, nil, 0, s.nodeACL())
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", part, err)
		}
	}
	return nil
}

// Sync makes the server this session talks to catch up with the leader,
// so that reads after it see every committed write.
func (s *zkSession) Sync(p string) error {
	if err := s.fitPath(p); err != nil {
		return err
	}
	s.requests.Add(1)
	_, err := s.conn.Sync(s.abs(p))
	return err
}

// isDefinite reports whether err is a ZooKeeper answer (the request reached
// the server and was processed or refused), as opposed to a transport
// failure after which the request's effect is unknown.
func isDefinite(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrNodeExists),
		errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrBadVersion),
		errors.Is(err, zk.ErrNotEmpty), errors.Is(err, zk.ErrNoChildrenForEphemerals),
		errors.Is(err, zk.ErrInvalidACL), errors.Is(err, zk.ErrBadArguments),
		errors.Is(err, zk.ErrAPIError), errors.Is(err, zk.ErrInvalidPath):
		return true
	}
	return false
}

// watchEvent is a watch event tagged with the session that armed the
// watch, so events of an expired session can be told apart.
type watchEvent struct {
	zk.Event
	session int64
}

// forward relays one watch event to out unless done closes first. Watches
// are one-shot: go-zookeeper sends one event and closes the channel (also
// on session expiry and Close, with EventNotWatching), so every forwarder
// ends.
func forward(w <-chan zk.Event, session int64, out chan<- watchEvent, done <-chan struct{}) {
	if w == nil {
		return
	}
	go func() {
		select {
		case ev, ok := <-w:
			if !ok {
				return
			}
			select {
			case out <- watchEvent{ev, session}:
			case <-done:
			}
		case <-done:
		}
	}()
}

// lazyHostProvider hands go-zookeeper the connect string's host:port
// entries unresolved, in turn (go-zookeeper's default provider resolves
// every name once, up front, and fails the whole connect on one bad name).
//
// When every host has been tried, go-zookeeper sleeps a second before
// the next round (and fails the requests waiting to be sent). That keeps
// it from spinning on refused connections; but a round whose attempts
// took their time (handshakes that timed out, or were answered: a
// session found expired) needs no pause, and one would only add a second
// to the recovery after a black hole or a frozen server. So a round that
// lasted at least minRound starts the next without one.
type lazyHostProvider struct {
	mu         sync.Mutex
	servers    []string
	next       int
	tried      int
	roundStart time.Time
}

// minRound: a round of connection attempts shorter than this is followed
// by go-zookeeper's pause.
const minRound = 250 * time.Millisecond

func (h *lazyHostProvider) Init(servers []string) error {
	if len(servers) == 0 {
		return errors.New("no servers")
	}
	h.servers = append([]string(nil), servers...)
	return nil
}

func (h *lazyHostProvider) Len() int { return len(h.servers) }

func (h *lazyHostProvider) Next() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	srv := h.servers[h.next]
	h.next = (h.next + 1) % len(h.servers)
	now := time.Now()
	if h.tried == 0 {
		h.roundStart = now
	}
	h.tried++
	retryStart := h.tried > len(h.servers)
	if retryStart {
		h.tried = 1
		if now.Sub(h.roundStart) >= minRound {
			retryStart = false
		}
		h.roundStart = now
	}
	return srv, retryStart
}

// Connected is called by go-zookeeper when a handshake succeeded, and by
// the session when a server answered that the session expired: both
// start a new round.
func (h *lazyHostProvider) Connected() {
	h.mu.Lock()
	h.tried = 0
	h.mu.Unlock()
}

// zkLogger adapts go-zookeeper's Printf logger to slog at debug level.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	if z.l.Enabled(context.Background(), slog.LevelDebug) {
		z.l.Debug(fmt.Sprintf("zk: "+format, args...))
	}
}

// discardLogger is the default: the SDK is silent unless given a logger.
func discardLogger() *slog.Logger { return slog.New(discardHandler{}) }

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

// go-zookeeper's buffers (v1.0.4, conn.go). By default each session holds
// two of 1.5 MiB — about 3 MiB of heap per resolver or registrar:
//   - the send buffer (WithMaxConnBufferSize), allocated once per session,
//     into which every request is encoded. A request that does not fit
//     fails with zk.ErrShortBuffer before it is sent; one whose path ends
//     exactly where the buffer does panics instead (its watch flag is
//     written out of range, which encodePacket does not recover).
//   - the receive buffer, allocated for each connection at
//     min(1.5 MiB, WithMaxBufferSize). A larger response grows it if
//     WithMaxBufferSize allows (≤ 0, the default: no limit); one above
//     WithMaxBufferSize ends the connection ("exceeds max buffer size"),
//     go-zookeeper reconnects and the request fails with
//     ErrConnectionClosed. There is no way to ask for a small buffer that
//     may grow: the one option is both its size and its limit.
//
// So a session starts with small buffers and grows them to what it meets.
// The receive side grows in place, without a reconnect: each connection
// follows the length prefix of every response (frameConn), on
// go-zookeeper's own receive goroutine, and when one is larger than the
// initial buffer it raises go-zookeeper's limit (WithMaxBufferSize, a
// field only that goroutine reads once the connection runs) before
// handing the prefix over, so go-zookeeper allocates a buffer of the
// response's size instead of ending the connection. Each new connection
// starts small again. A response above even the raised limit (64 MiB)
// ends the connection and raises the limit for the next one, which
// go-zookeeper makes at once, in the same session (watches are
// re-armed). A request that would not fit the send buffer first has the
// session reconnect with a larger one (zkSession.fit). Nothing
// go-zookeeper would have read with its defaults is refused. The options
// are otherwise changed only in the dialer, on go-zookeeper's connect
// goroutine, between connections: the previous connection's send and
// receive loops have ended, the next ones have not started.
const (
	// go-zookeeper splits the SetWatches it sends on reconnecting at
	// 128 KiB; a record is at most 64 KiB (maxRecordSize).
	initialSendBuffer = 132 << 10
	// The receive buffer each connection starts with (go-zookeeper
	// allocates min(1.5 MiB, limit)): a few records or a short child
	// list. Larger responses grow it in place (frameConn).
	initialRecvBuffer = 32 << 10
	// The limit a connection's receive buffer may grow to in place.
	// Growing beyond it means a deliberate reconnect (one more moment
	// without a connection), so it is far above any response livyha
	// expects (a child list of 20 000 nodes is ~760 KB).
	maxRecvBuffer = 64 << 20
)

// bufSizer sizes one session's go-zookeeper buffers.
type bufSizer struct {
	conn *zk.Conn // set by attach, in zk.Connect
	wait time.Duration
	log  *slog.Logger

	recvLimit int          // the receive limit a connection may grow to; only the connect goroutine uses it
	sendSize  atomic.Int64 // WithMaxConnBufferSize; set by the connect goroutine

	recvNeed atomic.Int64 // the largest response a connection could not read
	sendNeed atomic.Int64 // the largest request waiting for a larger send buffer

	guard *atomic.Int64 // the session holding the sentinel watch (zkSession.guardSID)

	mu    sync.Mutex
	cur   net.Conn // the latest connection
	dials int      // connections made (tests)
	gated int      // connections made with a reconnectGate (tests)
}

// attach is a zk.Connect option (go-zookeeper's option type is a
// func(*zk.Conn)): it applies the initial sizes.
func (b *bufSizer) attach(c *zk.Conn) {
	b.conn = c
	zk.WithMaxBufferSize(initialRecvBuffer)(c)
	zk.WithMaxConnBufferSize(int(b.sendSize.Load()))(c)
}

// dialer wraps go-zookeeper's dialer: before each connection it applies
// what the previous ones needed, and it follows the responses of each.
func (b *bufSizer) dialer(d func(network, address string, timeout time.Duration) (net.Conn, error)) func(network, address string, timeout time.Duration) (net.Conn, error) {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		if n := int(b.recvNeed.Load()); n > b.recvLimit {
			b.recvLimit = pow2AtLeast(n)
			b.log.Debug("discovery: ZooKeeper receive limit raised", "response", n, "limit", b.recvLimit)
		}
		// Each connection starts with a small receive buffer; frameConn
		// raises the limit when a larger response arrives.
		zk.WithMaxBufferSize(initialRecvBuffer)(b.conn)
		if n := b.sendNeed.Load(); n > b.sendSize.Load() {
			size := pow2AtLeast(int(n))
			zk.WithMaxConnBufferSize(size)(b.conn)
			b.sendSize.Store(int64(size))
			b.log.Debug("discovery: ZooKeeper send buffer raised", "request", n, "size", size)
		}
		c, err := d(network, address, timeout)
		if err != nil {
			return nil, err
		}
		fc := &frameConn{Conn: c, zc: b.conn, limit: initialRecvBuffer, max: b.recvLimit, need: &b.recvNeed}
		// A reconnection of a session whose go-zookeeper holds our
		// sentinel watch sends a SetWatches: hold its requests until then.
		sid := b.conn.SessionID()
		gated := b.guard != nil && sid != 0 && b.guard.Load() == sid
		switch {
		case gated:
			fc.gate = &reconnectGate{log: b.log}
		case sid == 0:
			// A new session's first connection (see reconnectGate).
			fc.gate = &reconnectGate{log: b.log, first: true}
		}
		b.mu.Lock()
		b.cur = fc
		b.dials++
		if gated {
			b.gated++
		}
		b.mu.Unlock()
		return fc, nil
	}
}

// growSend has the session reconnect with a send buffer of at least n
// bytes and waits for it (bounded by the session timeout). It cuts each
// connection made with a smaller buffer: one may have been dialled just
// before the need was noted.
func (b *bufSizer) growSend(n int, closed <-chan struct{}) error {
	atomicMax(&b.sendNeed, int64(n))
	deadline := time.Now().Add(b.wait)
	var cut net.Conn
	for {
		b.mu.Lock()
		small := b.sendSize.Load() < int64(n)
		if small && b.cur != nil && b.cur != cut {
			cut = b.cur
			cut.Close() // go-zookeeper reconnects; the dialer grows the buffer
		}
		b.mu.Unlock()
		if !small {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: no reconnection within %s to send a %d-byte request", zk.ErrConnectionClosed, b.wait, n)
		}
		select {
		case <-closed:
			return zk.ErrClosing
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// fit makes sure a request carrying about n bytes of paths and data fits
// the send buffer (see bufSizer).
func (s *zkSession) fit(n int) error {
	n += 64 // the length prefix, header, field lengths and flags
	if s.bufs == nil || int64(n) <= s.bufs.sendSize.Load() {
		return nil
	}
	return s.bufs.growSend(n, s.closed)
}

func (s *zkSession) fitPath(p string) error { return s.fit(len(s.abs(p))) }

func aclSize(acl []zk.ACL) int {
	n := 0
	for _, a := range acl {
		n += 12 + len(a.Scheme) + len(a.ID)
	}
	return n
}

// frameConn follows the length prefix of each response on a connection.
// One above go-zookeeper's current limit raises that limit to max before
// go-zookeeper sees the prefix (Read runs on the goroutine that reads the
// limit), so go-zookeeper grows its receive buffer in place; one above max
// is noted in need (go-zookeeper will refuse it, ending the connection,
// and the dialer raises max for the next one).
type frameConn struct {
	net.Conn
	zc    *zk.Conn
	limit int // go-zookeeper's limit on this connection
	max   int // what limit may be raised to on this connection
	need  *atomic.Int64
	hdr   [4]byte
	hdrN  int
	body  int // bytes of the current response still to come

	gate *reconnectGate // nil: writes pass
}

// Write passes each packet go-zookeeper writes (one per call), through
// the connection's reconnectGate if it has one.
func (c *frameConn) Write(p []byte) (int, error) {
	if c.gate == nil {
		return c.Conn.Write(p)
	}
	return c.gate.write(c.Conn, p)
}

// Read is called by one goroutine at a time: go-zookeeper's connect
// goroutine for the handshake, then the connection's receive loop.
func (c *frameConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for b := p[:n]; len(b) > 0; {
		if c.body > 0 {
			k := min(c.body, len(b))
			c.body -= k
			b = b[k:]
			continue
		}
		c.hdr[c.hdrN] = b[0]
		c.hdrN++
		b = b[1:]
		if c.hdrN == 4 {
			c.hdrN = 0
			c.body = int(binary.BigEndian.Uint32(c.hdr[:]))
			switch {
			case c.body <= c.limit:
			case c.body <= c.max:
				// go-zookeeper reads WithMaxBufferSize's field on this
				// goroutine, after this Read returns the prefix.
				zk.WithMaxBufferSize(c.max)(c.zc)
				c.limit = c.max
			default:
				atomicMax(c.need, int64(c.body))
			}
		}
	}
	return n, err
}

// go-zookeeper v1.0.4's lastZxid race, and the gate that avoids it.
//
// When go-zookeeper reconnects a session it starts the connection's
// receive loop and then, on its connect goroutine, builds the SetWatches
// that re-arms its watches, reading c.lastZxid (conn.go:614) without a
// lock — while the receive loop writes it for every answer that carries a
// zxid (conn.go:849). Requests queued while disconnected go out at once,
// so their answers can arrive in that instant: a data race (upstream PR
// #35, unmerged), which `go test -race` reports.
//
// reconnectGate closes it: on a reconnection of a session that holds our
// sentinel watch (zkSession.ensureGuard), go-zookeeper certainly sends a
// SetWatches (opcode 101), and builds it — reading lastZxid — before it
// queues it. Until that packet is written, the gate passes only the
// packets whose answers record no zxid (pings, xid -2; credentials,
// opcode 100, answered with zxid 0) and holds every other request; when
// the SetWatches goes out, the held requests follow in their order. So
// no answer that writes lastZxid can arrive before the read. A gate that
// never sees the SetWatches (the sentinel was lost unnoticed, or the
// connection is closing: go-zookeeper then queues nothing but the close)
// ends the connection after guardWait, or at once for a close request,
// without sending what it held: sending could race with a SetWatches
// built but never sent.
//
// The first connection of a new session sends no SetWatches, and its
// (empty) one is built right after the connection's loops start: a read
// of lastZxid happens there only if an answer to a watch request came
// first, and then races with any later answer. So on a first connection
// the gate holds every watch request but one, the sentinel watch
// (zkSession.ensureGuard), and every request after it: the sentinel's
// answer is the last one that connection carries, and the session then
// cuts it (the held requests fail as on any cut) and goes on on a
// reconnection, which certainly sends a SetWatches (the sentinel's) and
// is gated as above. Requests without a watch pass before the sentinel:
// the first reading of a source is made of them.
type reconnectGate struct {
	log       *slog.Logger
	first     bool // a new session's first connection
	guardSent bool // first: the sentinel watch is out
	mu        sync.Mutex
	sent      bool // the connect request (the connection's first packet) is out
	open      bool
	held      [][]byte
	timer     *time.Timer
	// dead: the gate ended the connection (or the session cut it); later
	// writes are dropped, not failed: go-zookeeper answers a request
	// whose write failed and answers it again when it flushes, and one
	// queued in a tie with Close has an answer already, so a third
	// answer would block its loop for good (conn.go:527, 754, 923).
	dead bool
}

// cut ends the connection; the gate drops what is written after.
func (g *reconnectGate) cut(conn net.Conn) {
	g.dead = true
	conn.Close()
}

// guardPath is the sentinel: an existence watch on it keeps one watch in
// every session. Nobody creates it (if someone does, the watch fires and
// the session simply goes ungated).
const guardPath = "/zookeeper/livyha-reconnect-guard"

// guardWait bounds how long a gate holds requests.
const guardWait = time.Second

const (
	zkOpClose       = -11
	zkOpSetAuth     = 100
	zkOpSetWatches  = 101
	zkPacketHdrSize = 12 // length prefix, xid, opcode
)

func (g *reconnectGate) write(conn net.Conn, p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead {
		return len(p), nil
	}
	if g.open || !g.sent {
		g.sent = true
		return conn.Write(p)
	}
	if len(p) < zkPacketHdrSize {
		return conn.Write(p)
	}
	xid := int32(binary.BigEndian.Uint32(p[4:8]))
	op := int32(binary.BigEndian.Uint32(p[8:12]))
	switch {
	case op == zkOpSetWatches:
		n, err := conn.Write(p)
		if err != nil {
			return n, err
		}
		if err := g.release(conn); err != nil {
			g.cut(conn) // go-zookeeper finds out by reading
		}
		return n, nil
	case xid == pingXid || op == opPingZK || op == zkOpSetAuth:
		return conn.Write(p)
	case g.first && !g.guardSent && isGuardRequest(p):
		g.guardSent = true
		return conn.Write(p)
	case g.first && !g.guardSent && !isWatchRequest(p):
		return conn.Write(p)
	case g.first && op == zkOpClose:
		// Closing the session on the connection about to be cut: a race
		// would need the connect goroutine stalled since the
		// connection's start (milliseconds) and the close in that very
		// moment; holding it costs every early Close a second.
		return conn.Write(p)
	case op == zkOpClose:
		// Closed while reconnecting: go-zookeeper queues nothing but
		// the close once closing, so the SetWatches may never come, and
		// the close's answer could race with its build. End the
		// connection instead; the session expires on its own.
		g.cut(conn)
		return len(p), nil
	}
	g.held = append(g.held, bytes.Clone(p))
	if g.timer == nil {
		g.timer = time.AfterFunc(guardWait, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if !g.open {
				// Sending them now could race with a SetWatches built
				// and never sent: end the connection; go-zookeeper
				// reconnects, and they fail as on any cut.
				g.log.Debug("discovery: no SetWatches on a reconnection; cutting it", "requests", len(g.held))
				g.cut(conn)
			}
		})
	}
	return len(p), nil
}

// Read requests that can set a watch: their last byte is the watch flag
// (exists, getData, getChildren, getChildren2).
const (
	zkOpExists       = 3
	zkOpGetData      = 4
	zkOpGetChildren  = 8
	zkOpGetChildren2 = 12
)

// isWatchRequest reports whether packet p is a read request that sets a
// watch.
func isWatchRequest(p []byte) bool {
	switch int32(binary.BigEndian.Uint32(p[8:12])) {
	case zkOpExists, zkOpGetData, zkOpGetChildren, zkOpGetChildren2:
		return p[len(p)-1] != 0
	}
	return false
}

// isGuardRequest reports whether packet p is the sentinel watch: an
// exists request with a watch on guardPath.
func isGuardRequest(p []byte) bool {
	const pathAt = zkPacketHdrSize + 4
	if int32(binary.BigEndian.Uint32(p[8:12])) != zkOpExists || len(p) != pathAt+len(guardPath)+1 {
		return false
	}
	return int(binary.BigEndian.Uint32(p[12:16])) == len(guardPath) && string(p[pathAt:pathAt+len(guardPath)]) == guardPath && p[len(p)-1] != 0
}

// release opens the gate and writes the held requests (g.mu held).
func (g *reconnectGate) release(conn net.Conn) error {
	g.open = true
	if g.timer != nil {
		g.timer.Stop()
	}
	held := g.held
	g.held = nil
	for _, p := range held {
		if _, err := conn.Write(p); err != nil {
			return err
		}
	}
	return nil
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// pow2AtLeast returns the smallest power of two ≥ n.
func pow2AtLeast(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}
