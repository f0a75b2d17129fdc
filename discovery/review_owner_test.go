package discovery

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
)

// a table without ZooKeeper: onWatch/store/lookup never touch the conn.
func rvTable(max int) *ownerTable {
	sess := &zkSession{}
	t := &ownerTable{sess: sess, root: "/livy", prefix: layout.JoinPath("/livy", layout.SessionDir) + "/", max: max, changed: func() {},
		recent: make(map[uint64]ownerEntry), pending: make(map[uint64]*ownerFetch), dirty: make(map[uint64]string),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	empty := map[uint64]ownerEntry{}
	t.frozen.Store(&empty)
	return t
}

// Session expiry: go-zookeeper's invalidateWatches calls the event
// callback once per watch, holding watchersLock, on its connect loop.
func TestOwnerExpiryIsOneReset(t *testing.T) {
	for _, n := range []int{2000, 4000, 10000} {
		tb := rvTable(100000)
		tb.mu.Lock()
		for i := 0; i < n; i++ {
			tb.store(ownerKey(Batch, i), ownerEntry{owner: 1, known: true})
		}
		tb.mu.Unlock()
		start := time.Now()
		for i := 0; i < n; i++ {
			tb.onWatch(zk.Event{Type: zk.EventNotWatching, Path: "/livy/session/batch/" + strconv.Itoa(i)})
		}
		t.Logf("n=%d: %d EventNotWatching callbacks took %v (size now %d)", n, n, time.Since(start), tb.size())
		if tb.size() != 0 {
			t.Errorf("after the session's watches are gone the owner cache holds %d entries", tb.size())
		}
	}
}

// lookup can miss an entry that is cached throughout: frozen is loaded,
// then a rebuild moves recent into a new frozen, then recent is read.
func TestOwnerLookupNoFalseMiss(t *testing.T) {
	tb := rvTable(1 << 20)
	tb.mu.Lock()
	for i := 0; i < 2000; i++ { // frozen >= mergeSmall: inserts wait in recent
		tb.recent[ownerKey(Batch, i)] = ownerEntry{owner: 1, known: true}
	}
	tb.rebuild(nil)
	tb.mu.Unlock()
	var misses atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	next := 10000
	wg.Add(1)
	go func() { // writer: new sessions being looked up for the first time
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tb.mu.Lock()
			tb.store(ownerKey(Batch, next), ownerEntry{owner: 2, known: true})
			tb.mu.Unlock()
			next++
		}
	}()
	// reader: key K is put in recent, then looked up repeatedly; it is never removed.
	for round := 0; round < 3000; round++ {
		k := ownerKey(Interactive, round)
		tb.mu.Lock()
		tb.store(k, ownerEntry{owner: 3, known: true})
		tb.mu.Unlock()
		for j := 0; j < 20; j++ {
			if _, ok := tb.lookup(k); !ok {
				misses.Add(1)
			}
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("false misses of a cached entry: %d", misses.Load())
	if misses.Load() > 0 {
		t.Errorf("lookup reported a cached entry as absent %d times", misses.Load())
	}
}

// ownerKey keeps 32 bits of the id: session 1<<32+5 answers with 5's record.
func TestOwnerKeyNoCollision(t *testing.T) {
	tb := rvTable(100)
	tb.mu.Lock()
	tb.store(ownerKey(Batch, 5), ownerEntry{owner: 7, known: true})
	tb.mu.Unlock()
	owner, known, err := tb.Owner(context.Background(), Batch, 1<<32+5, false)
	t.Logf("Owner(batch, 1<<32+5) = %d known=%v err=%v", owner, known, err)
	if known {
		t.Errorf("session %d answered with session 5's owner", 1<<32+5)
	}
}
