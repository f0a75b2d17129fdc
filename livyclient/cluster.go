package livyclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livyha/livyha/discovery"
)

// Locator is what the HA transport needs from discovery.
// *discovery.Resolver implements it (over any source, including
// discovery/manual for tests); every type in it can be built by callers.
type Locator interface {
	// Mode is the cluster's mode (how sessions map to servers).
	Mode() discovery.Mode
	// Active returns the server for requests that are not session-scoped.
	Active(ctx context.Context) (discovery.Server, error)
	// Owner returns the server owning a session.
	Owner(ctx context.Context, kind discovery.SessionKind, id int) (discovery.Server, error)
	// Servers returns every known server (read-only; not copied).
	Servers() []discovery.Server
	// Changed returns a channel closed when the view changes.
	Changed() <-chan struct{}
	// Refresh asks for a re-read; it must not block.
	Refresh()
}

var _ Locator = (*discovery.Resolver)(nil)

// scope is what a request path is scoped to: a session of a kind, or
// nothing (id -1).
type scope struct {
	kind discovery.SessionKind
	id   int
}

// cluster picks servers for requests. Implementations: resolverCluster
// (a Locator's snapshots) and staticCluster (a fixed endpoint list).
type cluster interface {
	// pick returns the base URL of the server to try for a request with
	// scope sc, and a channel that is closed when the cluster view changes
	// (nil if it never does). tried holds the hosts that already failed
	// for this request.
	pick(ctx context.Context, sc scope, tried map[string]bool) (*url.URL, <-chan struct{}, error)
	// changed returns a channel closed when the view changes (nil: never).
	changed() <-chan struct{}
	// member reports whether u (scheme and host:port) is the base URL of
	// a cluster member.
	member(u *url.URL) bool
	// perServer reports whether every server owns its own sessions and
	// names (LIVY-698 multi-active and session HA), so a job must be looked
	// up where it was created.
	perServer() bool
	// good records that the server at u answered.
	good(u *url.URL)
	// done records that a request picked for u has its answer (in-flight
	// accounting for active-active spreading).
	done(u *url.URL)
	// hint reports that a server we chose claims to be passive, or failed.
	hint()
	// still reports whether base is still the server to ask for scope sc
	// in the current view (any live server in an active-active cluster).
	still(base *url.URL, sc scope) bool
	// ready reports whether picking the active server cannot wait: the
	// cluster has a view (a resolver's first snapshot is in).
	ready() bool
	// view returns a context cancelled when the current view is replaced
	// (nil: the view never changes).
	view() context.Context
}

type resolverCluster struct {
	loc      Locator
	bases    sync.Map // server URL -> *url.URL, parsed once
	inflight sync.Map // host:port -> *atomic.Int64 (active-active)

	viewMu  sync.Mutex
	viewCh  <-chan struct{}
	viewCtx context.Context
	stopped chan struct{} // closed by stop: no more view goroutines
}

// view returns a context that is cancelled when the current view is
// replaced: one context, and one goroutine waiting, per view (not per
// request).
func (c *resolverCluster) view() context.Context {
	ch := c.loc.Changed()
	if ch == nil {
		return nil
	}
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	if c.stopped == nil {
		c.stopped = make(chan struct{})
	}
	select {
	case <-c.stopped:
		return nil // the client is closed
	default:
	}
	if c.viewCh != ch {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-ch:
			case <-c.stopped:
			}
			cancel()
		}()
		c.viewCh, c.viewCtx = ch, ctx
	}
	return c.viewCtx
}

// stop ends the view goroutine (Client.Close): a closed resolver's view
// never changes again.
func (c *resolverCluster) stop() {
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	if c.stopped == nil {
		c.stopped = make(chan struct{})
	}
	select {
	case <-c.stopped:
	default:
		close(c.stopped)
	}
}

func (c *resolverCluster) base(srv discovery.Server) (*url.URL, error) {
	if u, ok := c.bases.Load(srv.URL); ok {
		return u.(*url.URL), nil
	}
	u, err := parseBase(srv.URL)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", srv.Name, err)
	}
	c.bases.Store(srv.URL, u)
	return u, nil
}

func (c *resolverCluster) pick(ctx context.Context, sc scope, tried map[string]bool) (*url.URL, <-chan struct{}, error) {
	ch := c.loc.Changed()
	if c.loc.Mode() == discovery.ActiveActive {
		if u, ok := c.spread(tried); ok {
			return u, ch, nil
		}
	}
	var srv discovery.Server
	var err error
	if sc.id >= 0 {
		srv, err = c.loc.Owner(ctx, sc.kind, sc.id)
	} else {
		srv, err = c.loc.Active(ctx)
	}
	if err != nil {
		return nil, ch, err
	}
	u, err := c.base(srv)
	if err == nil && c.loc.Mode() == discovery.ActiveActive {
		c.counter(srv.HostPort).Add(1)
	}
	return u, ch, err
}

