package discovery

import (
	"context"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/internal/zktest"
)

// A server that accepts connections and never answers (a frozen process;
// here a proxy that swallows every byte) costs a new client at most about
// handshakeTimeout: go-zookeeper's own bound is 10 × 2/3 of the session
// timeout (20 s at the 3 s used here), and it shuffles the hosts. With two
// frozen servers of three, every one of 12 new resolvers gets its first
// snapshot well inside the 6 s each is given.
func TestFrozenServerDoesNotStallNewClients(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	register(t, zkc.ConnectString(), root, 1, true)
	var connect string
	for i := 0; i < 2; i++ {
		p := zktest.NewProxy(t, zkc.ConnectString())
		p.Stall()
		connect += p.Addr() + ","
	}
	connect += zkc.ConnectString()

	var mu sync.Mutex
	var took []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r, err := NewResolver(connect, WithRoot(root), WithSessionTimeout(3*time.Second))
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			if _, err := r.Active(ctxT(t, 6*time.Second)); err != nil {
				t.Errorf("resolver %d: %v after %v", i, err, time.Since(start))
				return
			}
			mu.Lock()
			took = append(took, time.Since(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	if len(took) > 0 {
		t.Logf("first Active with 2 of 3 servers frozen: min %v, median %v, max %v (n=%d)",
			took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))
	}
}

// A connect request lost in a black hole (the proxy drops every byte and
// keeps the connection) is found out after the heal by the handshake
// probe, well before the attempt's cap would end it: the server reads
// the probe's ping as a connect request and closes the connection, and
// the next attempt is answered. Without the probe the session would
// connect only after the 8 s cap.
func TestHandshakeProbeAfterBlackHole(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	const bigCap = 8 * time.Second
	p := zktest.NewProxy(t, zkc.ConnectString())
	p.Stall()
	var dials atomic.Int32
	inner := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	s := &zkSession{hosts: &lazyHostProvider{}, notify: make(chan struct{}, 1), closed: make(chan struct{}), log: discardLogger()}
	conn, _, err := zk.Connect([]string{p.Addr()}, 4*time.Second, zk.WithLogInfo(false), zk.WithLogger(zkLogger{discardLogger()}),
		zk.WithEventCallback(s.onEvent), zk.WithHostProvider(s.hosts), zk.WithDialer(boundedDialer(inner, bigCap, 1, true)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	select {
	case <-p.Dropped(): // the connect request went into the black hole
	case <-time.After(10 * time.Second):
		t.Fatal("no connect request dropped within 10s")
	}
	p.Unblock()
	healed := time.Now()
	cut := time.After(bigCap - time.Second)
	for s.State() != zk.StateHasSession {
		select {
		case <-s.notify:
		case <-cut:
			t.Fatalf("no session %v after the heal: the lost connect request waited for its cap", time.Since(healed).Round(time.Millisecond))
		}
	}
	if n := dials.Load(); n < 2 {
		t.Fatalf("%d connections: the lost connect request's connection was not ended", n)
	}
	t.Logf("session %v after the heal", time.Since(healed).Round(time.Millisecond))
}

// go-zookeeper's pause between rounds of connection attempts is asked
// for only after a round that went fast (refused connections), not after
// one whose attempts took their time.
func TestHostProviderPausesFastRoundsOnly(t *testing.T) {
	h := &lazyHostProvider{}
	if err := h.Init([]string{"a:1", "b:2"}); err != nil {
		t.Fatal(err)
	}
	h.Next()
	h.Next()
	if _, retry := h.Next(); !retry {
		t.Fatal("a round of two instant failures: no pause")
	}
	h.Next()
	h.roundStart = h.roundStart.Add(-minRound) // the round's attempts took minRound
	if _, retry := h.Next(); retry {
		t.Fatal("a pause after a round that took its time")
	}
	h.Connected()
	h.Next()
	if _, retry := h.Next(); retry {
		t.Fatal("a pause within a round")
	}
}
