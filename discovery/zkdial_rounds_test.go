package discovery

import (
	"testing"
	"time"
)

// The handshake cap stays short through cappedRounds rounds of timeouts
// (a stall heals into a quick reconnect), then doubles per round up to
// maxCap, then goes (go-zookeeper's bound applies), and one answered
// handshake brings it back.
func TestHandshakeRoundsEscalate(t *testing.T) {
	h := &handshakeRounds{servers: 3}
	var caps []time.Duration
	for round := 0; round < cappedRounds+6; round++ {
		for s := 0; s < h.servers; s++ {
			caps = append(caps, h.next(time.Second))
			h.result(true)
		}
	}
	for i, c := range caps {
		round := i / 3
		var want time.Duration
		switch extra := round - cappedRounds; {
		case extra < 0:
			want = time.Second
		case extra < 4:
			want = time.Second << (extra + 1) // 2s, 4s, 8s, 16s
		default:
			want = 0
		}
		if c != want {
			t.Fatalf("attempt %d (round %d): cap %s, want %s", i, round, c, want)
		}
	}
	h.result(false)
	if c := h.next(time.Second); c != time.Second {
		t.Errorf("after an answered handshake: cap %s, want 1s", c)
	}
	for i := 0; i < 1000; i++ { // no overflow however long it fails
		h.result(true)
	}
	if c := h.next(time.Second); c != 0 {
		t.Errorf("after 1000 timeouts: cap %s, want none", c)
	}
}
