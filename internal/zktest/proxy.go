package zktest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
)

// Proxy is a loopback TCP proxy in front of ZooKeeper servers. Block cuts
// every connection and refuses new ones, so a client behind it is
// partitioned from ZooKeeper while the server keeps running; held long
// enough, the server expires the client's session. Unblock heals it.
// DropReply loses the reply to one chosen request.
//
// It forwards whole ZooKeeper packets (a 4-byte big-endian length, then
// the body), so that DropReply can tell requests and replies apart; it
// carries nothing but ZooKeeper's client protocol.
type Proxy struct {
	ln      net.Listener
	targets []string

	mu      sync.Mutex
	blocked bool
	stalled bool
	dropped chan struct{} // closed when a Stall dropped its first client packet
	fault   *lostReply    // armed by DropReply, nil otherwise
	conns   map[net.Conn]struct{}
	next    int
	wg      sync.WaitGroup
	closed  bool
}

// ZooKeeper op types (a request's Op) of the create family. go-zookeeper
// v1.0.4 sends every Create, protected and sequential ones included, as
// OpCreate; a create inside Multi travels in an op type 14 request.
const (
	OpCreate          = 1
	OpCreate2         = 15
	OpCreateContainer = 19
	OpCreateTTL       = 21
)

// maxPacket bounds a packet's length: ZooKeeper refuses more than
// jute.maxbuffer (1 MiB by default), so a larger length means the stream
// is not ZooKeeper's protocol, and the connection is cut.
const maxPacket = 64 << 20

// dupXid is the xid of the copy DropReplyDuplicated sends: positive, as
// ZooKeeper expects of a client's requests, and far beyond what a client's
// counter (from 1, one per request) reaches in a test.
const dupXid = math.MaxInt32 - 7

// Request is a client request as the proxy forwards it.
type Request struct {
	Xid int32
	Op  int32
	// Body is the request after its xid and op type. It is valid only
	// during the match call it is passed to.
	Body []byte
}

// Path decodes the path that begins the body of most requests (create,
// delete, exists, getData, getChildren...): a length-prefixed string.
func (r Request) Path() (string, bool) { return leadingString(r.Body) }

// Reply is a server reply the proxy dropped.
type Reply struct {
	Xid  int32
	Zxid int64
	Err  int32 // ZooKeeper's error code, 0 for success
	// Body is the reply after its header.
	Body []byte
}

// Path decodes the path that begins the body of a successful create's
// reply: the name the server gave the new node.
func (r Reply) Path() (string, bool) { return leadingString(r.Body) }

func leadingString(b []byte) (string, bool) {
	if len(b) < 4 {
		return "", false
	}
	n := int32(binary.BigEndian.Uint32(b))
	if n < 0 || int(n) > len(b)-4 {
		return "", false
	}
	return string(b[4 : 4+n]), true
}

// lostReply is the fault DropReply arms: it aims at the first request
// that matches and fires when the server answers it.
type lostReply struct {
	match   func(Request) bool
	copies  int
	link    *link   // the connection the matched request went through; nil until then
	pending []int32 // xids whose replies are still to be dropped
	dropped int
	out     chan Reply // buffered(copies); closed when the fault is over
}

// link is one proxied connection: the client's side and ZooKeeper's.
type link struct{ client, server net.Conn }

// NewProxy listens on a free loopback port and forwards to the targets in
// turn. It is closed by t.Cleanup.
func NewProxy(t testing.TB, targets ...string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, targets: targets, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Block closes every proxied connection and refuses new ones until Unblock.
func (p *Proxy) Block() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = true
	for c := range p.conns {
		c.Close()
	}
}

// Unblock lets connections through again (it also ends a Stall).
func (p *Proxy) Unblock() {
	p.mu.Lock()
	p.blocked, p.stalled = false, false
	p.mu.Unlock()
}

// Stall silently drops every byte in both directions while keeping the
// connections open, like a network partition that sends no resets: the
// client notices only through its own timeouts.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.dropped = make(chan struct{})
	p.mu.Unlock()
}

// Dropped is closed once the current Stall has dropped a client packet
// (nil before the first Stall).
func (p *Proxy) Dropped() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// dropping reports whether the proxy stalls, noting a client packet
// dropped if so.
func (p *Proxy) dropping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		select {
		case <-p.dropped:
		default:
			close(p.dropped)
		}
	}
	return p.stalled
}

// DropReply makes the reply to one request get lost: the ambiguous case
// of a client that sees its connection fail after the server performed
// its request. The first request (on any connection, handshakes aside)
// for which match returns true is forwarded; the server's reply to it is
// dropped and that connection is cut, in both directions, before any later
// packet reaches the client. The returned channel receives the dropped
// reply and is then closed; it is also closed, empty, when the proxy
// closes first.
//
// The fault fires once. If the connection ends before the reply arrives,
// it aims at the next matching request. Arming another fault replaces a
// pending one (whose channel is closed). match runs on the proxy's
// goroutines and must not block.
func (p *Proxy) DropReply(match func(Request) bool) <-chan Reply {
	return p.arm(match, 1)
}

// DropReplyDuplicated is DropReply with the matched request performed
// twice: the proxy sends a copy of it (with a xid of its own) right after
// it, as if a create whose reply was lost had landed twice, or a retry
// behind the client's back had. Both replies are dropped, and sent on the
// channel in the server's order, and the connection is cut after the
// second, so both requests have been performed by then.
func (p *Proxy) DropReplyDuplicated(match func(Request) bool) <-chan Reply {
	return p.arm(match, 2)
}

