package discovery

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/internal/zktest"
)

// leadEvent is a leadership notification and when it was delivered.
type leadEvent struct {
	leader bool
	at     time.Time
}

// leadLog records a registrar's leadership notifications, as its
// application sees them (in its handler).
type leadLog chan leadEvent

func newLeadLog() leadLog { return make(leadLog, 64) }

func (l leadLog) handler() RegistrarOption {
	return WithLeadershipHandler(func(v bool) {
		select {
		case l <- leadEvent{v, time.Now()}:
		default: // 64 changes in one test: the test fails on the count anyway
		}
	})
}

// next waits (bounded) for the next notification, which must be want.
func (l leadLog) next(t testing.TB, want bool, d time.Duration, what string) time.Time {
	t.Helper()
	select {
	case e := <-l:
		if e.leader != want {
			t.Fatalf("%s: got leadership %v, want %v", what, e.leader, want)
		}
		return e.at
	case <-ctxT(t, d).Done():
		t.Fatalf("%s: no leadership notification within %s", what, d)
	}
	return time.Time{}
}

// none fails if a notification is pending.
func (l leadLog) none(t testing.TB, what string) {
	t.Helper()
	select {
	case e := <-l:
		t.Fatalf("%s: unexpected leadership notification %v", what, e.leader)
	default:
	}
}

// Safety of LeadWhileSession (the default): a leader cut off by a
// partition that drops its traffic and keeps the connection (no resets)
// keeps leading for most of the session timeout, and reports giving
// leadership up strictly before another registrar reports winning it.
// The other one can win only once ZooKeeper expired the leader's session;
// the leader gives up a margin before the earliest moment that could
// happen, by its own clock.
func TestLeaseLeaderGivesUpBeforeAnotherWins(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	const st = 2 * time.Second
	const reps = 3
	var held, won []time.Duration
	for i := range reps {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			root := testRoot(t)
			proxy := zktest.NewProxy(t, zkc.ConnectString())
			la, lb := newLeadLog(), newLeadLog()
			a := register(t, proxy.Addr(), root, 1, true, WithSessionTimeout(st), la.handler(),
				WithHiveRecord("hs2"+root[1:], HiveRecord{}))
			la.next(t, true, 5*time.Second, "a leads")
			b := register(t, zkc.ConnectString(), root, 2, true, WithSessionTimeout(st), lb.handler())
			if !a.IsLeader() || b.IsLeader() {
				t.Fatalf("leaders: a=%v b=%v", a.IsLeader(), b.IsLeader())
			}
			hive := a.HiveRecordPath()
			if hive == "" {
				t.Fatal("the leader holds no Hive record")
			}
			raw := rawConn(t, zkc.ConnectString())

			start := time.Now()
			proxy.Stall()
			gaveUp := la.next(t, false, 3*st, "a gives up")
			if b.IsLeader() {
				t.Fatal("b led before a gave up")
			}
			// a's Hive record is still there (a cannot delete it, cut off):
			// the session's expiry removes it before b can win.
			if ok, _, err := raw.Exists(hive); err != nil || !ok {
				t.Fatalf("a's Hive record when a gave up: exists %v, %v", ok, err)
			}
			wonAt := lb.next(t, true, 3*st, "b wins")
			if !gaveUp.Before(wonAt) {
				t.Fatalf("a gave up at +%v, not before b won at +%v", gaveUp.Sub(start), wonAt.Sub(start))
			}
			if h := gaveUp.Sub(start); h < st/2 {
				t.Fatalf("a kept leadership only %v after the partition began (session timeout %v)", h, st)
			}
			if ok, _, err := raw.Exists(hive); err != nil || ok {
				t.Fatalf("a's Hive record after b won: exists %v, %v", ok, err)
			}
			held = append(held, gaveUp.Sub(start))
			won = append(won, wonAt.Sub(start))
			t.Logf("partition → a gave up %v, → b won %v (session timeout %v)", gaveUp.Sub(start), wonAt.Sub(start), st)
			la.none(t, "a after giving up")
			proxy.Block() // drop the stalled connections
			a.Abandon()
		})
	}
	if len(held) == reps {
		t.Logf("over %d partitions (session timeout %v): a gave up after %v, b won after %v", reps, st, spread(held), spread(won))
	}
}

// spread formats min–max of ds.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("%v–%v", s[0].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// An outage of ZooKeeper (connections refused) for half the session
// timeout: under LeadWhileSession the leader never reports losing
// leadership, keeps its Hive record, and nobody else wins.
func TestLeaseLeaderRidesOutShortOutage(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	// go-zookeeper retries a refused server once a second: the session
	// timeout leaves room for that after the outage.
	const st = 6 * time.Second
	root := testRoot(t)
	ns := "hs2" + root[1:]
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	la, lb := newLeadLog(), newLeadLog()
	a := register(t, proxy.Addr(), root, 1, true, WithSessionTimeout(st), la.handler(), WithHiveRecord(ns, HiveRecord{}))
	la.next(t, true, 5*time.Second, "a leads")
	b := register(t, zkc.ConnectString(), root, 2, true, WithSessionTimeout(st), lb.handler())
	hive := a.HiveRecordPath()
	sid := a.sess.SessionID()

	start := time.Now()
	proxy.Block()
	waitUntil(t, 5*time.Second, "a to see the disconnection", func() bool { return a.sess.State() != zk.StateHasSession })
	time.Sleep(st/2 - time.Since(start)) // the outage itself
	proxy.Unblock()
	healed := time.Now()
	waitUntil(t, st, "a to reconnect", func() bool { return a.sess.State() == zk.StateHasSession })
	if a.sess.SessionID() != sid {
		t.Fatal("a's session changed")
	}
	// The lease runs again from requests sent after the outage.
	waitUntil(t, st, "a's lease to be renewed", func() bool { return ackedSince(a, sid, st, healed) })
	t.Logf("outage %v; a reconnected %v after it began", healed.Sub(start), time.Since(start))
	la.none(t, "a through the outage")
	lb.none(t, "b through a's outage")
	if !a.IsLeader() || b.IsLeader() || a.HiveRecordPath() != hive {
		t.Fatalf("after the outage: a leads %v, b leads %v, a's Hive record %q (was %q)", a.IsLeader(), b.IsLeader(), a.HiveRecordPath(), hive)
	}
	raw := rawConn(t, zkc.ConnectString())
	if kids, _, err := raw.Children("/" + ns); err != nil || len(kids) != 1 || "/"+ns+"/"+kids[0] != hive {
		t.Fatalf("Hive namespace after the outage: %v, %v; want only %s", kids, err, hive)
	}
	// The leader still works as one: a graceful stop hands over.
	a.Close()
	la.next(t, false, 5*time.Second, "a gives up on Close")
	lb.next(t, true, 5*time.Second, "b wins after a's Close")
}

