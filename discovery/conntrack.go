package discovery

import (
	"context"
	"net"
	"sync"
)

// connTracker dials ZooKeeper for a call bounded by a context: dials are
// cancelled with it, and closeAll cuts the connections it made.
type connTracker struct {
	base   Dialer
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (t *connTracker) dial(ctx context.Context) Dialer {
	return func(dctx context.Context, network, address string) (net.Conn, error) {
		dctx, cancel := context.WithCancel(dctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		var c net.Conn
		var err error
		if t.base != nil {
			c, err = t.base(dctx, network, address)
		} else {
			var d net.Dialer
			c, err = d.DialContext(dctx, network, address)
		}
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed {
			c.Close()
			return nil, net.ErrClosed
		}
		t.conns = append(t.conns, c)
		return c, nil
	}
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = nil
}
