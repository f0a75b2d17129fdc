// Package manual provides a discovery.Source whose cluster view the caller
// sets, in the manner of grpc-go's resolver/manual: code that uses
// discovery (livyclient, thrift) can be tested without ZooKeeper.
//
//	src := manual.New(discovery.State{Servers: []discovery.Server{manual.Server("1", "http://127.0.0.1:8998")}, Leader: "1"})
//	r, _ := discovery.NewResolverFromSource(src)
//	c, _ := livyclient.New(livyclient.WithResolver(r))
//	...
//	src.Update(discovery.State{...}) // a failover
package manual

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
)

// Source is a discovery.Source that publishes the States it is given.
type Source struct {
	mu      sync.Mutex
	pub     discovery.Publisher
	pending *discovery.State // set before Start
	closed  bool

	refreshes atomic.Int64
}

// New returns a source that publishes initial (if given) once started.
func New(initial ...discovery.State) *Source {
	s := &Source{}
	if len(initial) > 0 {
		st := initial[len(initial)-1]
		s.pending = &st
	}
	return s
}

// Start implements discovery.Source.
func (s *Source) Start(p discovery.Publisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pub = p
	if s.pending != nil {
		p.Publish(*s.pending)
		s.pending = nil
	}
}

// Update publishes st as the cluster's new view.
func (s *Source) Update(st discovery.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
	case s.pub == nil:
		s.pending = &st
	default:
		s.pub.Publish(st)
	}
}

// ReportError reports a reading failure, as a source would.
func (s *Source) ReportError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil && !s.closed {
		s.pub.ReportError(err)
	}
}

// Refresh implements discovery.Source; it only counts.
func (s *Source) Refresh() { s.refreshes.Add(1) }

// Refreshes returns how often Refresh was called (a client saw evidence of
// a stale view).
func (s *Source) Refreshes() int { return int(s.refreshes.Load()) }

// Close implements discovery.Source.
func (s *Source) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Server returns a Server named name at the Livy base URL url, with the
// fields a source derives (HostPort; ID from a decimal name, else -1).
func Server(name, url string) discovery.Server {
	srv := discovery.Server{ServerRecord: discovery.ServerRecord{ID: -1, URL: url}, Name: name, Sequence: -1}
	if id, err := strconv.Atoi(name); err == nil && id >= 0 {
		srv.ID = id
	}
	if host, port, err := layout.URLHostPort(url); err == nil {
		srv.HostPort = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return srv
}
