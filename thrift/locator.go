// Package thrift finds the Livy (or HiveServer2, Kyuubi) Thrift/JDBC
// endpoint that accepts connections and connects gohive through it.
//
// Passive Livy servers refuse JDBC/Thrift connections and never redirect
// them, so a client must try candidates itself. A Locator takes candidates
// from a discovery Resolver (the leader first), from a Hive namespace in
// ZooKeeper, or from a static list, and tries them with staggered parallel
// attempts: the next candidate starts when the previous one has not
// answered within a short stagger, or at once when it fails; the first
// success wins and the losers are closed; when all fail, one error names
// every candidate and its failure. Everything is bounded by the context.
package thrift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/retry"
)

// Errors.
var (
	// ErrNoCandidates: the source knows no Thrift endpoint.
	ErrNoCandidates = errors.New("thrift: no Thrift endpoint registered")
	// ErrAllFailed: every candidate refused or failed; the error joins
	// each candidate's failure.
	ErrAllFailed = errors.New("thrift: every candidate failed")
	// ErrRefused: a candidate accepted the connection and closed it at
	// once, as a passive server does.
	ErrRefused = errors.New("thrift: connection refused by a passive server")
)

// Candidate is one Thrift endpoint to try.
type Candidate struct {
	// Addr is host:port.
	Addr string
	// ServerID is the Livy server id, or -1 when unknown (Hive namespaces).
	ServerID int
	// Leader is true for the latch leader / the active HA instance.
	Leader bool
	// TransportMode ("binary" or "http") and HTTPPath, as published; empty
	// when unknown.
	TransportMode string
	HTTPPath      string
	// Auth is the published authentication ("NONE", "NOSASL", …), if any.
	Auth string
}

func (c Candidate) String() string {
	var b strings.Builder
	b.WriteString(c.Addr)
	if c.ServerID >= 0 || c.Leader {
		b.WriteString(" (")
		if c.ServerID >= 0 {
			b.WriteString("server " + strconv.Itoa(c.ServerID))
		}
		if c.Leader {
			if c.ServerID >= 0 {
				b.WriteString(", ")
			}
			b.WriteString("leader")
		}
		b.WriteString(")")
	}
	return b.String()
}

// Source lists candidates, the most likely first.
type Source interface {
	Candidates(ctx context.Context) ([]Candidate, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) ([]Candidate, error)

// Candidates implements Source.
func (f SourceFunc) Candidates(ctx context.Context) ([]Candidate, error) { return f(ctx) }

// Notifier is implemented by sources that can tell when their candidates
// may have changed (ResolverSource): a Locator that saw every candidate
// fail waits for that instead of only backing off.
type Notifier interface {
	// Changed returns a channel closed when the candidates may differ from
	// the last Candidates call.
	Changed() <-chan struct{}
}

type resolverSource struct {
	SourceFunc
	r *discovery.Resolver
}

func (s resolverSource) Changed() <-chan struct{} { return s.r.Snapshot().Changed() }

// ResolverSource lists the Thrift endpoints of the servers in r's snapshot,
// the leader first (Hive/Kyuubi namespaces: in registration order). It costs no ZooKeeper round trip once r is warm.
func ResolverSource(r *discovery.Resolver) Source {
	return resolverSource{r: r, SourceFunc: func(ctx context.Context) ([]Candidate, error) {
		snap, err := r.Wait(ctx)
		if err != nil {
			return nil, err
		}
		var out []Candidate
		for _, s := range snap.Servers {
			if s.Thrift == "" {
				continue
			}
			out = append(out, Candidate{Addr: s.Thrift, ServerID: s.ID, Leader: s.Leader,
				TransportMode: s.ThriftTransport, HTTPPath: s.ThriftHTTPPath, Auth: s.ThriftAuth})
		}
		if len(out) == 0 {
			if err := snap.Err(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrNoCandidates, err)
			}
			return nil, ErrNoCandidates
		}
		return out, nil
	}}
}

// TargetSource starts a discovery resolver for target (any target string:
// a zk://…?layout=hive|hive-ha target for HiveServer2 and Kyuubi
// namespaces, a canonical layout, livy-conf://, …) and returns a
// ResolverSource over it and the resolver, which the caller closes.
func TargetSource(target string, opts ...discovery.ResolverOption) (Source, *discovery.Resolver, error) {
	r, err := discovery.NewResolver(target, opts...)
	if err != nil {
		return nil, nil, err
	}
	return ResolverSource(r), r, nil
}

// StaticSource lists fixed host:port addresses in the given order.
func StaticSource(addrs ...string) Source {
	return SourceFunc(func(context.Context) ([]Candidate, error) {
		if len(addrs) == 0 {
			return nil, ErrNoCandidates
		}
		out := make([]Candidate, len(addrs))
		for i, a := range addrs {
			out[i] = Candidate{Addr: a, ServerID: -1}
		}
		return out, nil
	})
}

