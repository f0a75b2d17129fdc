package discovery

import (
	"context"
	"encoding/binary"
	"errors"
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
	deadline time.Time     // zero once the handshake is answered
	answered chan struct{} // closed when the handshake is answered
	closed   chan struct{} // closed by Close
	once     [2]sync.Once  // answered, closed

	// probe: while the handshake waits, a ping follows the connect
	// request every handshakeProbeInterval (see probeHandshake).
	probe    bool
	wmu      sync.Mutex // whole packets: go-zookeeper's writes and the probe's
	wrote    bool       // the connect request is out
	hdr      [4]byte
	hdrN     int
	body     int // bytes of the response body still to read (-1: length unknown)
	rounds   *handshakeRounds
	reported bool
}

func newBoundedConn(c net.Conn, d time.Duration, probe bool) *boundedConn {
	return &boundedConn{Conn: c, deadline: time.Now().Add(d), body: -1, probe: probe,
		answered: make(chan struct{}), closed: make(chan struct{})}
}

// handshakeProbeInterval is how often probeHandshake pings.
const handshakeProbeInterval = 500 * time.Millisecond

func (c *boundedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.Conn.Write(p)
	if !c.wrote {
		c.wrote = true
		if c.probe && err == nil {
			go c.probeHandshake()
		}
	}
	return n, err
}

func (c *boundedConn) Close() error {
	c.once[1].Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// probeHandshake finds out, while the connect request waits for its
// answer, whether it was lost — a black hole (bytes dropped, the
// connection kept) that has healed — rather than waiting out the cap: a
// ping follows the connect request every handshakeProbeInterval. A
// server that has the connect request reads nothing more until the
// session is set up (ZooKeeperServer.processConnectRequest disables
// receiving) and then answers the pings, which go-zookeeper ignores (xid
// -2); one that never got it reads the first ping as a connect request,
// cannot parse it and closes the connection, so the attempt ends at once
// and the next one starts. A server that is frozen, or a network still
// dropping everything, sees nothing new.
func (c *boundedConn) probeHandshake() {
	ping := pingPacket()
	t := time.NewTicker(handshakeProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-c.answered:
			return
		case <-c.closed:
			return
		case <-t.C:
		}
		c.wmu.Lock()
		_, err := c.Conn.Write(ping[:])
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
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
	c.mu.Lock()
	if n > 0 && !c.deadline.IsZero() {
		c.account(p[:n])
	}
	if err != nil && !c.deadline.IsZero() && !c.reported && c.rounds != nil {
		// The handshake failed: count it if it was our cap that ended it.
		var ne net.Error
		c.reported = true
		c.rounds.result(errors.As(err, &ne) && ne.Timeout())
	}
	c.mu.Unlock()
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
		c.once[0].Do(func() { close(c.answered) })
		if c.rounds != nil && !c.reported {
			c.reported = true
			c.rounds.result(false)
		}
		// go-zookeeper cleared its own deadline after the length; the
		// cap it may still carry goes with the handshake.
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
}

// handshakeRounds tracks capped handshakes that timed out, so that a
// cluster whose servers are all merely slow is still reached, without
// giving up the quick recovery from a black hole. A round is as many
// attempts as there are servers. For the first cappedRounds rounds that
// time out everywhere, every handshake has the short cap: a frozen server
// costs one cap per attempt. After that, each further round doubles the
// cap (a server that answers a handshake in 1.3 s is reached in the third
// round, about 5 s in), and past maxCap the handshake is not capped at all
// (go-zookeeper's own bound applies); one answered handshake starts over.
// Escalating by rounds rather than going straight to go-zookeeper's bound
// (13 s at a 2 s session; 66 s at 10 s) bounds what a black hole costs
// after it heals: an attempt begun during it whose connect request was
// lost waits out only its own, shorter cap.
type handshakeRounds struct {
	mu      sync.Mutex
	servers int
	fails   int // capped handshakes timed out in a row
}

const (
	cappedRounds = 2
	maxCap       = 16 * time.Second
)

// next returns the cap of the next connection's handshake (0: none).
func (h *handshakeRounds) next(bound time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	extra := h.fails/h.servers - cappedRounds
	if extra < 0 {
		return bound
	}
	d := bound
	for i := 0; i <= extra && d <= maxCap; i++ {
		d *= 2
	}
	if d > maxCap {
		return 0
	}
	return d
}

func (h *handshakeRounds) result(timedOut bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if timedOut {
		h.fails++
	} else {
		h.fails = 0
	}
}

// boundedDialer wraps a Dialer (nil: plain TCP) so that the connections it
// makes bound the ZooKeeper handshake (see handshakeRounds for when not).
// With probe, capped handshakes are probed (boundedConn.probeHandshake);
// not for sessions whose lease is followed (zklease.go), which matches
// ping answers to the pings it saw sent.
func boundedDialer(d Dialer, bound time.Duration, servers int, probe bool) func(network, address string, timeout time.Duration) (net.Conn, error) {
	rounds := &handshakeRounds{servers: max(servers, 1)}
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
		d := rounds.next(bound)
		if d == 0 {
			return c, nil
		}
		bc := newBoundedConn(c, d, probe)
		bc.rounds = rounds
		return bc, nil
	}
}
