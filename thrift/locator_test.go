package thrift

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/retry"
)

// listener kinds for DialContext tests.
func closer(t *testing.T) string { // accepts and closes at once (a passive)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func silent(t *testing.T, accepted *atomic.Int32) string { // accepts and waits (an active)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

func dead(t *testing.T) string {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestDialContextSkipsRefusals(t *testing.T) {
	var n atomic.Int32
	active := silent(t, &n)
	loc := NewLocator(StaticSource(dead(t), closer(t), active), WithStagger(time.Second))
	conn, err := loc.DialContext(context.Background(), "tcp", "ignored:1")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.RemoteAddr().String() != active {
		t.Fatalf("connected to %s, want %s", conn.RemoteAddr(), active)
	}
}

// twoRounds keeps tests of final failures short while still going through
// a retry.
var twoRounds = retry.Policy{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 1, MaxAttempts: 2}

func TestAllRefuseNamesEveryCandidate(t *testing.T) {
	a, b, c := dead(t), closer(t), closer(t)
	loc := NewLocator(StaticSource(a, b, c), WithRetry(twoRounds))
	_, err := loc.DialContext(context.Background(), "tcp", "")
	if !errors.Is(err, ErrAllFailed) || !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v", err)
	}
	for _, addr := range []string{a, b, c} {
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("error does not name %s: %v", addr, err)
		}
	}
	if _, err := NewLocator(StaticSource(), WithRetry(twoRounds)).DialContext(context.Background(), "tcp", ""); !errors.Is(err, ErrNoCandidates) {
		t.Fatalf("no candidates: %v", err)
	}
}

// A slow first candidate does not hold up the second past the stagger; the
// first success wins and the late one is released.
func TestRaceStaggerAndRelease(t *testing.T) {
	loc := NewLocator(nil, WithStagger(20*time.Millisecond), WithDialTimeout(5*time.Second))
	cands := []Candidate{{Addr: "slow", ServerID: 1}, {Addr: "fast", ServerID: 2}}
	var released atomic.Int32
	slowDone := make(chan struct{})
	start := time.Now()
	v, c, err := race(context.Background(), loc, cands, func(ctx context.Context, c Candidate) (string, error) {
		if c.Addr == "slow" {
			defer close(slowDone)
			select { // would answer late, but gives up when told to
			case <-time.After(300 * time.Millisecond):
				return "slow", nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return "fast", nil
	}, func(string) { released.Add(1) })
	if err != nil || v != "fast" || c.ServerID != 2 {
		t.Fatalf("race = %q %+v %v", v, c, err)
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Fatalf("race took %v; the stagger should have started the second at 20ms", took)
	}
	<-slowDone
	if released.Load() != 0 {
		t.Fatal("a failed attempt was released")
	}
}

// A failure starts the next candidate at once, without waiting for the
// stagger; the context bounds everything.
func TestRaceFailureStartsNextAndCtx(t *testing.T) {
	loc := NewLocator(nil, WithStagger(time.Hour))
	cands := []Candidate{{Addr: "a"}, {Addr: "b"}}
	_, c, err := race(context.Background(), loc, cands, func(ctx context.Context, c Candidate) (int, error) {
		if c.Addr == "a" {
			return 0, errors.New("refused")
		}
		return 1, nil
	}, func(int) {})
	if err != nil || c.Addr != "b" {
		t.Fatalf("race = %+v %v", c, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = race(ctx, loc, cands, func(ctx context.Context, c Candidate) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}, func(int) {})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx-bounded race = %v", err)
	}
}
