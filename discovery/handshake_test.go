package discovery

import (
	"sort"
	"sync"
	"testing"
	"time"

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
