package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// call sends a request and returns the status, the Location header and
// the decoded JSON object body (nil if it is not one).
func call(t *testing.T, method, url, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, res.Header.Get("Location"), m
}

// awaitRecordOwner waits, with a data watch, until the ownership record at
// p names a server other than not, and returns it.
func awaitRecordOwner(t *testing.T, conn *zk.Conn, p string, not int, timeout time.Duration) int {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		data, _, ch, err := conn.GetW(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		owner, err := layout.ParseSessionOwner(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if owner != not {
			return owner
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s still names server %d after %s", p, not, timeout)
		}
	}
}

// TestSessionHAKill9: three `livy-sim --mode session-ha` processes. kill -9
// of the one that owns a batch and a session: once its ZooKeeper session
// expires, the leader hands both to a live server, which serves them; then
// kill -9 of the leader: the last server leads and takes everything.
func TestSessionHAKill9(t *testing.T) {
	zkc := zktest.Shared(t)
	const sessionTimeout = time.Second
	root := testRoot(t)
	common := []string{"--zk", zkc.ConnectString(), "--root", root, "--mode", "session-ha",
		"--session-timeout", sessionTimeout.String(), "--step", "20ms"}
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ { // in order: server 1 joins the latch first and leads
		procs[id] = start(t, append([]string{"--id", strconv.Itoa(id)}, common...)...)
	}
	res, err := discovery.NewResolver(zkc.ConnectString(), discovery.WithRoot(root), discovery.WithMode(discovery.SessionHA))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	conn, _, err := zk.Connect(zkc.Servers(), 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	b := procs[2]
	code, loc, _ := call(t, "POST", b.url+"/batches", `{"file":"etl.py","name":"etl"}`)
	if code != http.StatusCreated || loc != "/batches/20000000" {
		t.Fatalf("create batch: %d %q", code, loc)
	}
	code, loc, _ = call(t, "POST", b.url+"/sessions", `{"kind":"spark","name":"nb"}`)
	if code != http.StatusCreated || loc != "/sessions/20000000" {
		t.Fatalf("create session: %d %q", code, loc)
	}
	// Others redirect to the owner.
	if code, loc, _ := call(t, "GET", procs[1].url+"/batches/20000000", ""); code != http.StatusTemporaryRedirect || loc != b.url+"/batches/20000000" {
		t.Fatalf("non-owner answered %d %q", code, loc)
	}
	// The session must be up before its server dies, or the new owner
	// recovers it as dead (Livy recovers a session without driver URI so).
	waitUp := time.Now().Add(5 * time.Second)
	for {
		if _, _, m := call(t, "GET", b.url+"/sessions/nb/state", ""); m["state"] == "idle" {
			break
		}
		if time.Now().After(waitUp) {
			t.Fatal("session not idle within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	records := []string{}
	for _, kind := range []string{layout.KindBatch, layout.KindInteractive} {
		p, err := layout.SessionOwnerPath(root, kind, 20000000)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, p)
	}
	check := func(dead int, paths ...string) map[string]int {
		t.Helper()
		killed := time.Now()
		out := map[string]int{}
		for _, p := range paths {
			out[p] = awaitRecordOwner(t, conn, p, dead, sessionTimeout+5*time.Second)
		}
		t.Logf("sessions of server %d reassigned %s after kill -9 (session timeout %s): %v", dead, time.Since(killed).Round(time.Millisecond), sessionTimeout, out)
		for p, owner := range out {
			coll := "/batches/"
			kind := discovery.Batch
			if strings.Contains(p, "/"+layout.KindInteractive+"/") {
				coll, kind = "/sessions/", discovery.Interactive
			}
			u := procs[owner].url + coll + "20000000"
			if code, _, m := call(t, "GET", u, ""); code != http.StatusOK || m["id"] != 20000000.0 {
				t.Fatalf("GET %s on the new owner: %d %v", u, code, m)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for {
				srv, err := res.Owner(ctx, kind, 20000000)
				if err == nil && srv.ID == owner {
					break
				}
				select {
				case <-res.Changed():
				case <-ctx.Done():
					t.Fatalf("resolver: owner of %v 20000000 = %v, %v; want server %d", kind, srv.ID, err, owner)
				}
			}
			cancel()
		}
		return out
	}

	b.Kill()
	owners := check(2, records...)
	// The names moved with the sessions.
	for p, owner := range owners {
		coll, name := "/batches/", "etl"
		if strings.Contains(p, "/"+layout.KindInteractive+"/") {
			coll, name = "/sessions/", "nb"
		}
		if code, _, _ := call(t, "GET", procs[owner].url+coll+name, ""); code != http.StatusOK {
			t.Fatalf("%s%s on server %d: %d", coll, name, owner, code)
		}
	}

	// kill -9 of the leader: server 3 leads once server 1's session
	// expires, and takes what server 1 held.
	procs[1].Kill()
	var held []string
	for p, owner := range owners {
		if owner == 1 {
			held = append(held, p)
		}
	}
	check(1, held...)
	procs[3].WaitLine(testutil.Stderr, 5*time.Second, "livy-sim: id=3 now leads")
	for _, p := range records {
		data, _, err := conn.Get(p)
		if err != nil || string(data) != "3" {
			t.Fatalf("%s: %q, %v; want everything on server 3", p, data, err)
		}
	}
	if code, _, m := call(t, "GET", procs[3].url+"/batches", ""); code != http.StatusOK || m["total"] != 1.0 {
		t.Fatalf("server 3 lists %d %v", code, m)
	}
}
