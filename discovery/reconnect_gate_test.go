package discovery

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/internal/zktest"
)

// go-zookeeper v1.0.4 reads lastZxid while building the SetWatches of a
// reconnection and its new receive loop writes it for every answer
// (conn.go:614 vs :849). Reconnections cut while requests are queued and
// in flight, with watches held: under `go test -race` an answer arriving
// before the SetWatches is built is reported as a data race, which fails
// the test. The gate holds those requests until the SetWatches is out;
// every request still gets its answer.
func TestReconnectGateNoLastZxidRace(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	raw := rawConn(t, zkc.ConnectString())
	mkTree(t, raw, [][2]string{{root, "x"}})
	cs, err := ParseConnectString(zkc.ConnectString())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := dialSession(cs, sessionConfig{timeout: 10 * time.Second, log: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	connected := func() {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for sess.State() != zk.StateHasSession {
			select {
			case <-sess.notify:
			case <-deadline:
				t.Fatal("no session within 10s")
			}
		}
	}
	connected()
	if err := sess.ensureAuth(); err != nil {
		t.Fatal(err)
	}
	if sess.guardSID.Load() != sess.SessionID() {
		t.Fatal("the sentinel watch is not armed")
	}
	// Watches go-zookeeper re-arms on every reconnection.
	for i := 0; i < 5; i++ {
		if _, _, err := sess.GetW(root); err != nil {
			t.Fatal(err)
		}
	}
	sid := sess.SessionID()
	const cuts = 40
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var answered, cut int
	var mu sync.Mutex
	progress := make(chan struct{}, 1) // an answer came
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _, err := sess.Get(root)
				mu.Lock()
				switch {
				case err == nil:
					answered++
					select {
					case progress <- struct{}{}:
					default:
					}
				case errors.Is(err, zk.ErrConnectionClosed), errors.Is(err, net.ErrClosed):
					cut++ // go-zookeeper returns a failed write's own error
				default:
					t.Errorf("Get: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	gatedBefore := func() int { sess.bufs.mu.Lock(); defer sess.bufs.mu.Unlock(); return sess.bufs.gated }()
	for i := 0; i < cuts; i++ {
		sess.bufs.mu.Lock()
		c := sess.bufs.cur
		sess.bufs.mu.Unlock()
		c.Close()
		// Wait for go-zookeeper to notice and reconnect (events).
		deadline := time.After(10 * time.Second)
		for sess.State() == zk.StateHasSession {
			select {
			case <-sess.notify:
			case <-deadline:
				t.Fatal("the cut was not noticed within 10s")
			}
		}
		connected()
		// Requests queued meanwhile went out with the reconnection; let
		// answers come on this connection before cutting it.
		for n := 0; n < 16; n++ {
			select {
			case <-progress:
			case <-time.After(10 * time.Second):
				t.Fatal("no answer within 10s of a reconnection")
			}
		}
	}
	close(stop)
	wg.Wait()
	sess.bufs.mu.Lock()
	gated := sess.bufs.gated - gatedBefore
	sess.bufs.mu.Unlock()
	t.Logf("%d reconnections, %d gated; %d requests answered, %d cut", cuts, gated, answered, cut)
	if sess.SessionID() != sid {
		t.Fatal("the session changed")
	}
	if gated < cuts {
		t.Fatalf("%d of %d reconnections were gated", gated, cuts)
	}
	if answered == 0 {
		t.Fatal("no request was answered")
	}
	// The watches are still held: a change fires one.
	_, _, w, err := sess.conn.GetW(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Set(root, []byte("y"), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w:
		if ev.Type != zk.EventNodeDataChanged {
			t.Fatalf("event %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event after the reconnections")
	}
}

// recConn records what is written to it.
type recConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	wrote  chan struct{}
	closed chan struct{} // closed by Close, if not nil
	once   sync.Once
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	c.mu.Unlock()
	select {
	case c.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *recConn) Close() error {
	if c.closed != nil {
		c.once.Do(func() { close(c.closed) })
	}
	return nil
}

func (c *recConn) ops() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int32
	for _, p := range c.writes {
		if len(p) < zkPacketHdrSize {
			out = append(out, -100)
			continue
		}
		out = append(out, int32(binary.BigEndian.Uint32(p[8:12])))
	}
	return out
}

// readRequest is a read request packet on path with the watch flag.
func readRequest(xid, op int32, path string, watch bool) []byte {
	body := binary.BigEndian.AppendUint32(nil, uint32(xid))
	body = binary.BigEndian.AppendUint32(body, uint32(op))
	body = binary.BigEndian.AppendUint32(body, uint32(len(path)))
	body = append(body, path...)
	if watch {
		return packet(append(body, 1))
	}
	return packet(append(body, 0))
}

// request is a request packet: its length prefix, xid and opcode.
func request(xid, op int32) []byte {
	body := binary.BigEndian.AppendUint32(nil, uint32(xid))
	return packet(binary.BigEndian.AppendUint32(body, uint32(op)))
}

// The gate passes the connect request, pings and credentials; holds other
// requests until the SetWatches, then sends them in order; on a session's
// first connection passes only requests without a watch and the
// sentinel; and, without a SetWatches, ends the connection after
// guardWait (at once for a close) without sending what it held.
func TestReconnectGateOrder(t *testing.T) {
	const opGetData, opExists = 4, 3
	c := &recConn{wrote: make(chan struct{}, 1)}
	g := &reconnectGate{log: discardLogger()}
	for _, p := range [][]byte{
		make([]byte, 48), // connect request
		request(1, zkOpSetAuth),
		request(2, opGetData),
		request(-2, opPingZK),
		request(3, opExists),
	} {
		if n, err := g.write(c, p); n != len(p) || err != nil {
			t.Fatalf("write = %d, %v", n, err)
		}
	}
	if got, want := c.ops(), []int32{0, zkOpSetAuth, opPingZK}; !slices.Equal(got, want) {
		t.Fatalf("before SetWatches: ops %v, want %v", got, want)
	}
	g.write(c, request(4, zkOpSetWatches))
	g.write(c, request(5, opGetData))
	if got, want := c.ops(), []int32{0, zkOpSetAuth, opPingZK, zkOpSetWatches, opGetData, opExists, opGetData}; !slices.Equal(got, want) {
		t.Fatalf("after SetWatches: ops %v, want %v", got, want)
	}

	// A new session's first connection: requests without a watch pass,
	// watch requests are held, the sentinel passes, and nothing after it.
	c3 := &recConn{wrote: make(chan struct{}, 1)}
	g3 := &reconnectGate{log: discardLogger(), first: true}
	g3.write(c3, make([]byte, 48))
	g3.write(c3, readRequest(1, opGetData, "/a", false))
	g3.write(c3, readRequest(2, opGetData, "/a", true))
	g3.write(c3, readRequest(3, opExists, guardPath, true))
	g3.write(c3, readRequest(4, opExists, "/b", false))
	if got, want := c3.ops(), []int32{0, opGetData, opExists}; !slices.Equal(got, want) {
		t.Fatalf("first connection: ops %v, want %v", got, want)
	}
	if !isGuardRequest(readRequest(3, opExists, guardPath, true)) || isGuardRequest(readRequest(3, opExists, guardPath, false)) ||
		isGuardRequest(readRequest(3, opGetData, guardPath, true)) || isGuardRequest(readRequest(3, opExists, guardPath+"x", true)) {
		t.Fatal("isGuardRequest")
	}

	// No SetWatches: the connection is ended after the gate's wait, its
	// held requests never sent.
	c2 := &recConn{wrote: make(chan struct{}, 1), closed: make(chan struct{})}
	g2 := &reconnectGate{log: discardLogger()}
	g2.write(c2, make([]byte, 48))
	start := time.Now()
	g2.write(c2, request(1, opGetData))
	select {
	case <-c2.closed:
		if d := time.Since(start); d < guardWait/2 {
			t.Fatalf("cut after %v, before the gate's wait", d)
		}
	case <-time.After(10 * guardWait):
		t.Fatal("a gate without a SetWatches never ended its connection")
	}
	if got := c2.ops(); len(got) != 1 {
		t.Fatalf("ops %v: a held request was sent", got)
	}
	// A close while reconnecting ends the connection at once, unsent.
	c4 := &recConn{wrote: make(chan struct{}, 1), closed: make(chan struct{})}
	g4 := &reconnectGate{log: discardLogger()}
	g4.write(c4, make([]byte, 48))
	g4.write(c4, request(1, zkOpClose))
	select {
	case <-c4.closed:
	default:
		t.Fatal("a close before the SetWatches did not end the connection")
	}
	if got := c4.ops(); len(got) != 1 {
		t.Fatalf("ops %v: the close was sent", got)
	}
}
