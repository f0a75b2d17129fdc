package discovery

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// A ZooKeeper session's lease, as the client can know it.
//
// ZooKeeper expires a session once no server has heard from its client
// for the negotiated session timeout (rounded up to the server's expiry
// tick, so later still). The client cannot know when a server last heard
// it, but a request a server answered was received after the client sent
// it. So the session cannot expire before
//
//	(send time of the last answered request) + (negotiated timeout)
//
// measured on the client's monotonic clock; and nothing that hangs on the
// session's expiry (its ephemeral nodes going, another latch participant
// being told and winning) can happen before then either. A leaseConn
// follows every request and reply on a connection — go-zookeeper's own,
// its pings, and pings of its own that keep the lease fresh — and feeds a
// sessionLease with the send times of those answered, and with the
// negotiated timeout from the connect response (go-zookeeper does not
// export it, and a server may lower the timeout the client asked for).
//
// Pings go-zookeeper or we sent that the server received but whose reply
// was lost only make the real expiry later than the lease says: the lease
// errs on the early side, which is the safe one. Pings carry no id of
// their own, so their replies are matched in order (ZooKeeper answers a
// connection's requests in order); on a connection that silently lost
// some pings and carried on — TCP does not, a test proxy that drops bytes
// does — later replies are matched with earlier pings, which again only
// makes the lease end earlier.

// leaseMargin is how much earlier than the earliest possible expiry a
// lease ends: room for the leader's own reaction (its handler runs on
// another goroutine) and for clock-rate differences between client and
// servers.
func leaseMargin(timeout time.Duration) time.Duration { return timeout / 10 }

// leasePingInterval is how often a leaseConn pings on its own: with
// go-zookeeper's pings alone (every third of the timeout) a lease would
// be up to a third of the timeout old when a partition begins.
func leasePingInterval(timeout time.Duration) time.Duration {
	return max(timeout/10, 10*time.Millisecond)
}

// sessionLease is what the connections of one zkSession learnt of its
// ZooKeeper session's lease.
type sessionLease struct {
	requested time.Duration // the session timeout the client asked for

	mu       sync.Mutex
	session  int64         // the session of the last handshake; 0 after an expiry
	timeout  time.Duration // the timeout that handshake negotiated
	acked    time.Time     // send time of the last answered request of session
	disabled bool          // a stream could not be followed: the lease is unknown
}

// handshake records a connect response: ZooKeeper gave (or kept) session
// with the negotiated timeout, in answer to a connect request sent at
// sent (a session 0 means the old one expired).
func (l *sessionLease) handshake(session int64, timeout time.Duration, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if session != l.session {
		l.session, l.acked = session, sent
	} else if sent.After(l.acked) {
		l.acked = sent
	}
	l.timeout = timeout
}

// ack records that a request of session sent at sent was answered.
func (l *sessionLease) ack(session int64, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if session == l.session && sent.After(l.acked) {
		l.acked = sent
	}
}

func (l *sessionLease) disable() {
	l.mu.Lock()
	l.disabled = true
	l.mu.Unlock()
}

// deadline returns when session's lease ends: the margin before the
// earliest moment ZooKeeper could expire it. known is false when the
// lease cannot be told (no connection was followed, or one could not be);
// a session other than the current one has a lease that ended (zero
// time).
func (l *sessionLease) deadline(session int64) (end time.Time, known bool) {
	if l == nil {
		return time.Time{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disabled || l.timeout <= 0 {
		return time.Time{}, false
	}
	if session == 0 || session != l.session {
		return time.Time{}, true
	}
	t := l.timeout
	if l.requested > 0 {
		t = min(t, l.requested) // if in doubt, the smaller
	}
	return l.acked.Add(t - leaseMargin(t)), true
}

// dialer wraps a go-zookeeper dialer so that each connection feeds the
// lease.
func (l *sessionLease) dialer(d func(network, address string, timeout time.Duration) (net.Conn, error)) func(network, address string, timeout time.Duration) (net.Conn, error) {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := d(network, address, timeout)
		if err != nil {
			return nil, err
		}
		return &leaseConn{Conn: c, lease: l, sent: make(map[int32]time.Time), stop: make(chan struct{})}, nil
	}
}

// ZooKeeper's ping: xid -2, op 11, no body.
const (
	pingXid  = -2
	opPingZK = 11
)

// pingPacket is a ZooKeeper ping request: its length, xid -2, opcode 11.
func pingPacket() [12]byte {
	var ping [12]byte
	xid := int32(pingXid)
	binary.BigEndian.PutUint32(ping[0:], 8)
	binary.BigEndian.PutUint32(ping[4:], uint32(xid))
	binary.BigEndian.PutUint32(ping[8:], opPingZK)
	return ping
}

// leaseConn follows the ZooKeeper packets on one connection (see
// sessionLease) and pings between go-zookeeper's pings.
type leaseConn struct {
	net.Conn
	lease *sessionLease

	wmu sync.Mutex // serializes writes (go-zookeeper's and our pings); guards out
	out framePrefix

	mu          sync.Mutex // guards the fields below (the reader takes only this one)
	connectSent time.Time
	sent        map[int32]time.Time // requests awaiting their reply, by xid
	pings       []time.Time         // pings awaiting their reply, in order
	session     int64               // from the connect response (set by the reader)
	broken      bool                // a stream could not be followed: no more acks

	in framePrefix // only the reading goroutine

	stop     chan struct{}
	stopOnce sync.Once
}

func (c *leaseConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.noteSent(p, time.Now())
	return c.Conn.Write(p)
}

// noteSent records the requests in p, about to be written at now. c.wmu
// is held.
func (c *leaseConn) noteSent(p []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return
	}
	c.out.feed(p, func(n int, pre []byte) {
		switch {
		case n == 0:
			c.connectSent = now
		case len(pre) < 4:
			c.breakLocked()
		default:
			switch xid := int32(binary.BigEndian.Uint32(pre)); {
			case xid >= 0:
				c.sent[xid] = now
			case xid == pingXid:
				c.pings = append(c.pings, now)
			}
		}
	})
}