// ackedSince reports whether ZooKeeper answered a request of g's session
// sid (timeout st) sent after t0.
func ackedSince(g *Registrar, sid int64, st time.Duration, t0 time.Time) bool {
	end, ok := g.sess.lease.deadline(sid)
	return ok && end.After(t0.Add(st-leaseMargin(st)))
}

// LeadOnConnection keeps Curator's standard policy: leadership goes at
// the first disconnection and comes back on reconnecting in the session.
func TestLeadOnConnectionGivesUpAtDisconnect(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	const st = 8 * time.Second
	root := testRoot(t)
	proxy := zktest.NewProxy(t, zkc.ConnectString())
	la := newLeadLog()
	a := register(t, proxy.Addr(), root, 1, true, WithSessionTimeout(st), la.handler(), WithLeadershipPolicy(LeadOnConnection))
	la.next(t, true, 5*time.Second, "a leads")
	sid := a.sess.SessionID()
	start := time.Now()
	proxy.Block()
	// Well before the lease could end (0.8 of the timeout at the earliest).
	la.next(t, false, st/4, "a gives up at the disconnection")
	t.Logf("a gave up %v after the disconnection", time.Since(start))
	proxy.Unblock()
	la.next(t, true, st, "a leads again after reconnecting")
	if a.sess.SessionID() != sid {
		t.Fatal("a's session changed")
	}
}

func TestLeadershipPolicyParse(t *testing.T) {
	for _, s := range []string{"", "session", "connection"} {
		p, err := ParseLeadershipPolicy(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if s != "" && p.String() != s {
			t.Fatalf("%q parsed as %v", s, p)
		}
	}
	if p, _ := ParseLeadershipPolicy(""); p != LeadWhileSession {
		t.Fatalf("default policy %v", p)
	}
	if _, err := ParseLeadershipPolicy("standard"); err == nil || !strings.Contains(err.Error(), "session or connection") {
		t.Fatalf("bad policy: %v", err)
	}
	if _, err := Register(ctxT(t, time.Second), "127.0.0.1:1", ServerRecord{ID: 1, URL: "http://127.0.0.1:1"},
		WithElection(true), WithLeadershipPolicy(LeadershipPolicy(7))); err == nil {
		t.Fatal("Register accepted an unknown policy")
	}
}

// A ZooKeeper leader election (the ensemble's leader killed) disconnects
// every client for a moment; under LeadWhileSession the registrar that
// leads the latch never reports losing leadership, and nobody else wins.
func TestLeaseLeaderRidesOutZooKeeperElection(t *testing.T) {
	zkc := zktest.Start(t, 3)
	noLeaks(t)
	const st = 6 * time.Second
	root := "/election"
	la, lb := newLeadLog(), newLeadLog()
	a := register(t, zkc.ConnectString(), root, 1, true, WithSessionTimeout(st), la.handler())
	la.next(t, true, 5*time.Second, "a leads")
	b := register(t, zkc.ConnectString(), root, 2, true, WithSessionTimeout(st), lb.handler())
	sid := a.sess.SessionID()
	dials := func() int {
		a.tracker.mu.Lock()
		defer a.tracker.mu.Unlock()
		return len(a.tracker.conns)
	}
	dialed := dials()
	ctx := ctxT(t, 60*time.Second)
	zl, err := zkc.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := zl.Kill(); err != nil {
		t.Fatal(err)
	}
	// The survivors elect a leader (a wait on ZooKeeper's own state,
	// bounded by ctx).
	for {
		if nl, err := zkc.Leader(ctx); err == nil && nl != zl {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no new ZooKeeper leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	elected := time.Since(start)
	// a lost its connection (its server died, or left the ensemble for
	// the election), is connected again in its session, and ZooKeeper
	// answered it after the kill.
	waitUntil(t, st, "a to reconnect after the election", func() bool {
		return dials() > dialed && a.sess.State() == zk.StateHasSession && ackedSince(a, sid, st, start)
	})
	t.Logf("ZooKeeper leader killed; new one elected after %v; a reconnected and answered %v after the kill", elected, time.Since(start))
	if a.sess.SessionID() != sid {
		t.Fatal("a's session changed")
	}
	la.none(t, "a through the election")
	lb.none(t, "b through the election")
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("after the election: a leads %v, b leads %v", a.IsLeader(), b.IsLeader())
	}
}
