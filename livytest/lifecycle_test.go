package livytest_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livyha/livyha/livytest"
)

// states polls url/state until it reports last (or timeout) and returns
// the distinct states seen, in order.
func states(t *testing.T, c *http.Client, url, last string, timeout time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(timeout)
	for {
		r := do(t, c, "GET", url+"/state", "")
		if r.status == 404 {
			return append(seen, "(gone)")
		}
		expect(t, r, 200)
		st, _ := r.obj(t)["state"].(string)
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == last {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: states %v after %s, want to reach %q", url, seen, timeout, last)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func wantStates(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: states %v, want %v", what, got, want)
	}
}

// Every state Livy reports over REST occurs where Livy produces it (the
// Livy profiles; recovering is in TestStockRecovery and the pr212 tests).
func TestLivyLifecycleStates(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{Profile: livytest.ProfileStock, Step: 60 * time.Millisecond})
	c := noRedirect(t)
	u := s.URL()

	// Batches: starting → running → success | dead | killed.
	for file, final := range map[string]string{"a.py": "success", "fail.py": "dead", "kill.py": "killed"} {
		r := do(t, c, "POST", u+"/batches", `{"file":"`+file+`"}`)
		expect(t, r, 201)
		wantStates(t, file, states(t, c, u+"/batches/"+itoa(num(t, r.obj(t)["id"])), final, 5*time.Second),
			"starting", "running", final)
	}

	// Interactive: starting → idle; busy while a statement runs; error
	// after a statement that kills the interpreter, until the next one.
	r := do(t, c, "POST", u+"/sessions", `{"kind":"pyspark"}`)
	expect(t, r, 201)
	su := u + "/sessions/" + itoa(num(t, r.obj(t)["id"]))
	// GET statements while the driver is not connected waits for it.
	began := time.Now()
	r = do(t, c, "GET", su+"/statements", "")
	expect(t, r, 200)
	if d := time.Since(began); d < 60*time.Millisecond {
		t.Fatalf("GET statements of a starting session answered after %s, want it to wait for the driver", d)
	}
	wantStates(t, "session", states(t, c, su, "idle", 5*time.Second), "idle")
	expect(t, do(t, c, "POST", su+"/statements", `{"code":"import sys; sys.exit(3)"}`), 201)
	wantStates(t, "interpreter died", states(t, c, su, "error", 5*time.Second), "busy", "error")
	r = do(t, c, "GET", su+"/statements/0", "")
	expect(t, r, 200)
	out := r.obj(t)["output"].(map[string]any)
	if out["status"] != "error" || !strings.HasPrefix(out["evalue"].(string), "Interpreter died:\n") {
		t.Fatalf("output of a dying statement %v", out)
	}
	expect(t, do(t, c, "POST", su+"/statements", `{"code":"1+1"}`), 201)
	wantStates(t, "after the error", states(t, c, su, "idle", 5*time.Second), "busy", "idle")

	// DELETE: shutting_down while it stops, the statement refused, then gone.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		expectMsg(t, do(t, c, "DELETE", su, ""), 200, "deleted")
	}()
	waitState(t, c, su, "shutting_down", 5*time.Second)
	r = do(t, c, "POST", su+"/statements", `{"code":"1+1"}`)
	expect(t, r, 500)
	if got := r.str(t); got != "java.lang.IllegalStateException: Session is in state shutting_down" {
		t.Fatalf("statement while shutting down: %q", got)
	}
	expectMsg(t, do(t, c, "GET", su+"/statements", ""), 400, "requirement failed: Session isn't active.")
	wg.Wait()
	expect(t, do(t, c, "GET", su, ""), 404)

	// The driver's ping fails: error, shutting_down, dead. The YARN app
	// killed or finished: killed, dead.
	for hook, want := range map[string][]string{
		"error":  {"starting", "error", "shutting_down", "dead"},
		"killed": {"starting", "idle", "killed"},
		"dead":   {"starting", "idle", "dead"},
	} {
		r := do(t, c, "POST", u+"/sessions", `{"kind":"spark","conf":{"livytest.app":"`+hook+`"}}`)
		expect(t, r, 201)
		id := itoa(num(t, r.obj(t)["id"]))
		wantStates(t, "hook "+hook, states(t, c, u+"/sessions/"+id, want[len(want)-1], 5*time.Second), want...)
		r = do(t, c, "POST", u+"/sessions/"+id+"/statements", `{"code":"1"}`)
		expect(t, r, 500)
		if got := r.str(t); got != "java.lang.IllegalStateException: Session is in state "+want[len(want)-1] {
			t.Fatalf("statement on a %s session: %q", hook, got)
		}
	}
}

// The livyha profile keeps today's lifecycle: no error/killed hooks.
func TestLivyHALifecycleUnchanged(t *testing.T) {
	s := livytest.NewServer(t, livytest.Config{Step: 10 * time.Millisecond})
	c := noRedirect(t)
	r := do(t, c, "POST", s.URL()+"/batches", `{"file":"kill.py"}`)
	expect(t, r, 201)
	waitState(t, c, s.URL()+"/batches/0", "success", 5*time.Second)
	r = do(t, c, "POST", s.URL()+"/sessions", `{"kind":"spark","conf":{"livytest.app":"error"}}`)
	expect(t, r, 201)
	waitState(t, c, s.URL()+"/sessions/0", "idle", 5*time.Second)
	expectMsg(t, do(t, c, "DELETE", s.URL()+"/sessions/0", ""), 200, "deleted")
}

