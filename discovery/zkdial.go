package discovery

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// handshakeTimeout bounds how long a new ZooKeeper connection may take to
// answer the connect request. go-zookeeper waits 10 × (2/3 × the session
// timeout) for it — 66 s at a 10 s session — so one frozen server (its
// port still accepts, SIGSTOPped) stalls a new client that happens to pick
// it, and go-zookeeper shuffles the hosts, so the order does not help. A
// healthy server answers in milliseconds; after this bound go-zookeeper
// moves on to the next host.
const handshakeTimeout = time.Second

// boundedConn caps the read deadline of a connection until ZooKeeper's
// connect response has been read in full; from then on it is a plain
// net.Conn.
type boundedConn struct {
	net.Conn
	mu       sync.Mutex
	deadline time.Time // zero once the handshake is answered
	hdr      [4]byte
	hdrN     int
	body     int // bytes of the response body still to read (-1: length unknown)
}

func newBoundedConn(c net.Conn, d time.Duration) *boundedConn {
	return &boundedConn{Conn: c, deadline: time.Now().Add(d), body: -1}
}

func (c *boundedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	d := c.deadline
	c.mu.Unlock()
	if !d.IsZero() && (t.IsZero() || t.After(d)) {
		t = d
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *boundedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *boundedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.deadline.IsZero() {
			c.account(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// account follows the connect response (a 4-byte length, then the body)
// through the bytes read; when it is complete the cap is lifted. c.mu is
// held.
func (c *boundedConn) account(b []byte) {
	for len(b) > 0 && c.hdrN < 4 {
		c.hdr[c.hdrN] = b[0]
		c.hdrN++
		b = b[1:]
		if c.hdrN == 4 {
			c.body = int(binary.BigEndian.Uint32(c.hdr[:]))
		}
	}
	if c.body < 0 {
		return
	}
	c.body -= len(b)
	if c.body <= 0 {
		c.deadline = time.Time{}
		// go-zookeeper cleared its own deadline after the length; the
		// cap it may still carry goes with the handshake.
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
}

// boundedDialer wraps a Dialer (nil: plain TCP) so that every connection
// it makes bounds the ZooKeeper handshake.
func boundedDialer(d Dialer, bound time.Duration) func(network, address string, timeout time.Duration) (net.Conn, error) {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var c net.Conn
		var err error
		if d != nil {
			c, err = d(ctx, network, address)
		} else {
			var nd net.Dialer
			c, err = nd.DialContext(ctx, network, address)
		}
		if err != nil {
			return nil, err
		}
		return newBoundedConn(c, bound), nil
	}
}