// Locator picks the Thrift endpoint to use.
type Locator struct {
	src         Source
	policy      retry.Policy
	dialTimeout time.Duration
	stagger     time.Duration
	probe       time.Duration
	log         *slog.Logger
}

// Option configures a Locator.
type Option func(*Locator)

// WithDialTimeout bounds each candidate's attempt (connect and, for
// ConnectHive, the handshake and OpenSession). Default 5s; 0 or less: no
// bound but the context's.
func WithDialTimeout(d time.Duration) Option { return func(l *Locator) { l.dialTimeout = d } }

// WithStagger sets how long an attempt may go unanswered before the next
// candidate is tried in parallel. Default 150ms.
func WithStagger(d time.Duration) Option { return func(l *Locator) { l.stagger = d } }

// WithRefusalProbe sets how long DialContext watches a fresh connection for
// an immediate close (a passive's refusal) before handing it out. Default
// 25ms; 0 disables the probe.
func WithRefusalProbe(d time.Duration) Option { return func(l *Locator) { l.probe = d } }

// WithRetry sets how often a Locator tries again after every candidate
// failed (a takeover in progress: the old active is gone, the new one does
// not accept yet): it waits for the source to change (ResolverSource) or
// backs off. Default: rounds 100ms–1s apart (full jitter) for up to 10s,
// enough for a new active to recover; retry.Policy{} tries once.
func WithRetry(p retry.Policy) Option { return func(l *Locator) { l.policy = p } }

// WithLogger sets the logger (silent by default).
func WithLogger(lg *slog.Logger) Option { return func(l *Locator) { l.log = lg } }

// NewLocator returns a Locator over src.
func NewLocator(src Source, opts ...Option) *Locator {
	l := &Locator{src: src, dialTimeout: 5 * time.Second, stagger: 150 * time.Millisecond, probe: 25 * time.Millisecond,
		policy: retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, MaxAttempts: 100, MaxElapsed: 10 * time.Second}}
	for _, o := range opts {
		o(l)
	}
	if l.log == nil {
		l.log = slog.New(discardHandler{})
	}
	return l
}

// Candidates lists the current candidates.
func (l *Locator) Candidates(ctx context.Context) ([]Candidate, error) {
	c, err := l.src.Candidates(ctx)
	if err == nil && len(c) == 0 {
		err = ErrNoCandidates
	}
	return c, err
}

// DialContext connects to the first candidate that accepts and does not
// close the connection at once. It ignores addr, so it can be used as
// gohive's ConnectConfiguration.DialContext with any host:port.
func (l *Locator) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	return rounds(ctx, l, func(actx context.Context, c Candidate) (net.Conn, error) {
		return l.dialProbe(actx, network, c.Addr)
	}, func(c net.Conn) { c.Close() })
}

// rounds races the candidates; when none is found or all fail, it waits
// for the source to change or backs off, and races again, within the
// Locator's retry policy and ctx.
func rounds[T any](ctx context.Context, l *Locator, attempt func(context.Context, Candidate) (T, error), release func(T)) (T, error) {
	var zero T
	var last error
	var changed <-chan struct{}
	err := retry.Do(ctx, l.policy, func(ctx context.Context) error {
		if n, ok := l.src.(Notifier); ok {
			changed = n.Changed()
		}
		cands, err := l.Candidates(ctx)
		if err != nil {
			last = err
			return errRound{err}
		}
		v, _, err := race(ctx, l, cands, attempt, release)
		if err != nil {
			last = err
			return errRound{err}
		}
		zero = v
		return nil
	}, retry.WithClassifier(func(err error) bool {
		var r errRound
		return errors.As(err, &r) && (errors.Is(r.err, ErrAllFailed) || errors.Is(r.err, ErrNoCandidates) ||
			errors.Is(r.err, discovery.ErrNoLeader) || errors.Is(r.err, discovery.ErrNoServers))
	}), retry.WithWait(func(ctx context.Context, d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-changed: // the cluster view moved: try at once
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}))
	if err != nil {
		if last != nil && ctx.Err() == nil {
			return zero, last
		}
		return zero, err
	}
	return zero, nil
}

// errRound marks a failed round for the retry classifier.
type errRound struct{ err error }

func (e errRound) Error() string { return e.err.Error() }
func (e errRound) Unwrap() error { return e.err }

