package curatortest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

func wantLeader(t *testing.T, ctx context.Context, want string, ps ...*Participant) {
	t.Helper()
	for _, p := range ps {
		got, err := p.Leader(ctx)
		if err != nil {
			t.Fatalf("%s: Leader: %v", p.ID(), err)
		}
		if got != want {
			t.Fatalf("%s: Leader = %q, want %q", p.ID(), got, want)
		}
	}
}

func TestLeaderLatch(t *testing.T) {
	c := zktest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const path = "/curatortest/latch"

	a := Start(t, c.ConnectString(), path, "a")
	b := Start(t, c.ConnectString(), path, "b")

	wantLeader(t, ctx, "", a, b) // nobody joined yet

	if err := a.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.AwaitLeadership(ctx, 10*time.Second); err != nil || !ok {
		t.Fatalf("a: AwaitLeadership = %v, %v", ok, err)
	}
	if err := b.Join(ctx); err != nil {
		t.Fatal(err)
	}
	wantLeader(t, ctx, "a", a, b)
	if ok, err := b.IsLeader(ctx); err != nil || ok {
		t.Fatalf("b: IsLeader = %v, %v", ok, err)
	}

	// A command abandoned because its ctx ended does not confuse the next.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := b.AwaitLeadership(short, 1500*time.Millisecond)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b: AwaitLeadership with short ctx = %v, want DeadlineExceeded", err)
	}
	if ok, err := a.IsLeader(ctx); err != nil || !ok {
		t.Fatalf("a: IsLeader = %v, %v", ok, err)
	}

	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.AwaitLeadership(ctx, 10*time.Second); err != nil || !ok {
		t.Fatalf("b: AwaitLeadership after a left = %v, %v", ok, err)
	}
	wantLeader(t, ctx, "b", a, b)
	if ok, err := a.IsLeader(ctx); err != nil || ok {
		t.Fatalf("a: IsLeader after leaving = %v, %v", ok, err)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Leader(ctx); err == nil {
		t.Fatal("Leader on closed participant succeeded")
	}
	wantLeader(t, ctx, "", a) // b's latch node went away with its session
}

func TestUnavailable(t *testing.T) {
	t.Setenv("ZK_JARS_DIR", t.TempDir())
	if err := Available(); !errors.Is(err, zktest.ErrUnavailable) {
		t.Fatalf("Available() = %v, want ErrUnavailable", err)
	}
}
