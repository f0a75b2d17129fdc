package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	chroot string
	log    *slog.Logger

	requests atomic.Uint64 // ZooKeeper requests issued through this session

	auth   []ZKAuth
	authed bool // auth was accepted once; go-zookeeper re-sends it on every reconnection

	hooks atomic.Pointer[[]func(zk.Event)] // called with every watch event

	acl []zk.ACL // for the nodes this session creates (nil: the default)

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
}

func dialSession(cs ConnectString, cfg sessionConfig) (*zkSession, error) {
	s := &zkSession{
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
		zk.WithHostProvider(&lazyHostProvider{}),
	)
	// Every connection bounds the handshake, so a frozen server costs a
	// new client handshakeTimeout, not 10 × 2/3 of the session timeout.
	opts = append(opts, zk.WithDialer(boundedDialer(cfg.dialer, handshakeTimeout, len(cs.Servers))))
	timeout := cfg.timeout
	if timeout <= 0 {
		timeout = DefaultSessionTimeout
	}
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
	if ev.Type != zk.EventSession {
		if hs := s.hooks.Load(); hs != nil {
			for _, f := range *hs {
				f(ev)
			}
		}
		return
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
// accepted yet. Call it from the session's one worker goroutine, before the
// first request of a session.
func (s *zkSession) ensureAuth() error {
	if s.authed {
		return nil
	}
	for _, a := range s.auth {
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
	s.requests.Add(1)
	ch, _, w, err := s.conn.ChildrenW(s.abs(p))
	return ch, w, err
}

func (s *zkSession) Children(p string) ([]string, error) {
	s.requests.Add(1)
	ch, _, err := s.conn.Children(s.abs(p))
	return ch, err
}

func (s *zkSession) Get(p string) ([]byte, *zk.Stat, error) {
	s.requests.Add(1)
	return s.conn.Get(s.abs(p))
}

func (s *zkSession) GetW(p string) ([]byte, <-chan zk.Event, error) {
	d, _, w, err := s.GetWStat(p)
	return d, w, err
}

// GetWStat is GetW with the node's Stat.
func (s *zkSession) GetWStat(p string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
	s.requests.Add(1)
	return s.conn.GetW(s.abs(p))
}

func (s *zkSession) Exists(p string) (bool, *zk.Stat, error) {
	s.requests.Add(1)
	return s.conn.Exists(s.abs(p))
}

func (s *zkSession) ExistsW(p string) (bool, <-chan zk.Event, error) {
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
	s.requests.Add(1)
	out, err := s.conn.Create(s.abs(p), data, flags, s.nodeACL())
	if err != nil {
		return "", err
	}
	return s.rel(out), nil
}

func (s *zkSession) Delete(p string) error {
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
	for i, p := range paths {
		ops[i] = &zk.DeleteRequest{Path: s.abs(p), Version: -1}
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
type lazyHostProvider struct {
	mu      sync.Mutex
	servers []string
	next    int
	tried   int
}

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
	h.tried++
	retryStart := h.tried > len(h.servers)
	if retryStart {
		h.tried = 1
	}
	return srv, retryStart
}

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