// breakLocked gives up following the streams. c.mu is held.
func (c *leaseConn) breakLocked() {
	if !c.broken {
		c.broken = true
		c.lease.disable()
	}
}

func (c *leaseConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.in.feed(p[:n], c.received)
	}
	return n, err
}

// received handles the start of the n-th packet read (0: the connect
// response).
func (c *leaseConn) received(n int, pre []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return
	}
	if n == 0 {
		// protocolVersion int32, timeOut int32 (ms), sessionId int64, passwd
		if len(pre) < 16 {
			c.breakLocked()
			return
		}
		timeout := time.Duration(int32(binary.BigEndian.Uint32(pre[4:]))) * time.Millisecond
		c.session = int64(binary.BigEndian.Uint64(pre[8:]))
		c.lease.handshake(c.session, timeout, c.connectSent)
		if c.session != 0 && timeout > 0 {
			go c.pinger(leasePingInterval(timeout))
		}
		return
	}
	if len(pre) < 4 {
		c.breakLocked()
		return
	}
	switch xid := int32(binary.BigEndian.Uint32(pre)); {
	case xid >= 0:
		if t, ok := c.sent[xid]; ok {
			delete(c.sent, xid)
			c.lease.ack(c.session, t)
		}
	case xid == pingXid:
		if len(c.pings) > 0 {
			t := c.pings[0]
			c.pings = c.pings[1:]
			c.lease.ack(c.session, t)
		}
	}
}

// pinger pings every interval until the connection closes or a write
// fails, between whole packets only.
func (c *leaseConn) pinger(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	ping := pingPacket()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.wmu.Lock()
		if !c.out.atBoundary() {
			c.wmu.Unlock()
			continue
		}
		c.noteSent(ping[:], time.Now())
		_, err := c.Conn.Write(ping[:])
		c.wmu.Unlock()
		if err != nil {
			return // go-zookeeper finds out by itself
		}
	}
}

func (c *leaseConn) Close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	return c.Conn.Close()
}

// framePrefix follows a stream of ZooKeeper packets (a 4-byte big-endian
// length, then the body) and hands over the first bytes of each body.
type framePrefix struct {
	hdr   [4]byte
	hdrN  int
	body  int // body bytes of the current packet still to come
	pre   [16]byte
	preN  int
	want  int // prefix bytes wanted of the current packet
	count int // packets whose prefix was handed over
}

func (f *framePrefix) atBoundary() bool { return f.hdrN == 0 && f.body == 0 }

// feed consumes b and calls got(n, prefix) for the n-th packet (from 0)
// once its first 16 body bytes (or its whole body, if shorter) are in.
// prefix is valid during the call only.
func (f *framePrefix) feed(b []byte, got func(n int, prefix []byte)) {
	for len(b) > 0 {
		if f.body == 0 {
			f.hdr[f.hdrN] = b[0]
			f.hdrN++
			b = b[1:]
			if f.hdrN < 4 {
				continue
			}
			f.hdrN = 0
			f.body = int(binary.BigEndian.Uint32(f.hdr[:]))
			f.preN, f.want = 0, min(f.body, len(f.pre))
			if f.body == 0 {
				f.deliver(got)
			}
			continue
		}
		k := min(f.body, len(b))
		if f.preN < f.want {
			m := copy(f.pre[f.preN:f.want], b[:k])
			f.preN += m
			if f.preN == f.want {
				f.deliver(got)
			}
		}
		f.body -= k
		b = b[k:]
	}
}

func (f *framePrefix) deliver(got func(int, []byte)) {
	n := f.count
	f.count++
	got(n, f.pre[:f.preN])
}
