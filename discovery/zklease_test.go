package discovery

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

func packet(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

type gotPrefix struct {
	n   int
	pre string
}

func feedAll(stream []byte, chunk int) []gotPrefix {
	var f framePrefix
	var got []gotPrefix
	for len(stream) > 0 {
		k := min(chunk, len(stream))
		f.feed(stream[:k], func(n int, pre []byte) { got = append(got, gotPrefix{n, string(pre)}) })
		stream = stream[k:]
	}
	return got
}

// framePrefix hands over the start of every packet however the stream is
// cut into reads.
func TestFramePrefix(t *testing.T) {
	connect := make([]byte, 36)
	binary.BigEndian.PutUint32(connect[4:], 4000)   // timeOut
	binary.BigEndian.PutUint64(connect[8:], 0xabcd) // sessionId
	ping := make([]byte, 16)
	xid := int32(pingXid)
	binary.BigEndian.PutUint32(ping, uint32(xid))
	long := bytes.Repeat([]byte{7}, 100)
	short := []byte{1, 2, 3}
	var stream []byte
	for _, b := range [][]byte{connect, nil, ping, long, short} {
		stream = append(stream, packet(b)...)
	}
	want := []gotPrefix{{0, string(connect[:16])}, {1, ""}, {2, string(ping)}, {3, string(long[:16])}, {4, string(short)}}
	for _, chunk := range []int{1, 2, 3, 5, 7, 16, 17, len(stream)} {
		got := feedAll(stream, chunk)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("chunk %d: got %v, want %v", chunk, got, want)
		}
	}
}

func FuzzFramePrefix(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 1, 2, 0, 0, 0, 0}, 3)
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		if chunk <= 0 || chunk > 64 {
			chunk = 1
		}
		var f framePrefix
		for len(b) > 0 {
			k := min(chunk, len(b))
			f.feed(b[:k], func(int, []byte) {})
			b = b[k:]
		}
	})
}

// The lease ends a tenth of the timeout (the smaller of requested and
// negotiated) before the last answered send + the timeout; a session
// other than the current one has no lease left.
func TestSessionLeaseDeadline(t *testing.T) {
	t0 := time.Now()
	l := &sessionLease{requested: 10 * time.Second}
	if _, ok := l.deadline(5); ok {
		t.Fatal("a lease before any handshake is known")
	}
	l.handshake(5, 10*time.Second, t0)
	if end, ok := l.deadline(5); !ok || !end.Equal(t0.Add(9*time.Second)) {
		t.Fatalf("deadline %v %v, want t0+9s", end.Sub(t0), ok)
	}
	l.ack(5, t0.Add(time.Second))
	l.ack(5, t0.Add(500*time.Millisecond)) // an older send does not move it back
	l.ack(6, t0.Add(5*time.Second))        // another session's ack does not count
	if end, _ := l.deadline(5); !end.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("deadline after acks t0+%v, want t0+10s", end.Sub(t0))
	}
	// The server lowered the timeout.
	l.handshake(5, 4*time.Second, t0.Add(2*time.Second))
	if end, _ := l.deadline(5); !end.Equal(t0.Add(2*time.Second + 3600*time.Millisecond)) {
		t.Fatalf("deadline with a lowered timeout t0+%v, want t0+5.6s", end.Sub(t0))
	}
	// A new session: the old one's lease is over.
	l.handshake(9, 4*time.Second, t0.Add(3*time.Second))
	if end, ok := l.deadline(5); !ok || !end.IsZero() {
		t.Fatalf("old session's deadline %v %v, want zero, known", end, ok)
	}
	// The requested timeout is used when smaller.
	l2 := &sessionLease{requested: 2 * time.Second}
	l2.handshake(1, 4*time.Second, t0)
	if end, _ := l2.deadline(1); !end.Equal(t0.Add(1800 * time.Millisecond)) {
		t.Fatalf("deadline t0+%v, want t0+1.8s", end.Sub(t0))
	}
	l2.disable()
	if _, ok := l2.deadline(1); ok {
		t.Fatal("a disabled lease is known")
	}
}
