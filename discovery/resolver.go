package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
)

// Resolver keeps an immutable Snapshot of a cluster up to date from a
// Source (watch-backed ZooKeeper layouts, a probed static list, or one of
// the caller's) and answers lookups from it. Warm lookups are lock-free
// reads of the current snapshot: no ZooKeeper round trip, no allocation.
//
// A Resolver is safe for concurrent use. ZooKeeper sources recover by
// themselves from outages and session expiry (every watch is re-armed);
// during an outage the Resolver keeps serving the last snapshot.
type Resolver struct {
	src  Source
	log  *slog.Logger
	snap atomic.Pointer[Snapshot]

	mu       sync.Mutex // serialises publish
	rebuilds atomic.Uint64
	lastErr  atomic.Pointer[error]
	errSeen  atomic.Pointer[chan struct{}] // closed (and replaced) on each reported error
	closed   atomic.Bool

	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// NewResolver starts a resolver for target: a ZooKeeper connect string
// (the canonical layout) or a target string naming another layout or a
// static list (see ParseTarget). It returns at once; the first lookup
// waits for the first snapshot or its context's deadline.
func NewResolver(target string, opts ...ResolverOption) (*Resolver, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	return NewResolverForTarget(t, opts...)
}

// NewResolverForTarget starts a resolver for a parsed target.
func NewResolverForTarget(t Target, opts ...ResolverOption) (*Resolver, error) {
	cfg, err := resolverConfig(opts)
	if err != nil {
		return nil, err
	}
	src, err := t.source(cfg)
	if err != nil {
		return nil, err
	}
	return start(src, cfg), nil
}

// NewResolverFromSource starts a resolver over any Source.
func NewResolverFromSource(src Source, opts ...ResolverOption) (*Resolver, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: nil source", ErrBadOption)
	}
	cfg, err := resolverConfig(opts)
	if err != nil {
		return nil, err
	}
	return start(src, cfg), nil
}

func start(src Source, cfg config) *Resolver {
	r := &Resolver{src: src, log: cfg.log, done: make(chan struct{})}
	mode := cfg.mode
	if m, ok := src.(moder); ok && !cfg.modeSet {
		mode = m.mode()
	}
	r.snap.Store(emptySnapshot(mode))
	ch := make(chan struct{})
	r.errSeen.Store(&ch)
	src.Start(publisher{r})
	return r
}

// publisher is the Resolver's side of a Source (kept off the Resolver's
// own method set).
type publisher struct{ r *Resolver }

func (p publisher) Publish(st State) { p.r.publish(buildSnapshot(st)) }
func (p publisher) ReportError(err error) {
	if err != nil {
		p.r.lastErr.Store(&err)
		next := make(chan struct{})
		close(*p.r.errSeen.Swap(&next))
		p.r.log.Warn("discovery: source failed; will retry", "err", err)
	}
}

// Mode returns the cluster's mode (that of the current snapshot).
func (r *Resolver) Mode() Mode { return r.snap.Load().Mode }

// Snapshot returns the current snapshot (never nil; not Ready before the
// first successful read).
func (r *Resolver) Snapshot() *Snapshot { return r.snap.Load() }

// ready returns a ready snapshot, waiting for the first one.
func (r *Resolver) ready(ctx context.Context) (*Snapshot, error) {
	s := r.snap.Load()
	if !s.ready || r.closed.Load() {
		return r.Wait(ctx)
	}
	return s, nil
}

// Active returns the server to send work that is not session-scoped to
// (see Snapshot.Active). It waits for the first snapshot.
func (r *Resolver) Active(ctx context.Context) (Server, error) {
	s, err := r.ready(ctx)
	if err != nil {
		return Server{}, err
	}
	return s.Active()
}

// Owner returns the server that owns session id of kind: the active server
// in ActivePassive mode, any live server in ActiveActive mode, server
// id/SessionIDBlock in MultiActive mode, and in SessionHA mode the server
// its ownership record names (read on the first lookup, then watched and
// cached), else server id/SessionIDBlock.
func (r *Resolver) Owner(ctx context.Context, kind SessionKind, id int) (Server, error) {
	s, err := r.ready(ctx)
	if err != nil {
		return Server{}, err
	}
	return s.owner(ctx, kind, id, true)
}

// Endpoints returns every usable server, the leader first.
func (r *Resolver) Endpoints(ctx context.Context) ([]Server, error) {
	s, err := r.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.Servers) == 0 {
		return nil, s.empty
	}
	return slices.Clone(s.Servers), nil
}

// Wait returns the current snapshot once one has been built, waiting until
// then or until ctx ends. A source that cannot read at all because
// ZooKeeper denies access ends the wait at once with ErrNotAuthenticated.
func (r *Resolver) Wait(ctx context.Context) (*Snapshot, error) {
	for {
		if r.closed.Load() {
			return nil, ErrClosed
		}
		s := r.snap.Load()
		if s.ready {
			return s, nil
		}
		errSeen := *r.errSeen.Load()
		if p := r.lastErr.Load(); p != nil && errors.Is(*p, ErrNotAuthenticated) {
			return nil, *p
		}
		select {
		case <-errSeen:
		case <-s.changed:
		case <-r.done:
			return nil, ErrClosed
		case <-ctx.Done():
			if p := r.lastErr.Load(); p != nil {
				return nil, fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), *p)
			}
			err := fmt.Errorf("%w: no snapshot yet from %s: %w", ErrUnavailable, r.describe(), ctx.Err())
			if s, ok := r.src.(interface{ session() *zkSession }); ok {
				err = withDialError(err, s.session())
			}
			return nil, err
		}
	}
}

func (r *Resolver) describe() string {
	if d, ok := r.src.(interface{ describe() string }); ok {
		return d.describe()
	}
	return "the source"
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

// Refresh asks the source to read again (for example after a client saw a
// 307 that suggests the snapshot is stale). It does not wait.
func (r *Resolver) Refresh() { r.src.Refresh() }

// Stats are counters for observability and benchmarks.
type Stats struct {
	// ZKRequests counts ZooKeeper requests issued by the source.
	ZKRequests uint64
	// Snapshots counts snapshots published.
	Snapshots uint64
}

// Stats returns the resolver's counters.
func (r *Resolver) Stats() Stats {
	st := Stats{Snapshots: r.rebuilds.Load()}
	if c, ok := r.src.(requestCounter); ok {
		st.ZKRequests = c.requests()
	}
	return st
}

// Close stops the resolver and its source.
func (r *Resolver) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.src.Close()
		close(r.done)
	})
	return nil
}

func (r *Resolver) publish(s *Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return
	}
	r.lastErr.Store(nil)
	old := r.snap.Load()
	if sameContent(old, s) {
		return
	}
	s.Version = old.Version + 1
	s.changed = make(chan struct{})
	r.snap.Store(s)
	r.rebuilds.Add(1)
	close(old.changed)
	if r.log.Enabled(context.Background(), slog.LevelInfo) {
		ld, _ := s.Leader()
		r.log.Info("discovery: snapshot", "version", s.Version, "mode", s.Mode.String(), "servers", len(s.Servers),
			"leader", ld.Name, "problems", len(s.Problems))
	}
}

// Servers returns the current snapshot's servers, the leader first. The
// slice is shared: do not modify it.
func (r *Resolver) Servers() []Server { return r.snap.Load().Servers }

// Changed returns a channel closed when a newer snapshot replaces the
// current one.
func (r *Resolver) Changed() <-chan struct{} { return r.snap.Load().changed }
