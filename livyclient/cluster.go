package livyclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/livyha/livyha/discovery"
)

// Locator is what the HA transport needs from discovery. *discovery.Resolver
// implements it.
type Locator interface {
	Mode() discovery.Mode
	Active(ctx context.Context) (discovery.Server, error)
	Owner(ctx context.Context, sessionID int) (discovery.Server, error)
	Snapshot() *discovery.Snapshot
	Refresh()
}

var _ Locator = (*discovery.Resolver)(nil)

// cluster picks servers for requests. Implementations: resolverCluster
// (ZooKeeper-backed snapshots) and staticCluster (a fixed endpoint list).
type cluster interface {
	// pick returns the base URL of the server to try for a request scoped
	// to session id scope (-1: not session-scoped), and a channel that is
	// closed when the cluster view changes (nil if it never does). tried
	// holds the hosts that already failed for this request.
	pick(ctx context.Context, scope int, tried map[string]bool) (*url.URL, <-chan struct{}, error)
	// changed returns a channel closed when the view changes (nil: never).
	changed() <-chan struct{}
	// member reports whether u (scheme and host:port) is the base URL of
	// a cluster member.
	member(u *url.URL) bool
	// multiActive reports whether every server owns its own sessions and
	// names (LIVY-698), so a job must be looked up where it was created.
	multiActive() bool
	// good records that the server at u answered.
	good(u *url.URL)
	// hint reports that a server we chose claims to be passive.
	hint()
}

type resolverCluster struct {
	loc   Locator
	bases sync.Map // server URL -> *url.URL, parsed once
}

func (c *resolverCluster) pick(ctx context.Context, scope int, _ map[string]bool) (*url.URL, <-chan struct{}, error) {
	snap := c.loc.Snapshot()
	var srv discovery.Server
	var err error
	if scope >= 0 {
		srv, err = c.loc.Owner(ctx, scope)
	} else {
		srv, err = c.loc.Active(ctx)
	}
	if err != nil {
		return nil, snap.Changed(), err
	}
	if u, ok := c.bases.Load(srv.URL); ok {
		return u.(*url.URL), snap.Changed(), nil
	}
	u, err := parseBase(srv.URL)
	if err == nil {
		c.bases.Store(srv.URL, u)
	}
	return u, snap.Changed(), err
}

func (c *resolverCluster) changed() <-chan struct{} { return c.loc.Snapshot().Changed() }

func (c *resolverCluster) member(u *url.URL) bool {
	hp := hostPort(u)
	for _, s := range c.loc.Snapshot().Servers {
		if s.HostPort == hp && strings.HasPrefix(s.URL, u.Scheme+"://") {
			return true
		}
	}
	return false
}

func (c *resolverCluster) multiActive() bool { return c.loc.Mode() == discovery.MultiActive }

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

func (c *staticCluster) pick(_ context.Context, _ int, tried map[string]bool) (*url.URL, <-chan struct{}, error) {
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

func (c *staticCluster) member(u *url.URL) bool { return c.members[u.Scheme+"://"+hostPort(u)] }

func (c *staticCluster) multiActive() bool { return false }

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