// dialProbe dials addr and watches the connection for l.probe: a server
// that closes or resets it in that window refused it.
func (l *Locator) dialProbe(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: max(l.dialTimeout, 0)}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if l.probe <= 0 {
		return conn, nil
	}
	_ = conn.SetReadDeadline(time.Now().Add(l.probe))
	var b [1]byte
	n, rerr := conn.Read(b[:])
	_ = conn.SetReadDeadline(time.Time{})
	var ne net.Error
	switch {
	case n > 0:
		// A Thrift server never speaks first; keep the byte for the reader.
		return &prefixConn{Conn: conn, prefix: b[:n]}, nil
	case errors.As(rerr, &ne) && ne.Timeout():
		return conn, nil // silent: the server waits for us, as it should
	default:
		conn.Close()
		return nil, fmt.Errorf("%w (%v)", ErrRefused, rerr)
	}
}

type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

type result[T any] struct {
	v    T
	c    Candidate
	err  error
	took time.Duration
}

// race runs attempt over cands with staggered starts and returns the first
// success; late successes are released with release. The first candidate
// is tried on the caller's goroutine (the common case — the leader answers
// within the stagger — then costs no goroutine hand-off); the stagger timer
// starts the next ones in parallel while it runs.
func race[T any](ctx context.Context, l *Locator, cands []Candidate, attempt func(context.Context, Candidate) (T, error), release func(T)) (T, Candidate, error) {
	var zero T
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan result[T], len(cands))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		next    = 1 // candidate 0 runs inline
		running int
		stopped bool
	)
	// A parallel success cuts the inline attempt short.
	inlineCtx, inlineCancel := context.WithCancel(ctx)
	defer inlineCancel()
	run := func(ctx context.Context, c Candidate) result[T] {
		actx, acancel := context.WithCancel(ctx)
		if l.dialTimeout > 0 {
			actx, acancel = context.WithTimeout(ctx, l.dialTimeout)
		}
		defer acancel()
		t0 := time.Now()
		v, err := attempt(actx, c)
		return result[T]{v: v, c: c, err: err, took: time.Since(t0)}
	}
	launchLocked := func() bool {
		if next >= len(cands) {
			return false
		}
		c := cands[next]
		next++
		running++
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := run(ctx, c)
			if r.err == nil {
				inlineCancel()
			}
			results <- r
		}()
		return true
	}
	// Whatever is still running when we return is released in the
	// background, so no connection and no goroutine is left behind.
	finish := func() {
		cancel()
		mu.Lock()
		stopped = true
		n := running
		mu.Unlock()
		if n == 0 {
			return
		}
		go func() {
			wg.Wait()
			close(results)
			for r := range results {
				if r.err == nil {
					release(r.v)
				}
			}
		}()
	}
	var timer *time.Timer
	mu.Lock() // the callback reads timer under mu
	timer = time.AfterFunc(l.stagger, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped && launchLocked() {
			timer.Reset(l.stagger)
		}
	})
	mu.Unlock()
	defer timer.Stop()

	var errs []error
	first := run(inlineCtx, cands[0])
	if first.err == nil {
		l.log.Debug("thrift: connected", "candidate", first.c.String(), "took", first.took)
		finish()
		return first.v, first.c, nil
	}
	l.log.Debug("thrift: candidate failed", "candidate", first.c.String(), "err", first.err)
	if inlineCtx.Err() == nil || ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("%s: %w", first.c, first.err))
	} // else: cut short because another candidate succeeded; its result is queued
	// A failure starts the next candidate at once.
	mu.Lock()
	launchLocked()
	idle := running == 0
	mu.Unlock()
	timer.Reset(l.stagger)
	for !idle {
		select {
		case r := <-results:
			mu.Lock()
			running--
			mu.Unlock()
			if r.err == nil {
				l.log.Debug("thrift: connected", "candidate", r.c.String(), "took", r.took)
				finish()
				return r.v, r.c, nil
			}
			l.log.Debug("thrift: candidate failed", "candidate", r.c.String(), "err", r.err)
			errs = append(errs, fmt.Errorf("%s: %w", r.c, r.err))
			mu.Lock()
			if launchLocked() {
				timer.Reset(l.stagger)
			}
			idle = running == 0
			mu.Unlock()
		case <-ctx.Done():
			finish()
			return zero, Candidate{}, fmt.Errorf("%w: %w", ctx.Err(), joined(errs))
		}
	}
	finish()
	if ctx.Err() != nil && len(errs) < len(cands) {
		return zero, Candidate{}, fmt.Errorf("%w: %w", ctx.Err(), joined(errs))
	}
	return zero, Candidate{}, fmt.Errorf("%w (%d candidates): %w", ErrAllFailed, len(cands), joined(errs))
}

// multiError joins errors on one line ("a; b; c") and unwraps to all.
type multiError []error

func joined(errs []error) error { return multiError(errs) }

func (m multiError) Error() string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (m multiError) Unwrap() []error { return m }

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