// Livy's GC and heartbeat watchdog, scaled: one step is one Livy second.
func TestLivyGCAndHeartbeat(t *testing.T) {
	step := 10 * time.Millisecond
	to := livytest.Timeouts{
		SessionTimeout:    60 * time.Second, // 600ms
		StateRetain:       20 * time.Second, // 200ms
		GCInterval:        2 * time.Second,  // 20ms
		HeartbeatInterval: 2 * time.Second,
	}
	s := livytest.NewServer(t, livytest.Config{Profile: livytest.ProfileLivy09, Step: step, Timeouts: to})
	c := noRedirect(t)
	u := s.URL()

	// A finished batch is deleted StateRetain after it finished.
	expect(t, do(t, c, "POST", u+"/batches", `{"file":"a.py"}`), 201)
	waitState(t, c, u+"/batches/0", "success", 5*time.Second)
	done := time.Now()
	waitFor(t, 5*time.Second, "the finished batch to be collected", func() bool {
		return do(t, c, "GET", u+"/batches/0", "").status == 404
	})
	if d := time.Since(done); d < 150*time.Millisecond {
		t.Fatalf("finished batch collected %s after it finished, want about StateRetain (200ms)", d)
	}

	// Idle sessions: 0 only read (GETs are no activity), 1 busy with
	// statements, 2 with idleTimeout 2s (20 steps).
	for _, body := range []string{`{"kind":"spark"}`, `{"kind":"spark"}`, `{"kind":"spark","idleTimeout":"2s"}`} {
		expect(t, do(t, c, "POST", u+"/sessions", body), 201)
	}
	waitState(t, c, u+"/sessions/1", "idle", 5*time.Second)
	created := time.Now()
	waitFor(t, 5*time.Second, "the session with idleTimeout 2s to be collected", func() bool {
		return do(t, c, "GET", u+"/sessions/2", "").status == 404
	})
	if d := time.Since(created); d > 500*time.Millisecond {
		t.Fatalf("idleTimeout 2s (200ms) collected after %s", d)
	}
	for time.Since(created) < time.Second {
		if do(t, c, "GET", u+"/sessions/0/state", "").status == 404 {
			break
		}
		expect(t, do(t, c, "POST", u+"/sessions/1/statements", `{"code":"1"}`), 201)
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(created); d < 500*time.Millisecond {
		t.Fatalf("a session only read was collected after %s, before its 600ms timeout", d)
	}
	if r := do(t, c, "GET", u+"/sessions/0", ""); r.status != 404 {
		t.Fatalf("a session only read for 1s with a 600ms session timeout is still there: %s", r)
	}
	expect(t, do(t, c, "GET", u+"/sessions/1", ""), 200)

	// Heartbeats: any request naming the session renews it; the list does not.
	for range 2 {
		expect(t, do(t, c, "POST", u+"/sessions", `{"kind":"spark","heartbeatTimeoutInSecond":10}`), 201)
	}
	hbStart := time.Now()
	for time.Since(hbStart) < 400*time.Millisecond { // below the 600ms session timeout
		expect(t, do(t, c, "GET", u+"/sessions/3/state", ""), 200)
		expect(t, do(t, c, "GET", u+"/sessions", ""), 200)
		time.Sleep(20 * time.Millisecond)
	}
	expect(t, do(t, c, "GET", u+"/sessions/3", ""), 200)
	if r := do(t, c, "GET", u+"/sessions/4", ""); r.status != 404 {
		t.Fatalf("a session without heartbeats for 400ms (timeout 100ms) is still there: %s", r)
	}
}

// 0.8's GC treats the request's ttl as an idle timeout; 0.9's does not
// (its ttl is a lifetime, checked only with livy.server.session.ttl-check).
func TestLivyTTLByRelease(t *testing.T) {
	to := livytest.Timeouts{GCInterval: time.Second}
	for profile, collected := range map[livytest.Profile]bool{livytest.ProfileLivy08: true, livytest.ProfileLivy09: false} {
		s := livytest.NewServer(t, livytest.Config{Profile: profile, Step: 10 * time.Millisecond, Timeouts: to})
		c := noRedirect(t)
		expect(t, do(t, c, "POST", s.URL()+"/sessions", `{"kind":"spark","ttl":"5s"}`), 201)
		time.Sleep(300 * time.Millisecond)
		if gone := do(t, c, "GET", s.URL()+"/sessions/0", "").status == 404; gone != collected {
			t.Errorf("%s: ttl 5s (50ms) session collected after 300ms: %v, want %v", profile, gone, collected)
		}
	}
	// 0.9 with the ttl check on: a lifetime, activity or not.
	s := livytest.NewServer(t, livytest.Config{Profile: livytest.ProfileLivy09, Step: 10 * time.Millisecond,
		Timeouts: livytest.Timeouts{GCInterval: time.Second, TTLCheck: true}})
	c := noRedirect(t)
	expect(t, do(t, c, "POST", s.URL()+"/sessions", `{"kind":"spark","ttl":"20s"}`), 201)
	waitFor(t, 5*time.Second, "the session past its ttl to be collected", func() bool {
		if r := do(t, c, "POST", s.URL()+"/sessions/0/statements", `{"code":"1"}`); r.status == 404 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
		return false
	})
}