func (c *resolverCluster) counter(hostport string) *atomic.Int64 {
	if v, ok := c.inflight.Load(hostport); ok {
		return v.(*atomic.Int64)
	}
	v, _ := c.inflight.LoadOrStore(hostport, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// spread picks a server for an active-active cluster by the power of two
// choices on in-flight requests, skipping servers that already failed for
// this request (so an idempotent request that failed on one server goes to
// another).
func (c *resolverCluster) spread(tried map[string]bool) (*url.URL, bool) {
	servers := c.loc.Servers()
	var cand [2]int
	n := 0
	// Two distinct random untried servers (bounded tries; small clusters).
	for i := 0; i < 4*len(servers) && n < 2; i++ {
		k := rand.IntN(len(servers))
		if servers[k].URL == "" || tried[servers[k].HostPort] || (n == 1 && cand[0] == k) {
			continue
		}
		cand[n] = k
		n++
	}
	if n == 0 {
		return nil, false
	}
	best := cand[0]
	if n == 2 && c.counter(servers[cand[1]].HostPort).Load() < c.counter(servers[best].HostPort).Load() {
		best = cand[1]
	}
	u, err := c.base(servers[best])
	if err != nil {
		return nil, false
	}
	c.counter(servers[best].HostPort).Add(1)
	return u, true
}

func (c *resolverCluster) done(u *url.URL) {
	if v, ok := c.inflight.Load(hostPort(u)); ok {
		v.(*atomic.Int64).Add(-1)
	}
}

func (c *resolverCluster) changed() <-chan struct{} { return c.loc.Changed() }

func (c *resolverCluster) ready() bool { return len(c.loc.Servers()) > 0 }

func (c *resolverCluster) member(u *url.URL) bool {
	hp := hostPort(u)
	for _, s := range c.loc.Servers() {
		if s.HostPort == hp && strings.HasPrefix(s.URL, u.Scheme+"://") {
			return true
		}
	}
	return false
}

func (c *resolverCluster) still(base *url.URL, sc scope) bool {
	if c.loc.Mode() == discovery.ActiveActive {
		return c.member(base)
	}
	// Bounded: a session-HA owner may need a ZooKeeper read, and this
	// runs on a view change, off the request's goroutine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var srv discovery.Server
	var err error
	if sc.id >= 0 {
		srv, err = c.loc.Owner(ctx, sc.kind, sc.id)
	} else {
		srv, err = c.loc.Active(ctx)
	}
	if err != nil {
		return true // no better server known: let the attempt run
	}
	return srv.HostPort == hostPort(base)
}

func (c *resolverCluster) perServer() bool {
	m := c.loc.Mode()
	return m == discovery.MultiActive || m == discovery.SessionHA
}

func (c *resolverCluster) good(*url.URL) {}

func (c *resolverCluster) hint() { c.loc.Refresh() }

// staticCluster is a fixed list of endpoints (no ZooKeeper). Requests go
// to the endpoint that answered last; on failure the others are tried in
// turn. Passive servers' 307s to other endpoints are followed.
type staticCluster struct {
	eps     []*url.URL
	members map[string]bool // scheme://host:port

	mu   sync.Mutex
	last int
}

func newStaticCluster(urls []string) (*staticCluster, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: WithEndpoints needs at least one URL", ErrBadOption)
	}
	c := &staticCluster{members: make(map[string]bool)}
	for _, s := range urls {
		u, err := parseBase(s)
		if err != nil {
			return nil, fmt.Errorf("%w: endpoint %q: %v", ErrBadOption, s, err)
		}
		c.eps = append(c.eps, u)
		c.members[u.Scheme+"://"+hostPort(u)] = true
	}
	return c, nil
}

func (c *staticCluster) pick(_ context.Context, _ scope, tried map[string]bool) (*url.URL, <-chan struct{}, error) {
	c.mu.Lock()
	start := c.last
	c.mu.Unlock()
	for i := range c.eps {
		u := c.eps[(start+i)%len(c.eps)]
		if !tried[hostPort(u)] {
			return u, nil, nil
		}
	}
	// Every endpoint failed once: start over (the caller backs off).
	clear(tried)
	return c.eps[start%len(c.eps)], nil, nil
}

func (c *staticCluster) changed() <-chan struct{} { return nil }

func (c *staticCluster) ready() bool { return true }

func (c *staticCluster) member(u *url.URL) bool { return c.members[u.Scheme+"://"+hostPort(u)] }

func (c *staticCluster) perServer() bool { return false }

func (c *staticCluster) done(*url.URL) {}

func (c *staticCluster) good(answered *url.URL) {
	hostport := hostPort(answered)
	for i, u := range c.eps {
		if hostPort(u) == hostport {
			c.mu.Lock()
			c.last = i
			c.mu.Unlock()
			return
		}
	}
}

func (c *staticCluster) hint() {}

func (c *staticCluster) still(*url.URL, scope) bool { return true }

func (c *staticCluster) view() context.Context { return nil }

// parseBase parses a server base URL (scheme://host:port[/base]).
func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("want http(s)://host[:port][/base]")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// hostPort returns u's host:port, with the scheme's default port when the
// URL has none, matching discovery.Server.HostPort.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return net.JoinHostPort(u.Hostname(), u.Port())
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}