func (p *Proxy) arm(match func(Request) bool, copies int) <-chan Reply {
	f := &lostReply{match: match, copies: copies, out: make(chan Reply, copies)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		close(f.out)
		return f.out
	}
	if p.fault != nil {
		close(p.fault.out)
	}
	p.fault = f
	return f.out
}

// unaimed returns the armed fault if it waits for its request.
func (p *Proxy) unaimed() *lostReply {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.fault; f != nil && f.link == nil {
		return f
	}
	return nil
}

// aim points f at request xid on l, unless it was replaced or aimed by
// another connection since. It runs before the request is forwarded, so
// the reply cannot overtake it.
func (p *Proxy) aim(f *lostReply, l *link, xid int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fault != f || f.link != nil {
		return false
	}
	f.link, f.pending = l, []int32{xid}
	if f.copies > 1 {
		f.pending = append(f.pending, dupXid)
	}
	return true
}

// drop reports whether the reply packet with this xid on l is one the
// fault loses (then it is sent on the fault's channel), and whether the
// connection is to be cut now.
func (p *Proxy) drop(l *link, xid int32, packet []byte) (drop, cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f == nil || f.link != l {
		return false, false
	}
	i := indexOf(f.pending, xid)
	if i < 0 {
		return false, false
	}
	f.pending = append(f.pending[:i], f.pending[i+1:]...)
	body := packet[4:]
	f.out <- Reply{
		Xid:  xid,
		Zxid: int64(binary.BigEndian.Uint64(body[4:])),
		Err:  int32(binary.BigEndian.Uint32(body[12:])),
		Body: append([]byte(nil), body[16:]...),
	}
	f.dropped++
	if len(f.pending) > 0 {
		return true, false
	}
	close(f.out)
	p.fault = nil
	return true, true
}

// release runs when l has ended: a fault aimed at it that has not fired
// aims again; one that fired in part is over.
func (p *Proxy) release(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f == nil || f.link != l {
		return
	}
	if f.dropped == 0 {
		f.link, f.pending = nil, nil
		return
	}
	close(f.out)
	p.fault = nil
}

func indexOf(xs []int32, x int32) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

func (p *Proxy) isStalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// packetReader reads ZooKeeper packets whole.
type packetReader struct {
	r   *bufio.Reader
	buf []byte
}

func newPacketReader(c net.Conn) *packetReader {
	return &packetReader{r: bufio.NewReaderSize(c, 32<<10), buf: make([]byte, 4, 32<<10)}
}

// next returns the next packet, length prefix included, valid until the
// following call.
func (pr *packetReader) next() ([]byte, error) {
	if _, err := io.ReadFull(pr.r, pr.buf[:4]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(pr.buf[:4])
	if n > maxPacket {
		return nil, fmt.Errorf("zktest proxy: packet of %d bytes: not ZooKeeper's protocol", n)
	}
	if cap(pr.buf) < 4+int(n) {
		pr.buf = append(pr.buf[:4], make([]byte, n)...)
	}
	pkt := pr.buf[:4+n]
	if _, err := io.ReadFull(pr.r, pkt[4:]); err != nil {
		return nil, err
	}
	return pkt, nil
}

// requests forwards client packets to ZooKeeper, dropping them while the
// proxy stalls, and aims an armed fault at the request it matches.
func (p *Proxy) requests(l *link) error {
	pr := newPacketReader(l.client)
	var dup []byte
	for handshake := true; ; handshake = false {
		pkt, err := pr.next()
		if err != nil {
			return err
		}
		if p.dropping() {
			continue
		}
		out := pkt
		// The first packet is the connect request, which has no xid.
		if f := p.unaimed(); f != nil && !handshake && len(pkt) >= 12 {
			req := Request{
				Xid:  int32(binary.BigEndian.Uint32(pkt[4:])),
				Op:   int32(binary.BigEndian.Uint32(pkt[8:])),
				Body: pkt[12:],
			}
			if f.match(req) && p.aim(f, l, req.Xid) && f.copies > 1 {
				// The copy goes in the same write, right behind.
				dup = append(append(dup[:0], pkt...), pkt...)
				binary.BigEndian.PutUint32(dup[len(pkt)+4:], uint32(dupXid))
				out = dup
			}
		}
		if _, err := l.server.Write(out); err != nil {
			return err
		}
	}
}

// replies forwards ZooKeeper's packets to the client, dropping them while
// the proxy stalls, and drops a reply an armed fault aims at.
func (p *Proxy) replies(l *link) error {
	pr := newPacketReader(l.server)
	for handshake := true; ; handshake = false {
		pkt, err := pr.next()
		if err != nil {
			return err
		}
		// The first packet is the connect response, which has no xid.
		if !handshake && len(pkt) >= 20 {
			if drop, cut := p.drop(l, int32(binary.BigEndian.Uint32(pkt[4:])), pkt); cut {
				return errors.New("zktest proxy: reply dropped; connection cut")
			} else if drop {
				continue
			}
		}
		if p.isStalled() {
			continue
		}
		if _, err := l.client.Write(pkt); err != nil {
			return err
		}
	}
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	if p.fault != nil {
		close(p.fault.out)
		p.fault = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.mu.Lock()
		target := p.targets[p.next%len(p.targets)]
		p.next++
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			up, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			if !p.track(up) {
				up.Close()
				return
			}
			defer p.untrack(up)
			l := &link{client: c, server: up}
			// Either side ending (or a cut) closes the other, which ends
			// the other loop.
			done := make(chan struct{}, 2)
			go func() { _ = p.requests(l); up.Close(); done <- struct{}{} }()
			go func() { _ = p.replies(l); c.Close(); done <- struct{}{} }()
			<-done
			<-done
			p.release(l)
		}()
	}
}
